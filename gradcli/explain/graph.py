"""Build the computation graph of an expression: nodes, edges, values, adjoints, local
derivatives, and (optionally) PyTorch's own recorded backward graph.

Without a point this imports nothing heavy: the structure and the symbolic local derivatives
come from the tree and the op table alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from ..language.nodes import Expr, Node, substitute, subtree_starts, tidy, to_text
from ..language.ops import OPS
from ..language.parser import parse
from ..language.values import Value
from ..limits import LOCAL_OPERAND
from ..results import GraphEdge, GraphNode, GraphResult, TorchNode


@cache
def _template(text: str) -> Expr:
    return parse(text)


def graph_ids(expr: Expr) -> list[int]:
    """The graph node of every tree node: all uses of a variable share its first occurrence."""
    first: dict[str, int] = {}
    ids = []
    for i, node in enumerate(expr.nodes):
        ids.append(first.setdefault(node.name, i) if node.kind == "variable" else i)
    return ids


def _span(expr: Expr, index: int) -> int:
    """How many characters the user wrote for the subtree at ``index``."""
    return expr.nodes[index].end - expr.nodes[index].start


def _named(index: int) -> tuple[Expr, int]:
    """An operand written by its node id (``n12``), as the graph and steps views number it."""
    return Expr("", (Node("variable", name=f"n{index}"),)), 0


def local_derivatives(expr: Expr, index: int, starts: list[int] | None = None) -> list[str]:
    """The op's local partial derivatives at node ``index``, written with its operands' text,
    or with an operand's node id (``cos(n12)``) when the user wrote more than
    :data:`~gradcli.limits.LOCAL_OPERAND` characters for it, so that the text of every edge is short
    and a long chain's graph grows linearly (``starts``:
    :func:`~gradcli.language.nodes.subtree_starts` of ``expr``, if at hand)."""
    node = expr.nodes[index]
    starts = starts if starts is not None else subtree_starts(expr)
    bindings = {
        name: (expr, a) if _span(expr, a) <= LOCAL_OPERAND else _named(a)
        for name, a in zip(("u", "v"), node.args, strict=False)
    }
    return [
        to_text(tidy(substitute(_template(d), bindings, starts))) for d in OPS[node.op].derivative
    ]


def build_graph(
    expr: Expr,
    point: Mapping[str, Value] | None,
    dtype: str = "float64",
    torch_view: bool = False,
    constants: frozenset[str] = frozenset(),
    shapes: Mapping[int, tuple[int, ...]] | None = None,
) -> GraphResult:
    """The graph of ``expr``; with a ``point``, every node's value and adjoint from autograd
    (vectors and matrices too: then the local derivatives are shown as formulas only). The
    ``constants`` are variables that do not require grad. ``shapes``: every node's shape."""
    ids = graph_ids(expr)
    uses = [0] * len(expr.nodes)
    for node in expr.nodes:
        for a in node.args:
            uses[ids[a]] += 1
    starts = subtree_starts(expr)
    locals_text = {
        i: local_derivatives(expr, i, starts) for i, n in enumerate(expr.nodes) if n.kind == "op"
    }
    # What torch would mark requires_grad: anything computed from a variable, except through
    # detach().
    needs_grad: list[bool] = []
    for node in expr.nodes:
        needs_grad.append(
            (node.kind == "variable" and node.name not in constants)
            or (node.kind == "op" and node.op != "detach" and any(needs_grad[a] for a in node.args))
        )

    traced = None
    if point is not None:
        # (here, not at the top: it loads NumPy)
        from ..engines import autograd as evaluate

        traced = evaluate.trace(expr, point, dtype, torch_view, constants)

    nodes: list[GraphNode] = []
    for i, node in enumerate(expr.nodes):
        if ids[i] != i:
            continue  # a later use of a variable: the same node as its first use
        text = node.name if node.kind in ("variable", "constant") else expr.text_of(i)
        value = grad = None
        const = node.kind == "variable" and node.name in constants
        grad_fn = "AccumulateGrad" if node.kind == "variable" and not const else None
        saved: tuple[str, ...] = ()
        if traced is not None:
            value = traced.values[i]
            grad = traced.grads[i]
            grad_fn = traced.grad_fns[i]
            saved = traced.saved[i]
        nodes.append(
            GraphNode(
                id=i,
                kind=node.kind,
                op=node.op,
                expression=text,
                operands=tuple(ids[a] for a in node.args),
                uses=uses[i],
                value=value,
                grad=grad,
                requires_grad=needs_grad[i],
                leaf=node.kind != "op",
                grad_fn=grad_fn,
                saved=saved,
                shape=tuple((shapes or {}).get(i, ())),
                constant=const,
            )
        )

    edges: list[GraphEdge] = []
    for i, node in enumerate(expr.nodes):
        if node.kind != "op":
            continue
        for k, a in enumerate(node.args):
            local_value = upstream = contribution = None
            scalar = traced is not None and i in traced.local_values
            if traced is not None and scalar and needs_grad[a] and needs_grad[i]:
                # (what torch has: no gradient flows into a constant, or out of detach)
                local_value = traced.local_values[i][k]
                adjoint = traced.grads[i]
                if isinstance(adjoint, float):
                    upstream = adjoint
                    contribution = local_value * adjoint
            edges.append(
                GraphEdge(ids[a], i, k, locals_text[i][k], local_value, upstream, contribution)
            )
    torch_nodes = tuple(traced.torch_nodes) if traced is not None else ()
    return GraphResult(
        expr.source,
        dict(point) if point is not None else None,
        dtype,
        tuple(nodes),
        tuple(edges),
        len(expr.nodes) - 1,
        torch_nodes,
    )


__all__ = ["TorchNode", "build_graph", "graph_ids", "local_derivatives"]
