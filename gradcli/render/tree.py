"""The computation graph as a Rich tree: the output at the top, operands below.

Each line shows the sub-expression as written, its operation, its forward value and its
adjoint (the gradient of the output with respect to it); a second, dim line shows the local
derivative that the chain rule multiplies along the edge to the parent. A variable used in
several places is one node: shown in full at its first use and as a reference at the others.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from ..language.ops import OPS
from ..language.values import Array
from ..results import GraphEdge, GraphNode, GraphResult, TorchNode
from .layout import tokens_of, wrap_expression


def num(x: Any) -> str:
    """A short number for diagrams: 6 significant digits (0, not -0); a vector or matrix as
    its shape and its first numbers."""
    if x is None:
        return "-"
    if isinstance(x, Array):
        head = ", ".join(num(v) for v in x.data[:SHOWN])
        more = ", …" if x.size > SHOWN else ""
        return f"shape {_shape(x.shape)} [{head}{more}]"
    return "0" if x == 0 else f"{x:.6g}"


#: elements of a vector or matrix value shown in the graph
SHOWN = 4


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def grad_text(g: Any) -> str:
    """A gradient for the graph: the number, or a tensor's shape and norm."""
    if isinstance(g, Array):
        norm = math.sqrt(math.fsum(v * v for v in g.data))
        return f"grad shape {_shape(g.shape)}, norm {num(norm)}"
    return f"grad {num(g)}"


def clip(text: str, width: int = 48) -> str:
    """A long sub-expression shortened in the middle, between tokens (never inside a name or
    a number); JSON has it whole."""
    if len(text) <= width:
        return text
    # Only the two ends are cut into tokens (a window's token at the cut may be incomplete,
    # so it is left out): the time is the width's, not the text's.
    head, tail = "", ""
    for token in tokens_of(text[: width + 1])[:-1]:
        if len(head) + len(token) > (width - 1) // 2:
            break
        head += token
    for token in reversed(tokens_of(text[-width - 1 :])[1:]):
        if len(tail) + len(token) > width - 1 - len(head):
            break
        tail = token + tail
    return f"{head}…{tail}"


def _label(
    node: GraphNode,
    edge: GraphEdge | None,
    seen: bool,
    has_values: bool,
    terms: int = 0,
    room: int = 76,
    stopped: bool = False,
) -> Text:
    """A node's lines: its label, expression, operation and torch's grad_fn; its value and
    gradient; the local derivative on the edge to its parent. ``room``: the columns left at
    its depth (long expressions are shortened between tokens, formulas wrapped between
    them); ``stopped``: the parent is ``detach``, so nothing flows on the edge."""
    text = Text()
    name = f"n{node.id}  " if node.kind == "op" else ""
    head = Text(name, style="bold")
    if node.kind == "op":
        op = OPS[node.op]
        kind = f"  {op.symbol if op.symbol else op.name}" + (
            f"  {node.grad_fn}" if node.grad_fn else ""
        )
    elif node.kind == "variable" and node.constant:
        kind = "  leaf, constant: requires_grad=False, .grad None"
    elif node.kind == "variable":
        kind = "  leaf, requires_grad" + (f", {node.uses} uses" if node.uses > 1 else "")
    else:
        kind = "  constant"
    extra = f"  saves {', '.join(node.saved)}" if node.saved and not seen else ""
    extra += f"  ({terms} terms)" if terms > 2 else ""
    extra += "  (shown above)" if seen else ""
    fits = max(24, room - len(name) - len(kind) - len(extra))  # (the rest may wrap)
    head.append(clip(node.expression, fits), style="bold cyan" if node.kind == "op" else "bold")
    head.append(
        kind,
        style="magenta" if node.kind == "op" else "green" if node.kind == "variable" else "dim",
    )
    head.append(extra, style="dim")
    text.append_text(head)
    if not seen and has_values:
        text.append(f"\n= {num(node.value)}")
        if node.op == "detach":
            text.append("  stops the gradient", style="yellow")
        elif node.grad is not None:
            text.append(f"  {grad_text(node.grad)}", style="green")
            if node.kind == "variable" and node.uses > 1:
                text.append(" (accumulated)", style="dim")
        elif node.requires_grad:
            text.append("  grad None: no gradient reaches it", style="dim")
    if edge is not None and node.requires_grad:  # nothing flows into constants
        if stopped:
            local = "local ∂parent/∂this: none (detach passes no gradient)"
        else:
            local = f"local ∂parent/∂this = {edge.local}"
            if edge.local_value is not None:
                local += f" = {num(edge.local_value)}"
        text.append("\n" + "\n".join(wrap_expression(local, max(20, room))), style="dim")
    return text


