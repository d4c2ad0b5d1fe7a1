"""The command line: options -> the API -> a renderer -> an exit code.

Only Typer (with Click) is imported here; torch, SymPy and Rich load inside the commands, so
``gradcli --help``, ``--version`` and TAB completion stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer

from .. import __version__, api
from ..errors import UsageError
from ..language.values import parse_grid
from ..render import json_doc
from ..render import plain as plain_renderer
from . import options as o
from .arguments import expression_and_values
from .output import FILE_WIDTH, Destination, console, emit, plain_text, progress
from .report import exit_code_of, finish, reporting, warn

app = typer.Typer(
    name="gradcli",
    help="Gradients of math expressions with PyTorch autograd, checked exactly with SymPy.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


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


def _exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


@app.command(context_settings=o.FREE_ARGS)
def grad(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.Plain = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    vjp: o.Vjp = None,
    max_symbolic: o.MaxSymbolic = 10_000,
    order: o.Order = 1,
    wrt: o.Wrt = None,
    show_graph: o.ShowGraph = False,
    file: o.File = None,
    input_path: o.Input = None,
    input_format: o.InputFormat = None,
    output: o.Output = None,
    out_format: o.OutFormat = None,
    on_bad_row: o.OnBadRow = o.BadRow.error,
    check_mode: o.CheckMode = "all",
    debug: o.Debug = False,
) -> None:
    """Value and gradient at a point, with SymPy's derivatives and an exact cross-check; or at
    many points (--input FILE, or grids such as --x 0:1:11) as CSV, TSV, JSON Lines or Parquet.

    Example: gradcli grad "x**2*y" --x 2 --y 3
    """
    with reporting(debug):
        expression, raw = expression_and_values(ctx, args, file)
        out_fmt = out_format.value if out_format else None
        grids = any(parse_grid(v, k) is not None for k, v in raw.items())
        if input_path is not None or grids or out_fmt is not None:
            # (here, not at the top: it loads NumPy and Polars)
            from ..batch import command

            request = command.Request(
                expression,
                raw,
                input_path,
                input_format.value if input_format else None,
                output,
                out_fmt,
                on_bad_row.value,
                None if no_check else check_mode,
                dtype.value,
                timeout or None,
            )
            with progress() as advance:
                code, summary, late = command.run_batch(request, advance, sys.stdout.isatty())
            sys.stderr.write(f"gradcli: {summary}\n")
            if late:
                warn(late)
            _exit_with(code)
            return
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

        def view() -> Any:
            # (here, not at the top: it loads Rich)
            from ..render import table, tree

            if not show_graph:
                return table.render(result)
            return tree.with_graph(
                table.render(result), api.graph(expression, raw, dtype=dtype.value), console().width
            )

        emit(
            result.to_dict() if json_out else None,
            plain_renderer.render(result) if plain else None,
            view,
        )
        for note in result.check.notes:  # after the result, where the eye ends up
            warn(note)
        code = int(result.exit_code)
    _exit_with(code)


@app.command(context_settings=o.FREE_ARGS)
def graph(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    fmt: o.GraphFormatOpt = None,
    output: o.GraphOutput = None,
    torch_view: o.TorchView = False,
    dtype: o.DTypeOpt = o.DType.float64,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The computation graph, with every node's value and gradient when values are given.

    Example: gradcli graph "sin(x**2)" --x 4
    """
    with reporting(debug):
        # Everything about the destination is checked before any work.
        dest = Destination.choose(output, fmt.value if fmt else None)
        expression, raw = expression_and_values(ctx, args, file)
        result = api.graph(expression, raw, dtype=dtype.value, torch_view=torch_view)
        if dest.format == "json":
            dest.write_text(json_doc.dumps(result.to_dict()))
            return
        # (here, not at the top: it loads Rich)
        from ..render import diagram, tree

        if dest.format in ("dot", "mermaid"):
            make = diagram.to_dot if dest.format == "dot" else diagram.to_mermaid
            dest.write_text(make(result, torch_view))
            return
        out = console()
        width = out.width if dest.path is None else FILE_WIDTH
        view = tree.render_torch(result) if torch_view else tree.render(result, width)
        if dest.path is None:
            out.print(view)
        else:
            dest.write_text(plain_text(view))


@app.command(context_settings=o.FREE_ARGS)
def steps(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    wrt: o.WrtNames = None,
    json_out: o.Json = False,
    latex: o.Latex = False,
    dtype: o.DTypeOpt = o.DType.float64,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The chain rule: the backward pass edge by edge (with values) and the derivation rule by
    rule, each checked against autograd and SymPy.

    Example: gradcli steps "sin(x**2)" --x 4
    """
    with reporting(debug):
        if json_out and latex:
            raise UsageError("--json and --latex cannot be used together")
        expression, raw = expression_and_values(ctx, args, file)
        names = [n.strip() for n in wrt.split(",") if n.strip()] if wrt else None
        result = api.steps(expression, raw, wrt=names, dtype=dtype.value, timeout=timeout or None)
        # (here, not at the top: it loads Rich)
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
        for note in result.check.notes if result.check is not None else ():
            warn(note)
        code = int(result.exit_code)
    _exit_with(code)


@app.command(context_settings=o.FREE_ARGS)
def jacobian(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.Plain = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The Jacobian: one row per output element, one column per variable element. Several
    outputs are separated by commas.

    Example: gradcli jacobian "x*y, x+y" --x 2 --y 3
    """
    _matrix(ctx, args, file, "jacobian", json_out, plain, dtype, no_check, timeout, debug)


@app.command(context_settings=o.FREE_ARGS)
def hessian(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.Plain = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The Hessian of a scalar expression, with its symmetry, its eigenvalues and, where the
    gradient is zero, whether the point is a minimum, a maximum or a saddle.

    Example: gradcli hessian "x**2 - y**2" --x 0 --y 0
    """
    _matrix(ctx, args, file, "hessian", json_out, plain, dtype, no_check, timeout, debug)


def _matrix(
    ctx: typer.Context,
    args: list[str] | None,
    file: str | None,
    kind: str,
    json_out: bool,
    plain: bool,
    dtype: o.DType,
    no_check: bool,
    timeout: float,
    debug: bool,
) -> None:
    with reporting(debug):
        if json_out and plain:
            raise UsageError("--json and --plain cannot be used together")
        expression, raw = expression_and_values(ctx, args, file)
        compute = api.jacobian if kind == "jacobian" else api.hessian
        result = compute(
            expression, raw, dtype=dtype.value, check=not no_check, timeout=timeout or None
        )
        # (here, not at the top: it loads Rich)
        from ..render import matrix

        emit(
            result.to_dict() if json_out else None,
            matrix.plain(result) if plain else None,
            lambda: matrix.render(result),
        )
        for note in result.notes:
            warn(note)
        code = int(result.exit_code)
    _exit_with(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the app and turn every outcome into one message and an exit code
    (inside a command :func:`~gradcli.cli.report.reporting` does; this adds what happens around
    the commands: Click's usage errors, Ctrl-C while starting, a closed stdout)."""
    command = typer.main.get_command(app)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = command.main(args=argv, prog_name="gradcli", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code_of(exc, debug)
    finish(code)
