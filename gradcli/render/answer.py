"""The view of ``check``: the verdict on a hand-derived derivative, with the counterexample."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results.answer import AGREES, CORRECT, INVALID, WRONG, AnswerResult
from .layout import wrap_expression
from .numbers import fmt_value, short_exact

_MARK = {
    CORRECT: ("✓ correct", "green"),
    AGREES: ("✓ agrees", "green"),
    WRONG: ("✗ wrong", "bold red"),
    INVALID: ("✗ invalid answer", "bold red"),
}


def render(result: AnswerResult, width: int = 80) -> RenderableType:
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    room = max(20, width - 14)
    grid.add_row("f", "\n".join(wrap_expression(result.expression, room)))
    grid.add_row(f"your ∂f/∂{result.wrt}", "\n".join(wrap_expression(result.answer, room)))
    grid.add_row("SymPy's", "\n".join(wrap_expression(result.derivative, room)))
    mark, style = _MARK.get(result.status, ("? undecided", "yellow"))
    grid.add_row("verdict", Text.assemble((mark, style), f": {result.proof}"))
    c = result.counterexample
    if c is not None:
        at = ", ".join(f"{k} = {fmt_value(v)}" for k, v in c.point.items())
        grid.add_row("at", at)
        grid.add_row(f"∂f/∂{result.wrt} is", short_exact(c.derivative_text))
        grid.add_row("yours is", short_exact(c.answer_text))
        if c.difference_text:
            shown = short_exact(c.difference_text)
            grid.add_row("difference", shown if shown != "0" else c.difference_text)
    else:
        tried = len(result.samples)
        skipped = (
            f" ({result.skipped} outside the derivative's domain skipped)" if result.skipped else ""
        )
        grid.add_row("points", f"{tried} tried, exactly{skipped}")
    return Group(grid)
