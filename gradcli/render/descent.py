"""The view of ``descend``: the problem, the steps as a table, the final point with its check,
and for ``--compare`` and ``--no-zero-grad`` the runs side by side.

The step table rounds to 6 significant digits (a trace is read for its trend); the final point,
JSON and ``--output`` have every digit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import Status
from ..results.descent import CONVERGED, DIVERGED, FINISHED, DescendResult, Run, Step
from .layout import assignments, first_fitting, wrap_expression
from .numbers import fmt, fmt_in, fmt_value, shorten
from .table import status_text

#: parameter elements shown as columns of the step table (more: |grad| alone)
MAX_COLUMNS = 4

_STOP_STYLE = {CONVERGED: "green", FINISHED: "", DIVERGED: "bold red"}


def short(x: float) -> str:
    """A number of the step table: 6 significant digits, no exponent for ordinary sizes."""
    if x != x or x in (float("inf"), float("-inf")):
        return fmt(x)
    text = f"{x:.6g}"
    return "0" if float(text) == 0 else text


def _optimizer_text(run: Run) -> str:
    args = run.settings.torch_arguments()
    shown = ", ".join(
        f"{k}={fmt_value(list(v)) if isinstance(v, tuple) else fmt_value(v)}"
        for k, v in args.items()
    )
    return f"torch.optim.{run.settings.torch_class}({shown})"


def _heading(result: DescendResult, width: int) -> Text:
    text = Text.assemble(
        ("minimise ", "bold"),
        ("\n    ".join(wrap_expression(shorten(result.expression), width - 9)), "bold cyan"),
        "\n",
        assignments(
            "from  ",
            [f"{k} = {fmt_value(v)}" for k, v in result.start.items()],
            width,
            f"  ({result.dtype})",
        ),
    )
    if result.constants:
        fixed = ", ".join(f"{k} = {fmt_value(v)}" for k, v in result.constants.items())
        text.append("\nconstant  ", style="dim")
        text.append(f"{fixed}  (requires_grad=False)")
    if result.data:
        rows = next(iter(result.data.values()))
        text.append("\ndata  ", style="dim")
        text.append(f"{', '.join(result.data)}: {rows:,} rows")
        if result.batch_size:
            text.append(f", batches of {result.batch_size} (seed {result.seed})")
    if len(result.runs) == 1:
        text.append("\nwith  ", style="dim")
        text.append(_optimizer_text(result.runs[0]))
        stability = result.runs[0].stability
        if stability is not None and stability.lambda_max is not None:
            text.append("\nHessian at the start  ", style="dim")
            text.append(f"λ_max = {short(stability.lambda_max)}")
            if stability.bound is not None:
                text.append(f": stable for lr < {short(stability.bound)}")
    return text


def _columns(run: Run) -> list[str]:
    first = run.steps[0] if run.steps else None
    return list(first.after) if first is not None else []


def _steps_table(run: Run, batches: bool, detail: int) -> Table:
    """detail 2: each parameter and gradient; 1: parameters and |grad|; 0: |grad| only."""
    names = _columns(run)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("step", justify="right", no_wrap=True)
    if batches:
        table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column("loss", justify="right", no_wrap=True)
    shown = names if detail >= 1 and len(names) <= MAX_COLUMNS else []
    for name in shown:
        table.add_column(f"{name} after", justify="right", no_wrap=True)
    grads = shown if detail >= 2 else []
    for name in grads:
        table.add_column(f"∂/∂{name}", justify="right", no_wrap=True)
    if not grads:
        table.add_column("|grad|", justify="right", no_wrap=True)
    for step in run.steps:
        cells = [str(step.step)]
        if batches:
            cells.append(str(step.epoch))
        cells.append(short(step.loss))
        cells += [short(step.after[n]) for n in shown]
        cells += [short(step.gradient[n]) for n in grads]
        if not grads:
            cells.append(short(step.gradient_norm))
        table.add_row(*cells)
    return table


def _what_rows_say(result: DescendResult, run: Run) -> Text:
    every = result.every
    which = "every step" if every == 1 else f"every {_ordinal(every)} step and the last"
    return Text(
        f"({which}: the loss and gradient at the start of the step, the parameters after "
        "optimizer.step())",
        style="dim",
    )


def _values(values: dict[str, Any], dtype: str, prefix: str = "", suffix: str = "") -> str:
    def one(v: Any) -> str:
        if hasattr(v, "tolist"):
            v = v.tolist()
        if isinstance(v, list):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return fmt_in(v, dtype)

    return ", ".join(f"{prefix}{k}{suffix} = {one(v)}" for k, v in values.items())


def _final(run: Run, dtype: str) -> RenderableType:
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("stopped", Text(run.stop.message, style=_STOP_STYLE.get(run.stop.reason, "")))
    grid.add_row("final", _values(run.final, dtype))
    grid.add_row("loss", fmt_in(run.final_loss, dtype))
    grid.add_row("gradient", _values(run.final_gradient, dtype, "∂/∂"))
    if run.check is not None:
        grid.add_row("check", _check_text(run))
    if run.after_zero_grad is not None:
        grid.add_row("zero_grad()", _values(run.after_zero_grad, dtype, suffix=".grad"))
    return grid


def _check_text(run: Run) -> Text:
    assert run.check is not None
    check = run.check.check
    if check.status is Status.UNCHECKED:
        return Text("not checked", style="dim")
    how = "node by node" if check.method == "node-by-node" else "SymPy"
    text = status_text(check.status)
    text.append(f": the loss and its gradient at the final point, exactly ({how})")
    return text


def _thinned(run: Run, every: int) -> Run:
    last = run.steps[-1] if run.steps else None
    kept = tuple(s for s in run.steps if s.step % every == 0 or s is last)
    return replace(run, steps=kept)


def render(result: DescendResult, width: int = 80, every: int | None = None) -> RenderableType:
    """The whole view for ``width`` columns; the tables show every ``every``-th step kept
    (default: each step the result kept)."""
    if every is not None and every != result.every:
        result = replace(
            result,
            runs=tuple(_thinned(r, every) for r in result.runs),
            accumulated=_thinned(result.accumulated, every) if result.accumulated else None,
            every=every,
        )
    parts: list[RenderableType] = [_heading(result, width), Text("")]
    batches = result.batch_size is not None
    if result.accumulated is not None:
        pair = (result.runs[0], result.accumulated)
        parts.append(
            first_fitting(
                width, [functools.partial(_side_by_side, *pair, d) for d in (True, False)]
            )
        )
        parts += [Text(""), _final(result.runs[0], result.dtype), Text("")]
        parts += [
            Text("without zero_grad()", style="bold"),
            _final(result.accumulated, result.dtype),
        ]
        return Group(*parts)
    if len(result.runs) > 1:
        parts += [_compare(result.runs, width), Text("")]
        parts.append(_summary(result.runs, result.dtype))
        return Group(*parts)
    run = result.runs[0]
    layouts: list[Callable[[], RenderableType]] = [
        functools.partial(_steps_table, run, batches, d) for d in (2, 1, 0)
    ]
    parts += [first_fitting(width, layouts), _what_rows_say(result, run), Text("")]
    parts.append(_final(run, result.dtype))
    return Group(*parts)


def _compare(runs: Sequence[Run], width: int) -> RenderableType:
    """The loss of each optimizer at the same steps."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("step", justify="right", no_wrap=True)
    for run in runs:
        table.add_column(f"{run.settings.optimizer} loss", justify="right", no_wrap=True)
    by_step = [{s.step: s for s in run.steps} for run in runs]
    steps = sorted({k for table_ in by_step for k in table_})
    for k in steps:
        table.add_row(str(k), *(short(table_[k].loss) if k in table_ else "" for table_ in by_step))
    return table


