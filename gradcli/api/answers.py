"""``check_answer``: is a hand-derived derivative right? (``gradcli check``)"""

from __future__ import annotations

from ..errors import GradcliError, ParseError, UsageError
from ..language.parser import parse
from ..language.shapes import infer_shapes
from ..language.values import check_name
from ..limits import DEFAULT_TIMEOUT
from ..results.answer import INVALID, AnswerResult
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
    to ``points`` points of every variable of either (special values such as 0 and -1, then
    random ones from ``seed``; an answer that depends on a variable the expression does not
    have differs somewhere), skipping those where the derivative is undefined. A proven
    difference is a counterexample: status ``wrong``; an answer that does not parse is
    ``invalid_answer``. ``agrees_at_points``: equal everywhere tried, but not proven equal.
    """
    expression = expression_arg(expression)
    answer = expression_arg(answer, "answer")
    points = count_arg(points, "points", 1, 1000)
    seed = count_arg(seed, "seed", 0, 2**63 - 1)
    seconds = timeout_arg(timeout)
    expr = parse(expression)
    if infer_shapes(expr, {})[-1]:
        raise UsageError("check takes scalar expressions of scalar variables")
    try:
        given = parse(answer)
        infer_shapes(given, {})
    except GradcliError as e:  # the student's answer, not the caller's mistake: a verdict
        where = f" at column {e.start + 1}" if isinstance(e, ParseError) else ""
        return AnswerResult(
            expression,
            wrt or "",
            answer,
            "",
            INVALID,
            f"the answer is not a valid expression{where}: {e.message}",
            (),
            0,
        )
    if wrt is None:
        if len(expr.variables) != 1:
            uses = ", ".join(expr.variables) or "none"
            raise UsageError(
                f"which variable? the expression uses {uses}",
                hint="name it with {wrt}",
                params=("wrt",),
            )
        wrt = expr.variables[0]
    if not isinstance(wrt, str):
        raise UsageError(f"{{wrt}} must be a variable name, not {wrt!r}", params=("wrt",))
    check_name(wrt)
    from ..check.answers import check_answer as judge  # (SymPy and FLINT)

    return judge(expr, given, wrt, points, seed, seconds)


__all__ = ["check_answer"]
