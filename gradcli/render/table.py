"""The default human view: a Rich table of the value and the gradient with their checks."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..models import GradResult, Status, Verdict
from .numbers import fmt, short_exact

STYLE = {
    Status.AGREE: ("✓", "green"),
    Status.NONDIFFERENTIABLE: ("!", "yellow"),
    Status.PRECISION_LOSS: ("✗", "red"),
    Status.MISMATCH: ("✗", "bold red"),
    Status.OVERFLOW: ("✗", "magenta"),
    Status.UNDEFINED: ("✗", "magenta"),
    Status.TIMEOUT: ("?", "yellow"),
    Status.UNCHECKED: ("-", "dim"),
}


def status_text(status: Status) -> Text:
    mark, style = STYLE[status]
    return Text(f"{mark} {status.value}", style=style)


def render(result: GradResult) -> RenderableType:
    """A heading, a table of numbers (value row, then one row per variable), and SymPy's
    derivatives below it, where long formulas can wrap without squeezing the numbers."""
    point = ", ".join(f"{k} = {fmt(v)}" for k, v in result.point.items()) or "no variables"
    heading = Text.assemble(
        ("f = ", "bold"),
        (result.expression, "bold cyan"),
        "\n",
        ("at  ", "dim"),
        point,
        (f"  ({result.dtype})", "dim"),
    )
    checked = result.check.value is not None
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("autograd", justify="right", overflow="fold")
    if checked:
        table.add_column("exact (SymPy)", justify="right", overflow="fold")
    table.add_column("check", no_wrap=True)

    def row(label: str, number: float, verdict: Verdict | None) -> None:
        cells: list[RenderableType] = [label, fmt(number)]
        if checked and verdict is not None:
            cells.append(short_exact(verdict.exact_text))
        cells.append(status_text(verdict.status if verdict else result.check.status))
        table.add_row(*cells)

    row("f", result.value, result.check.value)
    for name, g in result.gradient.items():
        row(f"∂f/∂{name}", g, result.check.gradient.get(name))
    parts: list[RenderableType] = [heading, Text(""), table]
    if result.symbolic:
        parts.append(Text(""))
        for name, formula in result.symbolic.items():
            parts.append(Text.assemble((f"∂f/∂{name} = ", "bold"), formula))
    return Group(*parts)
