"""Turn expression text into tokens, each with its 0-based start and end offsets.

Only printable ASCII is accepted, and the only white space is the plain space: anything else
(control characters, ANSI escapes, NUL, tabs, newlines, homoglyphs, fullwidth letters,
zero-width or no-break spaces, a Unicode minus sign) is refused with its column, so what the
user sees on the screen is exactly what is computed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Literal, NamedTuple

from ..errors import LimitError, ParseError, char_name
from ..limits import MAX_LENGTH, MAX_NUMBER_LENGTH

TokenKind = Literal["number", "name", "op", "(", ")", ",", "end"]


class Token(NamedTuple):
    """One token (a tuple: made 190,000 times for a long expression, where a frozen dataclass
    cost a third of the tokenizer's time)."""

    kind: TokenKind
    text: str
    start: int
    end: int
    value: float = 0.0  #: for numbers: the float64 value


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "@")

#: ASCII characters that are not part of the language, with what to say about them.
_FOREIGN: dict[str, str] = {
    "~": "bitwise operators are not supported",
    "&": "bitwise operators are not supported",
    "|": "bitwise operators are not supported (for abs, write abs(x))",
    "%": "the remainder operator % is not supported",
    "=": "comparisons and assignments are not supported; give values as --x 2 or x=2",
    "<": "comparisons are not supported",
    ">": "comparisons are not supported",
    "!": "'!' is not supported (no factorials or negation)",
    ":": "assignments and slices are not supported",
    ";": "only one expression is allowed",
    ".": "attribute access is not supported; '.' is only allowed inside a number like 2.5",
    "[": "brackets are not supported; group with ( )",
    "]": "brackets are not supported; group with ( )",
    "{": "braces are not supported; group with ( )",
    "}": "braces are not supported; group with ( )",
    "'": "strings are not supported",
    '"': "strings are not supported",
    "`": "backticks are not supported",
    "#": "comments are not supported",
    "$": "'$' is not supported",
    "?": "'?' is not supported",
    "\\": "backslashes are not supported",
    "_": "names must start with a letter",
}

#: Unicode look-alikes and their ASCII spelling, for hints.
_LOOKALIKES: dict[str, str] = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "*",
    "\u22c5": "*",
    "\u00b7": "*",
    "\u2217": "*",
    "\u00f7": "/",
    "\u2044": "/",
    "\u00b2": "**2",
    "\u00b3": "**3",
    "\u00a0": " ",
    "\u3000": " ",
    "\u2009": " ",
    "\u200b": "",
    "\ufeff": "",
    "\u03c0": "pi",
}


