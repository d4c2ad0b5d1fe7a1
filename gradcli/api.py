"""The public functions behind ``import gradcli``; the CLI calls these too.

Parsing and input checks happen first and import nothing heavy, so bad input fails fast; torch
is imported for the evaluation, SymPy only for the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .language.nodes import Expr
from .language.parser import parse
from .language.shapes import infer_shapes
from .language.values import Array, Value, coerce_values, flat, labels, match_variables
from .results.models import NODE_BY_NODE, Check, GradResult, GraphResult, MatrixResult, Status

if TYPE_CHECKING:
    from .explain.steps import StepsResult

DTYPES = ("float64", "float32")
DEFAULT_TIMEOUT = 5.0  #: seconds for the symbolic check
MAX_SYMBOLIC_ELEMENTS = 10_000  #: above this many variable elements the SymPy check is skipped
#: Above this many nodes, or this many levels, SymPy's whole-expression derivative is not tried
#: (measured: 800 terms, ~4,800 nodes, take 4 s; 100 nested functions 1 s, 200 over 20 s) and
#: the node-by-node reference checks the numbers instead.
SYMBOLIC_NODES = 2_000
SYMBOLIC_HEIGHT = 100


def grad(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    vjp: object = None,
    max_symbolic: int = MAX_SYMBOLIC_ELEMENTS,
    order: int = 1,
    wrt: str | None = None,
    **named_values: object,
) -> GradResult:
    """Value and gradient of ``expression`` at a point, cross-checked against SymPy.

    Values may be given as a mapping, as keywords, or both; a value may be a number, a
    vector or a matrix (lists, NumPy arrays, or text such as ``"1,2,3"``)::

        >>> r = grad("x**2*y", x=2, y=3)
        >>> r.value, r.gradient, r.check.status.value
        (12.0, {'x': 12.0, 'y': 4.0}, 'agree')

    The output must be a scalar, as for ``y.backward()``; for a vector output give ``vjp``,
    the vector ``v`` of ``y.backward(gradient=v)``. ``dtype`` is ``"float64"`` (default) or
    ``"float32"``. With ``check=False`` SymPy is not imported and the check status is
    ``unchecked``; the check is also skipped (with a note) when the variables have more than
    ``max_symbolic`` elements in all. The symbolic check gets ``timeout`` seconds (None: no
    limit); past that its status is ``timeout`` and torch's numbers stand unchecked. Raises
    :class:`gradcli.GradcliError` for input that is not acceptable.

    ``order=N`` (N > 1) gives the N-th derivative with respect to one scalar variable (``wrt``,
    needed when there are several), by repeated autograd with ``create_graph=True``, checked
    against ``sympy.diff(f, x, N)``.
    """
    _check_dtype(dtype)
    expr = parse(expression)
    point = match_variables(expr.variables, coerce_values({**(values or {}), **named_values}))
    shapes = infer_shapes(expr, shapes_of(point))
    if order != 1 or wrt is not None:
        _vjp_vector(None, shapes[-1], expr)
        return _nth_derivative(expr, point, dtype, order, wrt, check, timeout)
    vector = _vjp_vector(vjp, shapes[-1], expr)

    from .engines import autograd as evaluate

    computed = evaluate.autograd(expr, point, dtype, vector)
    flat_gradient = {
        label: g
        for name, value in computed.gradient.items()
        for label, g in zip(labels(name, value), flat(value), strict=True)
    }
    size = sum(len(flat(v)) for v in point.values())

    def result(shown: dict[str, str], verdicts: Check) -> GradResult:
        return GradResult(
            expression, point, dtype, computed.value, computed.gradient, shown, verdicts, vector
        )

    if not check:
        return result({}, Check(Status.UNCHECKED, None))
    if size > max_symbolic:
        note = (
            f"the symbolic check was skipped: the variables have {size:,} elements, over "
            f"the limit of {max_symbolic:,} (raise it with --max-symbolic)"
        )
        return result({}, Check(Status.UNCHECKED, None, {}, (note,)))

    return result(*_cross_check(expr, point, dtype, computed, flat_gradient, vector, timeout))


def _cross_check(
    expr: Expr,
    point: dict[str, Value],
    dtype: str,
    computed: Any,
    flat_gradient: dict[str, float],
    vector: Value | None,
    timeout: float | None,
) -> tuple[dict[str, str], Check]:
    """The exact check of ``grad``'s result: SymPy's derivatives of the whole expression,
    shown and evaluated exactly; or, for what SymPy cannot do in time, the node-by-node
    reference. Returns the derivatives as text (by element label) and the verdicts."""
    from .check import judge as checking
    from .check.budget import CheckTimeout, time_limit
    from .engines import autograd as evaluate
    from .engines.exact import adjoint

    elements = {
        label: (name, x)
        for name, value in point.items()
        for label, x in zip(labels(name, value), flat(value), strict=True)
    }
    scalar_value = evaluate.scalar_of(computed.value, vector)

    scalar_only = vector is None and not any(isinstance(v, Array) for v in point.values())
    nodewise = scalar_only and adjoint.supports(expr)
    scalars = {name: float(v) for name, v in point.items()} if scalar_only else {}  # type: ignore[arg-type]

    def judged(exact_value: Any, exact_gradient: Mapping[str, Any]) -> Check:
        unresolved = [k for k, g in exact_gradient.items() if not g.resolved]
        if nodewise and (unresolved or not exact_value.resolved):
            # SymPy's evaluation could only bound these near zero: the node-by-node reference
            # raises its precision until it finds them (a true zero, or a tiny number).
            node_value, node_gradient = adjoint.exact(expr, scalars, dtype)
            if not exact_value.resolved and node_value.finite:
                exact_value = node_value
            exact_gradient = {
                **exact_gradient,
                **{k: node_gradient[k] for k in unresolved if node_gradient[k].finite},
            }

        def spread() -> tuple[float, dict[str, float]]:
            return evaluate.rounding_spread(expr, point, dtype, exact_value, exact_gradient, vector)

        return checking.judge(
            expr,
            elements,
            dtype,
            scalar_value,
            flat_gradient,
            computed.node_values,
            exact_value,
            exact_gradient,
            spread,
        )

    def node_by_node(why: str) -> Check:
        """The linear-time reference (``adjoint.py``) for what SymPy cannot do whole."""
        with time_limit(timeout):
            verdicts = judged(*adjoint.exact(expr, scalars, dtype))
        note = (
            f"{why}: checked node by node instead (each operation's derivative from SymPy, "
            f"adjoints propagated in 50+ digit arithmetic); no symbolic derivative is shown"
        )
        return replace(verdicts, notes=(*verdicts.notes, note), method=NODE_BY_NODE)

    shown: dict[str, str] = {}
    try:
        height = expr.height()
        if nodewise and (len(expr.nodes) > SYMBOLIC_NODES or height > SYMBOLIC_HEIGHT):
            how_big = (
                f"has {len(expr.nodes):,} nodes"
                if len(expr.nodes) > SYMBOLIC_NODES
                else f"is {height:,} operations deep"
            )
            verdicts = node_by_node(
                f"the expression {how_big}, too many for SymPy's whole-expression derivative"
            )
        else:
            shown, verdicts = _symbolic_check(
                expr, point, dtype, shapes_of(point), vector, timeout, judged
            )
    except CheckTimeout as stop:
        verdicts = checking.timed_out(scalar_value, flat_gradient, stop.why)
        if nodewise:
            try:
                verdicts = node_by_node(f"the symbolic check {stop.why}")
            except CheckTimeout as again:
                verdicts = checking.timed_out(scalar_value, flat_gradient, again.why)
    return shown, verdicts


def _symbolic_check(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    shapes: Mapping[str, tuple[int, ...]],
    vector: Value | None,
    timeout: float | None,
    judged: Any,
) -> tuple[dict[str, str], Check]:
    """SymPy's whole-expression derivatives, shown and evaluated exactly, within ``timeout``."""
    import sympy as sp

    from .check.budget import time_limit
    from .engines import symbolic

    with time_limit(timeout):
        sym = symbolic.build(expr, dtype, shapes)
        output = sym.arrays[-1]
        if vector is None:
            f = output.item()
        else:  # the scalar whose gradient is the VJP: sum(v * f)
            weights = (symbolic.exact_rational(c) for c in flat(vector))
            f = sp.Add(*(c * e for c, e in zip(weights, output.flat, strict=True)))
        derivatives = {
            label: sp.diff(f, symbol) for elems in sym.elements.values() for label, symbol in elems
        }
        verdicts = judged(
            symbolic.evaluate(sym, f, point, dtype),
            {label: symbolic.evaluate(sym, d, point, dtype) for label, d in derivatives.items()},
        )
        shown = {label: sym.display(d) for label, d in derivatives.items()}
    return shown, verdicts


