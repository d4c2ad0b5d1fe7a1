"""Variable values: strict number parsing and the ``--x 2`` / ``--x=2`` / ``x=2`` arguments.

The CLI cannot know the variable names in advance, so it hands every argument that is not one
of its own options to :func:`split_arguments`, which finds the one expression among them and
the values. Values must be finite float64 numbers written in decimal; anything else (``nan``,
``inf``, ``1_000``, ``0x10``, a number that overflows) is refused with the variable's name.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, ParseError, UsageError, safe_text, shown_list
from ..limits import MAX_GRID
from .nodes import Expr
from .ops import CONSTANTS, FUNCTIONS

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # (no '２')
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def round_to(value: float, dtype: str) -> float:
    """``value`` as torch stores it in ``dtype`` (float32 rounds; float64 is itself)."""
    if dtype == "float32":
        return float(struct.unpack("f", struct.pack("f", value))[0])
    return value


def fits(value: float, dtype: str) -> bool:
    """``value`` rounds to a finite number of ``dtype`` (3.4028235e38 does, to float32's
    largest; 1e39 does not)."""
    return dtype != "float32" or math.isfinite(round_to(value, dtype))


def vanishes(value: float, dtype: str) -> bool:
    """``value`` is not 0 but ``dtype`` holds it as 0 (1e-50 in float32): what is computed
    would not be what was written."""
    return value != 0 and round_to(value, dtype) == 0


#: float32's smallest positive (subnormal) number, as the messages write it
FLOAT32_SMALLEST = "1.4e-45"


def outside_float32(values: Any) -> tuple[Any, Any]:
    """For a float64 array: the finite numbers beyond float32's range, and the nonzero ones
    float32 holds as 0 (two boolean arrays). torch would compute with inf and 0 there."""
    # (here, not at the top: it loads NumPy)
    import numpy as np

    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        held = values.astype(np.float32)
        return np.isfinite(values) & ~np.isfinite(held), (values != 0) & (held == 0)


def float32_trouble(value: float) -> str | None:
    """What is wrong with ``value`` as a float32, as a message's end, or None."""
    if not fits(value, "float32"):
        return "is beyond float32's range (3.4028235e+38)"
    if vanishes(value, "float32"):
        return "is too small for float32 (it rounds to 0)"
    return None


def float32_hint(option: str) -> str:
    """What to do about a number float32 cannot hold (``option``: how float64 is chosen)."""
    return f"compute in float64 ({option}): float32 holds sizes from {FLOAT32_SMALLEST} to 3.4e38"


def columns_within(columns: Mapping[str, Any], dtype: str) -> None:
    """Every number of the batch ``columns`` is one ``dtype`` holds as it is (no float32
    infinity made of 1e39, no 0 made of 1e-50), or :class:`InputError` at the first row that
    is not (its position, from 0)."""
    if dtype != "float32":
        return
    for name, column in columns.items():
        beyond, vanished = outside_float32(column)
        wrong = beyond | vanished
        if wrong.any():
            row = int(wrong.argmax())
            x = float(column[row])
            raise InputError(
                f"column {name}, row {row}: {x:.8g} {float32_trouble(x)}",
                hint=float32_hint("{dtype} float64"),
                params=("dtype",),
            )


def literals_within(expr: Expr, dtype: str) -> None:
    """Every number written in ``expr`` is a finite, and (unless 0) nonzero, number of
    ``dtype`` (``1e39`` and ``1e-50`` are no float32), or :class:`ParseError` pointing at the
    first that is not."""
    if dtype != "float32":  # (every float64 literal is finite and nonzero: the parser saw to that)
        return
    for node in expr.nodes:
        if node.kind != "number":
            continue
        if not fits(node.value, dtype):
            raise ParseError(
                f"the number {node.text} is beyond float32's range (3.4028235e+38)",
                expr.source,
                node.start,
                node.end,
                hint="compute in float64, or write a smaller number",
            )
        if vanishes(node.value, dtype):
            raise ParseError(
                f"the number {node.text} is too small for float32: it rounds to 0",
                expr.source,
                node.start,
                node.end,
                hint=f"compute in float64 (float32's smallest positive is about"
                f" {FLOAT32_SMALLEST}), or write 0",
            )


