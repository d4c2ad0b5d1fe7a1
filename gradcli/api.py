"""The public functions behind ``import gradcli``; the CLI calls these too.

Parsing and input checks happen first and import nothing heavy, so bad input fails fast; torch
is imported for the evaluation, SymPy only for the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .models import Check, GradResult, GraphResult, Status
from .nodes import Expr
from .parser import parse
from .shapes import infer_shapes
from .values import Array, Value, coerce_values, match_variables

if TYPE_CHECKING:
    from .steps import StepsResult

DTYPES = ("float64", "float32")
DEFAULT_TIMEOUT = 5.0  #: seconds for the symbolic check
MAX_SYMBOLIC_ELEMENTS = 10_000  #: above this many variable elements the SymPy check is skipped


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
    """
    _check_dtype(dtype)
    expr = parse(expression)
    point = match_variables(expr.variables, coerce_values({**(values or {}), **named_values}))
    shapes = infer_shapes(expr, shapes_of(point))
    vector = _vjp_vector(vjp, shapes[-1], expr)

    from . import evaluate

    computed = evaluate.autograd(expr, point, dtype, vector)
    flat_gradient = {
        label: g
        for name, value in computed.gradient.items()
        for label, g in zip(evaluate.labels(name, value), evaluate.flat(value), strict=True)
    }
    size = sum(len(evaluate.flat(v)) for v in point.values())

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

    import sympy as sp

    from . import check as checking
    from . import symbolic
    from .deadline import CheckTimeout, time_limit

    elements = {
        label: (name, x)
        for name, value in point.items()
        for label, x in zip(evaluate.labels(name, value), evaluate.flat(value), strict=True)
    }
    scalar_value = evaluate.scalar_of(computed.value, vector)
    try:
        with time_limit(timeout):
            sym = symbolic.build(expr, dtype, {n: s for n, s in shapes_of(point).items()})
            output = sym.arrays[-1]
            if vector is None:
                f = output.item()
            else:  # the scalar whose gradient is the VJP: sum(v * f)
                weights = (symbolic.exact_rational(c) for c in evaluate.flat(vector))
                f = sp.Add(*(c * e for c, e in zip(weights, output.flat, strict=True)))
            derivatives = {
                label: sp.diff(f, symbol)
                for elems in sym.elements.values()
                for label, symbol in elems
            }
            verdicts = checking.judge(
                expr,
                elements,
                dtype,
                scalar_value,
                flat_gradient,
                computed.node_values,
                symbolic.evaluate(sym, f, point, dtype),
                {
                    label: symbolic.evaluate(sym, d, point, dtype)
                    for label, d in derivatives.items()
                },
                lambda: evaluate.noisy_spread(expr, point, dtype, vector),
            )
            shown = {label: sym.display(d) for label, d in derivatives.items()}
    except CheckTimeout:
        verdicts = checking.timed_out(scalar_value, flat_gradient, timeout or 0)
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
    from .graph import build_graph

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
    expr = parse(expression)
    if not given and expr.variables:
        infer_shapes(expr, {})
        return expr, None
    point: dict[str, float] = {}
    for name, value in match_variables(expr.variables, coerce_values(given)).items():
        if isinstance(value, Array):
            from .errors import UsageError

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
    from .deadline import CheckTimeout, time_limit
    from .errors import TimeLimitError, UsageError
    from .graph import build_graph
    from .steps import explain

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
    except CheckTimeout:
        raise TimeLimitError(
            f"the derivation did not finish within {timeout:g} s",
            hint="raise the limit with --timeout, or pick one variable with --wrt",
        ) from None


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        from .errors import UsageError

        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
