"""The result of ``check``: is a hand-derived derivative right?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ExitCode
from .verdicts import SCHEMA, json_number

CORRECT = "correct"  #: SymPy proved the answer equal to the derivative
WRONG = "wrong"  #: a point where the two differ, proven
AGREES = "agrees_at_points"  #: equal at every point tried, not proven equal symbolically
UNDECIDED = "undecided"  #: no point of the domain was found, and no proof
INVALID = "invalid_answer"  #: the answer is not an expression of the language (a wrong answer)

_EXIT = {
    CORRECT: ExitCode.OK,
    AGREES: ExitCode.OK,
    WRONG: ExitCode.CHECK_FAILED,
    INVALID: ExitCode.CHECK_FAILED,
    UNDECIDED: ExitCode.CHECK_TIMEOUT,
}


@dataclass(frozen=True)
class Sample:
    """One point where both were evaluated exactly."""

    point: dict[str, float]
    derivative: float | None  #: the true derivative there (rounded to float64), None: none
    answer: float | None  #: the answer there
    derivative_text: str  #: exact values (30 digits), or why there is none
    answer_text: str
    equal: bool
    difference_text: str = ""  #: the answer minus the derivative (where both are numbers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": dict(self.point),
            "derivative": json_number(self.derivative),
            "answer": json_number(self.answer),
            "derivative_exact": self.derivative_text,
            "answer_exact": self.answer_text,
            "equal": self.equal,
            "difference_exact": self.difference_text or None,
        }


@dataclass(frozen=True)
class AnswerResult:
    expression: str
    wrt: str
    answer: str
    derivative: str  #: SymPy's derivative, for comparison
    status: str  #: CORRECT, WRONG, AGREES or UNDECIDED
    proof: str  #: how the verdict was reached, in one sentence
    samples: tuple[Sample, ...]  #: the points tried (the counterexample last, when wrong)
    skipped: int  #: points outside the domain of the derivative

    @property
    def counterexample(self) -> Sample | None:
        return self.samples[-1] if self.status == WRONG else None

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self.status]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``gradcli check --json``."""
        c = self.counterexample
        return {
            "schema": SCHEMA,
            "command": "check",
            "expression": self.expression,
            "wrt": self.wrt,
            "answer": self.answer,
            "derivative": self.derivative,
            "status": self.status,
            "proof": self.proof,
            "counterexample": c.to_dict() if c is not None else None,
            "points": [s.to_dict() for s in self.samples],
            "skipped_points": self.skipped,
        }
