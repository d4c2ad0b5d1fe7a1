"""The tolerance, written once.

For one number computed by torch, ``t``, and its exact value ``r``::

    |t - r| <= rel * |r| + abs * min(|f| / max(1, |x_i|), S_i)

- ``rel`` is 1e-9 in float64 (1e-4 in float32): far tighter than ``torch.autograd.gradcheck``'s
  defaults, and still met by every correct float64 result we know of.
- The absolute term lets a derivative that cancels to (near) zero carry float64's rounding of
  the terms it is made of: ``abs`` is 1e-13 in float64 (1e-6 in float32). For the function's
  own value it is 0 (the value is judged relatively only).
- ``|f| / max(1, |x_i|)`` is the scale a derivative has when the function is of size ``|f|``
  (x * df/dx ~ f); ``S_i`` is the sum of the magnitudes of the chain-rule contributions that
  make up the derivative (the exact reference adds them up as it goes). The second caps the
  first: without it, ``1e300*y + exp(x)`` let d/dx be 63% off, because |f| is 1e300 while d/dx
  is made of terms of size e. With it, the absolute term never exceeds 1e-13 of the largest
  term of the derivative, so the tolerance never accepts an error larger than 1.0001e-9 of the
  derivative's own scale (S_i >= |r|).
- A number equal to the exact value correctly rounded to the dtype always agrees (an exact value
  below float64's smallest subnormal agrees with torch's 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rel: float
    abs: float


TOLERANCES = {"float64": Tolerance(1e-9, 1e-13), "float32": Tolerance(1e-4, 1e-6)}
FLOAT_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38}


def allowance(dtype: str, f: float, x: float, scale: float | None) -> float:
    """The absolute part of the tolerance for a derivative with respect to an input of value
    ``x``, of a function of exact value ``f`` (0 where it is not a finite number), whose terms
    add up to ``scale`` in magnitude (None where that is not known: then no cap)."""
    tol = TOLERANCES[dtype]
    size = abs(f) / max(1.0, abs(x)) if math.isfinite(f) else 0.0
    if scale is not None:
        size = min(size, scale if math.isfinite(scale) else size)
    return tol.abs * size


__all__ = ["FLOAT_MAX", "TOLERANCES", "Tolerance", "allowance"]
