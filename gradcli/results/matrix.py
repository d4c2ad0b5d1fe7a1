"""The result of ``jacobian`` and ``hessian``: a matrix with a verdict per cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ExitCode
from .verdicts import SCHEMA, Status, Verdict, json_number, json_value


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
