"""The expression tree, stored flat.

A parsed expression is a tuple of :class:`Node` in post-order: every node comes after its
operands, and the root is last. Operands are referred to by index. Storing the tree flat means
that every walk over it is a plain loop, so a sum of 10,000 terms or a long chain of nested
calls never meets Python's recursion limit, and two trees compare equal with ``==`` without
recursion either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .ops import OPS, POWER, SIGN

Kind = Literal["number", "variable", "constant", "op"]


@dataclass(frozen=True, slots=True)
class Node:
    """One node: a number, a variable, a named constant, or an operation from the table."""

    kind: Kind
    op: str = ""  #: the op-table name, for kind == "op"
    args: tuple[int, ...] = ()  #: indices of the operands in :attr:`Expr.nodes`
    name: str = ""  #: variable or constant name
    value: float = 0.0  #: the float64 value of a number literal
    text: str = ""  #: the literal as written, for numbers
    start: int = field(default=0, compare=False)  #: 0-based offset of the node's first character
    end: int = field(default=0, compare=False)  #: offset just past the node's last character


@dataclass(frozen=True)
class Expr:
    """A parsed expression: its source text and its nodes in post-order (root last)."""

    source: str = field(compare=False)
    nodes: tuple[Node, ...]

    @property
    def root(self) -> int:
        return len(self.nodes) - 1

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in order of first appearance."""
        seen: dict[str, None] = {}
        for node in self.nodes:
            if node.kind == "variable":
                seen.setdefault(node.name)
        return tuple(seen)

    def text_of(self, index: int) -> str:
        """The sub-expression of node ``index`` exactly as the user wrote it."""
        node = self.nodes[index]
        return self.source[node.start : node.end]

    def depends(self) -> list[frozenset[str]]:
        """For every node, the variables its value depends on (through any path)."""
        out: list[frozenset[str]] = []
        for node in self.nodes:
            if node.kind == "variable":
                out.append(frozenset((node.name,)))
            else:
                acc: frozenset[str] = frozenset()
                for a in node.args:
                    acc |= out[a]
                out.append(acc)
        return out


def to_text(expr: Expr, index: int | None = None) -> str:
    """Print a (sub)tree in gradcli's language with only the parentheses it needs.

    Parsing the result gives back an equal tree (spans aside). Iterative: each node's text is
    built from its operands' texts, which come earlier in post-order.
    """
    stop = expr.root if index is None else index
    texts: list[str] = []
    strength: list[int] = []  # how tightly each printed node binds (higher = tighter)
    atom = POWER + 1
    for node in expr.nodes[: stop + 1]:
        if node.kind == "number":
            texts.append(node.text)
            strength.append(atom)
            continue
        if node.kind in ("variable", "constant"):
            texts.append(node.name)
            strength.append(atom)
            continue
        op = OPS[node.op]
        parts = [texts[a] for a in node.args]
        if op.symbol is None:
            texts.append(f"{op.name}({', '.join(parts)})")
            strength.append(atom)
            continue
        if op.arity == 1:
            # Unary signs bind looser than **: -x**2 is -(x**2), so a power operand is bare.
            inner = parts[0]
            if strength[node.args[0]] < SIGN:
                inner = f"({inner})"
            texts.append(f"{op.symbol}{inner}")
            strength.append(SIGN)
            continue
        left, right = node.args
        lt, rt = parts
        if op.precedence == POWER:
            # Right-associative, and the base may not be a signed term: (-x)**2.
            if strength[left] <= POWER:
                lt = f"({lt})"
            if strength[right] < SIGN:
                rt = f"({rt})"
        else:
            if strength[left] < op.precedence:
                lt = f"({lt})"
            if strength[right] <= op.precedence:
                rt = f"({rt})"
        texts.append(f"{lt}{op.symbol}{rt}")
        strength.append(op.precedence)
    return texts[stop]
