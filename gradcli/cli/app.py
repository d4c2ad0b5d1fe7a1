"""The command line: parse options, call the core, pick a renderer, map errors to exit codes.

Only Typer (with Click and Rich) is imported here; torch and SymPy load inside the commands, so
``gradcli --help``, ``--version`` and TAB completion stay fast.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from .. import __version__
from ..errors import ExitCode, GradcliError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="gradcli",
    help="Gradients of math expressions with PyTorch autograd, checked exactly with SymPy.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

# Variable values arrive as options Typer cannot know in advance (--x 2, --w1=0.5, x=2): let
# them through and sort them out in gradcli.language.values.
_FREE_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Gradients of math expressions with PyTorch autograd, checked exactly with SymPy."""


ExprAndValues = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="EXPRESSION [VALUES]",
        help='The expression, e.g. "x**2*y", and a value for each variable: --x 2, --x=2 or '
        "x=2. Options after a bare '--' are read as values or the expression.",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (schema gradcli/1).")
]
PlainOpt = Annotated[
    bool,
    typer.Option("--plain", help="Print bare numbers: the value, then each gradient component."),
]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Floating-point type for torch.")]
NoCheckOpt = Annotated[
    bool, typer.Option("--no-check", help="Skip the SymPy cross-check (faster; SymPy not loaded).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback for internal errors.")]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        help="Time limit for the symbolic check; 0 means none.",
    ),
]
FileOpt = Annotated[
    str | None,
    typer.Option(
        "--file",
        "-f",
        metavar="PATH",
        help="Read the expression from a file ('-' for stdin) instead of the arguments.",
    ),
]


