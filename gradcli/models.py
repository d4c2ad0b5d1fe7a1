"""The result model: plain data that every renderer (Rich, JSON, plain) reads.

Nothing here computes or prints. :meth:`GradResult.to_dict` is exactly the JSON document that
``gradcli grad --json`` prints (schema ``gradcli/1``, documented in the README).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ExitCode

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


@dataclass(frozen=True)
class Check:
    """The cross-check of a whole result."""

    status: Status
    value: Verdict | None  #: None when the check was skipped
    gradient: dict[str, Verdict] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  #: warnings for the user (non-differentiable points, ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "value": self.value.to_dict() if self.value else None,
            "gradient": {k: v.to_dict() for k, v in self.gradient.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class GradResult:
    """The value and gradient of an expression at a point, with its check."""

    expression: str
    point: dict[str, float]
    dtype: str
    value: float
    gradient: dict[str, float]
    symbolic: dict[str, str]  #: derivative per variable as SymPy text; empty without the check
    check: Check

    @property
    def exit_code(self) -> ExitCode:
        return self.check.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``gradcli grad --json``."""
        return {
            "schema": SCHEMA,
            "expression": self.expression,
            "dtype": self.dtype,
            "point": dict(self.point),
            "value": json_number(self.value),
            "gradient": {k: json_number(v) for k, v in self.gradient.items()},
            "symbolic": dict(self.symbolic),
            "check": self.check.to_dict(),
        }