def _nth_derivative(
    expr: Expr,
    point: dict[str, Value],
    dtype: str,
    order: int,
    wrt: str | None,
    check: bool,
    timeout: float | None,
) -> GradResult:
    from .errors import UsageError

    if order < 1:
        raise UsageError(f"--order must be 1 or more, not {order}")
    if wrt is None:
        if len(point) != 1:
            raise UsageError(
                f"--order {order} needs one variable; the expression uses "
                f"{', '.join(point) or 'none'}",
                hint="pick one with --wrt NAME",
            )
        wrt = next(iter(point))
    if wrt not in point:
        raise UsageError(f"--wrt {wrt}: the expression does not use {wrt}")
    scalar = point[wrt]
    if isinstance(scalar, Array):
        raise UsageError(f"--order needs a scalar variable; {wrt} is a vector or matrix")

    from .engines import higher_order as higher

    value, derivative, node_values = higher.nth_derivative(expr, point, wrt, order, dtype)

    def result(shown: dict[str, str], verdicts: Check) -> GradResult:
        return GradResult(
            expr.source, point, dtype, value, {wrt: derivative}, shown, verdicts, order=order
        )

    if not check:
        return result({}, Check(Status.UNCHECKED, None))

    import sympy as sp

    from .check import judge as checking
    from .check.budget import CheckTimeout, time_limit
    from .engines import symbolic

    def moved(noise: object) -> list[float]:
        v, d, _ = higher.nth_derivative(expr, point, wrt, order, dtype, noise)  # type: ignore[arg-type]
        return [v, d]

    spreads: list[float] = []

    def spread() -> tuple[float, dict[str, float]]:
        if not spreads:
            spreads.extend(higher.spread(moved, dtype))
        return spreads[0], {wrt: spreads[1]}

    try:
        with time_limit(timeout):
            sym = symbolic.build(expr, dtype, shapes_of(point))
            d = sp.diff(sym.expr, sym.symbols[wrt], order)
            verdicts = checking.judge(
                expr,
                {wrt: (wrt, scalar)},
                dtype,
                value,
                {wrt: derivative},
                node_values,
                symbolic.evaluate(sym, sym.expr, point, dtype),
                {wrt: symbolic.evaluate(sym, d, point, dtype)},
                spread,
            )
            shown = {wrt: sym.display(d)}
    except CheckTimeout as stop:
        verdicts = checking.timed_out(value, {wrt: derivative}, stop.why)
        shown = {}
    return result(shown, verdicts)


