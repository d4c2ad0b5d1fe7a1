"""Parse expression text into an :class:`~gradcli.language.nodes.Expr`.

The grammar, loosest binding first::

    expression := sum END
    sum        := product (("+" | "-") product)*
    product    := signed (("*" | "/" | "@") signed)*
    signed     := ("-" | "+") signed | power
    power      := atom (("**" | "^") signed)?       right-associative: 2**3**2 is 2**(3**2)
    atom       := NUMBER | CONSTANT | VARIABLE | FUNCTION "(" sum ("," sum)* ")" | "(" sum ")"

So ``-x**2`` is ``-(x**2)``, ``2**-1`` is ``0.5``, and ``^`` is power exactly like ``**``.
There is no implicit multiplication: ``2x`` and ``(a)(b)`` are errors that suggest ``*``.

The parser is an operator-precedence parser with explicit stacks rather than recursive descent,
so no input can exhaust Python's stack; nesting is bounded by :data:`~gradcli.limits.MAX_DEPTH`
with its own error. It alternates between two states: expecting an operand (a number, a name,
a prefix sign or "(") and expecting an operator (an infix operator, ")" , "," or the end).
"""

from __future__ import annotations

import difflib
import keyword
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import LimitError, ParseError
from ..limits import MAX_DEPTH, MAX_EXPONENT, MAX_NODES, MAX_POWER_TOWER
from .lexer import Token, tokenize
from .nodes import Expr, Node
from .ops import ALIASES, BINARY_SYMBOLS, CONSTANTS, FUNCTIONS, OPS, POWER, PREFIX_SYMBOLS, SIGN, Op

_NOT_NUMBERS = {
    "nan": "NaN is not accepted as a number",
    "inf": "infinity is not accepted as a number",
    "infinity": "infinity is not accepted as a number",
    "True": "booleans are not numbers here",
    "False": "booleans are not numbers here",
    "None": "None is not a number",
}
_KEYWORDS = frozenset(keyword.kwlist)  # True/False/None are caught by _NOT_NUMBERS first


@dataclass(slots=True)
class _Operand:
    index: int  # node index
    start: int  # span including any parentheses around it
    end: int


@dataclass(slots=True)
class _Pending:
    """An entry of the operator stack: an operator, an open parenthesis or an open call."""

    kind: str  # "binary", "prefix", "paren", "call"
    token: Token
    op: Op | None = None
    args: int = 0  # for calls: arguments seen so far


def parse(source: str) -> Expr:
    """Parse ``source``; raise :class:`ParseError` with a column for anything not in the
    language."""
    return _Parser(source).run()


def parse_list(source: str, then: Callable[[Expr], None] | None = None) -> list[Expr]:
    """Several expressions separated by top-level commas (``"x*y, x+y"``), each parsed on its
    own and given to ``then`` (a check that may raise :class:`ParseError`); error columns
    refer to the whole text."""
    tokens = tokenize(source)
    depth, cuts = 0, []
    for tok in tokens:
        if tok.kind == "(":
            depth += 1
        elif tok.kind == ")":
            depth -= 1
        elif tok.kind == "," and depth == 0:
            cuts.append(tok.start)
    out = []
    start = 0
    for end in [*cuts, len(source)]:
        piece = source[start:end]
        lead = len(piece) - len(piece.lstrip(" "))
        try:
            out.append(parse(piece.strip(" ")))
            if then is not None:
                then(out[-1])
        except ParseError as e:
            kind = type(e)
            raise kind(
                e.message, source, e.start + start + lead, e.end + start + lead, hint=e.hint
            ) from None
        start = end + 1
    return out