def _summary(runs: Sequence[Run], dtype: str) -> RenderableType:
    rows: list[RenderableType] = []
    for run in runs:
        title = Text.assemble((run.settings.optimizer, "bold"), "  ", (_optimizer_text(run), "dim"))
        rows.append(title)
        rows.append(_final(run, dtype))
        rows.append(Text(""))
    return Group(*rows[:-1])


def _side_by_side(correct: Run, accumulated: Run, with_parameters: bool) -> RenderableType:
    """The loop with and without optimizer.zero_grad(): .grad and (``with_parameters``) the
    parameters."""
    names = _columns(correct)[:2]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("step", justify="right", no_wrap=True)
    for name in names:
        table.add_column(f"{name}.grad", justify="right", no_wrap=True)
        table.add_column(f"{name}.grad, no zero_grad", justify="right", no_wrap=True)
    for name in names if with_parameters else []:
        table.add_column(f"{name}", justify="right", no_wrap=True)
        table.add_column(f"{name}, no zero_grad", justify="right", no_wrap=True)
    other = {s.step: s for s in accumulated.steps}
    for step in correct.steps:
        twin: Step | None = other.get(step.step)
        cells = [str(step.step)]
        for name in names:
            cells += [short(step.gradient[name]), short(twin.gradient[name]) if twin else ""]
        for name in names if with_parameters else []:
            cells += [short(step.after[name]), short(twin.after[name]) if twin else ""]
        table.add_row(*cells)
    lesson = Text(
        "Without optimizer.zero_grad() each loss.backward() adds its gradient to what .grad "
        "already holds: .grad is the sum of every step's gradient so far, and the steps "
        "follow that sum.",
        style="dim",
    )
    return Group(table, lesson)


def _ordinal(n: int) -> str:
    """2nd, 3rd, 11th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