def max_depth_for(width: int) -> int:
    """How many levels fit: each level indents by 4 columns, and a node's lines need about 30
    (longer ones are shortened or wrapped between tokens)."""
    return max(3, (width - 30) // 4)


#: what the graph's gradients are in PyTorch's terms (under a graph with values)
RETAIN_NOTE = (
    "Leaves get .grad from backward(); the n-nodes are non-leaf tensors, whose .grad is None "
    "unless retain_grad() is called: gradcli retains them to show their gradients."
)


def render(graph: GraphResult, width: int = 80) -> RenderableType:
    """The tree of :func:`tree`, with a note on what ``.grad`` holds when there are values."""
    drawn = tree(graph, width)
    if graph.point is None or not any(n.kind == "op" and n.requires_grad for n in graph.nodes):
        return drawn
    return Group(drawn, Text(""), Text(RETAIN_NOTE, style="dim"))


def tree(graph: GraphResult, width: int = 80) -> Tree:
    """The graph as a Rich tree, built with an explicit stack (graphs can be deep).

    Levels that would not fit in ``width`` columns are summarised in one line; the DOT, Mermaid
    and JSON formats always hold the whole graph.
    """
    has_values = graph.point is not None
    edge_of = {(e.parent, e.operand): e for e in graph.edges}
    root = graph.node(graph.root)
    limit = max_depth_for(width)
    terms = len(_operands(graph, root, edge_of)) if _is_sum(root) else 0
    top = Tree(_label(root, None, False, has_values, terms, width - 1), guide_style="dim")
    shown: set[int] = {root.id}
    # In the order the lines are printed (first operand's subtree first), so that a node
    # met again says "(shown above)" only when it really is above.
    stack: list[tuple[GraphNode, GraphEdge, Tree, int]] = [
        (child, edge, top, 1) for child, edge in reversed(_operands(graph, root, edge_of))
    ]
    while stack:
        node, edge, parent, depth = stack.pop()
        seen = node.id in shown
        shown.add(node.id)
        terms = len(_operands(graph, node, edge_of)) if _is_sum(node) else 0
        room = width - 4 * depth - 1
        stopped = graph.node(edge.parent).op == "detach"
        branch = parent.add(_label(node, edge, seen, has_values, terms, room, stopped))
        if seen or not node.operands:
            continue
        if depth >= limit:
            hidden = _subtree_size(graph, node.id) - 1
            branch.add(
                Text(
                    f"… {hidden} more node{'s' * (hidden != 1)}\n(deeper: --format json)",
                    style="dim",
                )
            )
            continue
        stack.extend(
            (child, e, branch, depth + 1) for child, e in reversed(_operands(graph, node, edge_of))
        )
    return top


def _is_sum(node: GraphNode) -> bool:
    return node.op in ("add", "sub")


def _operands(
    graph: GraphResult, node: GraphNode, edge_of: dict[tuple[int, int], GraphEdge]
) -> list[tuple[GraphNode, GraphEdge]]:
    """The operands to show under ``node``. A chain of sums (a+b+c+..., parsed as
    ((a+b)+c)+...) is shown flat, all terms under the last +, instead of one level per term;
    the partial sums in between are skipped (their gradient is that of the whole sum)."""
    if not _is_sum(node):
        return [(graph.node(c), edge_of[(node.id, k)]) for k, c in enumerate(node.operands)]
    out: list[tuple[GraphNode, GraphEdge]] = []
    current = node
    while True:
        left = graph.node(current.operands[0])
        out.append((graph.node(current.operands[1]), edge_of[(current.id, 1)]))
        if _is_sum(left) and left.uses == 1:
            current = left
            continue
        out.append((left, edge_of[(current.id, 0)]))
        break
    out.reverse()
    return out


def _subtree_size(graph: GraphResult, node_id: int) -> int:
    seen = {node_id}
    stack = [node_id]
    while stack:
        for child in graph.node(stack.pop()).operands:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


TORCH_NOTE = (
    "AccumulateGrad adds into a leaf's .grad; the other nodes are the backward functions of "
    "non-leaf tensors, whose .grad stays None unless retain_grad() is called."
)


def render_torch(graph: GraphResult) -> RenderableType:
    """PyTorch's recorded backward graph (:func:`torch_tree`) with a note on ``.grad``."""
    drawn = torch_tree(graph)
    if not graph.torch_nodes:
        return drawn
    return Group(drawn, Text(""), Text(TORCH_NOTE, style="dim"))


def torch_tree(graph: GraphResult) -> Tree:
    """PyTorch's recorded backward graph: grad_fn at the top, next_functions below."""
    nodes = {t.id: t for t in graph.torch_nodes}
    if not nodes:
        return Tree(Text("no autograd graph: the output does not require grad", style="dim"))

    def label(t: TorchNode, seen: bool) -> Text:
        text = Text(t.name, style="bold magenta")
        if t.variable:
            text.append(f"  → {t.variable}.grad", style="green")
        if seen:
            text.append("  (shown above)", style="dim")
        elif t.saved:
            saved = ", ".join(f"{k.removeprefix('_saved_')}={v}" for k, v in t.saved.items())
            text.append(f"\nsaved: {saved}", style="dim")
        return text

    first = nodes[0]
    drawn = Tree(label(first, False), guide_style="dim")
    shown = {first.id}
    stack = [(first, drawn)]
    while stack:
        t, branch = stack.pop()
        children = []
        for n in t.next:
            seen = n in shown
            shown.add(n)
            sub = branch.add(label(nodes[n], seen))
            if not seen:
                children.append((nodes[n], sub))
        stack.extend(reversed(children))
    return drawn


def with_graph(table: RenderableType, graph: GraphResult, width: int) -> RenderableType:
    """A result's table with its computation graph below (``grad --graph``)."""
    return Group(table, "", render(graph, width))
