"""The default human view: a Rich table of the value and the gradient with their checks.

Numbers are never cut or folded. A vector or matrix gradient is a small grid in its row when
that fits the terminal; else each element has a row of its own (``∂f/∂x[2]``); on a terminal
too narrow for that table, every row is stacked (see :mod:`gradcli.render.layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..language.values import Array
from ..results import NODE_BY_NODE, GradResult, Status, worst
from .layout import assignments, first_fitting, stacked, wrap_expression
from .numbers import fmt, fmt_value, short_exact, shorten

STYLE = {
    Status.AGREE: ("✓", "green"),
    Status.NONDIFFERENTIABLE: ("!", "yellow"),
    Status.PRECISION_LOSS: ("✗", "red"),
    Status.MISMATCH: ("✗", "bold red"),
    Status.OVERFLOW: ("✗", "magenta"),
    Status.UNDEFINED: ("✗", "magenta"),
    Status.TIMEOUT: ("?", "yellow"),
    Status.INCONCLUSIVE: ("?", "yellow"),
    Status.UNCHECKED: ("-", "dim"),
}


def status_text(status: Status) -> Text:
    mark, style = STYLE[status]
    return Text(f"{mark} {status.value}", style=style)


@dataclass(frozen=True)
class _Row:
    """One row of the table: a label, torch's numbers, the exact ones (or None), a verdict;
    a vector or matrix has its shape and one text per element."""

    label: str
    autograd: list[str]
    exact: list[str] | None
    status: Status
    shape: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()  #: each element's label, for a vector or matrix
    verdicts: tuple[Status, ...] = ()  #: each element's verdict
    said: str | None = None  #: in place of the verdict (a constant: requires_grad=False)


def _verdict(row: _Row, status: Status) -> Text:
    return Text(row.said, style="dim") if row.said else status_text(status)


def _grid(cells: list[str], shape: tuple[int, ...]) -> RenderableType:
    """A vector or matrix as a small borderless grid of right-aligned whole numbers."""
    cols = shape[-1]
    grid = Table.grid(padding=(0, 1))
    for _ in range(cols):
        grid.add_column(justify="right", no_wrap=True)
    for start in range(0, len(cells), cols):
        grid.add_row(*cells[start : start + cols])
    return grid


def _table(rows: list[_Row], exact_title: str | None, per_element: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("autograd", justify="right", no_wrap=True)
    if exact_title is not None:
        table.add_column(exact_title, justify="right", no_wrap=True)
    table.add_column("check", no_wrap=True)
    for row in rows:
        if row.shape and per_element:
            for k, label in enumerate(row.labels):
                cells: list[RenderableType] = [label, row.autograd[k]]
                if exact_title is not None:
                    cells.append(row.exact[k] if row.exact else "")
                cells.append(_verdict(row, row.verdicts[k] if row.verdicts else row.status))
                table.add_row(*cells)
            continue
        value: RenderableType = _grid(row.autograd, row.shape) if row.shape else row.autograd[0]
        cells = [row.label, value]
        if exact_title is not None:
            exact = row.exact or [""]
            cells.append(_grid(exact, row.shape) if row.shape else exact[0])
        cells.append(_verdict(row, row.status))
        table.add_row(*cells)
    return table


def _stacked(rows: list[_Row], exact_title: str | None) -> RenderableType:
    blocks = []
    for row in rows:
        singles = (
            zip(row.labels, range(len(row.labels)), strict=True) if row.shape else [(row.label, 0)]
        )
        for label, k in singles:
            status = row.verdicts[k] if row.verdicts else row.status
            title = Text.assemble((label, "bold"), "  ", _verdict(row, status))
            lines: list[tuple[str, RenderableType]] = [("autograd", row.autograd[k])]
            if exact_title is not None:
                lines.append((exact_title, row.exact[k] if row.exact else ""))
            blocks.append((title, lines))
    return stacked(blocks)


def render(result: GradResult, width: int = 80) -> RenderableType:
    """A heading, a table of numbers (value row, then one row per variable), and SymPy's
    derivatives below it, where long formulas can wrap without squeezing the numbers; laid
    out for ``width`` columns."""
    point = [f"{k} = {fmt_value(v)}" for k, v in result.point.items()] or ["no variables"]
    heading = Text.assemble(
        ("f = ", "bold"),
        ("\n    ".join(wrap_expression(shorten(result.expression), width - 4)), "bold cyan"),
        "\n",
        assignments("at  ", point, width, f"  ({result.dtype})"),
    )
    if result.vjp is not None:
        heading.append(f"\nvector-Jacobian product with v = {fmt_value(result.vjp)}", style="dim")
    checked = result.check.value is not None
    exact_title = None
    if checked:
        how = "node by node" if result.check.method == NODE_BY_NODE else "SymPy"
        exact_title = f"exact ({how})"

    rows: list[_Row] = []
    value_verdict = result.check.value
    exact_value = None
    if checked and value_verdict is not None:
        shown = short_exact(value_verdict.exact_text)
        exact_value = [shown if result.vjp is None else f"v·f = {shown}"]
    if result.vjp is None:
        autograd_value = fmt(result.value)
    elif value_verdict is not None and value_verdict.autograd is not None:
        autograd_value = f"v·f = {fmt(value_verdict.autograd)}"  # (what the check compares)
    else:
        autograd_value = fmt_value(result.value)  # (f itself, a vector: nothing was checked)
    rows.append(
        _Row(
            "f",
            [autograd_value],
            exact_value,
            value_verdict.status if value_verdict else result.check.status,
        )
    )
    power = "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(c)] for c in str(result.order)) if result.order > 1 else ""
    for name in result.point:
        if name in result.constants:
            rows.append(
                _Row(
                    f"∂{power}f/∂{name}{power}",
                    ["None"],
                    None,
                    Status.UNCHECKED,
                    said="requires_grad=False",
                )
            )
            continue
        if name not in result.gradient:
            continue
        g = result.gradient[name]
        labels = g.labels(name) if isinstance(g, Array) else [name]
        verdicts = [result.check.gradient.get(label) for label in labels]
        known = [v.status for v in verdicts if v is not None]
        status = worst(known) if known else result.check.status
        numbers = [fmt(v) for v in g.data] if isinstance(g, Array) else [fmt(g)]
        exact = [short_exact(v.exact_text) if v else "" for v in verdicts] if checked else None
        rows.append(
            _Row(
                f"∂{power}f/∂{name}{power}",
                numbers,
                exact,
                status,
                g.shape if isinstance(g, Array) else (),
                tuple(f"∂{power}f/∂{label}{power}" for label in labels),
                tuple(v.status if v else status for v in verdicts),
            )
        )
    table = first_fitting(
        width,
        [
            lambda: _table(rows, exact_title, per_element=False),
            lambda: _table(rows, exact_title, per_element=True),
            lambda: _stacked(rows, exact_title),
        ],
    )
    parts: list[RenderableType] = [heading, Text(""), table]
    if result.symbolic:
        parts.append(Text(""))
        formulas = Table.grid()
        formulas.add_column(style="bold", no_wrap=True)
        formulas.add_column(no_wrap=True)
        heads = {label: f"∂{power}f/∂{label}{power} = " for label in result.symbolic}
        widest = max(cell_len(h) for h in heads.values())
        if widest > width // 2:  # long labels: each formula on the lines under its label
            formulas = Table.grid()
            formulas.add_column(overflow="fold")
            for label, formula in result.symbolic.items():
                lines = wrap_expression(formula, width - 4)
                formulas.add_row(
                    Text.assemble((heads[label], "bold"), "\n    " + "\n    ".join(lines))
                )
        else:
            formulas.columns[1].overflow = "fold"  # (only a token wider than the room folds)
            formulas.columns[1].no_wrap = False
            for label, formula in result.symbolic.items():
                lines = wrap_expression(formula, width - widest - 1)
                formulas.add_row(heads[label], "\n".join(lines))
        parts.append(formulas)
    return Group(*parts)