def parse_number(text: str, name: str) -> float:
    """``text`` as a finite float64, or :class:`InputError` naming the variable."""
    shown = safe_text(text)
    if not _NUMBER.fullmatch(text):
        raise InputError(
            f"value for {name} is not a number: '{shown}'",
            hint="write a decimal number such as 2, -0.5 or 1e-3 (no nan, inf, '_' or hex)",
        )
    value = float(text)
    if math.isinf(value):
        raise InputError(f"value for {name} is too large for float64: '{shown}'")
    if value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0]):
        raise InputError(f"value for {name} is too small for float64 (it rounds to 0): '{shown}'")
    return value


@dataclass(frozen=True)
class Array:
    """A vector or matrix value: its shape and its numbers in row-major order."""

    shape: tuple[int, ...]
    data: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.data)

    def tolist(self) -> list[Any]:
        """Nested lists, as JSON shows them."""
        if len(self.shape) == 1:
            return list(self.data)
        rows, cols = self.shape
        return [list(self.data[r * cols : (r + 1) * cols]) for r in range(rows)]

    def labels(self, name: str) -> list[str]:
        """``x[0]``, ``x[1]``... or ``W[0,0]``, ``W[0,1]``... in row-major order."""
        if len(self.shape) == 1:
            return [f"{name}[{i}]" for i in range(self.shape[0])]
        return [f"{name}[{r},{c}]" for r in range(self.shape[0]) for c in range(self.shape[1])]

    @classmethod
    def from_nested(cls, rows: Sequence[Any], name: str) -> Array:
        """A vector from a list of numbers, a matrix from a list of equal-length lists."""
        if rows and all(isinstance(r, (list, tuple)) for r in rows):
            width = len(rows[0])
            for i, row in enumerate(rows):
                if len(row) != width:
                    raise InputError(
                        f"value for {name}: row {i + 1} has {len(row)} number"
                        f"{'s' * (len(row) != 1)} but row 1 has {width}",
                        hint="a matrix needs rows of the same length",
                    )
            data = tuple(_number(v, name) for row in rows for v in row)
            shape: tuple[int, ...] = (len(rows), width)
        else:
            data = tuple(_number(v, name) for v in rows)
            shape = (len(rows),)
        if not data:
            raise InputError(f"value for {name} is empty", hint="give at least one number")
        if len(data) > MAX_ELEMENTS:
            raise InputError(
                f"value for {name} has {len(data):,} numbers; the limit is {MAX_ELEMENTS:,}"
            )
        return cls(shape, data)


Value = float | Array


def flat(value: Value) -> tuple[float, ...]:
    """The numbers of a value in row-major order (one for a scalar)."""
    return value.data if isinstance(value, Array) else (value,)


def labels(name: str, value: Value) -> list[str]:
    """Element labels: ``x`` for a scalar, ``x[0]`` or ``W[1,0]`` for elements."""
    return value.labels(name) if isinstance(value, Array) else [name]


#: numbers in one vector or matrix value
MAX_ELEMENTS = 1_000_000


def elements(point: Mapping[str, Value]) -> dict[str, tuple[str, float]]:
    """Every variable element by label (``x``, ``x[0]``, ``W[1,0]``): (variable, its value)."""
    return {
        label: (name, x)
        for name, value in point.items()
        for label, x in zip(labels(name, value), flat(value), strict=True)
    }


def _number(raw: object, name: str) -> float:
    if isinstance(raw, str):
        return parse_number(raw, name)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise InputError(f"value for {name} must contain numbers, got {type(raw).__name__}")
    try:
        number = float(raw)
    except OverflowError:
        raise InputError(f"value for {name} is too large for float64") from None
    if not math.isfinite(number):
        raise InputError(f"value for {name} must be finite, got {number}")
    return number


_TOKEN = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))")


