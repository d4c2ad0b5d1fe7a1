"""The computation graph as Graphviz DOT and as Mermaid, from one neutral description."""

from __future__ import annotations

from dataclasses import dataclass

from ..language.ops import OPS
from ..results import GraphResult
from .tree import clip, grad_text, num

#: characters of a node's expression in a DOT or Mermaid box (longer ones are shortened in
#: the middle; JSON has them whole): a drawing of a long chain stays readable and its text
#: grows linearly with the chain
DIAGRAM_LABEL = 120


@dataclass(frozen=True)
class Box:
    id: str
    fields: tuple[str, ...]  # lines of the label, top to bottom
    leaf: bool


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    label: str


def describe(graph: GraphResult, torch_view: bool = False) -> tuple[list[Box], list[Arrow]]:
    """Boxes and arrows: data flows from operands to the operations that use them."""
    if torch_view:
        boxes = [
            Box(
                f"t{t.id}",
                (
                    t.name,
                    *([f"{t.variable}.grad"] if t.variable else []),
                    *(f"{k.removeprefix('_saved_')} = {v}" for k, v in t.saved.items()),
                ),
                t.variable is not None,
            )
            for t in graph.torch_nodes
        ]
        # Backward runs from the output's grad_fn towards the leaves.
        arrows = [Arrow(f"t{t.id}", f"t{n}", "") for t in graph.torch_nodes for n in t.next]
        return boxes, arrows
    has_values = graph.point is not None
    boxes = []
    for n in graph.nodes:
        what = OPS[n.op].symbol or n.op if n.kind == "op" else n.kind
        fields = [clip(n.expression, DIAGRAM_LABEL), str(what)]
        if has_values:
            fields.append(f"value {num(n.value)}")
            fields.append(grad_text(n.grad) if n.requires_grad else "no grad")
        boxes.append(Box(f"n{n.id}", tuple(fields), n.kind != "op"))
    arrows = []
    for e in graph.edges:
        label = ""
        if graph.node(e.child).requires_grad:  # no gradient flows into constants
            label = e.local if e.local_value is None else f"{e.local} = {num(e.local_value)}"
        arrows.append(Arrow(f"n{e.child}", f"n{e.parent}", label))
    return boxes, arrows


def _dot_escape(text: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in '{}|<>"':
        out = out.replace(ch, "\\" + ch)
    return out


def to_dot(graph: GraphResult, torch_view: bool = False) -> str:
    """Graphviz DOT with record nodes ``{ expression | op | value | grad }``."""
    boxes, arrows = describe(graph, torch_view)
    lines = [
        "digraph gradcli {",
        '  rankdir="LR";' if not torch_view else '  rankdir="TB";',
        '  node [shape=record, fontname="monospace"];',
    ]
    for b in boxes:
        label = " | ".join(_dot_escape(f) for f in b.fields)
        style = ', style=filled, fillcolor="#e8f4e8"' if b.leaf else ""
        lines.append(f'  {b.id} [label="{{ {label} }}"{style}];')
    for a in arrows:
        label = f' [label="{_dot_escape(a.label)}"]' if a.label else ""
        lines.append(f"  {a.source} -> {a.target}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_escape(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_mermaid(graph: GraphResult, torch_view: bool = False) -> str:
    """A Mermaid flowchart; paste it into a ```mermaid block in GitHub Markdown."""
    boxes, arrows = describe(graph, torch_view)
    lines = ["flowchart TB" if torch_view else "flowchart LR"]
    for b in boxes:
        label = "<br/>".join(_mermaid_escape(f) for f in b.fields)
        open_, close = ("([", "])") if b.leaf else ("[", "]")
        lines.append(f'  {b.id}{open_}"{label}"{close}')
    for a in arrows:
        link = f'-- "{_mermaid_escape(a.label)}" -->' if a.label else "-->"
        lines.append(f"  {a.source} {link} {a.target}")
    return "\n".join(lines) + "\n"
