"""Fitting a view to the terminal: a table when it fits, else the same cells stacked.

Rich folds a table's cells to fit the width, and a folded number reads as two numbers
(``0.4996003610813`` over ``205``). So a view offers layouts from the widest to the narrowest;
the first whose natural width fits is used, and the last one, stacked (one label per line, then
its cells beneath it, one per line), fits any terminal a number fits on.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence

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


def assignments(label: str, items: Sequence[str], width: int, tail: str = "") -> Text:
    """``label`` (dim), then ``items`` (``x = 1.5``) joined by commas, broken into lines of at
    most ``width`` columns only between items, continuation lines under the first item; and
    the dim ``tail`` (``  (float64)``) on the last line, or under it when it does not fit. An
    item wider than the line has a line of its own."""
    indent = " " * len(label)
    lines = [""]
    for k, item in enumerate(items):
        piece = item + ("," if k < len(items) - 1 else "")
        if lines[-1] and len(indent) + len(lines[-1]) + 1 + len(piece) > width:
            lines.append("")
        lines[-1] += (" " if lines[-1] else "") + piece
    text = Text.assemble((label, "dim"), ("\n" + indent).join(lines))
    if tail:
        fits = len(indent) + len(lines[-1]) + len(tail) <= width
        text.append(tail if fits else "\n" + indent + tail.lstrip(), style="dim")
    return text


_TOKEN = re.compile(
    r"\s+|[A-Za-z_][A-Za-z0-9_]*(?:\[[0-9, ]*\])?|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+|\*\*|\S"
)
_AFTER = set("+-*/,(")  #: a line may end after these (an operator, a comma, an opening)
_SIGNED_AFTER = {"=", "(", ",", "*", "/", "**", "+", "-", "[", ":"}  #: a '-' after these is a sign


def _backwards(items: list[str], skip: int) -> Iterator[str]:
    """``items`` from the end, the last ``skip - 1`` left out (without copying the list)."""
    for k in range(len(items) - skip, -1, -1):
        yield items[k]


def tokens_of(text: str) -> list[str]:
    """``text`` cut into names, numbers, operators and spaces (joined, they are ``text``); a
    minus sign that belongs to the number after it (``= -0.5``, ``(-2``) stays with it."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        before = None
        if tokens and tokens[-1] == "-":
            before = next((t for t in _backwards(tokens, 2) if not t.isspace()), None)
        unary = tokens and tokens[-1] == "-" and (before is None or before in _SIGNED_AFTER)
        if unary and (token[0].isdigit() or token[0] == "."):
            tokens[-1] += token
        else:
            tokens.append(token)
    # "= 0.00122789" (a result after its formula) stays together
    merged: list[str] = []
    for token in tokens:
        number = token.lstrip("-")[:1].isdigit() or token.lstrip("-")[:1] == "."
        if number and len(merged) >= 2 and merged[-1].isspace() and merged[-2] == "=":
            merged[-2:] = [merged[-2] + merged[-1] + token]
        else:
            merged.append(token)
    return merged


def wrap_expression(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken only between tokens (never
    inside a name or a number): after an operator, a comma or a space, the least nested such
    place of the line; a token longer than the width has a line of its own."""
    width = max(width, 8)
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    places: list[tuple[int, int]] = []  # (position in line, nesting depth) to break after
    depth = 0
    for token in tokens_of(text):
        if len(line) + len(token) > width and line.strip():
            usable = [p for p in places if p[0] > width // 3]
            if usable:
                cut = min(usable, key=lambda p: (p[1], -p[0]))[0]
                lines.append(line[:cut].rstrip())
                line = line[cut:].lstrip()
                places = [(p - cut, d) for p, d in places if p > cut]
            else:
                lines.append(line.rstrip())
                line, places = "", []
            if token.isspace() and not line:  # (no line starts with a space)
                continue
        line += token
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if token.isspace() or token[-1] in _AFTER:
            places.append((len(line), depth))
    if line.strip():
        lines.append(line.rstrip())
    return lines
