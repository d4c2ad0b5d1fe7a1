"""The computation graph as a Rich tree: the output at the top, operands below.

Each line shows the sub-expression as written, its operation, its forward value and its
adjoint (the gradient of the output with respect to it); a second, dim line shows the local
derivative that the chain rule multiplies along the edge to the parent. A variable used in
several places is one node: shown in full at its first use and as a reference at the others.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from ..language.ops import OPS
from ..results import GraphEdge, GraphNode, GraphResult, TorchNode


def num(x: float | None) -> str:
    """A short number for diagrams: 6 significant digits."""
    return "-" if x is None else f"{x:.6g}"


def clip(text: str, width: int = 48) -> str:
    """A long sub-expression shortened in the middle (DOT, Mermaid and JSON have it whole)."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return f"{text[:half]}…{text[-(width - 1 - half) :]}"


def _label(
    node: GraphNode, edge: GraphEdge | None, seen: bool, has_values: bool, terms: int = 0
) -> Text:
    text = Text()
    text.append(clip(node.expression), style="bold cyan" if node.kind == "op" else "bold")
    if node.kind == "op":
        op = OPS[node.op]
        text.append(f"  {op.symbol if op.symbol else op.name}", style="magenta")
    elif node.kind == "variable":
        text.append("  leaf, requires_grad", style="green")
        if node.uses > 1:
            text.append(f", {node.uses} uses")
    else:
        text.append("  constant", style="dim")
    if terms > 2:
        text.append(f"  ({terms} terms)", style="dim")
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
        local = f"local ∂parent/∂this = {clip(edge.local)}"
        if edge.local_value is not None:
            local += f" = {num(edge.local_value)}"
        text.append(local, style="dim")
    return text


def max_depth_for(width: int) -> int:
    """How many levels fit: each level indents by 4 columns, and a label needs about 36."""
    return max(3, (width - 36) // 4)


def render(graph: GraphResult, width: int = 80) -> Tree:
    """The graph as a Rich tree, built with an explicit stack (graphs can be deep).

    Levels that would not fit in ``width`` columns are summarised in one line; the DOT, Mermaid
    and JSON formats always hold the whole graph.
    """
    has_values = graph.point is not None
    edge_of = {(e.parent, e.operand): e for e in graph.edges}
    root = graph.node(graph.root)
    limit = max_depth_for(width)
    terms = len(_operands(graph, root, edge_of)) if _is_sum(root) else 0
    tree = Tree(_label(root, None, False, has_values, terms), guide_style="dim")
    shown: set[int] = {root.id}
    stack = [(root, tree, 0)]
    while stack:
        node, branch, depth = stack.pop()
        if depth >= limit and node.operands:
            hidden = _subtree_size(graph, node.id) - 1
            branch.add(
                Text(
                    f"… {hidden} more node{'s' * (hidden != 1)} below: too deep for "
                    f"{width} columns (use --format dot or json)",
                    style="dim",
                )
            )
            continue
        children = []
        for child, edge in _operands(graph, node, edge_of):
            seen = child.id in shown
            shown.add(child.id)
            terms = len(_operands(graph, child, edge_of)) if _is_sum(child) else 0
            sub = branch.add(_label(child, edge, seen, has_values, terms))
            if not seen:
                children.append((child, sub, depth + 1))
        stack.extend(reversed(children))  # so the first operand is expanded first
    return tree


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


def with_graph(table: RenderableType, graph: GraphResult, width: int) -> RenderableType:
    """A result's table with its computation graph below (``grad --graph``)."""
    return Group(table, "", render(graph, width))
