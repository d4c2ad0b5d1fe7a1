"""The calculus functions: grad, graph, steps, jacobian, hessian and grad_batch.

Parsing and input checks happen first and import nothing heavy, so bad input fails fast; torch
is imported for the evaluation, SymPy and FLINT for the check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from ..check import ahead
from ..check.ahead import Pending
from ..check.budget import CheckTimeout
from ..errors import InputError, TimeLimitError, UsageError
from ..explain.graph import build_graph
from ..language.nodes import Expr
from ..language.parser import parse, parse_list
from ..language.shapes import infer_shapes
from ..language.values import (
    Array,
    Value,
    check_name,
    coerce_values,
    columns_within,
    elements,
    flat,
    labels,
    literals_within,
    match_variables,
)
from ..limits import (
    DEFAULT_TIMEOUT,
    MAX_DRAWN,
    MAX_ORDER,
    MAX_SYMBOLIC_ELEMENTS,
    SYMMETRY_TOLERANCE,
)
from ..results import Check, GradResult, GraphResult, MatrixResult, Status
from .arguments import (
    column_arg,
    constants_arg,
    count_arg,
    dtype_arg,
    expression_arg,
    flag_arg,
    held_by_float32,
    needs_dependencies,
    representable,
    shapes_of,
    timeout_arg,
    values_arg,
)

if TYPE_CHECKING:
    import numpy as np

    from ..check.judge import PointReference
    from ..results import StepsResult


def own_process() -> None:
    """For a program that owns its process, as the command line does: the exact check of a
    point may then run in a forked child while torch is imported (:mod:`gradcli.check.ahead`).
    Without it, nothing forks: a library call never forks its host's process."""
    ahead.allow()


# ---- grad ----------------------------------------------------------------------------------------


@needs_dependencies
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
    simplify: bool = False,
    const: Sequence[str] = (),
    **named_values: object,
) -> GradResult:
    """Value and gradient of ``expression`` at a point, cross-checked exactly.

    Values may be given as a mapping, as keywords, or both; a value may be a number, a
    vector or a matrix (lists, NumPy arrays, or text such as ``"1,2,3"``)::

        >>> r = grad("x**2*y", x=2, y=3)
        >>> r.value, r.gradient, r.check.status.value
        (12.0, {'x': 12.0, 'y': 4.0}, 'agree')

    The output must be a scalar, as for ``y.backward()``; for a vector output give ``vjp``,
    the vector ``v`` of ``y.backward(gradient=v)``. ``dtype`` is ``"float64"`` (default) or
    ``"float32"``. With ``check=False`` no exact check is made and the status is
    ``unchecked``. Every number is checked by the node-by-node exact reference; SymPy's
    derivative of the whole expression is computed, shown and compared too unless the
    variables have more than ``max_symbolic`` elements in all or the expression is too large
    for it. The check gets ``timeout`` seconds (None: no limit). Raises
    :class:`gradcli.GradcliError` for input that is not acceptable.

    The derivatives are shown (``symbolic``) in the shortest form SymPy's ``expand`` finds, and
    with ``simplify=True`` also ``simplify`` (each try time-limited); the check judges them as
    ``sympy.diff`` gives them either way.

    ``order=N`` (N > 1) gives the N-th derivative with respect to one scalar variable (``wrt``,
    needed when there are several), by repeated autograd with ``create_graph=True``, checked
    against SymPy's N-th derivative.

    The variables named in ``const`` are plain tensors (``requires_grad=False``), as data
    and fixed settings are in PyTorch: they have no gradient (``.grad`` is None), so
    ``gradient`` leaves them out and JSON has ``null`` for them.
    """
    expression = expression_arg(expression)
    dtype = dtype_arg(dtype)
    check = flag_arg(check, "check")
    seconds = timeout_arg(timeout)
    max_symbolic = count_arg(max_symbolic, "max_symbolic", 0)
    order = count_arg(order, "order", 1, MAX_ORDER)
    simplify = flag_arg(simplify, "simplify")
    if wrt is not None and not isinstance(wrt, str):
        raise UsageError(f"{{wrt}} must be a variable name, not {wrt!r}", params=("wrt",))
    expr = parse(expression)
    constants = constants_arg(const, expr.variables)
    point = match_variables(expr.variables, values_arg(values, named_values))
    representable(point, dtype, expr)
    shapes = infer_shapes(expr, shapes_of(point))
    if order != 1 or wrt is not None:
        _vjp_vector(None, shapes[-1])
        if wrt is not None and wrt in constants:
            raise UsageError(
                f"{{wrt}} {wrt} is held constant ({{const}}): it has no derivative",
                params=("wrt", "const"),
            )
        found = _nth_derivative(expr, point, dtype, order, wrt, check, seconds)
        return replace(found, constants=tuple(c for c in constants if c not in found.gradient))
    vector = _vjp_vector(vjp, shapes[-1])
    if vector is not None and dtype == "float32":
        held_by_float32("an element of {vjp}", flat(vector), ("vjp",))
    size = sum(len(flat(v)) for v in point.values())
    symbolic = size <= max_symbolic
    # The exact side needs only the point: started first, it may run beside torch's import.
    exact = (
        Pending(partial(_grad_reference, expr, point, dtype, vector, symbolic, simplify), seconds)
        if check
        else None
    )
    try:
        from ..engines import autograd  # (torch: not before the input is known to be good)

        computed = autograd.autograd(expr, point, dtype, vector, frozenset(constants))
        flat_gradient = {
            label: g
            for name, value in computed.gradient.items()
            for label, g in zip(labels(name, value), flat(value), strict=True)
        }

        def result(shown: dict[str, str], verdicts: Check) -> GradResult:
            return GradResult(
                expression,
                point,
                dtype,
                computed.value,
                computed.gradient,
                {label: text for label, text in shown.items() if label in flat_gradient},
                verdicts,
                vector,
                constants=constants,
            )

        if exact is None:
            return result({}, Check(Status.UNCHECKED, None))
        from ..check.run import check_grad  # (the exact engines: FLINT)

        shown, verdicts = check_grad(
            expr, point, dtype, computed, flat_gradient, vector, seconds, exact=exact
        )
    finally:
        if exact is not None:
            exact.close()
    if not symbolic:
        verdicts = verdicts.with_note(
            f"SymPy's derivative was not tried: the variables have {size:,} elements, more "
            f"than max_symbolic ({max_symbolic:,}); checked node by node"
        )
    return result(shown, verdicts)


