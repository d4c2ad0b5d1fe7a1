"""The default human view: a Rich table of the value and the gradient with their checks."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..language.values import Array
from ..results import NODE_BY_NODE, GradResult, Status, worst
from .numbers import fmt, short_exact, shorten

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


def _grid(cells: list[str], shape: tuple[int, ...]) -> RenderableType:
    """A vector or matrix as a small borderless table of right-aligned numbers."""
    cols = shape[-1]
    grid = Table.grid(padding=(0, 1))
    for _ in range(cols):
        grid.add_column(justify="right")
    for start in range(0, len(cells), cols):
        grid.add_row(*cells[start : start + cols])
    return grid


def _cell(value: Any, texts: list[str] | None = None) -> RenderableType:
    """One number as text, or a vector or matrix as a grid (of ``texts`` if given)."""
    if isinstance(value, Array):
        shown = texts if texts is not None else [fmt(v) for v in value.data]
        return _grid(shown, value.shape)
    return texts[0] if texts else fmt(value)


def render(result: GradResult) -> RenderableType:
    """A heading, a table of numbers (value row, then one row per variable), and SymPy's
    derivatives below it, where long formulas can wrap without squeezing the numbers.
    Vectors and matrices are shown as small grids."""
    point = (
        ", ".join(
            f"{k} = {fmt(v)}" if not isinstance(v, Array) else f"{k} = {_inline(v)}"
            for k, v in result.point.items()
        )
        or "no variables"
    )
    heading = Text.assemble(
        ("f = ", "bold"),
        (shorten(result.expression), "bold cyan"),
        "\n",
        ("at  ", "dim"),
        point,
        (f"  ({result.dtype})", "dim"),
    )
    if result.vjp is not None:
        heading.append(f"\nvector-Jacobian product with v = {_inline(result.vjp)}", style="dim")
    checked = result.check.value is not None
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("autograd", justify="right", overflow="fold")
    if checked:
        how = "node by node" if result.check.method == NODE_BY_NODE else "SymPy"
        table.add_column(f"exact ({how})", justify="right", overflow="fold")
    table.add_column("check", no_wrap=True)

    value_verdict = result.check.value
    cells: list[RenderableType] = ["f", _cell(result.value)]
    if checked and value_verdict is not None:
        exact = short_exact(value_verdict.exact_text)
        cells.append(exact if result.vjp is None else f"v·f = {exact}")
    cells.append(status_text(value_verdict.status if value_verdict else result.check.status))
    table.add_row(*cells)
    power = "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(c)] for c in str(result.order)) if result.order > 1 else ""
    for name, g in result.gradient.items():
        labels = g.labels(name) if isinstance(g, Array) else [name]
        verdicts = [result.check.gradient.get(label) for label in labels]
        row: list[RenderableType] = [f"∂{power}f/∂{name}{power}", _cell(g)]
        if checked:
            row.append(_cell(g, [short_exact(v.exact_text) if v else "" for v in verdicts]))
        known = [v.status for v in verdicts if v is not None]
        row.append(status_text(worst(known) if known else result.check.status))
        table.add_row(*row)
    parts: list[RenderableType] = [heading, Text(""), table]
    if result.symbolic:
        parts.append(Text(""))
        for label, formula in result.symbolic.items():
            parts.append(Text.assemble((f"∂{power}f/∂{label}{power} = ", "bold"), formula))
    return Group(*parts)


def _inline(value: Array) -> str:
    return str(value.tolist()).replace(".0,", ",").replace(".0]", "]")
