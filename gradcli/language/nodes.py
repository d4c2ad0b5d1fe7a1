"""The expression tree, stored flat.

A parsed expression is a tuple of :class:`Node` in post-order: every node comes after its
operands, and the root is last. Operands are referred to by index. Storing the tree flat means
that every walk over it is a plain loop, so a sum of 10,000 terms or a long chain of nested
calls never meets Python's recursion limit, and two trees compare equal with ``==`` without
recursion either.
"""

from __future__ import annotations

from collections.abc import Callable
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

    def height(self) -> int:
        """Operations on the longest path from a leaf to the root."""
        heights: list[int] = []
        for node in self.nodes:
            heights.append(1 + max((heights[a] for a in node.args), default=-1))
        return heights[-1] if heights else 0

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


#: the operations torch records by their operands' kinds when one is a Python number
ARITHMETIC = frozenset({"add", "sub", "mul", "div", "pow"})


def literal_operands(expr: Expr) -> dict[int, tuple[int, int | float]]:
    """The arithmetic operations with one number literal among their two operands: (which
    operand, the number as Python writes it: 2, not 2.0). torch gets it as a Python number,
    as in the code a learner writes (``x**2``, ``1 - x``), so the recorded graph and its
    grad_fn names are the ones they would see."""
    found: dict[int, tuple[int, int | float]] = {}
    for i, node in enumerate(expr.nodes):
        if node.kind != "op" or node.op not in ARITHMETIC:
            continue
        literal = [k for k, a in enumerate(node.args) if expr.nodes[a].kind == "number"]
        if len(literal) != 1:
            continue
        value = float(expr.nodes[node.args[literal[0]]].value)
        number: int | float = int(value) if value.is_integer() and abs(value) < 2**31 else value
        found[i] = (literal[0], number)
    return found


def live_nodes(expr: Expr) -> list[bool]:
    """Nodes a gradient flows back through: they depend on a variable, not through detach."""
    live: list[bool] = []
    for node in expr.nodes:
        if node.kind == "variable":
            live.append(True)
        elif node.kind == "op" and OPS[node.op].passes_gradient:
            live.append(any(live[a] for a in node.args))
        else:
            live.append(False)
    return live


#: ``atom(index, node)``: the text of a number, variable or constant in another language
Atom = Callable[[int, Node], str]
#: ``call(node, operand texts, which operands are atoms)``: a function call's text
Call = Callable[[Node, list[str], list[bool]], str]


def to_text(
    expr: Expr, index: int | None = None, atom: Atom | None = None, call: Call | None = None
) -> str:
    """Print a (sub)tree in gradcli's language with only the parentheses it needs.

    Parsing the result gives back an equal tree (spans aside). Iterative: each node's text is
    built from its operands' texts, which come earlier in post-order. ``atom`` and ``call``
    write leaves and function calls otherwise (Python with torch: the operators, their
    precedence and associativity are Python's own).
    """
    stop = expr.root if index is None else index
    texts: list[str] = []
    strength: list[int] = []  # how tightly each printed node binds (higher = tighter)
    tight = POWER + 1  # an atom or a call
    for i, node in enumerate(expr.nodes[: stop + 1]):
        if node.kind != "op":
            if atom is not None:
                texts.append(atom(i, node))
            else:
                texts.append(node.text if node.kind == "number" else node.name)
            strength.append(tight)
            continue
        op = OPS[node.op]
        parts = [texts[a] for a in node.args]
        if op.symbol is None:
            if call is not None:
                texts.append(call(node, parts, [strength[a] == tight for a in node.args]))
            else:
                texts.append(f"{op.name}({', '.join(parts)})")
            strength.append(tight)
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


def subtree_starts(expr: Expr) -> list[int]:
    """For every node, the index where its subtree begins (subtrees are contiguous in
    post-order)."""
    starts: list[int] = []
    for i, node in enumerate(expr.nodes):
        starts.append(starts[node.args[0]] if node.args else i)
    return starts


