"""``check_answer``: is a hand-derived derivative right? (``gradcli check``)"""

from __future__ import annotations

from ..errors import UsageError
from ..language.parser import parse
from ..language.shapes import infer_shapes
from ..limits import DEFAULT_TIMEOUT
from ..results.answer import AnswerResult
from .arguments import count_arg, expression_arg, needs_dependencies, timeout_arg


@needs_dependencies
def check_answer(
    expression: str,
    answer: str,
    wrt: str | None = None,
    *,
    points: int = 20,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> AnswerResult:
    """Whether ``answer`` is the derivative of ``expression`` with respect to ``wrt`` (needed
    when the expression has several variables)::

        >>> check_answer("x**2*y", "2*x*y", "x").status
        'correct'

    SymPy tries to prove the two equal (in at most 2 s); then both are evaluated exactly at up
    to ``points`` points (special values such as 0 and -1, then random ones from ``seed``),
    skipping those where the derivative is undefined. A proven difference is a counterexample:
    status ``wrong``. ``agrees_at_points``: equal everywhere tried, but not proven equal.
    """
    expression = expression_arg(expression)
    answer = expression_arg(answer, "answer")
    points = count_arg(points, "points", 1, 1000)
    seed = count_arg(seed, "seed", 0, 2**63 - 1)
    seconds = timeout_arg(timeout)
    expr = parse(expression)
    given = parse(answer)
    for e in (expr, given):
        if infer_shapes(e, {})[-1]:
            raise UsageError("check takes scalar expressions of scalar variables")
    if wrt is None:
        if len(expr.variables) != 1:
            uses = ", ".join(expr.variables) or "none"
            raise UsageError(
                f"which variable? the expression uses {uses}",
                hint="name it with {wrt}",
                params=("wrt",),
            )
        wrt = expr.variables[0]
    if not isinstance(wrt, str) or wrt not in expr.variables:
        raise UsageError(f"{{wrt}} {wrt}: the expression does not use it", params=("wrt",))
    extra = [v for v in given.variables if v not in expr.variables]
    if extra:
        raise UsageError(
            f"the answer uses {', '.join(extra)}, which the expression does not",
            hint="a derivative depends only on the expression's variables",
        )
    from ..check.answers import check_answer as judge  # (SymPy and FLINT)

    return judge(expr, given, wrt, points, seed, seconds)


__all__ = ["check_answer"]
