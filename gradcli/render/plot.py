"""Plots in the terminal, drawn with Braille dots (each character is 2 x 4 dots): the loss
curve and |grad| of a descent, and the contour plot of a loss of two parameters with the
trajectory on it. Text only (Rich), no plotting library; ``figure.py`` draws the same with
matplotlib for files.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TypeVar

from rich.console import Group, RenderableType
from rich.text import Text

from ..results.descent import Contour, DescendResult, Run

_T = TypeVar("_T")
COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red")
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  #: [row][column] bit
_SHADES = " .:-=+*#%@"  #: contour bands, low to high


def _ticks(x: float) -> str:
    return f"{x:.3g}"


class _Canvas:
    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.bits = [[0] * columns for _ in range(rows)]
        self.style: list[list[str]] = [[""] * columns for _ in range(rows)]

    def dot(self, x: int, y: int, style: str) -> None:
        """Dot (x, y), y counted from the bottom, in dot units."""
        col, sub_x = divmod(x, 2)
        row_from_bottom, sub_y = divmod(y, 4)
        row = self.rows - 1 - row_from_bottom
        if 0 <= col < self.columns and 0 <= row < self.rows:
            self.bits[row][col] |= _DOTS[3 - sub_y][sub_x]
            self.style[row][col] = style

    def line(self, a: tuple[int, int], b: tuple[int, int], style: str) -> None:
        steps = max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1)
        for k in range(steps + 1):
            t = k / steps
            self.dot(round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), style)

    def text(self) -> list[Text]:
        lines = []
        for bits, styles in zip(self.bits, self.style, strict=True):
            line = Text()
            for b, st in zip(bits, styles, strict=True):
                line.append(chr(0x2800 + b) if b else " ", style=st or None)
            lines.append(line)
        return lines


def _scaled(values: Sequence[float], log: bool) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if not math.isfinite(v) or (log and v <= 0):
            out.append(None)
        else:
            out.append(math.log10(v) if log else v)
    return out


def _thinned(values: Sequence[_T], most: int) -> tuple[list[_T], int]:
    """At most about ``most`` of ``values`` (every k-th, and the last), and k."""
    step = max(1, -(-len(values) // most))
    kept = list(values[::step])
    if step > 1 and (len(values) - 1) % step:
        kept.append(values[-1])
    return kept, step


def line_plot(
    title: str, series: Sequence[tuple[str, Sequence[float]]], width: int, height: int = 8
) -> RenderableType:
    """Curves over the step number, on a log scale when every value is positive (a long run
    is thinned to a few points per dot column first)."""
    label_width = 9
    columns = max(10, width - label_width - 1)
    longest = max((len(ys) for _, ys in series), default=0)
    thin = max(1, -(-longest // (4 * columns)))
    series = [(name, list(ys[::thin]) + ([ys[-1]] if thin > 1 else [])) for name, ys in series]
    values = [v for _, ys in series for v in ys if math.isfinite(v)]
    log = bool(values) and all(v > 0 for v in values)
    scaled = [_scaled(ys, log) for _, ys in series]
    known = [v for ys in scaled for v in ys if v is not None]
    if not known:
        return Text(f"{title}: nothing finite to plot", style="dim")
    low, high = min(known), max(known)
    if high == low:
        high, low = high + 0.5, low - 0.5
    canvas = _Canvas(columns, height)
    drawn = max(len(ys) for _, ys in series)
    for k, ys in enumerate(scaled):
        style = COLOURS[k % len(COLOURS)]
        last: tuple[int, int] | None = None
        for i, v in enumerate(ys):
            if v is None:
                last = None
                continue
            x = round(i * (2 * columns - 1) / max(1, drawn - 1))
            y = round((v - low) * (4 * height - 1) / (high - low))
            if last is not None:
                canvas.line(last, (x, y), style)
            else:
                canvas.dot(x, y, style)
            last = (x, y)
    top = _ticks(10**high if log else high)
    bottom = _ticks(10**low if log else low)
    lines = canvas.text()
    out: list[RenderableType] = [
        Text.assemble(
            (title, "bold"),
            (" (log scale)" if log else "", "dim"),
            "  ",
            *(
                Text.assemble(("━ ", COLOURS[k % len(COLOURS)]), (name + "  ", "dim"))
                for k, (name, _) in enumerate(series)
                if len(series) > 1
            ),
        )
    ]
    for i, line in enumerate(lines):
        label = top if i == 0 else bottom if i == len(lines) - 1 else ""
        out.append(Text.assemble((label.rjust(label_width), "dim"), "│", line))
    axis = f"step 0{'':{max(0, columns - 12)}}{longest - 1:>6}"
    out.append(Text(" " * (label_width + 1) + axis, style="dim"))
    return Group(*out)


def live_grid(width: int) -> tuple[int, int]:
    """The grid of a live frame's contour: coarse (each frame computes it anew)."""
    return (max(10, min(width - 11, 96)) // 2, 12)


def contour_plot(
    contour: Contour,
    paths: Sequence[Sequence[Sequence[float]]],
    width: int,
    height: int = 16,
) -> RenderableType:
    """The loss in bands (denser is higher; each band holds as many grid points), sampled
    to ``width`` x ``height`` characters, with each run's path: ○ the start, ● the end, · the
    steps between (one colour per run)."""
    finite = [v for row in contour.values for v in row if math.isfinite(v)]
    if not finite:
        return Text("contour: the loss is not finite on the plotted area", style="dim")
    ranked = sorted(finite)

    def band(v: float) -> int:
        # equal-count bands: the valley shows however steep the walls are
        if not math.isfinite(v):
            return len(_SHADES) - 1
        return min(len(_SHADES) - 1, bisect.bisect_left(ranked, v) * len(_SHADES) // len(ranked))

    columns = max(10, min(width - 11, 2 * height * 3))
    rows = height
    xs, ys = contour.xs, contour.ys
    lines: list[list[tuple[str, str]]] = []
    for i in range(rows):
        gi = round((rows - 1 - i) * (len(ys) - 1) / max(1, rows - 1))
        line = []
        for j in range(columns):
            gj = round(j * (len(xs) - 1) / max(1, columns - 1))
            line.append((_SHADES[band(contour.values[gi][gj])], "blue"))
        lines.append(line)

    def cell(point: Sequence[float]) -> tuple[int, int] | None:
        x, y = point[0], point[1]
        if not (xs[0] <= x <= xs[-1] and ys[0] <= y <= ys[-1]):
            return None
        j = round((x - xs[0]) / (xs[-1] - xs[0]) * (columns - 1))
        i = round((y - ys[0]) / (ys[-1] - ys[0]) * (rows - 1))
        return rows - 1 - i, j

    for k, path in enumerate(paths):
        style = "bold " + COLOURS[k % len(COLOURS)] if len(paths) > 1 else "bold yellow"
        if not path:
            continue
        middle, _ = _thinned(path[1:-1], 4 * columns * rows)
        marked = [(p, "·") for p in middle]
        marked += [(path[0], "○"), (path[-1], "●")]
        for point, mark in marked:
            at = cell(point)
            if at is not None:
                lines[at[0]][at[1]] = (mark, style)
    x_name, y_name = contour.names
    out: list[RenderableType] = [
        Text.assemble(
            ("contour of the loss", "bold"),
            (f"  {x_name} across, {y_name} up; ○ start, ● end", "dim"),
        )
    ]
    for i, line in enumerate(lines):
        label = _ticks(ys[-1]) if i == 0 else _ticks(ys[0]) if i == rows - 1 else ""
        text = Text.assemble((label.rjust(9), "dim"), "│")
        for char, style in line:
            text.append(char, style=style)
        out.append(text)
    left, right = _ticks(xs[0]), _ticks(xs[-1])
    out.append(
        Text(" " * 10 + left + " " * max(1, columns - len(left) - len(right)) + right, style="dim")
    )
    return Group(*out)


def curves(result: DescendResult, width: int) -> RenderableType:
    """The loss and |grad| of every run (side by side for --compare), and with two parameters
    the contour of the loss with every run's path."""
    runs = result.all_runs

    def name(run: Run) -> str:
        return run.settings.optimizer + ("" if run.zero_grad else " without zero_grad")

    parts: list[RenderableType] = [
        line_plot("loss", [(name(r), r.losses) for r in runs], width),
        Text(""),
        line_plot("|grad|", [(name(r), r.gradient_norms) for r in runs], width, height=5),
    ]
    if result.contour is not None:
        parts += [Text(""), contour_plot(result.contour, [r.path for r in runs], width)]
    return Group(*parts)