def substitute(
    template: Expr, bindings: dict[str, tuple[Expr, int]], starts: list[int] | None = None
) -> Expr:
    """``template`` with each variable named in ``bindings`` replaced by a subtree of another
    expression: ``bindings["u"] = (expr, index)`` puts the subtree rooted at ``index`` there.
    ``starts`` is :func:`subtree_starts` of that expression, when the caller has it (working it
    out for every node of a large expression would take quadratic time).

    Used to write a local derivative such as ``cos(u)`` in the user's terms: ``cos(x**2)``.
    """
    out: list[Node] = []
    new_index: list[int] = []  # template index -> index in out
    for node in template.nodes:
        if node.kind == "variable" and node.name in bindings:
            source, root = bindings[node.name]
            start = (starts if starts is not None else subtree_starts(source))[root]
            offset = len(out) - start
            for copied in source.nodes[start : root + 1]:
                out.append(
                    Node(
                        copied.kind,
                        copied.op,
                        tuple(a + offset for a in copied.args),
                        copied.name,
                        copied.value,
                        copied.text,
                    )
                )
            new_index.append(len(out) - 1)
            continue
        args = tuple(new_index[a] for a in node.args)
        out.append(Node(node.kind, node.op, args, node.name, node.value, node.text))
        new_index.append(len(out) - 1)
    return Expr("", tuple(out))


def tidy(expr: Expr) -> Expr:
    """Fold number-only arithmetic and drop multiplications by 1 and powers of 1, so a local
    derivative reads ``2*x`` rather than ``2*x**(2-1)``. The value is unchanged."""
    out: list[Node] = []
    new_index: list[int] = []
    for node in expr.nodes:
        args = tuple(new_index[a] for a in node.args)
        operands = [out[a] for a in args]
        numbers = [_number_value(out, a) for a in args]
        op = OPS.get(node.op) if node.kind == "op" else None
        if op is not None and op.fold and all(v is not None for v in numbers):
            try:
                value = op.fold(*numbers)
            except (ArithmeticError, ValueError):
                value = None
            text = _short_number(value)
            if value is not None and text is not None:
                out.append(Node("number", value=abs(float(value)), text=text))
                if value < 0:  # there are no negative literals: -0.5 is neg(0.5)
                    out.append(Node("op", "neg", (len(out) - 1,)))
                new_index.append(len(out) - 1)
                continue
        if op is not None and node.op in ("mul", "pow"):
            left, right = operands
            if right.kind == "number" and right.value == 1:
                new_index.append(args[0])  # u*1, u**1 -> u
                continue
            if node.op == "mul" and left.kind == "number" and left.value == 1:
                new_index.append(args[1])  # 1*u -> u
                continue
        out.append(Node(node.kind, node.op, args, node.name, node.value, node.text))
        new_index.append(len(out) - 1)
    # Keep only what the root still reaches, in post-order.
    return _reachable(out, new_index[-1])


def _number_value(nodes: list[Node], i: int) -> float | None:
    """The value of a literal or a negated literal, else None."""
    node = nodes[i]
    if node.kind == "number":
        return node.value
    if node.kind == "op" and node.op == "neg" and nodes[node.args[0]].kind == "number":
        return -nodes[node.args[0]].value
    return None


def _short_number(value: float | None) -> str | None:
    """Literal text for ``|value|`` if it is short (``2``, ``0.5``), else None."""
    if value is None or value != value or abs(value) == float("inf"):
        return None
    magnitude = abs(float(value))
    text = str(int(magnitude)) if magnitude.is_integer() and magnitude < 1e15 else repr(magnitude)
    return text if len(text) <= 8 and "e" not in text else None


def _reachable(nodes: list[Node], root: int) -> Expr:
    keep: list[int] = []
    stack = [(root, False)]
    while stack:
        i, expanded = stack.pop()
        if expanded:
            keep.append(i)
            continue
        stack.append((i, True))
        stack.extend((a, False) for a in reversed(nodes[i].args))
    renumber: dict[int, int] = {}
    out: list[Node] = []
    for i in keep:
        if i in renumber:
            continue
        n = nodes[i]
        out.append(Node(n.kind, n.op, tuple(renumber[a] for a in n.args), n.name, n.value, n.text))
        renumber[i] = len(out) - 1
    return Expr("", tuple(out))
