"""Exact numbers as the checker handles them: a real value to 30 significant digits, or the
reason there is none. A leaf module (mpmath only), so judging torch's numbers does not import
SymPy."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import mpmath

DIGITS = 30  #: significant digits of every exact value


def round_to(value: float, dtype: str) -> float:
    """``value`` as torch stores it in ``dtype``."""
    if dtype == "float32":
        return float(struct.unpack("f", struct.pack("f", value))[0])
    return value


@dataclass(frozen=True)
class Exact:
    """An exact value: a real number (``value``), or the reason there is none."""

    value: mpmath.mpf | None
    text: str  #: 30 significant digits, or "complex", "infinite", "undefined"
    #: False when the evaluation could only bound the number near zero, not find it
    resolved: bool = True

    @property
    def finite(self) -> bool:
        return self.value is not None