def parse_value(text: str, name: str) -> Value:
    """A value from the command line: ``2``, ``1,2,3``, ``[1, 2, 3]`` or ``[[1, 2], [3, 4]]``."""
    stripped = text.strip()
    if not stripped.startswith("[") and "," not in stripped:
        return parse_number(text, name)
    if not stripped.startswith("["):
        stripped = f"[{stripped}]"
    # A tiny parser for nested lists (two levels at most), with positions in errors.
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    pos = 0
    expect_item = True
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None:  # only trailing white space is left
            break
        pos = m.end()
        opening, closing, comma, item = m.groups()
        where = f"at character {m.start(m.lastindex or 0) + 1}"
        if result is not None:
            raise InputError(f"value for {name}: unexpected text after the closing ']' {where}")
        if opening:
            if not expect_item or len(stack) == 2:
                raise InputError(
                    f"value for {name}: unexpected '[' {where}",
                    hint="vectors are [1, 2], matrices [[1, 2], [3, 4]]",
                )
            stack.append([])
        elif closing:
            if not stack or (expect_item and stack[-1]):
                raise InputError(f"value for {name}: unexpected ']' {where}")
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                result = done
            expect_item = False
        elif comma:
            if expect_item or not stack:
                raise InputError(f"value for {name}: unexpected ',' {where}")
            expect_item = True
        else:
            if not expect_item or not stack:
                raise InputError(
                    f"value for {name}: missing ',' before '{safe_text(item)}' {where}"
                )
            stack[-1].append(parse_number(item, name))
            expect_item = False
    if result is None:
        raise InputError(
            f"value for {name}: missing ']'", hint="vectors are [1, 2], matrices [[1, 2], [3, 4]]"
        )
    return Array.from_nested(result, name)


_GRID = re.compile(r"^(?P<start>[^:]+):(?P<stop>[^:]+):(?P<count>\d+)$")


def parse_grid(text: str, name: str) -> tuple[float, float, int] | None:
    """``start:stop:count`` (``count`` evenly spaced points from start to stop, inclusive), or
    None when ``text`` is not a grid."""
    m = _GRID.match(text.strip())
    if m is None:
        return None
    start = parse_number(m["start"], name)
    stop = parse_number(m["stop"], name)
    count = int(m["count"])
    if not 1 <= count <= MAX_GRID:
        raise InputError(f"grid for {name} needs 1 to {MAX_GRID:,} points, got {count:,}")
    return start, stop, count


def check_name(name: str) -> str:
    """``name`` if it can be a variable, else :class:`InputError`."""
    if not _IDENT.fullmatch(name):
        raise InputError(
            f"'{safe_text(name)}' is not a variable name",
            hint="names start with an ASCII letter, then letters, digits or '_'",
        )
    if name in CONSTANTS:
        raise InputError(
            f"'{name}' is a constant and cannot be given a value", hint="rename the variable"
        )
    if name in FUNCTIONS:
        raise InputError(f"'{name}' is a function name and cannot be a variable")
    return name


def coerce_values(values: Mapping[str, object]) -> dict[str, Value]:
    """Check names and turn values into floats (scalars) or Arrays (vectors and matrices).

    Accepted: numbers, numeric strings (``"2"``, ``"1,2,3"``, ``"[[1, 2], [3, 4]]"``), and
    sequences such as lists, tuples, NumPy arrays or torch tensors (via ``tolist()``).
    """
    out: dict[str, Value] = {}
    for name, raw in values.items():
        check_name(name)
        if hasattr(raw, "tolist") and not isinstance(raw, (int, float)):
            raw = raw.tolist()  # numpy arrays and torch tensors; their scalars become numbers
        if isinstance(raw, str):
            out[name] = parse_value(raw, name)
        elif isinstance(raw, (list, tuple)):
            out[name] = Array.from_nested(raw, name)
        elif isinstance(raw, bool):
            raise InputError(f"value for {name} is a boolean, not a number")
        elif isinstance(raw, (int, float)):
            out[name] = _number(raw, name)
        else:
            raise InputError(f"value for {name} must be a number, got {type(raw).__name__}")
    return out


def match_variables(variables: Iterable[str], values: Mapping[str, Value]) -> dict[str, Value]:
    """The values in the expression's variable order; every variable given, nothing extra."""
    wanted = list(variables)
    known = set(wanted)  # (sets: 50,000 variables must not take quadratic time)
    missing = [v for v in wanted if v not in values]
    extra = [v for v in values if v not in known]
    if missing:
        given = " ".join(f"--{v} VALUE" for v in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UsageError(
            f"no value for {_names(missing)}",
            hint=f"add {given}" + (f"; the expression uses {_names(wanted)}" if wanted else ""),
        )
    if extra:
        uses = f"uses {_names(wanted)}" if wanted else "has no variables"
        raise UsageError(
            f"value given for {_names(extra)}, but the expression {uses}",
            hint="check the spelling of the names (they are case-sensitive)",
        )
    return {v: values[v] for v in wanted}


def _names(names: Sequence[str]) -> str:
    return shown_list(names)
