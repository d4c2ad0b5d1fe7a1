"""Variable values: strict number parsing and the ``--x 2`` / ``--x=2`` / ``x=2`` arguments.

The CLI cannot know the variable names in advance, so it hands every argument that is not one
of its own options to :func:`split_arguments`, which finds the one expression among them and
the values. Values must be finite float64 numbers written in decimal; anything else (``nan``,
``inf``, ``1_000``, ``0x10``, a number that overflows) is refused with the variable's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from .errors import InputError, UsageError, safe_text
from .ops import CONSTANTS, FUNCTIONS

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(?!=)(.*)", re.DOTALL)
_OPTION = re.compile(r"--([^=]*)(?:=(.*))?", re.DOTALL)


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


def coerce_values(values: Mapping[str, object]) -> dict[str, float]:
    """Check names and turn values (numbers or numeric strings) into floats."""
    out: dict[str, float] = {}
    for name, raw in values.items():
        check_name(name)
        if isinstance(raw, bool):
            raise InputError(f"value for {name} is a boolean, not a number")
        if isinstance(raw, str):
            out[name] = parse_number(raw, name)
        elif isinstance(raw, (int, float)):
            try:
                number = float(raw)
            except OverflowError:
                raise InputError(f"value for {name} is too large for float64") from None
            if not math.isfinite(number):
                raise InputError(f"value for {name} must be finite, got {number}")
            out[name] = number
        else:
            raise InputError(f"value for {name} must be a number, got {type(raw).__name__}")
    return out


def split_arguments(
    args: Sequence[str], reserved: Iterable[str] = ()
) -> tuple[str, dict[str, str]]:
    """Find the expression and the ``name -> value text`` pairs among the free arguments.

    Accepted spellings: ``--x 2``, ``--x=2`` and ``x=2``; exactly one other argument is the
    expression. An expression may start with ``-`` (``-x**2``, ``---x``): only ``--`` followed
    by a letter is read as a value option.
    """
    own_options = set(reserved)
    values: dict[str, str] = {}
    expressions: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        # --NAME is an option when NAME starts with a letter; "---x" is an expression.
        option = _OPTION.fullmatch(arg) if arg[2:3].isalpha() and arg.startswith("--") else None
        assignment = _ASSIGNMENT.fullmatch(arg)
        if option:
            name, value = option.group(1), option.group(2)
            if f"--{name}" in own_options:
                raise UsageError(
                    f"--{name} came after '--', where nothing is read as an option",
                    hint="put gradcli's options before '--'",
                )
            if not _IDENT.fullmatch(name):
                raise UsageError(
                    f"no such option: --{safe_text(name)}",
                    hint="variable values are written --x 2, --x=2 or x=2; "
                    "see 'gradcli grad --help' for the options",
                )
            if value is None:
                if i + 1 >= len(args):
                    raise UsageError(f"--{name} needs a value", hint=f"write --{name} 2")
                value = args[i + 1]
                i += 1
            _add(values, name, value)
        elif assignment:
            _add(values, assignment.group(1), assignment.group(2))
        else:
            expressions.append(arg)
        i += 1
    if not expressions:
        raise UsageError(
            "missing expression", hint='for example: gradcli grad "x**2*y" --x 2 --y 3'
        )
    if len(expressions) > 1:
        shown = ", ".join(f"'{safe_text(e)}'" for e in expressions[:4])
        raise UsageError(
            f"expected one expression, got {len(expressions)}: {shown}",
            hint="quote the expression as one argument, and give values as --x 2 or x=2",
        )
    return expressions[0], values


def _add(values: dict[str, str], name: str, value: str) -> None:
    check_name(name)
    if name in values:
        raise UsageError(f"{name} is given more than once")
    values[name] = value


def match_variables(variables: Iterable[str], values: Mapping[str, float]) -> dict[str, float]:
    """The values in the expression's variable order; every variable given, nothing extra."""
    wanted = list(variables)
    missing = [v for v in wanted if v not in values]
    extra = [v for v in values if v not in wanted]
    if missing:
        given = " ".join(f"--{v} VALUE" for v in missing)
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
    return ", ".join(names)
