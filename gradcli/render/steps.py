"""The chain-rule steps for people: the backward pass as a table, the derivation as numbered
rules, and the derivation as LaTeX."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import Backward, Derivation, StepsResult
from .numbers import fmt, shorten
from .tree import num


def render(result: StepsResult) -> RenderableType:
    parts: list[RenderableType] = [
        Text.assemble(("f = ", "bold"), (shorten(result.expression), "bold cyan"))
    ]
    if result.point is not None:
        point = ", ".join(f"{k} = {num(v)}" for k, v in result.point.items())
        parts.append(Text.assemble(("at  ", "dim"), point))
    if result.backward is not None:
        parts += ["", backward_view(result.backward)]
    for derivation in result.derivations.values():
        parts += ["", derivation_view(derivation)]
    return Group(*(Text(p) if isinstance(p, str) else p for p in parts))


def backward_view(backward: Backward) -> RenderableType:
    title = Text("Backward pass: the chain rule edge by edge, output first", style="bold")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("operand → operation", overflow="fold", ratio=2)
    table.add_column("local ∂", overflow="fold", ratio=2)
    table.add_column("× upstream", justify="right", no_wrap=True)
    table.add_column("= sent", justify="right", no_wrap=True)
    row = 0
    for step in backward.steps:
        for edge, child in zip(step.edges, step.operands, strict=True):
            row += 1
            local = f"{edge.local} = {num(edge.local_value)}"
            table.add_row(
                str(row),
                f"{clip(child)} → {clip(step.expression)}",
                local,
                num(edge.upstream),
                num(edge.contribution),
            )
    lines: list[RenderableType] = [
        title,
        table,
        Text("Gradients: what each variable received, summed", style="bold"),
    ]
    for acc in backward.gradients:
        head = f"  ∂f/∂{acc.variable} = "
        sums = ""
        for k, (via, v) in enumerate(acc.parts):
            sign = "" if k == 0 else (" - " if v < 0 else " + ")
            shown = num(abs(v)) if k else num(v)
            sums += f"{sign}{shown} (via {via})"
        mark = (
            Text("✓ matches autograd", style="green")
            if acc.agrees
            else Text(f"✗ autograd has {acc.autograd!r}", style="red")
        )
        lines.append(Text(head + (sums or "0 (the variable is not used)")))
        lines.append(
            Text.assemble(" " * (len(head) - 2) + "= ", (fmt(acc.total), "bold"), "  ", mark)
        )
    return Group(*lines)


def clip(text: str, width: int = 24) -> str:
    """Long sub-expressions shortened in the middle for the table (JSON has them whole)."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return f"{text[:half]}…{text[-(width - 1 - half) :]}"


def derivation_view(d: Derivation) -> RenderableType:
    lines: list[RenderableType] = [Text(f"Derivation of d/d{d.wrt}, rule by rule", style="bold")]
    for s in d.steps:
        head = Text.assemble(
            (f"{s.number:>3}. ", "dim"),
            (s.rule, "bold magenta"),
            "  ",
            (f"d/d{d.wrt} [{s.target}]", "cyan"),
        )
        lines.append(head)
        if s.repeat_of is not None:
            lines.append(Text(f"     = {s.result}   (as in step {s.repeat_of})", style="dim"))
            continue
        uses = (
            f"   (uses step{'s' * (len(s.uses) > 1)} {', '.join(map(str, s.uses))})"
            if s.uses
            else ""
        )
        lines.append(Text(f"     = {s.formula}{uses}"))
        lines.append(Text(f"     = {s.result}"))
    lines.append(Text.assemble(("  result: ", "bold"), f"d/d{d.wrt} f = {d.result}"))
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
