"""The result model: plain data that every renderer (Rich, JSON, plain) reads.

Nothing here computes or prints. :meth:`GradResult.to_dict` is exactly the JSON document that
``gradcli grad --json`` prints (schema ``gradcli/1``, documented in the README).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import ExitCode

SCHEMA = "gradcli/1"


class Status(str, enum.Enum):
    """The verdict of the cross-check for one number, or for a whole result."""

    AGREE = "agree"
    NONDIFFERENTIABLE = "nondifferentiable"
    PRECISION_LOSS = "precision_loss"
    OVERFLOW = "overflow"
    UNDEFINED = "undefined"
    MISMATCH = "mismatch"
    TIMEOUT = "timeout"
    UNCHECKED = "unchecked"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self]

    @property
    def severity(self) -> int:
        return _SEVERITY.index(self)


_SEVERITY = [
    Status.UNCHECKED,
    Status.AGREE,
    Status.NONDIFFERENTIABLE,
    Status.TIMEOUT,
    Status.PRECISION_LOSS,
    Status.OVERFLOW,
    Status.UNDEFINED,
    Status.MISMATCH,
]
_EXIT = {
    Status.AGREE: ExitCode.OK,
    Status.NONDIFFERENTIABLE: ExitCode.OK,
    Status.UNCHECKED: ExitCode.OK,
    Status.PRECISION_LOSS: ExitCode.CHECK_FAILED,
    Status.MISMATCH: ExitCode.CHECK_FAILED,
    Status.OVERFLOW: ExitCode.UNDEFINED,
    Status.UNDEFINED: ExitCode.UNDEFINED,
    Status.TIMEOUT: ExitCode.CHECK_TIMEOUT,
}


def worst(statuses: list[Status]) -> Status:
    """The most severe status of a list (``agree`` for an empty one)."""
    return max(statuses, key=lambda s: s.severity, default=Status.AGREE)


def json_number(x: float | None) -> float | None:
    """A float for JSON: non-finite values become ``None`` (``null``)."""
    if x is None or not math.isfinite(x):
        return None
    return x


@dataclass(frozen=True)
class Verdict:
    """The check of one number: torch's value against the exact one."""

    status: Status
    autograd: float  #: what torch computed (may be inf or nan)
    exact: float | None  #: the exact value rounded to float64; None if not a finite float64
    exact_text: str  #: the exact value to 30 significant digits, or why there is none
    note: str = ""  #: why the status is what it is, in one sentence

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "autograd": json_number(self.autograd),
            "exact": json_number(self.exact),
            "exact_text": self.exact_text,
            "note": self.note,
        }


SYMBOLIC = "symbolic"  #: the check used SymPy's derivative of the whole expression
NODE_BY_NODE = "node-by-node"  #: the check used the linear-time reference (large expressions)


@dataclass(frozen=True)
class Check:
    """The cross-check of a whole result."""

    status: Status
    value: Verdict | None  #: None when the check was skipped
    gradient: dict[str, Verdict] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  #: warnings for the user (non-differentiable points, ...)
    method: str = SYMBOLIC  #: how the exact numbers were found: SYMBOLIC or NODE_BY_NODE

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "method": self.method if self.value is not None else None,
            "value": self.value.to_dict() if self.value else None,
            "gradient": {k: v.to_dict() for k, v in self.gradient.items()},
            "notes": list(self.notes),
        }


def json_value(x: Any) -> Any:
    """A number, vector or matrix for JSON: nested lists, non-finite numbers as ``null``."""
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, list):
        return [json_value(v) for v in x]
    return json_number(x)


