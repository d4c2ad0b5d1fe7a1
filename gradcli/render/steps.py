"""The chain-rule steps for people: the backward pass as a table, the derivation as numbered
rules, and the derivation as LaTeX."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import Backward, Derivation, StepsResult
from .layout import assignments, first_fitting, stacked, wrap_expression
from .numbers import fmt, shorten
from .tree import clip, num

#: lines of the legend one node's expression may take; a longer one is shortened in the
#: middle (JSON has it whole): in full, a long chain's legend grows with its square
LEGEND_LINES = 3


def render(result: StepsResult, width: int = 80) -> RenderableType:
    parts: list[RenderableType] = [
        Text.assemble(
            ("f = ", "bold"),
            ("\n    ".join(wrap_expression(shorten(result.expression), width - 4)), "bold cyan"),
        )
    ]
    if result.point is not None:
        point = [f"{k} = {fmt(v)}" for k, v in result.point.items()]
        parts.append(assignments("at  ", point, width, f"  ({result.dtype})"))
    if result.backward is not None:
        parts += ["", backward_view(result.backward, width)]
    for derivation in result.derivations.values():
        parts += ["", derivation_view(derivation, width)]
    return Group(*(Text(p) if isinstance(p, str) else p for p in parts))


def label(node: int, expression: str, kind: str) -> str:
    """A node's short name, the same in the graph, the steps and JSON's node ids: a variable
    by its name, an operation as ``n<id>``."""
    return expression if kind == "variable" else f"n{node}"


def _wrapped(text: str, width: int, indent: str = "") -> Text:
    return Text(("\n" + indent).join(wrap_expression(text, width)))


def _legend_lines(text: str, room: int) -> list[str]:
    """``text`` wrapped into at most :data:`LEGEND_LINES` lines of ``room`` characters,
    shortened in the middle as much as that takes (lines break only between tokens, so a
    line may hold fewer characters than the room)."""
    budget = LEGEND_LINES * room
    lines = wrap_expression(clip(text, budget), room)  # (clip's time is the budget's)
    while len(lines) > LEGEND_LINES and budget > 16:
        # the characters the lines held, scaled to the lines allowed (and a little less)
        held = sum(len(line) for line in lines)
        budget = min(budget - 1, held * LEGEND_LINES // len(lines) - 4)
        lines = wrap_expression(clip(text, budget), room)
    return lines


def backward_view(backward: Backward, width: int = 80) -> RenderableType:
    title = Text("Backward pass: the chain rule edge by edge, output first", style="bold")
    # every operation once, by its label, with its expression (wrapped between tokens; a long
    # one shortened in the middle)
    named: dict[int, str] = {}
    for step in backward.steps:
        named.setdefault(step.parent, step.expression)
        for edge, text, kind in zip(step.edges, step.operands, step.kinds, strict=True):
            if kind == "op":
                named.setdefault(edge.child, text)
    legend = Table.grid(padding=(0, 2, 0, 0))
    legend.add_column(style="bold cyan", no_wrap=True)
    legend.add_column(no_wrap=True)
    tag = max((len(f"n{n}") for n in named), default=2)
    room = max(20, width - tag - 4)
    for n, text in sorted(named.items(), reverse=True):
        legend.add_row(f"n{n}", Text("\n".join(_legend_lines(text, room))))

    rows = []
    for step in backward.steps:
        for edge, text, kind in zip(step.edges, step.operands, step.kinds, strict=True):
            rows.append(
                (
                    f"{label(edge.child, text, kind)} → n{step.parent}",
                    edge.local,
                    num(edge.local_value),
                    num(edge.upstream),
                    num(edge.contribution),
                )
            )
    lines: list[RenderableType] = [
        title,
        Text("nodes (n<id>: the node ids of graph and of --json)", style="dim"),
        legend,
        Text(""),
    ]
    lines.append(_edges(rows, width))
    lines.append(Text("Gradients: what each variable received, summed", style="bold"))
    for acc in backward.gradients:
        sums = ""
        for k, ((_, v), node) in enumerate(zip(acc.parts, acc.via_nodes, strict=True)):
            sign = "" if k == 0 else (" - " if v < 0 else " + ")
            shown = num(abs(v)) if k else num(v)
            sums += f"{sign}{shown} (via n{node})"
        mark = (
            Text("✓ matches autograd", style="green")
            if acc.agrees
            else Text(f"✗ autograd has {acc.autograd!r}", style="red")
        )
        sums = sums or "0 (the variable is not used)"
        head = f"  ∂f/∂{acc.variable} "
        block = Table.grid()
        block.add_column(no_wrap=True)
        block.add_column()
        block.add_row(head, f"= {sums}")
        block.add_row("", Text.assemble("= ", (fmt(acc.total), "bold"), "  ", mark))
        lines.append(block)
    return Group(*lines)


def _edges(rows: list[tuple[str, str, str, str, str]], width: int) -> RenderableType:
    """The edges as a table whose local derivatives wrap between tokens, or stacked when the
    terminal is too narrow for that."""
    count = len(str(len(rows)))
    edge_w = max((len(r[0]) for r in rows), default=4)
    up_w = max([len("× upstream"), *(len(r[3]) for r in rows)])
    sent_w = max([len("= sent"), *(len(r[4]) for r in rows)])
    local_w = width - count - edge_w - up_w - sent_w - 2 * 4
    widest_local = max((len(f"{r[1]} = {r[2]}") for r in rows), default=8)

    def stack() -> RenderableType:
        return stacked(
            [
                (
                    Text.assemble((f"{k:>{count}}  ", "dim"), (edge, "bold")),
                    [
                        ("local ∂", _wrapped(f"{local} = {value}", width - 14)),
                        ("× upstream", up),
                        ("= sent", sent),
                    ],
                )
                for k, (edge, local, value, up, sent) in enumerate(rows, 1)
            ]
        )

    if local_w >= min(16, widest_local):
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("#", justify="right", style="dim", no_wrap=True)
        table.add_column("edge", no_wrap=True)
        table.add_column("local ∂", no_wrap=True, max_width=local_w)
        table.add_column("× upstream", justify="right", no_wrap=True)
        table.add_column("= sent", justify="right", no_wrap=True)
        for k, (edge, local, value, up, sent) in enumerate(rows, 1):
            text = wrap_expression(local, local_w)
            if len(text[-1]) + len(value) + 3 <= local_w:
                text[-1] += f" = {value}"
            else:
                text.append(f"= {value}")
            table.add_row(str(k), edge, "\n".join(text), up, sent)
        return first_fitting(width, [lambda: table, stack])
    return stack()


def _lines(text: str, width: int, indent: int, style: str = "") -> Text:
    """``text`` wrapped between tokens to ``width`` columns, every line indented."""
    pad = " " * indent
    return Text("\n".join(pad + line for line in wrap_expression(text, width - indent)), style)


def derivation_view(d: Derivation, width: int = 80) -> RenderableType:
    lines: list[RenderableType] = [Text(f"Derivation of d/d{d.wrt}, rule by rule", style="bold")]
    for s in d.steps:
        number = f"{s.number:>3}. "
        lines.append(Text.assemble((number, "dim"), (s.rule, "bold magenta")))
        lines.append(_lines(f"d/d{d.wrt} [{s.target}]", width, len(number), "cyan"))
        if s.repeat_of is not None:
            lines.append(_lines(f"= {s.result}   (as in step {s.repeat_of})", width, 5, "dim"))
            continue
        uses = (
            f"   (uses step{'s' * (len(s.uses) > 1)} {', '.join(map(str, s.uses))})"
            if s.uses
            else ""
        )
        lines.append(_lines(f"= {s.formula}{uses}", width, 5))
        lines.append(_lines(f"= {s.result}", width, 5))
    lines.append(Text("  result:", style="bold"))
    lines.append(_lines(f"d/d{d.wrt} f = {d.result}", width, 5))
    if d.collapsed:
        lines.append(
            Text(
                f"  {d.collapsed} repeated sub-derivation"
                f"{'s' * (d.collapsed > 1)} shown once and referred to",
                style="dim",
            )
        )
    if d.verified is True:
        check = Text(f"  check: ✓ {d.how}", style="green")
    elif d.verified is False:
        check = Text(f"  check: ✗ {d.how}: sympy.diff gives {d.reference}", style="red")
    else:
        check = Text(f"  check: ? {d.how}", style="yellow")
    lines.append(check)
    return Group(*lines)


def latex(result: StepsResult) -> str:
    """Each derivation as a LaTeX align* environment, one line per step."""
    blocks = []
    for d in result.derivations.values():
        rows = []
        for s in d.steps:
            rule = s.rule.replace("_", r"\_")
            rows.append(
                rf"\frac{{\partial}}{{\partial {d.wrt}}}\left[{s.latex_target}\right] "
                rf"&= {s.latex_result} && \text{{({s.number}) {rule}}}"
            )
        blocks.append("\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n")
    return "\n".join(blocks)
