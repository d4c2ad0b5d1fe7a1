"""Jacobians and Hessians: a labelled Rich table, plain rows, and the Hessian's summary."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..limits import SYMMETRY_TOLERANCE
from ..results import MatrixResult, Status, worst
from .layout import assignments, first_fitting, stacked, wrap_expression
from .numbers import fmt, fmt_value, shorten
from .table import status_text


def render(result: MatrixResult, width: int = 80) -> RenderableType:
    """A heading, the matrix as a labelled table (or, when that does not fit ``width``, each
    row stacked: its label, then one line per column), and for a Hessian its summary."""
    title = "Jacobian" if result.kind == "jacobian" else "Hessian"
    heading = Text.assemble(
        (f"{title} of ", "bold"),
        (
            "\n  ".join(wrap_expression(shorten(", ".join(result.expressions)), width - 12)),
            "bold cyan",
        ),
        "\n",
        assignments(
            "at  ",
            [f"{k} = {fmt_value(v)}" for k, v in result.point.items()],
            width,
            f"  ({result.dtype})",
        ),
    )
    if len(result.expressions) > 1:
        legend = [f"f{k + 1} = {e}" for k, e in enumerate(result.expressions)]
        heading.append("\n" + shorten("\n".join(legend)), style="dim")
    statuses = [
        worst([c.status for c in result.cells[r]])
        if result.cells
        else Status.UNCHECKED
        if result.status is Status.UNCHECKED
        else result.status
        for r in range(len(result.rows))
    ]

    def as_table() -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        corner = "∂fᵢ/∂xⱼ" if result.kind == "jacobian" else "∂²f/∂xᵢ∂xⱼ"
        table.add_column(corner, style="bold", no_wrap=True)
        for label in result.columns:
            table.add_column(label, justify="right", no_wrap=True)
        table.add_column("check", no_wrap=True)
        for label, row, status in zip(result.rows, result.matrix, statuses, strict=True):
            table.add_row(label, *(fmt(x) for x in row), status_text(status))
        return table

    def as_stack() -> RenderableType:
        corner = "∂{row}/∂{col}" if result.kind == "jacobian" else "∂²f/∂{row}∂{col}"
        return stacked(
            [
                (
                    Text.assemble((label, "bold"), "  ", status_text(status)),
                    [
                        (corner.format(row=label, col=col), fmt(x))
                        for col, x in zip(result.columns, row, strict=True)
                    ],
                )
                for label, row, status in zip(result.rows, result.matrix, statuses, strict=True)
            ]
        )

    table = first_fitting(width, [as_table, as_stack])
    parts: list[RenderableType] = [heading, Text(""), table]
    if result.kind == "hessian":
        parts += [Text(""), _summary(result)]
    return Group(*parts)


def _summary(result: MatrixResult) -> Table:
    """The Hessian's gradient, symmetry, eigenvalues and the kind of point, as label and value
    columns (a long list wraps between its numbers, inside its own column)."""
    summary = Table.grid(padding=(0, 2, 0, 0))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    grad = ", ".join(fmt(g) for g in result.gradient or ())
    summary.add_row("gradient", f"({grad})")
    asymmetry = result.asymmetry or 0.0
    scale = max([1.0, *(abs(x) for row in result.matrix for x in row)])
    if asymmetry == 0.0:
        symmetric = Text("✓ yes", style="green")
    elif asymmetry <= SYMMETRY_TOLERANCE * scale:
        symmetric = Text(
            f"✓ yes, up to rounding (largest |H[i][j] - H[j][i]| = {asymmetry:.3g})",
            style="green",
        )
    else:
        symmetric = Text(f"✗ no: largest |H[i][j] - H[j][i]| = {asymmetry:.3g}", style="yellow")
    summary.add_row("symmetric", symmetric)
    summary.add_row("eigenvalues", ", ".join(fmt(e) for e in result.eigenvalues or ()))
    kind = result.classification
    if kind == "inconclusive":
        point = Text("inconclusive: an eigenvalue is zero, second derivatives cannot tell")
    elif kind:
        point = Text(f"a {kind}", style="cyan")
    else:
        point = Text("not a stationary point (the gradient is not zero): no classification")
    summary.add_row("the point is", point)
    return summary


def plain(result: MatrixResult) -> str:
    """One matrix row per line, numbers separated by spaces."""
    return "".join(" ".join(fmt(x) for x in row) + "\n" for row in result.matrix)