def _non_ascii_hint(ch: str) -> str:
    if ch in _LOOKALIKES:
        ascii_form = _LOOKALIKES[ch]
        return f"replace it with '{ascii_form}'" if ascii_form else "delete it"
    folded = unicodedata.normalize("NFKC", ch)
    if folded.isascii() and folded.isprintable() and folded.strip():
        return f"type the plain ASCII '{folded}' instead"
    return "expressions are plain ASCII: letters, digits, + - * / ** ^ @ ( ) , and spaces"


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens, ending with an ``end`` token.

    Raises :class:`ParseError` (or :class:`LimitError`) at the first character that is not
    part of the language.
    """
    if len(source) > MAX_LENGTH:
        raise LimitError(
            f"expression is {len(source):,} characters long; the limit is {MAX_LENGTH:,}",
            source,
            MAX_LENGTH,
            len(source),
        )
    for i, ch in enumerate(source):
        if not (" " <= ch <= "~"):
            what = (
                "control character" if (ord(ch) < 32 or ord(ch) == 127) else "non-ASCII character"
            )
            raise ParseError(
                f"{what} {char_name(ch)} is not allowed",
                source,
                i,
                hint=_non_ascii_hint(ch)
                if what != "control character"
                else "expressions are one line of plain ASCII text",
            )
    fast = _fast_tokens(source)
    if fast is not None:
        return fast
    tokens: list[Token] = []
    pos, n = 0, len(source)
    while pos < n:
        ch = source[pos]
        if ch == " ":
            pos += 1
            continue
        if ch.isdigit() or (ch == "." and pos + 1 < n and source[pos + 1].isdigit()):
            tokens.append(_number(source, pos))
            pos = tokens[-1].end
            continue
        m = _NAME.match(source, pos)
        if m:
            tokens.append(Token("name", m.group(), pos, m.end()))
            pos = m.end()
            continue
        if ch in "(),":
            kind: TokenKind = ch  # type: ignore[assignment]
            tokens.append(Token(kind, ch, pos, pos + 1))
            pos += 1
            continue
        if source.startswith("//", pos):
            raise ParseError(
                "floor division '//' is not supported",
                source,
                pos,
                pos + 2,
                hint="use '/' for division",
            )
        if source.startswith("==", pos) or source.startswith("!=", pos):
            raise ParseError("comparisons are not supported", source, pos, pos + 2)
        for sym in _OPERATORS:
            if source.startswith(sym, pos):
                tokens.append(Token("op", sym, pos, pos + len(sym)))
                pos += len(sym)
                break
        else:
            raise ParseError(f"unexpected character '{ch}'", source, pos, hint=_FOREIGN.get(ch))
    tokens.append(Token("end", "", n, n))
    return tokens


#: the tokens of text without trouble, in one regular expression: a number not followed by
#: what would make it an error (a letter, a digit, '_' or '.'), a name, an operator ('/' not
#: doubled), a parenthesis or comma, spaces. Text with anything else goes the careful way,
#: which says what is wrong.
_FAST = re.compile(
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![0-9A-Za-z_.])"
    r"|(?P<name>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*^@]|/(?!/))"
    r"|(?P<punct>[(),])"
    r"|(?P<space> +)"
)


def _fast_tokens(source: str) -> list[Token] | None:
    """The tokens of ``source`` when every character is part of a plain token and every
    number is fine (the careful tokenizer's own checks, made here too), else None."""
    tokens: list[Token] = []
    append = tokens.append
    end = 0
    for m in _FAST.finditer(source):
        start = m.start()
        if start != end:  # (something between two tokens that is none)
            return None
        end = m.end()
        kind = m.lastgroup
        if kind == "space":
            continue
        text = m.group()
        if kind == "number":
            if len(text) > MAX_NUMBER_LENGTH:
                return None
            value = float(text)
            if math.isinf(value) or (
                value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0])
            ):
                return None
            append(Token("number", text, start, end, value))
        elif kind == "punct":
            append(Token(text, text, start, end))  # type: ignore[arg-type]
        else:
            append(Token(kind, text, start, end))  # type: ignore[arg-type]
    if end != len(source):
        return None
    tokens.append(Token("end", "", end, end))
    return tokens


def _number(source: str, pos: int) -> Token:
    m = _NUMBER.match(source, pos)
    assert m is not None  # the caller saw a digit or ".digit"
    text, end = m.group(), m.end()
    nxt = source[end] if end < len(source) else ""
    if text == "0" and nxt in "xXbBoO" and nxt:
        raise ParseError(
            "hexadecimal, binary and octal literals are not supported",
            source,
            pos,
            end + 1,
            hint="write the number in decimal",
        )
    if nxt == "_":
        raise ParseError(
            "digit separators '_' are not supported",
            source,
            end,
            hint="write the digits without '_'",
        )
    if nxt in "jJ" and nxt:
        raise ParseError("complex numbers are not supported", source, pos, end + 1)
    after = source[end + 1 : end + 2]
    if nxt in "eE" and nxt and (not after or after in "+-"):
        raise ParseError(
            "incomplete exponent in number",
            source,
            pos,
            end + 1,
            hint=f"write for example {text}e-3, or {text}*e for the constant e",
        )
    if nxt == ".":
        raise ParseError("a number has at most one '.'", source, end)
    if nxt.isalpha():
        name = _NAME.match(source, end)
        word = name.group() if name else nxt
        raise ParseError(
            "implicit multiplication is not supported",
            source,
            pos,
            end + len(word),
            hint=f"write {text}*{word}",
        )
    if len(text) > MAX_NUMBER_LENGTH:
        raise LimitError(
            f"number literal has {len(text):,} characters; the limit is {MAX_NUMBER_LENGTH}",
            source,
            pos,
            end,
        )
    value = float(text)
    if math.isinf(value):
        raise ParseError(
            f"number {text} is too large for float64 (max about 1.8e308)", source, pos, end
        )
    if value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0]):
        raise ParseError(
            f"number {text} is too small for float64: it rounds to 0",
            source,
            pos,
            end,
            hint="the smallest positive float64 is about 5e-324",
        )
    return Token("number", text, pos, end, value)
