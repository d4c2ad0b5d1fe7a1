"""The work behind each command: options -> the API -> a renderer -> an exit code.

:mod:`gradcli.cli.app` declares the commands and their options and hands the parsed values
here, so ``gradcli --help`` and ``--version`` never load this module or what it imports.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from .. import api
from ..errors import UsageError
from ..language.values import parse_grid
from ..render import json_doc
from ..render import plain as plain_renderer
from . import options as o
from .arguments import expression_and_values
from .output import FILE_WIDTH, Destination, console, emit, plain_text, print_view, progress
from .report import reporting, say, warn


def _exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


def grad(
    ctx: typer.Context,
    args: o.ExprAndValues,
    json_out: o.Json,
    plain: o.Plain,
    dtype: o.DTypeOpt,
    no_check: o.NoCheck,
    timeout: o.Timeout,
    vjp: o.Vjp,
    max_symbolic: o.MaxSymbolic,
    order: o.Order,
    wrt: o.Wrt,
    show_graph: o.ShowGraph,
    simplify: o.Simplify,
    file: o.File,
    input_path: o.Input,
    input_format: o.InputFormat,
    output: o.Output,
    out_format: o.OutFormat,
    on_bad_row: o.OnBadRow,
    check_mode: o.CheckMode,
    debug: o.Debug,
) -> None:
    """``gradcli grad``: one point, or batch work."""
    with reporting(debug):
        expression, raw = expression_and_values(ctx, args, file)
        out_fmt = out_format.value if out_format else None
        grids = any(parse_grid(v, k) is not None for k, v in raw.items())
        if input_path is not None or grids or out_fmt is not None:
            point_only = [
                flag
                for flag, given in (
                    ("--json", json_out),
                    ("--plain", plain),
                    ("--vjp", vjp is not None),
                    ("--order", order != 1),
                    ("--wrt", wrt is not None),
                    ("--graph", show_graph),
                    ("--simplify", simplify),
                )
                if given
            ]
            if point_only:
                raise UsageError(
                    f"{point_only[0]} goes with one point, not batch work (--input or a grid)",
                    hint="batch results are rows: choose their format with --format "
                    "csv|tsv|jsonl|parquet",
                )
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
            with progress(to_stdout=output in (None, "-")) as advance:
                code, summary, late = command.run_batch(request, advance, sys.stdout.isatty())
            say(summary)
            if late:
                warn(late)
            _exit_with(code)
            return
        batch_only = [
            flag
            for flag, given in (
                (f"--check {check_mode}", check_mode != "all"),
                (f"--on-bad-row {on_bad_row.value}", on_bad_row is not o.BadRow.error),
                ("--input-format", input_format is not None),
            )
            if given
        ]
        if batch_only:
            raise UsageError(
                f"{batch_only[0]} goes with batch work (--input or a grid)",
                hint="one point is always checked exactly; --no-check skips the check"
                if batch_only[0].startswith("--check")
                else None,
            )
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
            simplify=simplify,
        )

        def view(width: int) -> Any:
            # (here, not at the top: it loads Rich)
            from ..render import table, tree

            if not show_graph:
                return table.render(result, width)
            return tree.with_graph(
                table.render(result, width), api.graph(expression, raw, dtype=dtype.value), width
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


def graph(
    ctx: typer.Context,
    args: o.ExprAndValues,
    fmt: o.GraphFormatOpt,
    output: o.GraphOutput,
    torch_view: o.TorchView,
    dtype: o.DTypeOpt,
    file: o.File,
    debug: o.Debug,
) -> None:
    """``gradcli graph``."""
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
            print_view(view, out)
        else:
            dest.write_text(plain_text(view))


def steps(
    ctx: typer.Context,
    args: o.ExprAndValues,
    wrt: o.WrtNames,
    json_out: o.Json,
    latex: o.Latex,
    dtype: o.DTypeOpt,
    timeout: o.Timeout,
    file: o.File,
    debug: o.Debug,
) -> None:
    """``gradcli steps``."""
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
            lambda width: steps_renderer.render(result, width),
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


def matrix(
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
    """``gradcli jacobian`` and ``gradcli hessian``."""
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
            lambda width: matrix.render(result, width),
        )
        for note in result.notes:
            warn(note)
        code = int(result.exit_code)
    _exit_with(code)