def shapes_of(point: Mapping[str, Value]) -> dict[str, tuple[int, ...]]:
    """Each variable's shape: () for a number."""
    return {name: v.shape if isinstance(v, Array) else () for name, v in point.items()}


def _vjp_vector(vjp: object, out_shape: tuple[int, ...], expr: Expr) -> Value | None:
    """The checked ``--vjp`` vector, or None for a scalar output; a non-scalar output without
    one is explained in PyTorch's terms."""
    from .errors import UsageError

    if vjp is None:
        if out_shape:
            shape = (
                "(" + ", ".join(map(str, out_shape)) + ("," if len(out_shape) == 1 else "") + ")"
            )
            raise UsageError(
                f"the output has shape {shape}, but a gradient needs a scalar output: PyTorch's "
                "y.backward() says 'grad can be implicitly created only for scalar outputs'",
                hint=f"wrap it in sum(...) or mean(...); or pass --vjp with a vector of shape "
                f"{shape} (that is y.backward(gradient=v)); or use 'gradcli jacobian'",
            )
        return None
    vector = coerce_values({"vjp": vjp})["vjp"]
    given = vector.shape if isinstance(vector, Array) else ()
    if given != out_shape:
        raise UsageError(
            f"--vjp has shape {given or '()'}, but the output has shape {out_shape or '()'}",
            hint="give one number per output element",
        )
    return vector


