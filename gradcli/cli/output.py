"""Where output goes: stdout or a file, in which format, written safely.

Everything that can be known before the work (the format, a writable destination, Graphviz for
pictures) is checked when the destination is chosen, so a bad ``--output`` fails at once. Files
are written as :class:`~gradcli.files.OutputFile` writes them: never half a file, never a
device replaced.
"""

from __future__ import annotations

import errno
import io
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError, safe_text
from ..files import OutputFile, write_stdout
from ..render import json_doc

if TYPE_CHECKING:
    from rich.console import Console

FILE_WIDTH = 100  #: columns of text written to a file


def console() -> Console:
    """A Rich console on stdout: colour only on a terminal, NO_COLOR honoured, no markup."""
    # (here, not at the top: it loads Rich)
    from rich.console import Console

    class Stdout(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit with 1; a closed pipe is exit 141 here, as for every output
            raise BrokenPipeError(errno.EPIPE, "the reader closed the pipe")

    return Stdout(highlight=False, markup=False, emoji=False)


def emit(doc: dict[str, Any] | None, text: str | None, view: Callable[[int], Any]) -> None:
    """Print a result: as a JSON document, as plain text, or (by default) as a Rich view laid
    out for the terminal's width."""
    if doc is not None:
        write_stdout(json_doc.dumps(doc))
    elif text is not None:
        write_stdout(text)
    else:
        out = console()
        print_view(view(out.width), out)


def print_view(renderable: object, out: Console | None = None) -> None:
    """A Rich view on stdout, rendered first and then written in full (see write_stdout)."""
    out = out or console()
    with out.capture() as captured:
        out.print(renderable)
    write_stdout(trimmed(captured.get()))


_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)


def trimmed(text: str) -> str:
    """Rich pads every line of a table to the table's width: without the blanks at the ends
    of lines, for pipes, files and ``diff`` (text with colour codes is left as it is: there,
    the blanks may carry a background)."""
    return text if "\x1b" in text else _TRAILING.sub("", text)


def plain_text(renderable: object) -> str:
    """A Rich renderable as plain text, for a file."""
    # (here, not at the top: it loads Rich)
    from rich.console import Console

    out = Console(width=FILE_WIDTH, color_system=None, record=True, file=io.StringIO())
    out.print(renderable)
    return trimmed(out.export_text())


@contextmanager
def progress(to_stdout: bool = False) -> Iterator[Callable[[int], None] | None]:
    """Rows done and rows per second on stderr, only when stderr is a terminal and the rows
    do not go to the same screen (``to_stdout`` on a terminal: the rows are the progress)."""
    if not sys.stderr.isatty() or (to_stdout and sys.stdout.isatty()):
        yield None
        return
    # (here, not at the top: they load Rich)
    from rich.console import Console
    from rich.progress import (  # (Rich)
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    started = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,} rows  {task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=None, rate="")

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            rate = done / max(time.monotonic() - started, 1e-9)
            bar.update(task, advance=n, rate=f"{rate:,.0f} rows/s")

        yield advance


#: seconds between two frames of the live view (each draws the plots again)
FRAME = 0.25