def _grad_reference(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    vector: Value | None,
    symbolic: bool,
    simplify: bool,
    seconds: float | None,
) -> PointReference:
    """The exact side of ``grad`` (run ahead: :mod:`gradcli.check.ahead`)."""
    from ..check import reference  # (the exact engines: FLINT, and SymPy)

    return reference.shown_reference(expr, point, dtype, vector, seconds, symbolic, simplify)


def _nth_derivative(
    expr: Expr,
    point: dict[str, Value],
    dtype: str,
    order: int,
    wrt: str | None,
    check: bool,
    timeout: float | None,
) -> GradResult:
    if wrt is None:
        if len(point) != 1:
            uses = ", ".join(point) or "none"
            raise UsageError(
                f"{{order}} {order} needs one variable; the expression uses {uses}",
                hint="pick one with {wrt} NAME",
                params=("order", "wrt"),
            )
        wrt = next(iter(point))
    if wrt not in point:
        raise UsageError(f"{{wrt}} {wrt}: the expression does not use {wrt}", params=("wrt",))
    if isinstance(point[wrt], Array):
        raise UsageError(
            f"{{order}} needs a scalar variable; {wrt} is a vector or matrix", params=("order",)
        )

    from ..engines import higher_order  # (torch)

    value, derivative, node_values = higher_order.nth_derivative(
        expr, point, wrt, order, dtype, budget=timeout
    )

    def result(shown: dict[str, str], verdicts: Check) -> GradResult:
        return GradResult(
            expr.source, point, dtype, value, {wrt: derivative}, shown, verdicts, order=order
        )

    if not check:
        return result({}, Check(Status.UNCHECKED, None))
    from ..check.run import check_order  # (the exact engines)

    shown, verdicts = check_order(
        expr, point, dtype, wrt, order, value, derivative, node_values, timeout
    )
    return result(shown, verdicts)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _vjp_vector(vjp: object, out_shape: tuple[int, ...]) -> Value | None:
    """The checked VJP vector, or None for a scalar output; a non-scalar output without one is
    explained in PyTorch's terms."""
    if vjp is None:
        if out_shape:
            shape = _shape_text(out_shape)
            raise UsageError(
                f"the output has shape {shape}, but a gradient needs a scalar output: PyTorch's "
                "y.backward() says 'grad can be implicitly created only for scalar outputs'",
                hint=f"wrap it in sum(...) or mean(...); or pass {{vjp}} with a vector of shape "
                f"{shape} (that is y.backward(gradient=v)); or use 'gradcli jacobian'",
                params=("vjp",),
            )
        return None
    vector = coerce_values({"vjp": vjp})["vjp"]
    given = vector.shape if isinstance(vector, Array) else ()
    if given != out_shape:
        raise UsageError(
            f"{{vjp}} has shape {given or '()'}, but the output has shape {out_shape or '()'}",
            hint="give one number per output element",
            params=("vjp",),
        )
    return vector


