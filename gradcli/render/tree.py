"""The computation graph as a Rich tree: the output at the top, operands below.

Each line shows the sub-expression as written, its operation, its forward value and its
adjoint (the gradient of the output with respect to it); a second, dim line shows the local
derivative that the chain rule multiplies along the edge to the parent. A variable used in
several places is one node: shown in full at its first use and as a reference at the others.
"""

from __future__ import annotations

from rich.text import Text
from rich.tree import Tree

from ..models import GraphEdge, GraphNode, GraphResult, TorchNode
from ..ops import OPS


def num(x: float | None) -> str:
    """A short number for diagrams: 6 significant digits."""
    return "-" if x is None else f"{x:.6g}"


def _label(node: GraphNode, edge: GraphEdge | None, seen: bool, has_values: bool) -> Text:
    text = Text()
    text.append(node.expression, style="bold cyan" if node.kind == "op" else "bold")
    if node.kind == "op":
        op = OPS[node.op]
        text.append(f"  {op.symbol if op.symbol else op.name}", style="magenta")
    elif node.kind == "variable":
        text.append("  leaf, requires_grad", style="green")
        if node.uses > 1:
            text.append(f", {node.uses} uses")
    else:
        text.append("  constant", style="dim")
    if seen:
        text.append("  (shown above)", style="dim")
    elif has_values:
        text.append(f"  = {num(node.value)}")
        if node.op == "detach":
            text.append("  stops the gradient", style="yellow")
        elif node.grad is not None:
            text.append(f"  grad {num(node.grad)}", style="green")
            if node.kind == "variable" and node.uses > 1:
                text.append(" (accumulated)", style="dim")
    if edge is not None and node.requires_grad:  # nothing flows into constants
        text.append("\n")
        local = f"local ∂parent/∂this = {edge.local}"
        if edge.local_value is not None:
            local += f" = {num(edge.local_value)}"
        text.append(local, style="dim")
    return text


def render(graph: GraphResult) -> Tree:
    """The graph as a Rich tree, built with an explicit stack (graphs can be deep)."""
    has_values = graph.point is not None
    edge_of = {(e.parent, e.operand): e for e in graph.edges}
    root = graph.node(graph.root)
    tree = Tree(_label(root, None, False, has_values), guide_style="dim")
    shown: set[int] = {root.id}
    stack = [(root, tree)]
    while stack:
        node, branch = stack.pop()
        children = []
        for k, child_id in enumerate(node.operands):
            child = graph.node(child_id)
            seen = child.id in shown
            shown.add(child.id)
            sub = branch.add(_label(child, edge_of[(node.id, k)], seen, has_values))
            if not seen:
                children.append((child, sub))
        stack.extend(reversed(children))  # so the first operand is expanded first
    return tree


def render_torch(graph: GraphResult) -> Tree:
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

    top = nodes[0]
    tree = Tree(label(top, False), guide_style="dim")
    shown = {top.id}
    stack = [(top, tree)]
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
    return tree