def graph(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    torch_view: bool = False,
    **named_values: object,
) -> GraphResult:
    """The computation graph of ``expression``.

    With values for all variables: every node's forward value and adjoint (from autograd with
    ``retain_grad()``), and with ``torch_view=True`` PyTorch's recorded backward graph too.
    Without values: the structure and the symbolic local derivatives (torch is not imported).
    """
    from .explain.graph import build_graph

    _check_dtype(dtype)
    expr, point = _optional_point(expression, {**(values or {}), **named_values})
    if point is None and torch_view:
        from .errors import UsageError

        wanted = " ".join(f"--{v} VALUE" for v in expr.variables)
        raise UsageError("the torch graph needs a value for every variable", hint=f"add {wanted}")
    return build_graph(expr, point, dtype, torch_view)


def _optional_point(
    expression: str, given: Mapping[str, object]
) -> tuple[Expr, dict[str, float] | None]:
    """The parsed expression and its point: all values or none (a constant expression always
    has its point, the empty one)."""
    from .errors import UsageError
    from .limits import MAX_DRAWN

    expr = parse(expression)
    if len(expr.nodes) > MAX_DRAWN:
        raise UsageError(
            f"the expression has {len(expr.nodes):,} nodes; graph and steps draw at most "
            f"{MAX_DRAWN:,}",
            hint="'gradcli grad' computes and checks expressions of any size within the limits",
        )
    if not given and expr.variables:
        infer_shapes(expr, {})
        return expr, None
    point: dict[str, float] = {}
    for name, value in match_variables(expr.variables, coerce_values(given)).items():
        if isinstance(value, Array):
            raise UsageError(
                "graph and steps show expressions of scalar values for now",
                hint="use 'gradcli grad' or 'gradcli jacobian' for vectors and matrices",
            )
        point[name] = value
    infer_shapes(expr, {})
    return expr, point


def steps(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    wrt: list[str] | None = None,
    dtype: str = "float64",
    timeout: float | None = DEFAULT_TIMEOUT,
    **named_values: object,
) -> StepsResult:
    """The chain rule for ``expression``: the symbolic derivation with named rules for each
    variable (or those in ``wrt``), and, with values, the backward pass edge by edge.

    Both are verified: the derivation against ``sympy.diff``, the backward pass against
    autograd. Raises :class:`gradcli.errors.TimeLimitError` past ``timeout`` seconds.
    """
    from .check.budget import CheckTimeout, time_limit
    from .errors import TimeLimitError, UsageError
    from .explain.graph import build_graph
    from .explain.steps import explain

    _check_dtype(dtype)
    expr, point = _optional_point(expression, {**(values or {}), **named_values})
    for name in wrt or []:
        if name not in expr.variables:
            uses = ", ".join(expr.variables) or "no variables"
            raise UsageError(f"--wrt {name}: the expression does not use {name} (it uses {uses})")
    computed = build_graph(expr, point, dtype) if point is not None else None
    try:
        with time_limit(timeout):
            return explain(expr, point, computed, wrt, dtype)
    except CheckTimeout as stop:
        raise TimeLimitError(
            f"the derivation {stop.why}",
            hint="raise the limit with --timeout, or pick one variable with --wrt",
        ) from None


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        from .errors import UsageError

        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")


def _columns(point: Mapping[str, Value]) -> list[tuple[str, str, float]]:
    """(label, variable, element value) for every variable element, in order."""
    return [
        (label, name, x)
        for name, v in point.items()
        for label, x in zip(labels(name, v), flat(v), strict=True)
    ]