# ---- graph and steps -------------------------------------------------------------------------


@needs_dependencies
def graph(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    torch_view: bool = False,
    const: Sequence[str] = (),
    **named_values: object,
) -> GraphResult:
    """The computation graph of ``expression``.

    With values for all variables (numbers, vectors or matrices): every node's forward value
    and adjoint (from autograd with ``retain_grad()``) and its shape, and with
    ``torch_view=True`` PyTorch's recorded backward graph too. The variables in ``const`` are
    plain tensors (``requires_grad=False``). Without values: the structure and the symbolic
    local derivatives (torch is not imported).
    """

    expression = expression_arg(expression)
    dtype = dtype_arg(dtype)
    torch_view = flag_arg(torch_view, "torch_view")
    expr, point, shapes = _optional_point(expression, values_arg(values, named_values), True)
    constants = constants_arg(const, expr.variables)
    if point is None and torch_view:
        wanted = ", ".join(expr.variables)
        raise UsageError(
            f"{{torch_view}} needs a value for every variable ({wanted})", params=("torch_view",)
        )
    if point is not None:
        representable(point, dtype, expr)
    return build_graph(
        expr, point, dtype, torch_view, frozenset(constants), dict(enumerate(shapes))
    )


def _optional_point(
    expression: str, given: Mapping[str, Value], tensors: bool = False
) -> tuple[Expr, dict[str, Value] | None, list[tuple[int, ...]]]:
    """The parsed expression, its point (all values or none; a constant expression always
    has its point, the empty one) and every node's shape. Vectors and matrices only with
    ``tensors``."""
    expr = parse(expression)
    if len(expr.nodes) > MAX_DRAWN:
        raise UsageError(
            f"the expression has {len(expr.nodes):,} nodes; graph and steps draw at most "
            f"{MAX_DRAWN:,}",
            hint="'gradcli grad' computes and checks expressions of any size within the limits",
        )
    if not given and expr.variables:
        return expr, None, infer_shapes(expr, {})
    point = match_variables(expr.variables, given)
    if not tensors and any(isinstance(v, Array) for v in point.values()):
        raise UsageError(
            "steps shows expressions of scalar values",
            hint="'gradcli graph' draws vectors and matrices; 'gradcli grad' and 'gradcli "
            "jacobian' compute their derivatives",
        )
    return expr, point, infer_shapes(expr, shapes_of(point))


@needs_dependencies
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

    Both are verified: the derivation against SymPy's derivative, the backward pass against
    autograd, and the point gets the same exact check as :func:`grad`. The check and the
    derivation share ``timeout`` seconds: past them, with values, the variables not derived by
    then are left out with a note (the backward pass is still shown); with no values there is
    nothing else to show, and :class:`gradcli.errors.TimeLimitError` is raised.
    """
    # (here, not at the top: it loads SymPy)
    from ..explain.steps import explain

    expression = expression_arg(expression)
    dtype = dtype_arg(dtype)
    seconds = timeout_arg(timeout)
    if wrt is not None and (
        not isinstance(wrt, (list, tuple)) or not all(isinstance(w, str) for w in wrt)
    ):
        raise UsageError(f"{{wrt}} must be a list of variable names, not {wrt!r}", params=("wrt",))
    expr, found, _ = _optional_point(expression, values_arg(values, named_values))
    point = cast("dict[str, float] | None", found)
    for name in wrt or []:
        if name not in expr.variables:
            uses = ", ".join(expr.variables) or "no variables"
            raise UsageError(
                f"{{wrt}} {name}: the expression does not use {name} (it uses {uses})",
                params=("wrt",),
            )
    computed = build_graph(expr, point, dtype) if point is not None else None
    checked = None
    started = time.monotonic()
    if point is not None:
        checked = grad(expression, point, dtype=dtype, timeout=seconds).check
    # (one limit for the command: the derivation gets what the point's check left of it)
    left = seconds
    if seconds is not None and point is not None:
        left = max(seconds - (time.monotonic() - started), 1e-3)
    try:
        return explain(
            expr,
            point,
            computed,
            list(wrt) if wrt else None,
            dtype,
            checked,
            left,
            seconds if point is not None else None,
        )
    except CheckTimeout as stop:
        several = len(expr.variables) > 1 and not wrt
        raise TimeLimitError(
            f"the derivation {stop.why}",
            hint="raise the limit with {timeout}"
            + (", or pick one variable with {wrt}" if several else ""),
            params=("timeout", "wrt"),
        ) from None


# ---- Jacobian and Hessian --------------------------------------------------------------------


def _columns(point: Mapping[str, Value]) -> list[tuple[str, str, float]]:
    """(label, variable, element value) for every variable element, in order."""
    return [(label, name, x) for label, (name, x) in elements(point).items()]


@needs_dependencies
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
    output element, one column per variable element, every cell checked exactly."""

    expressions = expression_arg(expressions, "expressions")
    dtype = dtype_arg(dtype)
    check = flag_arg(check, "check")
    seconds = timeout_arg(timeout)
    exprs = parse_list(expressions, partial(literals_within, dtype=dtype))
    names: dict[str, None] = {}
    for e in exprs:
        names.update(dict.fromkeys(e.variables))
    point = match_variables(list(names), values_arg(values, named_values))
    representable(point, dtype)
    for e in exprs:
        infer_shapes(e, shapes_of(point))

    from ..engines import higher_order  # (torch)

    computed = higher_order.jacobian(exprs, point, dtype)
    row_labels = []
    for k, value in enumerate(computed.values):
        base = "f" if len(exprs) == 1 else f"f{k + 1}"
        row_labels += labels(base, value)
    columns = _columns(point)
    cells = None
    status: Status = Status.UNCHECKED
    notes: tuple[str, ...] = ()
    if check:
        from ..check.run import check_jacobian  # (the exact engines)

        cells, status, notes = check_jacobian(exprs, point, dtype, seconds, computed, columns)
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


