"""The result of ``graph``: nodes, edges, values and adjoints, and torch's own backward graph."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .verdicts import SCHEMA, json_number, json_value


@dataclass(frozen=True)
class GraphNode:
    """One node of the computation graph: a leaf (variable, number, constant) or an operation.

    A variable used in several places is one node (``uses`` > 1), as in PyTorch, where one leaf
    tensor feeds every use and its ``.grad`` accumulates the contributions.
    """

    id: int
    kind: str  #: "variable", "number", "constant" or "op"
    op: str  #: op-table name for operations, else ""
    expression: str  #: the sub-expression as the user wrote it
    operands: tuple[int, ...]
    uses: int  #: how many operations read this node
    value: Any  #: forward value: a float, an Array for a vector or matrix; None without values
    grad: Any  #: adjoint d(output)/d(node), shaped like the value; None where no gradient flows
    requires_grad: bool
    leaf: bool
    grad_fn: str | None  #: torch's backward node name, e.g. MulBackward0; AccumulateGrad for
    #: variables; None for constants and for nodes cut off by detach()
    saved: tuple[str, ...] = ()  #: what the grad_fn saved for backward (with values only)
    shape: tuple[int, ...] = ()  #: the value's shape: () for a number
    constant: bool = False  #: a variable held constant (--const): requires_grad=False

    @property
    def grad_attribute(self) -> str:
        """What this tensor's ``.grad`` is after ``backward()`` in PyTorch."""
        if not self.requires_grad:
            return "None (requires_grad=False)"
        if self.leaf:
            return "filled by backward() (a leaf)"
        return "None unless retain_grad() (a non-leaf; gradcli retains it)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "op": self.op or None,
            "expression": self.expression,
            "operands": list(self.operands),
            "uses": self.uses,
            "shape": list(self.shape),
            "value": json_value(self.value),
            "grad": json_value(self.grad),
            "requires_grad": self.requires_grad,
            "leaf": self.leaf,
            "grad_attribute": self.grad_attribute,
            "grad_fn": self.grad_fn,
            "saved": list(self.saved),
        }


@dataclass(frozen=True)
class GraphEdge:
    """Operand ``child`` of operation ``parent``, with the chain-rule arithmetic on it."""

    child: int
    parent: int
    operand: int  #: position among the parent's operands
    local: str  #: local derivative d(parent)/d(child), in the user's terms
    local_value: float | None
    upstream: float | None  #: the parent's adjoint
    contribution: float | None  #: local_value * upstream

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.child,
            "to": self.parent,
            "operand": self.operand,
            "local": self.local,
            "local_value": json_number(self.local_value),
            "upstream": json_number(self.upstream),
            "contribution": json_number(self.contribution),
        }


@dataclass(frozen=True)
class TorchNode:
    """A node of PyTorch's recorded backward graph (``y.grad_fn`` and what it points to)."""

    id: int
    name: str  #: e.g. MulBackward0, AccumulateGrad
    saved: dict[str, str]  #: saved attributes torch exposes (``_saved_exponent`` -> "2.0")
    variable: str | None  #: for AccumulateGrad: the leaf variable's name
    next: tuple[int, ...]  #: ids of ``next_functions`` (None entries left out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "saved": dict(self.saved),
            "variable": self.variable,
            "next": list(self.next),
        }


@dataclass(frozen=True)
class GraphResult:
    """The computation graph of an expression, with values and adjoints when a point is given."""

    expression: str
    point: dict[str, Any] | None  #: floats, or Arrays for vectors and matrices
    dtype: str
    nodes: tuple[GraphNode, ...]  #: in post-order: operands before the operations using them
    edges: tuple[GraphEdge, ...]
    root: int
    torch_nodes: tuple[TorchNode, ...] = ()  #: PyTorch's backward graph, root first

    def node(self, node_id: int) -> GraphNode:
        return self._by_id[node_id]

    @cached_property
    def _by_id(self) -> dict[int, GraphNode]:
        return {n.id: n for n in self.nodes}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": "graph",
            "expression": self.expression,
            "dtype": self.dtype,
            "point": {k: json_value(v) for k, v in self.point.items()}
            if self.point is not None
            else None,
            "constants": sorted(n.expression for n in self.nodes if n.constant),
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }
        if self.torch_nodes:
            out["torch"] = [t.to_dict() for t in self.torch_nodes]
        return out
