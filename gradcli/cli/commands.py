"""The work behind each command: options -> the API -> a renderer -> an exit code.

:mod:`gradcli.cli.app` declares the commands and their options and hands the parsed values
here, so ``gradcli --help`` and ``--version`` never load this module or what it imports.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import typer

from .. import api
from ..errors import TimeLimitError, UsageError, safe_text
from ..files import OutputFile, write_stdout
from ..language.parser import parse, parse_list
from ..language.values import parse_grid
from ..render import code as script
from ..render import figure, json_doc, trace
from ..render import plain as plain_renderer
from . import options as o
from .arguments import expression_and_values
from .output import (
    FILE_WIDTH,
    Destination,
    console,
    emit,
    live_descent,
    plain_text,
    print_view,
    progress,
)
from .report import reporting, say, warn

# The command line owns its process: the exact check of a point may start in a forked child
# while torch is imported (see gradcli.check.ahead). This module is loaded only to run a
# command (not for --help, --version or completion).
api.own_process()


def constant_names(const: list[str] | None) -> list[str]:
    """The names of --const, given once each or comma-separated."""
    return [n.strip() for given in const or () for n in given.split(",") if n.strip()]


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
    const: o.Const,
    as_code: o.Code,
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
                    ("--const", bool(const)),
                    ("--code", as_code),
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
        if as_code and (order != 1 or simplify or json_out or plain or show_graph):
            raise UsageError("--code writes the script of the gradient; it goes alone")
        result = api.grad(
            expression,
            raw,
            dtype=dtype.value,
            check=not (no_check or as_code),
            timeout=timeout or None,
            vjp=vjp,
            max_symbolic=max_symbolic,
            order=order,
            wrt=wrt,
            simplify=simplify,
            const=constant_names(const),
        )
        if as_code:
            write_stdout(
                script.grad(
                    parse(expression), result.point, result.dtype, result.constants, result.vjp
                )
            )
            return

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
    const: o.Const,
    as_code: o.Code,
    dtype: o.DTypeOpt,
    file: o.File,
    debug: o.Debug,
) -> None:
    """``gradcli graph``."""
    with reporting(debug):
        if as_code:
            if fmt is not None or output is not None or torch_view:
                raise UsageError("--code writes the script of the graph; it goes alone")
            expression, raw = expression_and_values(ctx, args, file)
            result = api.graph(expression, raw, dtype=dtype.value, const=constant_names(const))
            if result.point is None:
                raise UsageError("--code needs a value for every variable")
            fixed = [n.expression for n in result.nodes if n.constant]
            write_stdout(script.graph(parse(expression), result.point, result.dtype, fixed))
            return
        # Everything about the destination is checked before any work.
        dest = Destination.choose(output, fmt.value if fmt else None)
        expression, raw = expression_and_values(ctx, args, file)
        result = api.graph(
            expression,
            raw,
            dtype=dtype.value,
            torch_view=torch_view,
            const=constant_names(const),
        )
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
        if latex and result.derivation_timed_out:
            assert result.backward is not None  # (a derivation is cut short only beside it)
            several = len(result.backward.gradients) > 1 and not names
            raise TimeLimitError(
                f"--latex writes the derivation, and {result.notes[0]}",
                hint="raise the limit with {timeout}"
                + (", or pick one variable with {wrt}" if several else ""),
                params=("timeout", "wrt"),
            )
        if latex and not result.derivations and result.notes:
            raise UsageError(
                f"--latex writes the derivation, and {result.notes[0]}",
                hint="the backward pass is shown without --latex",
            )
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
        for note in (*result.notes, *(result.check.notes if result.check is not None else ())):
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
    as_code: bool,
    dtype: o.DType,
    no_check: bool,
    timeout: float,
    debug: bool,
) -> None:
    """``gradcli jacobian`` and ``gradcli hessian``."""
    with reporting(debug):
        if json_out and plain:
            raise UsageError("--json and --plain cannot be used together")
        if as_code and (json_out or plain):
            raise UsageError(f"--code writes the script of the {kind}; it goes alone")
        expression, raw = expression_and_values(ctx, args, file)
        compute = api.jacobian if kind == "jacobian" else api.hessian
        result = compute(
            expression,
            raw,
            dtype=dtype.value,
            check=not (no_check or as_code),
            timeout=timeout or None,
        )
        if as_code:
            if kind == "jacobian":
                text = script.jacobian(parse_list(expression), result.point, result.dtype)
            else:
                text = script.hessian(parse(expression), result.point, result.dtype)
            write_stdout(text)
            return
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


_PLOTS = (".png", ".svg", ".pdf")
_TRACES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def descend(
    ctx: typer.Context,
    args: o.ExprAndValues,
    optimizer: o.OptimizerOpt,
    lr: o.Lr,
    steps: o.Steps,
    every: o.Every,
    tol: o.Tol,
    loss_tol: o.LossTol,
    momentum: o.Momentum,
    beta1: o.Beta1,
    beta2: o.Beta2,
    alpha: o.Alpha,
    eps: o.Eps,
    weight_decay: o.WeightDecay,
    const: o.Const,
    data: o.Data,
    batch_size: o.BatchSize,
    seed: o.Seed,
    compare: o.Compare,
    no_zero_grad: o.NoZeroGrad,
    json_out: o.Json,
    output: o.DescendOutput,
    plot: o.Plot,
    no_live: o.NoLive,
    as_code: o.Code,
    dtype: o.DTypeOpt,
    no_check: o.NoCheck,
    timeout: o.Timeout,
    file: o.File,
    debug: o.Debug,
) -> None:
    """``gradcli descend``."""
    with reporting(debug):
        if json_out and (plot or as_code):
            raise UsageError(f"--json and {'--plot' if plot else '--code'} cannot be used together")
        destination = _descend_output(output)
        expression, raw = expression_and_values(ctx, args, file)
        names = [n.strip() for n in compare.split(",")] if compare is not None else None
        if compare is not None and names is not None and "" in names:
            raise UsageError(
                "--compare names no optimizer"
                if compare.strip() in ("", ",")
                else f"--compare has an empty name: {safe_text(compare)!r}",
                hint="for example --compare sgd,momentum,adam",
            )
        if compare is not None and optimizer is not o.Optimizer.sgd:
            raise UsageError("--compare names the optimizers; leave out --optimizer")
        variables = parse(expression).variables
        columns: dict[str, Any] | None = None
        if data is not None:
            wanted = [v for v in variables if v not in raw]
            if not wanted:
                raise UsageError(
                    "--data binds the variables without a value, but every variable has one",
                    hint="leave out the values of the data's columns (e.g. --X)",
                )
            # (here, not at the top: it loads NumPy and Polars)
            from ..batch.formats import read_columns

            columns = read_columns(data, wanted)
        table_every = every or max(1, -(-steps // 10))
        options: dict[str, Any] = dict(
            optimizer=optimizer.value,
            lr=lr,
            steps=steps,
            every=every
            or (1 if json_out or (destination and destination[0] == "trace") else table_every),
            tol=tol,
            loss_tol=loss_tol,
            momentum=momentum,
            betas=None if beta1 is None and beta2 is None else (beta1 or 0.9, beta2 or 0.999),
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            const=constant_names(const),
            data=columns,
            batch_size=batch_size,
            seed=seed,
            compare=names,
            no_zero_grad=no_zero_grad,
            dtype=dtype.value,
            check=not no_check,
            timeout=timeout or None,
        )
        if batch_size is not None and data is None:
            raise UsageError("--batch-size takes rows of the data: give --data too")
        if as_code:
            if names is not None or no_zero_grad:
                raise UsageError(
                    "--code writes one optimizer's loop; leave out "
                    + ("--compare" if names is not None else "--no-zero-grad")
                )
            # (the arguments are checked as for a run, by one step of it)
            probe = api.descend(expression, raw, **{**options, "steps": 1, "check": False})
            settings = probe.runs[0].settings
            write_stdout(
                script.descend(
                    parse(expression),
                    probe.start,
                    probe.constants,
                    columns or {},
                    dtype.value,
                    settings.torch_class,
                    settings.torch_arguments(),
                    steps,
                    batch_size,
                    seed,
                    tol,
                    loss_tol,
                )
            )
            return
        contour = plot or (destination is not None and destination[0] == "picture")
        shown_names = names or [optimizer.value]
        with live_descent(not (json_out or no_live), shown_names) as observe:
            result = api.descend(expression, raw, observe=observe, contour=contour, **options)
        if destination is not None:
            kind, target = destination
            suffix = _suffix(target.given)
            text = trace.render(result, _TRACES[suffix]).encode() if kind == "trace" else None
            target.write_all(text if text is not None else figure.render(result, suffix[1:]))
        # (here, not at the top: it loads Rich)
        from rich.console import Group

        from ..render import descent as view  # (Rich)
        from ..render import plot as plots  # (Rich)

        def shown(width: int) -> Any:
            table = view.render(result, width, table_every)
            return Group(table, "", plots.curves(result, width)) if plot else table

        emit(result.to_dict() if json_out else None, None, shown)
        for note in result.notes:
            warn(note)
        for run in result.runs:
            if run.stop.reason in ("diverged", "oscillating"):
                warn(f"{run.settings.optimizer}: {run.stop.message}")
            if run.check is not None:
                for note in run.check.check.notes:
                    warn(note)
        code = int(result.exit_code)
    _exit_with(code)


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _descend_output(output: str | None) -> tuple[str, OutputFile] | None:
    """What --output of descend writes, "trace" or "picture", and where (checked before any
    work)."""
    if output is None:
        return None
    suffix = _suffix(output)
    if suffix in _TRACES:
        return "trace", OutputFile(output)
    if suffix in _PLOTS:
        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError(
                f"drawing {safe_text(output)} needs matplotlib, which is not installed",
                hint="pip install matplotlib (the plot extra: pip install '.[plot]' in a "
                "checkout); a trace needs nothing more: -o trace.csv",
            )
        return "picture", OutputFile(output)
    raise UsageError(
        f"cannot tell what to write to {safe_text(output)!r} from its extension",
        hint="a trace: .csv, .tsv or .jsonl; a plot: .png, .svg or .pdf",
    )


def check_answer(
    ctx: typer.Context,
    args: o.ExprAndValues,
    wrt: o.WrtAnswer,
    answer: o.Answer,
    points: o.Points,
    seed: o.Seed,
    json_out: o.Json,
    timeout: o.Timeout,
    file: o.File,
    debug: o.Debug,
) -> None:
    """``gradcli check``."""
    with reporting(debug):
        expression, raw = expression_and_values(ctx, args, file)
        if raw:
            raise UsageError(
                f"check takes no values (--{next(iter(raw))}): it tries points of its own",
                hint='give the derivative with --answer, e.g. --answer "2*x"',
            )
        if answer is None:
            raise UsageError("--answer is missing: the derivative to check", hint='--answer "2*x"')
        result = api.check_answer(
            expression, answer, wrt, points=points, seed=seed, timeout=timeout or None
        )
        # (here, not at the top: it loads Rich)
        from ..render import answer as view

        emit(result.to_dict() if json_out else None, None, lambda width: view.render(result, width))
        code = int(result.exit_code)
    _exit_with(code)