@needs_dependencies
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
    # (here, not at the top: it loads NumPy)
    import numpy as np

    from ..engines import higher_order  # (torch)

    expression = expression_arg(expression)
    dtype = dtype_arg(dtype)
    check = flag_arg(check, "check")
    seconds = timeout_arg(timeout)
    expr = parse(expression)
    point = match_variables(expr.variables, values_arg(values, named_values))
    representable(point, dtype, expr)
    out_shape = infer_shapes(expr, shapes_of(point))[-1]
    if out_shape:
        raise UsageError(
            f"the output has shape {_shape_text(out_shape)}, but a Hessian needs a scalar output",
            hint="wrap it in sum(...) or mean(...); or use 'gradcli jacobian' for the first "
            "derivatives of each element",
        )
    computed = higher_order.hessian(expr, point, dtype)
    columns = _columns(point)
    h = np.array(computed.rows, dtype=float).reshape(len(columns), len(columns))
    symmetric_part = (h + h.T) / 2
    asymmetry = float(np.max(np.abs(h - h.T))) if h.size else 0.0
    eigenvalues = tuple(float(v) for v in np.linalg.eigvalsh(symmetric_part)) if h.size else ()
    value = computed.values[0]
    cells = None
    status: Status = Status.UNCHECKED
    notes: list[str] = []
    exact_gradient = None
    if check:
        from ..check.run import check_hessian  # (the exact engines)

        cells, status, found, exact_gradient = check_hessian(
            expr, point, dtype, seconds, computed, columns
        )
        notes += found
    stationary = _stationary(computed.gradient, exact_gradient, h, [c[2] for c in columns])
    classification = _classify(eigenvalues) if stationary and eigenvalues else None
    scale = max(1.0, float(np.max(np.abs(h))) if h.size else 0.0)
    if asymmetry > SYMMETRY_TOLERANCE * scale:
        notes.append(
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
        tuple(notes),
        (value,),
        tuple(computed.gradient),
        asymmetry,
        eigenvalues,
        classification,
    )


def _stationary(gradient: list[float], exact: list[Any] | None, h: Any, xs: list[float]) -> bool:
    """Whether the gradient is zero: exactly, where the exact check proved it (every component
    an exact zero, or smaller than what rounding of its own terms explains); else torch's
    gradient against the Hessian's scale at this point, which does not grow with |f| (so
    ``1e20 + x**2`` at 1000 is no minimum)."""
    if exact is not None:
        return all(exact)
    # (here, not at the top: it loads NumPy)
    import numpy as np

    for i, g in enumerate(gradient):
        row = np.abs(h[i]) * np.maximum(1.0, np.abs(np.array(xs))) if h.size else np.zeros(1)
        if abs(g) > 1e-10 * float(np.max(row, initial=0.0)):
            return False
    return True


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


# ---- grad_batch ---------------------------------------------------------------------------------


