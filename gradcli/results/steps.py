"""The result of ``steps``: the backward pass edge by edge, the derivation rule by rule, and the
point's check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode
from .graph import GraphEdge
from .verdicts import SCHEMA, Check, json_number


@dataclass(frozen=True)
class BackwardStep:
    """One operation of the backward pass and what it sends to each operand."""

    parent: int
    expression: str
    op: str
    upstream: float | None
    edges: tuple[GraphEdge, ...]
    operands: tuple[str, ...]  #: the expression of each edge's operand
    kinds: tuple[str, ...] = ()  #: the kind of each edge's operand ("variable", "op", ...)


@dataclass(frozen=True)
class Accumulation:
    """A variable's gradient: the contributions of its uses, summed, against autograd."""

    variable: str
    parts: tuple[tuple[str, float], ...]  #: (expression of the using operation, contribution)
    total: float
    autograd: float
    agrees: bool
    via_nodes: tuple[int, ...] = ()  #: the node id of each using operation


@dataclass(frozen=True)
class Backward:
    steps: tuple[BackwardStep, ...]
    gradients: tuple[Accumulation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [
                {
                    "node": s.parent,
                    "expression": s.expression,
                    "op": s.op,
                    "upstream": json_number(s.upstream),
                    "edges": [
                        {**e.to_dict(), "operand_expression": text}
                        for e, text in zip(s.edges, s.operands, strict=True)
                    ],
                }
                for s in self.steps
            ],
            "gradients": {
                a.variable: {
                    "contributions": [
                        {"via": via, "via_node": node, "value": json_number(v)}
                        for (via, v), node in zip(a.parts, a.via_nodes, strict=True)
                    ],
                    "total": json_number(a.total),
                    "autograd": json_number(a.autograd),
                    "agrees": a.agrees,
                }
                for a in self.gradients
            },
        }


@dataclass(frozen=True)
class RuleStep:
    """One numbered step: which rule, applied to which sub-expression, giving what."""

    number: int
    node: int
    rule: str
    target: str  #: the sub-expression, as text
    formula: str  #: the rule written out for this sub-expression
    result: str  #: the derivative of the sub-expression
    uses: tuple[int, ...] = ()  #: steps whose results this one uses
    repeat_of: int | None = None  #: the same sub-derivation was done in that step
    latex_target: str = ""
    latex_result: str = ""


@dataclass(frozen=True)
class Derivation:
    wrt: str
    steps: tuple[RuleStep, ...]
    result: str
    reference: str  #: sympy.diff of the whole expression
    verified: bool | None  #: None when the comparison could not be made
    how: str  #: how the result was compared with SymPy's
    collapsed: int = 0  #: repeated sub-derivations shown once and referred to

    def to_dict(self) -> dict[str, Any]:
        return {
            "wrt": self.wrt,
            "steps": [
                {
                    "number": s.number,
                    "rule": s.rule,
                    "target": s.target,
                    "formula": s.formula,
                    "result": s.result,
                    "uses": list(s.uses),
                    "repeat_of": s.repeat_of,
                }
                for s in self.steps
            ],
            "result": self.result,
            "sympy_diff": self.reference,
            "verified": self.verified,
            "how": self.how,
            "collapsed": self.collapsed,
        }


@dataclass(frozen=True)
class StepsResult:
    expression: str
    point: dict[str, float] | None
    backward: Backward | None
    derivations: dict[str, Derivation] = field(default_factory=dict)
    check: Check | None = None  #: the exact check of the point (as ``grad``'s)
    notes: tuple[str, ...] = ()  #: what was not written, and why
    #: the time limit ended the derivation before every variable was derived
    derivation_timed_out: bool = False
    dtype: str = "float64"  #: torch's, for the backward pass's numbers

    @property
    def exit_code(self) -> ExitCode:
        """The check's exit code; 1 where a derivation or the backward pass does not match;
        else 4 where the time limit left a derivation out."""
        failed = [d.wrt for d in self.derivations.values() if d.verified is False]
        if self.backward is not None:
            failed += [a.variable for a in self.backward.gradients if not a.agrees]
        code = self.check.status.exit_code if self.check is not None else ExitCode.OK
        if failed and code == ExitCode.OK:
            return ExitCode.CHECK_FAILED
        if self.derivation_timed_out and code == ExitCode.OK:
            return ExitCode.CHECK_TIMEOUT
        return code

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": "steps",
            "expression": self.expression,
            "point": dict(self.point) if self.point is not None else None,
            "backward": self.backward.to_dict() if self.backward else None,
            "derivations": {k: v.to_dict() for k, v in self.derivations.items()},
            "check": self.check.to_dict() if self.check is not None else None,
            "notes": list(self.notes),
        }
