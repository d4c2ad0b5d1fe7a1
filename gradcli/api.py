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
from .shapes import check_shapes
from .values import coerce_values, match_variables

if TYPE_CHECKING:
    from .steps import StepsResult

DTYPES = ("float64", "float32")
DEFAULT_TIMEOUT = 5.0  #: seconds for the symbolic check


def grad(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    dtype: str = "float64",
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    **named_values: object,
) -> GradResult:
    """Value and gradient of ``expression`` at a point, cross-checked against SymPy.

    Values may be given as a mapping, as keywords, or both::

        >>> r = grad("x**2*y", x=2, y=3)
        >>> r.value, r.gradient, r.check.status.value
        (12.0, {'x': 12.0, 'y': 4.0}, 'agree')

    ``dtype`` is ``"float64"`` (default) or ``"float32"``. With ``check=False`` SymPy is not
    imported and the check status is ``unchecked``. The symbolic check gets ``timeout``
    seconds (None: no limit); past that its status is ``timeout`` and torch's numbers stand
    unchecked. Raises :class:`gradcli.GradcliError` for input that is not acceptable.
    """
    _check_dtype(dtype)
    expr = parse(expression)
    point = match_variables(expr.variables, coerce_values({**(values or {}), **named_values}))
    check_shapes(expr)

    from . import evaluate

    computed = evaluate.autograd(expr, point, dtype)
    if not check:
        return GradResult(
            expression,
            point,
            dtype,
            computed.value,
            computed.gradient,
            {},
            Check(Status.UNCHECKED, None),
        )

    from . import check as checking
    from . import symbolic
    from .deadline import CheckTimeout, time_limit

    try:
        with time_limit(timeout):
            sym = symbolic.build(expr, dtype)
            derivatives = {name: sym.derivative(name) for name in point}
            verdicts = checking.judge(
                expr,
                point,
                dtype,
                computed.value,
                computed.gradient,
                computed.node_values,
                symbolic.evaluate(sym, sym.expr, point, dtype),
                {name: symbolic.evaluate(sym, d, point, dtype) for name, d in derivatives.items()},
                lambda: evaluate.noisy_spread(expr, point, dtype),
            )
            shown = {name: sym.display(d) for name, d in derivatives.items()}
    except CheckTimeout:
        verdicts = checking.timed_out(computed.value, computed.gradient, timeout or 0)
        shown = {}
    return GradResult(expression, point, dtype, computed.value, computed.gradient, shown, verdicts)


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
    point = None
    if given or not expr.variables:
        point = match_variables(expr.variables, coerce_values(given))
    check_shapes(expr)
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