def jacobian(
    expressions: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    **named_values: object,
) -> MatrixResult:
    """The Jacobian of one or more comma-separated expressions (``"x*y, x+y"``): one row per
    output element, one column per variable element, every cell checked against SymPy."""
    from .engines import higher_order as higher
    from .language.parser import parse_list

    _check_dtype(dtype)
    exprs = parse_list(expressions)
    names: dict[str, None] = {}
    for e in exprs:
        names.update(dict.fromkeys(e.variables))
    point = match_variables(list(names), coerce_values({**(values or {}), **named_values}))
    out_shapes = [infer_shapes(e, shapes_of(point))[-1] for e in exprs]
    computed = higher.jacobian(exprs, point, dtype)
    row_labels = []
    for k, value in enumerate(computed.values):
        base = "f" if len(exprs) == 1 else f"f{k + 1}"
        row_labels += labels(base, value)
    columns = _columns(point)
    del out_shapes

    def recompute(noise: object) -> list[float]:
        m = higher.jacobian(exprs, point, dtype, noise)  # type: ignore[arg-type]
        return [x for row in m.rows for x in row]

    cells = None
    status: Status = Status.UNCHECKED
    notes: tuple[str, ...] = ()
    if check:
        cells, status, notes = _check_cells(
            exprs,
            point,
            dtype,
            timeout,
            computed,
            columns,
            lambda sym, k: list(sym.arrays[-1].flat),
            recompute,
        )
    return MatrixResult(
        "jacobian",
        tuple(e.source for e in exprs),
        point,
        dtype,
        tuple(row_labels),
        tuple(c[0] for c in columns),
        tuple(tuple(r) for r in computed.rows),
        cells,
        status,
        notes,
        tuple(computed.values),
    )


def hessian(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    **named_values: object,
) -> MatrixResult:
    """The Hessian of a scalar expression, checked cell by cell, with its symmetry, its
    eigenvalues and, where the gradient is zero, the kind of point (minimum, maximum,
    saddle or inconclusive)."""
    import numpy as np

    from .engines import higher_order as higher

    _check_dtype(dtype)
    expr = parse(expression)
    point = match_variables(expr.variables, coerce_values({**(values or {}), **named_values}))
    _vjp_vector(None, infer_shapes(expr, shapes_of(point))[-1], expr)  # scalar output only
    computed = higher.hessian(expr, point, dtype)
    columns = _columns(point)
    h = np.array(computed.rows, dtype=float).reshape(len(columns), len(columns))
    symmetric_part = (h + h.T) / 2
    asymmetry = float(np.max(np.abs(h - h.T))) if h.size else 0.0
    eigenvalues = tuple(float(v) for v in np.linalg.eigvalsh(symmetric_part)) if h.size else ()
    value = computed.values[0]
    scale = max(
        1.0,
        abs(value) if isinstance(value, float) else 1.0,
        float(np.max(np.abs(h))) if h.size else 0.0,
    )
    stationary = all(abs(g) <= 1e-10 * scale for g in computed.gradient)
    classification = _classify(eigenvalues) if stationary and eigenvalues else None

    def recompute(noise: object) -> list[float]:
        m = higher.hessian(expr, point, dtype, noise)  # type: ignore[arg-type]
        return [x for row in m.rows for x in row]

    def second(sym: Any, k: int) -> list[Any]:
        import sympy as sp

        f = sym.expr
        symbols = [s for elems in sym.elements.values() for _, s in elems]
        return [sp.diff(f, s) for s in symbols]  # rows: the first derivatives

    cells = None
    status: Status = Status.UNCHECKED
    notes: tuple[str, ...] = ()
    if check:
        cells, status, notes = _check_cells(
            [expr], point, dtype, timeout, computed, columns, second, recompute
        )
    notes_list = list(notes)
    if asymmetry > 1e-9 * scale:
        notes_list.append(
            f"the Hessian is not symmetric: largest |H[i][j] - H[j][i]| is {asymmetry:.3g}"
        )
    return MatrixResult(
        "hessian",
        (expression,),
        point,
        dtype,
        tuple(c[0] for c in columns),
        tuple(c[0] for c in columns),
        tuple(tuple(r) for r in computed.rows),
        cells,
        status,
        tuple(notes_list),
        (value,),
        tuple(computed.gradient),
        asymmetry,
        eigenvalues,
        classification,
    )