class BatchFormat(str, Enum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    parquet = "parquet"


class BadRow(str, Enum):
    error = "error"
    skip = "skip"
    null = "null"


def _batch(
    expression: str,
    raw: dict[str, str],
    grids: dict[str, Any],
    input_path: str | None,
    input_format: BatchFormat | None,
    output: str | None,
    out_format: BatchFormat | None,
    on_bad_row: BadRow,
    check: str | None,
    dtype: str,
    timeout: float | None = 5.0,
) -> int:
    """Batch work: points from a file, stdin or grids; results streamed out chunk by chunk."""
    from ..batch import check as batchcheck
    from ..batch import run as batch
    from ..language.parser import parse
    from ..language.shapes import infer_shapes
    from ..language.values import match_variables, parse_number

    expr = parse(expression)
    infer_shapes(expr, {})
    fmt = (out_format.value if out_format else None) or (
        batch.input_format(output, None) if output and output != "-" else "csv"
    )
    if fmt == "parquet" and (output is None or output == "-") and sys.stdout.isatty():
        raise UsageError("Parquet is binary: write it to a file with --output, or pipe it")
    if check is not None:
        batchcheck.parse_mode(check)  # a wrong mode is an error before any work
    writer = batch.Writer(output, fmt)  # checks the destination before any work
    summary = batch.Summary()
    ok = False
    try:
        if input_path is not None:
            if grids:
                raise UsageError("give the points either with --input or as grids, not both")
            fixed = {k: parse_number(v, k) for k, v in raw.items()}
            variables = [v for v in expr.variables if v not in fixed]
            chunks = batch.read_chunks(
                input_path,
                batch.input_format(input_path, input_format.value if input_format else None),
                variables,
                on_bad_row.value,
                summary,
            )
            if fixed:
                chunks = _with_constants(chunks, fixed)
        else:
            values: dict[str, Any] = {
                k: grids.get(k) if k in grids else parse_number(v, k) for k, v in raw.items()
            }
            match_variables(expr.variables, {k: 0.0 for k in values})
            if not values:
                raise UsageError(
                    "batch work needs a variable to vary",
                    hint="give it as a grid (--x 0:1:11) or in an --input file",
                )
            columns = batch.grid_columns(values)
            chunks = _frames(columns, batch.CHUNK_ROWS)
        with _progress() as advance:
            batch.run(expr, chunks, writer, dtype, check, summary, advance, timeout)
        ok = True
    finally:
        writer.close(ok)
    sys.stderr.write(f"gradcli: {summary.describe()}\n")
    late = writer.late_message()
    if late:
        warn(late)
    return int(summary.status.exit_code)


def _frames(columns: dict[str, Any], size: int) -> Iterator[Any]:
    import polars as pl

    frame = pl.DataFrame(columns)
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


def _with_constants(chunks: Iterator[Any], fixed: dict[str, float]) -> Iterator[Any]:
    import polars as pl

    for frame in chunks:
        yield frame.with_columns([pl.lit(v, dtype=pl.Float64).alias(k) for k, v in fixed.items()])


@contextmanager
def _progress() -> Iterator[Any]:
    """Rows done and rows per second on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    import time

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


GraphOpt = Annotated[bool, typer.Option("--graph", help="Also print the computation graph.")]


@app.command(context_settings=_FREE_ARGS)
def grad(
    ctx: typer.Context,
    args: ExprAndValues = None,
    json_out: JsonOpt = False,
    plain: PlainOpt = False,
    dtype: DTypeOpt = DType.float64,
    no_check: NoCheckOpt = False,
    timeout: TimeoutOpt = 5.0,
    vjp: Annotated[
        str | None,
        typer.Option(
            "--vjp",
            metavar="V",
            help="For a vector output: the vector v of y.backward(gradient=v), e.g. 1,1,1.",
        ),
    ] = None,
    max_symbolic: Annotated[
        int,
        typer.Option(
            "--max-symbolic",
            metavar="N",
            min=0,
            help="Skip the SymPy check when the variables have more elements.",
        ),
    ] = 10_000,
    order: Annotated[
        int,
        typer.Option(
            "--order",
            metavar="N",
            min=1,
            help="The N-th derivative with respect to one scalar variable (see --wrt).",
        ),
    ] = 1,
    wrt: Annotated[
        str | None,
        typer.Option("--wrt", metavar="NAME", help="The variable for --order."),
    ] = None,
    show_graph: GraphOpt = False,
    file: FileOpt = None,
    input_path: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="PATH",
            help="Batch: read points from a CSV, TSV, "
            "JSON Lines or Parquet file ('-' for stdin), one row per point.",
        ),
    ] = None,
    input_format: Annotated[
        BatchFormat | None,
        typer.Option(
            "--input-format",
            help="Batch: the input's format (default: from the extension; csv for stdin).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Batch: write here instead of stdout (atomically).",
        ),
    ] = None,
    out_format: Annotated[
        BatchFormat | None,
        typer.Option(
            "--format",
            help="Batch: the output's format (default: from --output's extension, else csv).",
        ),
    ] = None,
    on_bad_row: Annotated[
        BadRow,
        typer.Option(
            "--on-bad-row", help="Batch: stop at a bad row (error), skip it, or write nulls."
        ),
    ] = BadRow.error,
    check_mode: Annotated[
        str,
        typer.Option(
            "--check",
            metavar="all|sample[:N]",
            autocompletion=lambda: ["all", "sample", "sample:100"],
            help="Batch: check every row (all: float64 with error bounds, doubtful rows "
            "exactly) or N random rows exactly with SymPy (sample:N; sample is sample:25).",
        ),
    ] = "all",
    debug: DebugOpt = False,
) -> int:
    """Value and gradient at a point, with SymPy's derivatives and an exact cross-check; or at
    many points (--input FILE, or grids such as --x 0:1:11) as CSV, TSV, JSON Lines or Parquet.

    Example: gradcli grad "x**2*y" --x 2 --y 3
    """
    with reporting(debug):
        from .. import api

        expression, raw = expression_and_values(ctx, args, file)
        from ..language.values import parse_grid

        grids = {k: g for k, v in raw.items() if (g := parse_grid(v, k)) is not None}
        if input_path is not None or grids or out_format is not None:
            code = _batch(
                expression,
                raw,
                grids,
                input_path,
                input_format,
                output,
                out_format,
                on_bad_row,
                None if no_check else check_mode,
                dtype.value,
                timeout or None,
            )
            if code:
                raise typer.Exit(code)
            return 0

        if json_out and plain:
            raise UsageError("--json and --plain cannot be used together")
        if show_graph and (json_out or plain):
            raise UsageError(
                "--graph goes with the table; for JSON use 'gradcli graph --format json'"
            )
        if output is not None:
            raise UsageError(
                "--output goes with batch work (--input or a grid)",
                hint="for one point, redirect stdout",
            )
        result = api.grad(
            expression,
            raw,
            dtype=dtype.value,
            check=not no_check,
            timeout=timeout or None,
            vjp=vjp,
            max_symbolic=max_symbolic,
            order=order,
            wrt=wrt,
        )
        from ..render import plain as plain_renderer
        from ..render import table

        def view() -> Any:
            if not show_graph:
                return table.render(result)
            from rich.console import Group

            from ..render import tree

            graph_view = tree.render(api.graph(expression, raw, dtype=dtype.value), console().width)
            return Group(table.render(result), "", graph_view)

        emit(
            result.to_dict() if json_out else None,
            plain_renderer.render(result) if plain else None,
            view,
        )
        for note in result.check.notes:  # after the result, where the eye ends up
            warn(note)
        code = int(result.exit_code)
    if code:
        raise typer.Exit(code)
    return 0


@app.command(context_settings=_FREE_ARGS)
def graph(
    ctx: typer.Context,
    args: ExprAndValues = None,
    fmt: Annotated[
        GraphFormat | None,
        typer.Option(
            "--format", help="Output format; default: from --output's extension, else tree."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE; .svg, .png or .pdf are drawn with Graphviz's dot.",
        ),
    ] = None,
    torch_view: Annotated[
        bool,
        typer.Option(
            "--torch",
            help="Show PyTorch's recorded graph: grad_fn nodes, next_functions, saved attributes.",
        ),
    ] = False,
    dtype: DTypeOpt = DType.float64,
    file: FileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The computation graph, with every node's value and gradient when values are given.

    Example: gradcli graph "sin(x**2)" --x 4
    """
    with reporting(debug):
        from .. import api
        from .output import Destination

        # Everything about the destination is checked before any work.
        dest = Destination.choose(output, fmt.value if fmt else None)
        expression, raw = expression_and_values(ctx, args, file)
        result = api.graph(expression, raw, dtype=dtype.value, torch_view=torch_view)
        if dest.format == "json":
            from ..render import json_doc

            dest.write_text(json_doc.dumps(result.to_dict()))
        elif dest.format in ("dot", "mermaid"):
            from ..render import diagram

            make = diagram.to_dot if dest.format == "dot" else diagram.to_mermaid
            dest.write_text(make(result, torch_view))
        else:
            from ..render import tree

            out = console()
            width = out.width if dest.path is None else _FILE_WIDTH
            view = tree.render_torch(result) if torch_view else tree.render(result, width)
            if dest.path is None:
                out.print(view)
            else:
                dest.write_text(_plain_text(view))


@app.command(context_settings=_FREE_ARGS)
def steps(
    ctx: typer.Context,
    args: ExprAndValues = None,
    wrt: Annotated[
        str | None,
        typer.Option(
            "--wrt", metavar="NAMES", help="Derive only for these variables (comma-separated)."
        ),
    ] = None,
    json_out: JsonOpt = False,
    latex: Annotated[
        bool, typer.Option("--latex", help="Print the derivation as LaTeX (align* environment).")
    ] = False,
    dtype: DTypeOpt = DType.float64,
    timeout: TimeoutOpt = 5.0,
    file: FileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The chain rule: the backward pass edge by edge (with values) and the derivation rule by
    rule, each checked against autograd and SymPy.

    Example: gradcli steps "sin(x**2)" --x 4
    """
    with reporting(debug):
        from .. import api

        if json_out and latex:
            raise UsageError("--json and --latex cannot be used together")
        expression, raw = expression_and_values(ctx, args, file)
        names = [n.strip() for n in wrt.split(",") if n.strip()] if wrt else None
        result = api.steps(expression, raw, wrt=names, dtype=dtype.value, timeout=timeout or None)
        from ..render import steps as steps_renderer

        emit(
            result.to_dict() if json_out else None,
            steps_renderer.latex(result) if latex else None,
            lambda: steps_renderer.render(result),
        )
        failed = [d.wrt for d in result.derivations.values() if d.verified is False]
        if result.backward is not None:
            failed += [a.variable for a in result.backward.gradients if not a.agrees]
        if failed:
            warn(f"the steps for {', '.join(failed)} do not match (see the check lines)")
    if failed:
        raise typer.Exit(ExitCode.CHECK_FAILED)


@app.command(context_settings=_FREE_ARGS)
def jacobian(
    ctx: typer.Context,
    args: ExprAndValues = None,
    json_out: JsonOpt = False,
    plain: PlainOpt = False,
    dtype: DTypeOpt = DType.float64,
    no_check: NoCheckOpt = False,
    timeout: TimeoutOpt = 5.0,
    file: FileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The Jacobian: one row per output element, one column per variable element. Several
    outputs are separated by commas.

    Example: gradcli jacobian "x*y, x+y" --x 2 --y 3
    """
    _matrix_command(ctx, args, file, "jacobian", json_out, plain, dtype, no_check, timeout, debug)


@app.command(context_settings=_FREE_ARGS)
def hessian(
    ctx: typer.Context,
    args: ExprAndValues = None,
    json_out: JsonOpt = False,
    plain: PlainOpt = False,
    dtype: DTypeOpt = DType.float64,
    no_check: NoCheckOpt = False,
    timeout: TimeoutOpt = 5.0,
    file: FileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The Hessian of a scalar expression, with its symmetry, its eigenvalues and, where the
    gradient is zero, whether the point is a minimum, a maximum or a saddle.

    Example: gradcli hessian "x**2 - y**2" --x 0 --y 0
    """
    _matrix_command(ctx, args, file, "hessian", json_out, plain, dtype, no_check, timeout, debug)


def _matrix_command(
    ctx: typer.Context,
    args: list[str] | None,
    file: str | None,
    kind: str,
    json_out: bool,
    plain: bool,
    dtype: DType,
    no_check: bool,
    timeout: float,
    debug: bool,
) -> None:
    with reporting(debug):
        from .. import api
        from ..render import matrix

        if json_out and plain:
            raise UsageError("--json and --plain cannot be used together")
        expression, raw = expression_and_values(ctx, args, file)
        compute = api.jacobian if kind == "jacobian" else api.hessian
        result = compute(
            expression, raw, dtype=dtype.value, check=not no_check, timeout=timeout or None
        )
        emit(
            result.to_dict() if json_out else None,
            matrix.plain(result) if plain else None,
            lambda: matrix.render(result),
        )
        for note in result.notes:
            warn(note)
        code = int(result.exit_code)
    if code:
        raise typer.Exit(code)


def expression_and_values(
    ctx: typer.Context, args: list[str] | None, file: str | None
) -> tuple[str, dict[str, str]]:
    """The expression (from the arguments or --file) and the raw value texts."""
    from ..language.values import split_arguments

    free = [*(args or []), *ctx.args]
    if file is not None:
        free.insert(0, read_expression(file))
    return split_arguments(free, _option_names(ctx))


_FILE_WIDTH = 100  # columns of text written to a file


def _plain_text(renderable: object) -> str:
    """A Rich renderable as plain text, for a file."""
    from rich.console import Console

    out = Console(width=_FILE_WIDTH, color_system=None, record=True, file=io.StringIO())
    out.print(renderable)
    return out.export_text()


@contextmanager
def reporting(debug: bool = False) -> Iterator[None]:
    """Turn what goes wrong inside a command into one message on stderr and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except GradcliError as e:
        _stderr("error", e.report(), "31")
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(_interrupted()) from None
    except OSError as exc:
        if exc.errno == errno.EPIPE or "Broken pipe" in str(exc):  # also from native writers
            # The reader went away (| head): stop quietly, and keep Python's final flush of
            # stdout from failing again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(ExitCode.BROKEN_PIPE) from None
        if debug:
            raise
        _stderr("error", f"{exc.strerror or exc}", "31")
        raise typer.Exit(ExitCode.USAGE) from None
    except Exception as exc:
        if debug:
            raise
        _stderr(
            "internal error",
            f"{type(exc).__name__}: {exc} (rerun with --debug for "
            "the traceback, and please report it)",
            "31",
        )
        raise typer.Exit(ExitCode.INTERNAL) from None


def read_expression(path: str) -> str:
    """The expression text of a file or stdin, without its final newline.

    Reads a bounded amount, so a huge file meets the length limit instead of filling memory.
    """
    from ..limits import MAX_LENGTH

    try:
        if path == "-":
            data = sys.stdin.buffer.read(4 * MAX_LENGTH + 8)
        else:
            with open(path, "rb") as f:
                data = f.read(4 * MAX_LENGTH + 8)
    except OSError as e:
        raise UsageError(f"cannot read the expression file {path!r}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"the expression file is not UTF-8 text (byte {e.start + 1})") from None
    return text[:-1] if text.endswith("\n") else text


def emit(doc: dict[str, Any] | None, text: str | None, view: Callable[[], Any]) -> None:
    """Print a result: as a JSON document, as plain text, or (by default) as a Rich view."""
    if doc is not None:
        from ..render import json_doc

        sys.stdout.write(json_doc.dumps(doc))
    elif text is not None:
        sys.stdout.write(text)
    else:
        console().print(view())
    sys.stdout.flush()


def _option_names(ctx: typer.Context) -> set[str]:
    """The command's own option spellings, e.g. ``--plain``."""
    return {o for p in ctx.command.params for o in getattr(p, "opts", ()) if o.startswith("--")}


def console() -> Console:
    """A Rich console on stdout: colour only on a terminal, NO_COLOR honoured, no markup."""
    from rich.console import Console

    return Console(highlight=False, markup=False, emoji=False)


def _use_colour(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def warn(message: str) -> None:
    """One warning line on stderr."""
    _stderr("warning", message, "33")


def _stderr(label: str, message: str, colour: str) -> None:
    head = f"\x1b[{colour}m{label}:\x1b[0m" if _use_colour(sys.stderr) else f"{label}:"
    sys.stderr.write(f"gradcli: {head} {message}\n")


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the app and turn every outcome into one message and an exit code.

    Errors inside a command are reported by :func:`reporting`; this adds what happens around
    the commands: Click's usage errors, Ctrl-C while starting, a closed stdout.
    """
    command = typer.main.get_command(app)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    code: int
    try:
        rv = command.main(args=argv, prog_name="gradcli", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except GradcliError as e:
        _stderr("error", e.report(), "31")
        code = e.exit_code
    except KeyboardInterrupt:
        code = _interrupted()
    except BrokenPipeError:
        code = ExitCode.BROKEN_PIPE
    except Exception as exc:
        # Typer's Click (vendored in recent Typer) raises its own classes; recognise them by
        # shape so that any Typer version works: usage errors have format_message().
        if type(exc).__name__ == "Abort":  # Click turns Ctrl-C into Abort
            code = _interrupted()
        elif type(exc).__name__ == "NoArgsIsHelpError":  # bare "gradcli": the help is the answer
            sys.stdout.write(getattr(exc, "format_message", str)() + "\n")
            code = ExitCode.OK
        elif hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            command_name = getattr(getattr(exc, "ctx", None), "command_path", "gradcli")
            _stderr("error", f"{exc.format_message()}\nhint: see '{command_name} --help'", "31")
            code = ExitCode.USAGE
        elif debug:
            raise
        else:
            _stderr(
                "internal error",
                f"{type(exc).__name__}: {exc} (rerun with --debug for "
                "the traceback, and please report it)",
                "31",
            )
            code = ExitCode.INTERNAL
    _exit(code)


def _interrupted() -> int:
    sys.stderr.write("\ngradcli: interrupted\n")
    return ExitCode.INTERRUPTED


def _exit(code: int) -> NoReturn:
    # A reader that closed the pipe (gradcli ... | head -c1) must not cause a second error when
    # Python flushes stdout at exit: point stdout at /dev/null first.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.BROKEN_PIPE if code == 0 else code
    sys.exit(code)
