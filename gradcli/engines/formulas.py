"""The local rules (``exact/_rules.py``: each operation's partial derivatives, derived by SymPy)
compiled into functions of the operands, in any engine's arithmetic.

A formula calls operations by their op-table names; compiled for the exact engine, a call runs
the row's ``exact`` column with the exact namespace, for the screen its ``screen`` column with
the bounded namespace. So both engines evaluate SymPy's derivatives with their own kernels, and
a new row needs no code here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

from ..language.ops import OPS
from .exact._rules import RULES

Compiled = Callable[[Sequence[Any]], Any]


def compile_formula(f: tuple[Any, ...], column: str, ns: Any) -> Compiled:
    """A function that evaluates ``f`` with the op table's ``column`` (``exact`` or ``screen``)
    in the namespace ``ns`` (which gives ``rational``, ``pi`` and ``e``). It takes the operands
    followed by the operation's own value: ``(u, v, f(u, v))``."""
    tag = f[0]
    if tag == "self":
        return lambda a: a[-1]
    if tag == "arg":
        i = f[1]
        return lambda a: a[i]
    if tag in ("num", "pi", "E"):
        c = ns.rational(f[1], f[2]) if tag == "num" else (ns.pi if tag == "pi" else ns.e)()
        return lambda a: c
    if tag == "call":
        fn = getattr(OPS[f[1]], column)
        args = [compile_formula(g, column, ns) for g in f[2:]]
        if len(args) == 1:
            only = args[0]
            return lambda a: fn(ns, only(a))
        return lambda a: fn(ns, *(g(a) for g in args))
    parts = [compile_formula(g, column, ns) for g in f[1:]]
    if tag == "add":
        return lambda a: reduce(operator.add, [p(a) for p in parts])
    if tag == "mul":
        if f[1] == ("num", -1, 1) and len(parts) == 2:
            rest = parts[1]
            return lambda a: -rest(a)
        return lambda a: reduce(operator.mul, [p(a) for p in parts])
    if tag == "pow":
        base, exponent = parts
        power = getattr(OPS["pow"], column)
        if f[2][0] == "num":  # the common exponents, without a general power
            p, q = f[2][1], f[2][2]
            if (p, q) == (-1, 1):
                return lambda a: 1 / base(a)
            if (p, q) == (2, 1):
                return lambda a: _square(base(a))
            if (p, q) == (-2, 1):
                return lambda a: 1 / _square(base(a))
        return lambda a: power(ns, base(a), exponent(a))
    raise ValueError(f"unknown formula {f!r}")


def compile_magnitude(
    f: tuple[Any, ...], column: str, ns: Any, size: Callable[[Any], Any]
) -> Compiled:
    """A function of the operands giving the size of the terms ``f`` adds up: sums and
    products taken term by term in magnitude (``1 - tanh(u)**2`` has size ``1 + tanh(u)**2``),
    any other part (a power, a call) by the magnitude of its value. This is the scale of the
    rounding the formula suffers, for the tolerance's absolute term. ``size`` turns a value of
    the arithmetic into its magnitude."""
    tag = f[0]
    if tag in ("add", "mul"):
        parts = [compile_magnitude(g, column, ns, size) for g in f[1:]]
        if tag == "add":
            return lambda a: sum(p(a) for p in parts)
        return lambda a: reduce(operator.mul, [p(a) for p in parts])
    value = compile_formula(f, column, ns)
    return lambda a: size(value(a))


def _square(x: Any) -> Any:
    return x * x  # (the base evaluated once: it may be tan(u))


class Partials:
    """Every operation's compiled partial derivatives in one arithmetic, compiled on first use."""

    def __init__(self, column: str, ns: Any, size: Callable[[Any], Any] | None = None) -> None:
        self.column, self.ns, self.size = column, ns, size
        self.cache: dict[str, tuple[Compiled, ...]] = {}
        self.sizes: dict[str, tuple[Compiled | None, ...]] = {}

    def __getitem__(self, op: str) -> tuple[Compiled, ...]:
        compiled = self.cache.get(op)
        if compiled is None:
            compiled = tuple(compile_formula(p, self.column, self.ns) for p in RULES[op])
            self.cache[op] = compiled
        return compiled

    def magnitudes(self, op: str) -> tuple[Compiled | None, ...]:
        """The size of the terms of each partial (see :func:`compile_magnitude`); None where
        the partial is no sum or product, so its size is that of its value."""
        compiled = self.sizes.get(op)
        if compiled is None:
            assert self.size is not None
            compiled = tuple(
                compile_magnitude(p, self.column, self.ns, self.size)
                if p[0] in ("add", "mul")
                else None
                for p in RULES[op]
            )
            self.sizes[op] = compiled
        return compiled


def has_rules(op: str) -> bool:
    return op in RULES


__all__ = ["Partials", "compile_formula", "compile_magnitude", "has_rules"]