@dataclass(frozen=True)
class GradResult:
    """The value and gradient of an expression at a point, with its check.

    Values are floats, or Arrays for vectors and matrices (``gradcli.language.values.Array``); a
    gradient has the shape of its variable. ``symbolic`` and the check's ``gradient`` are keyed
    by element label: ``x`` for a scalar variable, ``x[0]`` and ``W[1,0]`` for elements.
    """

    expression: str
    point: dict[str, Any]
    dtype: str
    value: Any
    gradient: dict[str, Any]
    symbolic: dict[str, str]  #: derivative per element as SymPy text; empty without the check
    check: Check
    vjp: Any = None  #: the vector v of backward(gradient=v), for a non-scalar output
    order: int = 1  #: > 1: ``gradient`` holds the order-th derivative of one variable

    @property
    def exit_code(self) -> ExitCode:
        return self.check.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``gradcli grad --json``."""
        doc = {
            "schema": SCHEMA,
            "expression": self.expression,
            "dtype": self.dtype,
            "point": {k: json_value(v) for k, v in self.point.items()},
            "value": json_value(self.value),
            "gradient": {k: json_value(v) for k, v in self.gradient.items()},
            "symbolic": dict(self.symbolic),
            "check": self.check.to_dict(),
        }
        if self.vjp is not None:
            doc["vjp"] = json_value(self.vjp)
        if self.order != 1:
            doc["order"] = self.order
        return doc


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
    value: float | None  #: forward value (None without values)
    grad: float | None  #: adjoint d(output)/d(node); None where no gradient flows
    requires_grad: bool
    leaf: bool
    grad_fn: str | None  #: torch's backward node name, e.g. MulBackward0; AccumulateGrad for
    #: variables; None for constants and for nodes cut off by detach()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "op": self.op or None,
            "expression": self.expression,
            "operands": list(self.operands),
            "uses": self.uses,
            "value": json_number(self.value),
            "grad": json_number(self.grad),
            "requires_grad": self.requires_grad,
            "leaf": self.leaf,
            "grad_fn": self.grad_fn,
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
    point: dict[str, float] | None
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
            "point": dict(self.point) if self.point is not None else None,
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }
        if self.torch_nodes:
            out["torch"] = [t.to_dict() for t in self.torch_nodes]
        return out


@dataclass(frozen=True)
class MatrixResult:
    """A Jacobian or a Hessian, with a verdict per cell.

    Rows and columns are labelled by output element (``f``, ``f[0]``, ``f2``) and variable
    element (``x``, ``x[0]``, ``W[1,0]``). A Hessian also carries the gradient, its symmetry,
    its eigenvalues and, where the gradient is zero, what kind of point this is.
    """

    kind: str  #: "jacobian" or "hessian"
    expressions: tuple[str, ...]
    point: dict[str, Any]
    dtype: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    cells: tuple[tuple[Verdict, ...], ...] | None  #: None when unchecked
    status: Status
    notes: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()  #: each output's value
    gradient: tuple[float, ...] | None = None  #: Hessian: the gradient, flattened
    asymmetry: float | None = None  #: Hessian: largest |H[i][j] - H[j][i]|
    eigenvalues: tuple[float, ...] | None = None  #: Hessian: of the symmetric part, ascending
    classification: str | None = None  #: minimum, maximum, saddle, inconclusive; or None

    @property
    def exit_code(self) -> ExitCode:
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": self.kind,
            "expressions": list(self.expressions),
            "dtype": self.dtype,
            "point": {k: json_value(v) for k, v in self.point.items()},
            "values": [json_value(v) for v in self.values],
            "rows": list(self.rows),
            "columns": list(self.columns),
            self.kind: [[json_number(x) for x in row] for row in self.matrix],
            "check": {
                "status": self.status.value,
                "cells": None
                if self.cells is None
                else [[c.to_dict() for c in row] for row in self.cells],
                "notes": list(self.notes),
            },
        }
        if self.kind == "hessian":
            doc["gradient"] = [json_number(g) for g in self.gradient or ()]
            doc["asymmetry"] = json_number(self.asymmetry)
            doc["eigenvalues"] = [json_number(e) for e in self.eigenvalues or ()]
            doc["classification"] = self.classification
        return doc
