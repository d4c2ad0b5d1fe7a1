"""How far float rounding can move torch's numbers at a point: the evidence that tells
``precision_loss`` (rounding ate the digits; the exact value is stable) from ``mismatch``.

Two measures, the larger counts:

- torch again with every intermediate result nudged by a few ulps (``engines/autograd.py``,
  ``engines/higher_order.py``): how much rounding noise moves the answer;
- for a point of scalars, the local-rule formulas run in plain float64 (``engines/screen.py``):
  how far float64 lands from the exact numbers with the derivative formulas themselves, which
  shows digits lost inside a formula (``1 - tanh(u)**2`` near ``tanh(u) = 1``) that nudging
  node values cannot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..engines import autograd, screen
from ..engines.exact.real import Real
from ..language.nodes import Expr
from ..language.values import Array, Value


def grad_spread(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    exact_value: Real,
    exact_gradient: Mapping[str, Real],
    vjp: Value | None = None,
) -> tuple[float, dict[str, float]]:
    """The spread of the value and of each gradient element (by label)."""
    moved, moved_gradient = autograd.noisy_spread(expr, point, dtype, vjp)
    if vjp is not None or any(isinstance(v, Array) for v in point.values()):
        return moved, moved_gradient
    inputs = {name: float(v) for name, v in point.items()}  # type: ignore[arg-type]
    value, gradient = screen.plain(expr, inputs, dtype)
    off = _off(value, exact_value)
    return max(moved, off), {
        k: max(v, _off(gradient.get(k, 0.0), exact_gradient[k])) for k, v in moved_gradient.items()
    }


def _off(got: float, exact: Any) -> float:
    if not exact.finite:
        return 0.0
    if not math.isfinite(got):
        return math.inf
    return abs(got - float(exact))


__all__ = ["grad_spread"]
