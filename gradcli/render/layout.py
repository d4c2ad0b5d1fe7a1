"""Fitting a view to the terminal: a table when it fits, else the same cells stacked.

Rich folds a table's cells to fit the width, and a folded number reads as two numbers
(``0.4996003610813`` over ``205``). So a view offers layouts from the widest to the narrowest;
the first whose natural width fits is used, and the last one, stacked (one label per line, then
its cells beneath it, one per line), fits any terminal a number fits on.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

_MEASURING = Console(width=1_000_000, file=io.StringIO(), color_system=None)


def natural_width(renderable: RenderableType) -> int:
    """The width ``renderable`` takes when nothing limits it."""
    return _MEASURING.measure(renderable).maximum


def first_fitting(width: int, layouts: Sequence[Callable[[], RenderableType]]) -> RenderableType:
    """The first layout whose natural width is at most ``width``; else the last one."""
    for make in layouts[:-1]:
        view = make()
        if natural_width(view) <= width:
            return view
    return layouts[-1]()


def stacked(blocks: Sequence[tuple[RenderableType, Sequence[tuple[str, RenderableType]]]]) -> Group:
    """Each block: its title on a line, then ``key  value`` lines indented beneath it. A value
    wraps only if it is wider than the terminal by itself."""
    parts: list[RenderableType] = []
    for title, rows in blocks:
        parts.append(title)
        grid = Table.grid(padding=(0, 2, 0, 0))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in rows:
            grid.add_row(Text("  " + key, style="dim"), value)
        parts.append(grid)
    return Group(*parts)
