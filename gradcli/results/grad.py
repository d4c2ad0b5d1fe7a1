"""The result of ``grad``: value and gradient at a point, with the check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ExitCode
from .verdicts import SCHEMA, Check, json_value

#: why a constant's gradient is null in JSON and "None" in the table
CONSTANT_REASON = ".grad is None (requires_grad=False)"


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
    #: variables held constant (``requires_grad=False``): not in ``gradient``; their .grad is None
    constants: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        return self.check.status.exit_code

    def _json_gradient(self) -> dict[str, Any]:
        """The gradient in the variables' order, a constant's as null."""
        gradient = {k: json_value(v) for k, v in self.gradient.items()}
        if not self.constants:
            return gradient
        return {k: gradient.get(k) for k in self.point if k in gradient or k in self.constants}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``gradcli grad --json``."""
        doc = {
            "schema": SCHEMA,
            "expression": self.expression,
            "dtype": self.dtype,
            "point": {k: json_value(v) for k, v in self.point.items()},
            "value": json_value(self.value),
            "gradient": self._json_gradient(),
            "constants": {name: CONSTANT_REASON for name in self.constants},
            "symbolic": dict(self.symbolic),
            "check": self.check.to_dict(),
        }
        if self.vjp is not None:
            doc["vjp"] = json_value(self.vjp)
        if self.order != 1:
            doc["order"] = self.order
        return doc
