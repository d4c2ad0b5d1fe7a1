"""The verdicts: the status of one number or of a whole result, with its exit code, and the
check of a result (plain data, as every renderer and ``to_dict()`` reads it).

``SCHEMA`` is the version of every JSON document (documented in the README).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
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
    INCONCLUSIVE = "inconclusive"
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
    Status.INCONCLUSIVE,
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
    Status.INCONCLUSIVE: ExitCode.CHECK_TIMEOUT,
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
    #: what the reference proved: "zero", "number", "inf", "-inf", "pole" (an infinity of no
    #: sign), "huge" (finite, far beyond float64), "not_real", "undefined", "unresolved" (not
    #: separated from zero, or not decided, at the precision cap), "not_computed"
    exact_kind: str = "number"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "autograd": json_number(self.autograd),
            "exact": json_number(self.exact),
            "exact_text": self.exact_text,
            "exact_kind": self.exact_kind,
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

    def with_note(self, note: str) -> Check:
        """The same check with one more note."""
        return Check(self.status, self.value, self.gradient, (*self.notes, note), self.method)

    @property
    def unchecked(self) -> bool:
        """No exact number was found: the check was skipped, or abandoned before any."""
        return self.value is None or self.value.exact_kind == "not_computed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "method": None if self.unchecked else self.method,
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
