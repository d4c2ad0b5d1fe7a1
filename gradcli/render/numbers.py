"""How numbers (and long expressions) are written in human and plain output."""

from __future__ import annotations

import math
import struct


def fmt(x: float | None) -> str:
    """Shortest text that reads back as the same float; integral values without ``.0``."""
    if x is None:
        return "null"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"  # (and -0.0 too: JSON keeps the sign, people need not see it)
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text


def fmt_in(x: float, dtype: str) -> str:
    """:func:`fmt` for a number torch holds in ``dtype``: a float32's shortest text that reads
    back as the same float32 (0.06, not 0.05999999865889549)."""
    if dtype != "float32" or not math.isfinite(x) or x == 0:
        return fmt(x)
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == x:
            return fmt(float(text)) if "e" not in text else text
    return fmt(x)


def fmt_value(value: object) -> str:
    """A variable's value as the command line writes it: ``2``, ``[2, 3]``, ``[[1, 2], [3, 4]]``
    (the same number format everywhere)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return fmt(value)  # type: ignore[arg-type]


def short_exact(text: str, digits: int = 17) -> str:
    """An exact value's 30-digit text cut to ``digits`` significant digits for a table."""
    try:
        mantissa, _, exponent = text.lower().partition("e")
        value = float(text)
    except ValueError:
        return text  # "infinite", "complex (...)", ...
    if not math.isfinite(value):
        # Beyond float64: keep the text's own exponent.
        sign = "-" if mantissa.startswith("-") else ""
        digits_only = mantissa.lstrip("-").replace(".", "").lstrip("0")
        head = digits_only[:1] + "." + digits_only[1:digits]
        return f"{sign}{head}e{exponent}" if exponent else text
    return fmt(float(f"{value:.{digits}g}"))


LONG_TEXT = 300  #: characters of an expression shown in a heading (a few terminal lines)


def shorten(text: str, limit: int = LONG_TEXT) -> str:
    """``text``, or its start and how long it is, for headings: a 100,000-character sum must not
    push the result off the screen (JSON keeps it whole)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text):,} characters)"