@contextmanager
def live_descent(
    wanted: bool = True, names: Sequence[str] = ()
) -> Iterator[Callable[..., None] | None]:
    """The live view of a descent on stderr, only on a terminal: the step, the loss curve and
    |grad| of each run so far (``names``: the runs' optimizers), and with two parameters the
    contour of the loss with the path. It is transient: the result printed after it takes
    its place. A frame is drawn at most every FRAME seconds, and never takes more than a
    fifth of the time (a long run's frames cost more)."""
    if not wanted or not sys.stderr.isatty():
        yield None
        return
    # (here, not at the top: they load Rich)
    from rich.console import Console, Group
    from rich.live import Live  # (Rich)
    from rich.text import Text  # (Rich)

    from ..render import plot  # (Rich)

    screen = Console(stderr=True, highlight=False, markup=False, emoji=False)
    histories: dict[int, Any] = {}
    last = [0.0, FRAME]  # when the last frame ended, and the wait before the next
    with Live(console=screen, transient=True, auto_refresh=False) as live:

        def observe(index: int, step: Any, history: Any, grid: Any) -> None:
            histories[index] = history
            started = time.monotonic()
            if started - last[0] < last[1]:
                return
            width = screen.width
            who = names[index] if index < len(names) else f"run {index + 1}"
            parts: list[Any] = [
                Text(
                    f"{who}  step {step.step:,}  loss {step.loss:.6g}  "
                    f"|grad| {step.gradient_norm:.3g}"
                )
            ]
            runs = sorted(histories.items())

            def name(k: int) -> str:
                return names[k] if k < len(names) else f"run {k + 1}"

            series = [(name(k), h.losses) for k, h in runs]
            parts.append(plot.line_plot("loss", series, width, height=6))
            if screen.height >= 24:
                norms = [(name(k), h.gradient_norms) for k, h in runs]
                parts.append(plot.line_plot("|grad|", norms, width, height=3))
            if grid is not None and screen.height >= 36:
                paths = [h.path for _, h in sorted(histories.items())]
                contour = grid([p for path in paths for p in path], plot.live_grid(width))
                parts.append(plot.contour_plot(contour, paths, width, height=12))
            live.update(Group(*parts), refresh=True)
            ended = time.monotonic()
            last[0], last[1] = ended, max(FRAME, 4 * (ended - started))

        yield observe


_BY_EXTENSION = {
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".json": "json",
    ".txt": "tree",
}
_PICTURES = (".svg", ".png", ".pdf")


@dataclass(frozen=True)
class Destination:
    path: Path | None  #: None for stdout
    format: str  #: tree, dot, mermaid or json
    picture: str | None = None  #: "svg", "png" or "pdf": draw the DOT text with Graphviz
    file: OutputFile | None = None  #: where a file is written (None for stdout)

    @classmethod
    def choose(cls, output: str | None, fmt: str | None) -> Destination:
        if output is None or output == "-":
            return cls(None, fmt or "tree")
        path = Path(output)
        suffix = path.suffix.lower()
        picture = suffix[1:] if suffix in _PICTURES else None
        if picture:
            if fmt not in (None, "dot"):
                raise UsageError(f"a .{picture} picture is drawn from DOT; drop --format {fmt}")
            if shutil.which("dot") is None:
                raise UsageError(
                    f"drawing {safe_text(output)} needs Graphviz's 'dot', which is not installed",
                    hint="install Graphviz, or write DOT text with --format dot --output graph.dot",
                )
            fmt = "dot"
        elif fmt is None:
            fmt = _BY_EXTENSION.get(suffix)
            if fmt is None and path.exists() and not path.is_file() and not path.is_dir():
                fmt = "tree"  # (a device or FIFO: /dev/null, /dev/stdout)
            if fmt is None and path.is_dir():
                OutputFile(output)  # (says that it is a directory)
            if fmt is None:
                raise UsageError(
                    f"cannot tell the format of {safe_text(output)!r} from its extension",
                    hint="add --format tree|dot|mermaid|json",
                )
        return cls(path, fmt, picture, OutputFile(output))  # (checked now, before any work)

    def write_text(self, text: str) -> None:
        """Print to stdout, or write the file (drawing it first for pictures); see
        :class:`~gradcli.files.OutputFile`."""
        if self.file is None:
            write_stdout(text)
            return
        self.file.write_all(self._draw(text) if self.picture else text.encode("utf-8"))

    def _draw(self, dot_text: str) -> bytes:
        proc = subprocess.run(
            ["dot", f"-T{self.picture}"], input=dot_text.encode(), capture_output=True, timeout=60
        )
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines() or ["no reason"]
            raise UsageError(f"Graphviz could not draw the graph: {safe_text(lines[0])}")
        return proc.stdout