@needs_dependencies
def grad_batch(
    expression: str,
    columns: Any,
    *,
    dtype: str = "float64",
    check: str | None = "all",
    timeout: float | None = 5.0,
) -> Any:
    """Value and gradient at many points, every row checked.

    ``columns`` is a table or a mapping. A **Polars or pandas DataFrame or an Arrow table**
    gives back the same kind of table: its own columns (and a pandas index) unchanged, then
    ``value``, ``d_<name>`` for each variable (float64, null where the result is not finite)
    and, unless ``check`` is None, ``status`` (each row's verdict, text). Columns that are not
    variables pass through. The columns added depend only on the expression, the input's
    columns and ``check``, so an empty table gives the empty result at once, without
    computing: the ``meta`` of ``dask.dataframe.map_partitions``. Nothing global is read or
    kept, so the function runs per partition under Dask or Ray::

        ddf.map_partitions(functools.partial(gradcli.grad_batch, "x**2*y"),
                           meta=gradcli.grad_batch("x**2*y", ddf._meta))

    A **mapping** gives each variable a one-dimensional array of numbers (NumPy, torch, a list
    or tuple) with one value per row, or a plain number, the same in every row; it gives back a
    dict of NumPy arrays: ``value``, ``d_<name>`` and ``status`` (not finite results as NaN or
    inf there).

    ``check="all"`` checks every row (in float64 with error bounds, doubtful rows exactly);
    ``"sample:N"`` N random rows exactly (the rest are ``unchecked``). The cells follow the
    strict rule of one value: finite numbers, no booleans, no text, no nulls. Raises
    :class:`gradcli.GradcliError` for input that is not acceptable.
    """
    # (here, not at the top: they load NumPy)
    import numpy as np

    from ..batch import frames  # (NumPy)
    from ..batch.check import parse_mode  # (NumPy)
    from ..batch.run import batch_arrays  # (NumPy)

    expr = parse(expression_arg(expression))
    infer_shapes(expr, {})
    dtype = dtype_arg(dtype)
    literals_within(expr, dtype)
    if check is not None:
        if not isinstance(check, str):
            raise UsageError(
                f"{{check}} must be 'all', 'sample:N' or None, not {check!r}", params=("check",)
            )
        parse_mode(check)
    seconds = timeout_arg(timeout)
    kind = frames.kind_of(columns)
    if kind is None:
        arrays, rows = _batch_columns(expr, columns)
        columns_within(arrays, dtype)
        return batch_arrays(expr, arrays, rows, dtype, check, seconds)
    given = frames.variable_columns(columns, kind, expr.variables, check is not None)
    arrays = {name: column_arg(name, raw) for name, raw in given.items()}
    columns_within(arrays, dtype)
    rows = len(columns)
    if rows == 0:  # the schema alone (Dask's meta): nothing to compute, torch not loaded
        results = {
            name: np.empty(0, dtype=object if name == "status" else np.float64)
            for name in frames.result_names(expr.variables, check is not None)
        }
    elif not expr.variables:  # the same in every row: computed and checked once
        once = batch_arrays(expr, {}, 1, dtype, check, seconds)
        results = {k: np.repeat(v, rows) for k, v in once.items()}
    else:
        results = batch_arrays(expr, arrays, rows, dtype, check, seconds)
    return frames.joined(columns, kind, results)


def _batch_columns(expr: Expr, columns: object) -> tuple[dict[str, np.ndarray], int]:
    """The variables' columns as float64 arrays of one length, and that length."""
    # (here, not at the top: it loads NumPy)
    import numpy as np

    if not isinstance(columns, Mapping):
        raise UsageError(
            "columns must be a table (a Polars or pandas DataFrame, an Arrow table) or a "
            f"mapping of variable names to arrays of numbers, not {type(columns).__name__}",
            hint="for a Dask or Ray dataset, run grad_batch on each partition (README: more "
            "than one machine)"
            if hasattr(type(columns), "columns") or hasattr(type(columns), "map_batches")
            else None,
        )
    for name in columns:
        if not isinstance(name, str):
            raise UsageError(f"column names must be strings, not {type(name).__name__}")
        check_name(name)
    match_variables(expr.variables, dict.fromkeys(columns, 0.0))
    given = {name: column_arg(name, columns[name]) for name in expr.variables}
    lengths = {name: len(a) for name, a in given.items() if a.ndim}
    rows = max(lengths.values(), default=1)
    for name, length in lengths.items():
        if length != rows:
            longest = max(lengths, key=lambda k: lengths[k])
            raise InputError(
                f"column {name} has {length:,} value{'s' * (length != 1)} but column "
                f"{longest} has {rows:,}",
                hint="give every column one value per row (a plain number repeats in every row)",
            )
    return {k: np.broadcast_to(a, (rows,)) if not a.ndim else a for k, a in given.items()}, rows


__all__ = ["grad", "grad_batch", "graph", "hessian", "jacobian", "steps"]