def suggest_function(name: str) -> str | None:
    """The function the user probably meant by ``name``, or None."""
    if name in ALIASES:
        return ALIASES[name]
    lowered = name.lower()
    if lowered in FUNCTIONS:
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    close = difflib.get_close_matches(lowered, list(FUNCTIONS), n=1, cutoff=0.75)
    return close[0] if close else None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.nodes: list[Node] = []
        self.folded: list[float | None] = []  # float value of constant nodes, for limits
        self.tower: list[int] = []  # height of the power tower with variable exponents
        self.operands: list[_Operand] = []
        self.pending: list[_Pending] = []

    # -- helpers -----------------------------------------------------------------------------

    def error(
        self, message: str, token: Token, end: int | None = None, hint: str | None = None
    ) -> ParseError:
        return ParseError(message, self.source, token.start, end or token.end, hint=hint)

    def emit(self, node: Node, start: int, end: int, folded: float | None = None) -> None:
        if len(self.nodes) >= MAX_NODES:
            raise LimitError(
                f"expression has more than {MAX_NODES:,} nodes",
                self.source,
                node.start,
                node.end,
                hint="split the work into smaller expressions",
            )
        self.nodes.append(node)
        self.folded.append(folded)
        self.tower.append(self.tower_height(node) if node.op == "pow" else 0)
        self.operands.append(_Operand(len(self.nodes) - 1, start, end))

    def push(self, entry: _Pending) -> None:
        if len(self.pending) >= MAX_DEPTH:
            raise LimitError(
                f"expression is nested too deeply (more than {MAX_DEPTH:,} levels of parentheses, "
                "calls, signs or chained powers)",
                self.source,
                entry.token.start,
                entry.token.end,
            )
        self.pending.append(entry)

    def apply(self, entry: _Pending, end: int) -> None:
        """Pop the operands of ``entry`` (an operator or a call), emit its node."""
        op = entry.op
        assert op is not None
        kind = entry.kind
        count = entry.args if kind == "call" else op.arity
        stack = self.operands
        operands = stack[len(stack) - count :]
        del stack[len(stack) - count :]
        args = tuple(o.index for o in operands)
        if kind == "binary":
            start, end = operands[0].start, operands[1].end
        else:
            start = entry.token.start
            end = end if kind == "call" else operands[-1].end
        if op.name == "pow":
            self.check_exponent(operands[1])
        folded: float | None = None
        if op.fold is not None:
            values = [self.folded[a] for a in args]
            if None not in values:
                try:
                    folded = op.fold(*values)
                except (ZeroDivisionError, OverflowError, ValueError):
                    folded = None
        self.emit(Node("op", op.name, args, start=start, end=end), start, end, folded)

    def tower_height(self, node: Node) -> int:
        if node.op != "pow":
            return 0
        exponent = node.args[1]
        if self.folded[exponent] is not None:
            return 1
        height = 1 + self.tower[exponent]
        if height > MAX_POWER_TOWER:
            raise LimitError(
                f"power tower of more than {MAX_POWER_TOWER} levels with variable exponents",
                self.source,
                node.start,
                node.end,
                hint="the exact derivative of such a tower grows exponentially with its height",
            )
        return height

    def check_exponent(self, exponent: _Operand) -> None:
        value = self.folded[exponent.index]
        if value is not None and not (abs(value) <= MAX_EXPONENT):
            shown = (
                "too large to represent"
                if math.isinf(value) or math.isnan(value)
                else f"{value:.6g}"
            )
            raise LimitError(
                f"constant exponent {shown} is too large; the limit is {MAX_EXPONENT:,}",
                self.source,
                exponent.start,
                exponent.end,
                hint="such powers over- or underflow float64 and cannot be checked exactly",
            )

    def reduce_while(self, precedence: int, right_assoc: bool) -> None:
        """Apply pending operators that bind at least as tightly as an incoming operator."""
        while self.pending:
            top = self.pending[-1]
            if top.kind not in ("binary", "prefix"):
                return
            assert top.op is not None
            prec = SIGN if top.kind == "prefix" else top.op.precedence
            if prec > precedence or (prec == precedence and not right_assoc):
                self.pending.pop()
                self.apply(top, 0)
            else:
                return

    # -- the two states ------------------------------------------------------------------------

    def run(self) -> Expr:
        if not self.source.strip(" "):
            raise ParseError(
                "empty expression", self.source, 0, hint='write an expression such as "x**2*y"'
            )
        expecting_operand = True
        i = 0
        while True:
            tok = self.tokens[i]
            if expecting_operand:
                i = self.operand(i)
                expecting_operand = not self._operand_done(i)
                continue
            if tok.kind == "end":
                self.finish(tok)
                return Expr(self.source, tuple(self.nodes))
            if tok.kind == "op":
                op = BINARY_SYMBOLS[tok.text]
                right = op.precedence == POWER
                self.reduce_while(op.precedence, right)
                self.push(_Pending("binary", tok, op))
                expecting_operand = True
            elif tok.kind == ")":
                self.close(tok)
            elif tok.kind == ",":
                self.comma(tok)
                expecting_operand = True
            else:
                raise self.error(
                    f"missing operator before '{tok.text}'",
                    tok,
                    hint="implicit multiplication is not supported; put '*' here to multiply",
                )
            i += 1

    def _operand_done(self, i: int) -> bool:
        prev = self.tokens[i - 1]
        return prev.kind in ("number", ")") or (prev.kind == "name" and self.tokens[i].kind != "(")

    def operand(self, i: int) -> int:
        """Consume one token in operand position; return the index of the next token."""
        tok = self.tokens[i]
        if tok.kind == "number":
            self.emit(
                Node("number", value=tok.value, text=tok.text, start=tok.start, end=tok.end),
                tok.start,
                tok.end,
                tok.value,
            )
            return i + 1
        if tok.kind == "name":
            return self.name(i)
        if tok.kind == "(":
            self.push(_Pending("paren", tok))
            return i + 1
        if tok.kind == "op" and tok.text in PREFIX_SYMBOLS:
            self.push(_Pending("prefix", tok, PREFIX_SYMBOLS[tok.text]))
            return i + 1
        raise self.missing_operand(tok, i)

    def missing_operand(self, tok: Token, i: int) -> ParseError:
        prev = self.tokens[i - 1] if i > 0 else None
        if tok.kind == "end":
            if prev is None:
                return ParseError("empty expression", self.source, 0)
            return self.error(
                f"expression is incomplete after '{prev.text}'",
                prev,
                hint="add the missing operand",
            )
        if tok.kind == ")":
            if prev is not None and prev.kind == "(":
                top = self.pending[-1] if self.pending else None
                if top is not None and top.kind == "call":
                    return self.error(f"{top.token.text}() needs an argument", tok)
                return self.error("empty parentheses", prev, tok.end)
            if prev is not None and prev.kind == ",":
                return self.error("missing argument after ','", prev)
            return self.error("unexpected ')'", tok)
        if tok.kind == ",":
            return self.error("missing argument before ','", tok)
        if prev is not None and prev.kind == "op":
            return self.error(
                f"operator '{tok.text}' cannot follow '{prev.text}'",
                tok,
                hint="an operand (a number, a name or '(') must come between two operators",
            )
        return self.error(f"expression cannot start with '{tok.text}'", tok)

    def name(self, i: int) -> int:
        tok, nxt = self.tokens[i], self.tokens[i + 1]
        word = tok.text
        if nxt.kind == "(":
            if word in FUNCTIONS:
                self.push(_Pending("call", tok, FUNCTIONS[word], args=1))
                return i + 2
            if word in CONSTANTS:
                raise self.error(
                    f"'{word}' is a constant, not a function",
                    tok,
                    hint=f"write {word}*( ... ) to multiply",
                )
            guess = suggest_function(word)
            hint = f"did you mean '{guess}'?" if guess else "functions: " + ", ".join(FUNCTIONS)
            raise self.error(f"unknown function '{word}'", tok, hint=hint)
        if word in FUNCTIONS:
            raise self.error(
                f"'{word}' is a function; call it with parentheses", tok, hint=f"write {word}(x)"
            )
        if word in _NOT_NUMBERS:
            raise self.error(f"'{word}' is not allowed: {_NOT_NUMBERS[word]}", tok)
        if word in _KEYWORDS:
            raise self.error(f"'{word}' is a Python keyword; expressions are not Python", tok)
        if word in CONSTANTS:
            self.emit(
                Node("constant", name=word, start=tok.start, end=tok.end),
                tok.start,
                tok.end,
                CONSTANTS[word],
            )
        else:
            self.emit(Node("variable", name=word, start=tok.start, end=tok.end), tok.start, tok.end)
        return i + 1

    def close(self, tok: Token) -> None:
        self.reduce_while(0, False)
        if not self.pending:
            raise self.error("unmatched ')'", tok)
        top = self.pending.pop()
        if top.kind == "paren":
            inner = self.operands[-1]
            inner.start, inner.end = top.token.start, tok.end
            return
        assert top.op is not None
        if top.args != top.op.arity:
            raise ParseError(
                f"{top.op.name}() takes {top.op.arity} argument{'s' * (top.op.arity != 1)}, "
                f"got {top.args}",
                self.source,
                top.token.start,
                tok.end,
            )
        self.apply(top, tok.end)

    def comma(self, tok: Token) -> None:
        self.reduce_while(0, False)
        top = self.pending[-1] if self.pending else None
        if top is None or top.kind != "call":
            raise self.error(
                "only one expression is allowed here",
                tok,
                hint="',' separates function arguments, as in max(x, y)",
            )
        top.args += 1

    def finish(self, tok: Token) -> None:
        self.reduce_while(0, False)
        if self.pending:
            top = self.pending[-1]
            paren = top.token.end if top.kind == "call" else top.token.start
            raise ParseError("unclosed '('", self.source, paren, hint="add the missing ')'")
        assert len(self.operands) == 1, self.operands


__all__ = ["OPS", "parse", "suggest_function"]
