"""Jacobians and Hessians: a labelled Rich table, plain rows, and the Hessian's summary."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import MatrixResult, Status, worst
from .numbers import fmt, shorten
from .table import status_text


def render(result: MatrixResult) -> RenderableType:
    title = "Jacobian" if result.kind == "jacobian" else "Hessian"
    heading = Text.assemble(
        (f"{title} of ", "bold"),
        (shorten(", ".join(result.expressions)), "bold cyan"),
        "\n",
        ("at  ", "dim"),
        ", ".join(f"{k} = {_short(v)}" for k, v in result.point.items()),
        (f"  ({result.dtype})", "dim"),
    )
    if len(result.expressions) > 1:
        legend = shorten(", ".join(f"f{k + 1} = {e}" for k, e in enumerate(result.expressions)))
        heading.append(f"\n{legend}", style="dim")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    corner = "∂fᵢ/∂xⱼ" if result.kind == "jacobian" else "∂²f/∂xᵢ∂xⱼ"
    table.add_column(corner, style="bold", no_wrap=True)
    for label in result.columns:
        table.add_column(label, justify="right", overflow="fold")
    table.add_column("check", no_wrap=True)
    for r, (label, row) in enumerate(zip(result.rows, result.matrix, strict=True)):
        status = (
            worst([c.status for c in result.cells[r]])
            if result.cells
            else Status.UNCHECKED
            if result.status is Status.UNCHECKED
            else result.status
        )
        table.add_row(label, *(fmt(x) for x in row), status_text(status))
    parts: list[RenderableType] = [heading, Text(""), table]
    if result.kind == "hessian":
        parts.append(Text(""))
        grad = ", ".join(fmt(g) for g in result.gradient or ())
        parts.append(Text.assemble(("gradient      ", "bold"), f"({grad})"))
        symmetric = (result.asymmetry or 0.0) == 0.0
        parts.append(
            Text.assemble(
                ("symmetric     ", "bold"),
                (
                    "✓ yes"
                    if symmetric
                    else f"largest |H[i][j] - H[j][i]| = {result.asymmetry:.3g}",
                    "green" if symmetric else "yellow",
                ),
            )
        )
        eig = ", ".join(fmt(e) for e in result.eigenvalues or ())
        parts.append(Text.assemble(("eigenvalues   ", "bold"), eig))
        if result.classification:
            kind = result.classification
            parts.append(
                Text.assemble(
                    ("the point is  ", "bold"),
                    (
                        f"a {kind}"
                        if kind != "inconclusive"
                        else "inconclusive: an eigenvalue is zero, second derivatives cannot tell",
                        "cyan",
                    ),
                )
            )
        else:
            parts.append(
                Text(
                    "the gradient is not zero, so this is not a stationary point: "
                    "no classification",
                    style="dim",
                )
            )
    return Group(*parts)


def plain(result: MatrixResult) -> str:
    """One matrix row per line, numbers separated by spaces."""
    return "".join(" ".join(fmt(x) for x in row) + "\n" for row in result.matrix)


def _short(value: object) -> str:
    if hasattr(value, "tolist"):
        return str(value.tolist())
    return fmt(value)  # type: ignore[arg-type]