def checking_timed_out_note(why: str) -> tuple[str]:
    from .check.judge import timed_out

    return (timed_out(0.0, {}, why).notes[0],)


def _classify(eigenvalues: tuple[float, ...]) -> str:
    """The kind of stationary point the Hessian's eigenvalues say it is."""
    tiny = 1e-10 * max(1.0, *(abs(e) for e in eigenvalues))
    if all(e > tiny for e in eigenvalues):
        return "minimum"
    if all(e < -tiny for e in eigenvalues):
        return "maximum"
    if any(e > tiny for e in eigenvalues) and any(e < -tiny for e in eigenvalues):
        return "saddle"
    return "inconclusive"


def _check_cells(
    exprs: list[Expr],
    point: Mapping[str, Value],
    dtype: str,
    timeout: float | None,
    computed: Any,
    columns: list[tuple[str, str, float]],
    row_functions: Any,
    recompute: Any,
) -> tuple[tuple[tuple[Any, ...], ...] | None, Status, tuple[str, ...]]:
    """Check every cell of a Jacobian-like matrix: row functions (SymPy) differentiated by
    each column's symbol, evaluated exactly, compared with torch's numbers."""
    import mpmath
    import sympy as sp

    from .check.budget import CheckTimeout, time_limit
    from .check.judge import TOLERANCES, compare, find_kinks, nonfinite_origin
    from .engines import higher_order as higher
    from .engines import symbolic
    from .results.models import Verdict, worst

    tol = TOLERANCES[dtype]
    moved: list[float] | None = None

    def spread_at(index: int) -> float:
        nonlocal moved
        if moved is None:
            moved = higher.spread(recompute, dtype)
        return moved[index]

    rows: list[tuple[Verdict, ...]] = []
    notes: list[str] = []
    try:
        with time_limit(timeout):
            r = 0
            for k, expr in enumerate(exprs):
                sym = symbolic.build(expr, dtype, shapes_of(point))
                origin = nonfinite_origin(expr, computed.node_values[k])
                kinks = find_kinks(expr, computed.node_values[k])
                depends = expr.depends()
                symbols = {label: sp.Symbol(label, real=True) for label, _, _ in columns}
                for f in row_functions(sym, k):
                    exact_f = symbolic.evaluate(sym, f, point, dtype)
                    row = []
                    for c, (label, name, x) in enumerate(columns):
                        t = computed.rows[r][c]
                        d = sp.diff(f, symbols[label])
                        exact = symbolic.evaluate(sym, d, point, dtype)
                        hit = [q for q in kinks if name in depends[q.node]]
                        if hit:
                            row.append(
                                Verdict(Status.NONDIFFERENTIABLE, t, None, exact.text, hit[0].note)
                            )
                            continue
                        with mpmath.workdps(40):
                            scale = abs(exact_f.value) if exact_f.value is not None else 0
                            allowance = tol.abs * scale / max(1.0, abs(x))
                        index = r * len(columns) + c
                        row.append(
                            compare(
                                t,
                                exact,
                                dtype,
                                allowance,
                                lambda i=index: spread_at(i),  # type: ignore[misc]
                                f"cell [{r}, {c}]",
                                origin,
                            )
                        )
                    rows.append(tuple(row))
                    r += 1
    except CheckTimeout as stop:
        return None, Status.TIMEOUT, checking_timed_out_note(stop.why)
    cells = [v for checked_row in rows for v in checked_row]
    for v in cells:
        if v.note and v.status is not Status.AGREE and v.note not in notes:
            notes.append(v.note)
    return tuple(rows), worst([v.status for v in cells]), tuple(notes)
