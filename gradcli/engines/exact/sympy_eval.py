"""SymPy expressions evaluated in proven arithmetic, at the exact binary point torch sees.

SymPy's derivative of the whole expression is walked node by node (iteratively: a derivative
can be deep) and each node is computed with the op table's exact kernels, so ``(x - 1)**2`` at
1 is an exact 0 and a cancellation SymPy's own algebra did not see is still exact where the
numbers are rational. Nothing is substituted into SymPy and nothing is simplified: SymPy's
``subs`` and ``evalf`` would try exact arithmetic that can run for hours (a power with a 53-bit
rational exponent) or answer 4.4e-280 for an exact zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

import sympy as sp

from ...language.ops import OPS
from ...language.values import round_to
from ...limits import PRECISION_CAP, SETTLED_BITS, START_BITS
from .. import symbolic
from . import real
from .functions import X
from .real import FINITE, Kind, Real, Undecided


@cache
def heads() -> dict[Any, str]:
    """SymPy's function classes, mapped to the op table's names (from its sympy column)."""
    u, v = sp.Symbol("u", real=True), sp.Symbol("v", real=True)
    out: dict[Any, str] = {sp.exp: "exp", sp.Max: "max", sp.Min: "min"}
    for op in OPS.values():
        if not op.elementwise:
            continue
        operands = (u, v)[: op.arity]
        e = op.sympy(symbolic.S, *operands)
        if isinstance(e, sp.Function) and e.args == operands:
            out.setdefault(type(e), op.name)
    return out


def _key(x: Real) -> Any:
    return ("q", x.q) if x.kind is Kind.EXACT else id(x)


class Evaluator:
    """Evaluates SymPy expressions with the symbols bound to exact numbers."""

    def __init__(self, subs: Mapping[sp.Symbol, Real]) -> None:
        self.subs = dict(subs)
        self.memo: dict[Any, Real] = {}
        self.calls: dict[Any, Real] = {}  #: (op, operand keys) -> the same value object
        self.heads = heads()

    def __call__(self, e: sp.Expr) -> Real:
        memo = self.memo
        if e in memo:
            return memo[e]
        stack: list[tuple[sp.Basic, bool]] = [(e, False)]
        while stack:
            node, ready = stack.pop()
            if node in memo:
                continue
            if not ready and node.args and not isinstance(node, (sp.Rational, sp.Float)):
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in memo)
                continue
            try:
                memo[node] = self._one(node)
            except Undecided:
                memo[node] = real.unknown("a comparison not decided at this precision")
        result = memo[e]
        assert isinstance(result, Real)
        return result

    def _one(self, node: sp.Basic) -> Real:
        memo = self.memo
        if isinstance(node, sp.Symbol):
            got = self.subs.get(node)
            return got if got is not None else real.unknown(f"no value for {node}")
        if node.is_Rational:
            return real.rational(int(node.p), int(node.q))
        if isinstance(node, sp.Float):
            sign, man, exp, _ = node._mpf_
            mantissa = real.rational(int(man) * (-1 if sign else 1))
            return real.mul(mantissa, real.power(real.rational(2), real.rational(int(exp))))
        if node is sp.pi:
            return real.pi()
        if node is sp.E:
            return X.e()
        if node is sp.oo:
            return real.pos_inf("infinity")
        if node is sp.S.NegativeInfinity:
            return real.neg_inf("infinity")
        if node is sp.zoo:
            return real.pole("a pole")
        if node is sp.nan:
            return real.undefined("0/0 in SymPy's formula")
        if node is sp.I:
            return real.not_real("the imaginary unit")
        args = [memo[a] for a in node.args]
        if node.is_Add:
            return self._sum(node, args)
        if node.is_Mul:
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if node.is_Pow:
            return real.power(args[0], args[1])
        if isinstance(node, sp.Heaviside):
            s = args[0].decided_sign() if args[0].kind in FINITE else None
            if s is None:
                return real.unknown("Heaviside of an undecided number")
            if s == 0:
                return args[1] if len(args) > 1 else real.rational(1, 2)
            return real.ONE if s > 0 else real.ZERO
        if isinstance(node, sp.DiracDelta):
            return real.ZERO if not X.zero(args[0]) else real.undefined("DiracDelta at 0")
        name = self.heads.get(type(node))
        if name is None:
            return real.unknown(f"SymPy's {type(node).__name__} is not known to the evaluator")
        fn = OPS[name].exact
        if name in ("max", "min") and len(args) > 2:
            out = args[0]
            for a in args[1:]:
                out = fn(X, out, a)
            return out
        if name == "log" and len(args) == 2:  # log(u, base)
            return X.log(args[0]) / X.log(args[1])
        key = (name, tuple(_key(a) for a in args))
        known = self.calls.get(key)
        if known is None:
            known = fn(X, *args)
            self.calls[key] = known
        return known

    def _sum(self, node: sp.Basic, args: Sequence[Real]) -> Real:
        """A sum, with terms that are the same number times rational coefficients collected
        first (so sin(x) - sin(1) at x = 1 is exactly 0)."""
        collected: dict[Any, tuple[Real, Real]] = {}
        for term, value in zip(node.args, args, strict=True):
            coefficient, base = real.ONE, value
            if term.is_Mul and term.args[0].is_Rational and len(term.args) == 2:
                coefficient, base = self.memo[term.args[0]], self.memo[term.args[1]]
            key = _key(base)
            if key in collected:
                c, b = collected[key]
                collected[key] = (c + coefficient, b)
            else:
                collected[key] = (coefficient, base)
        out = real.ZERO
        for c, b in collected.values():
            if c.kind is Kind.EXACT and c.q == 0:
                continue
            out = out + (b if c.kind is Kind.EXACT and c.q == 1 else c * b)
        return out


def exact_subs(
    sym: symbolic.Symbolic, point: Mapping[str, Any], dtype: str
) -> dict[sp.Symbol, Real]:
    """Every symbol's exact value: placeholders, and each variable element at the exact binary
    number torch sees (rounded to ``dtype`` first)."""

    subs: dict[sp.Symbol, Real] = {}
    for symbol, value in sym.exact_subs.items():
        subs[symbol] = real.rational(int(value.p), int(value.q))
    for name, value in point.items():
        numbers = value.data if hasattr(value, "data") else (value,)
        for (_, symbol), number in zip(sym.elements.get(name, ()), numbers, strict=False):
            subs[symbol] = real.of_float(round_to(float(number), dtype))
    return subs


def settled(x: Real) -> bool:
    if x.kind is Kind.BALL:
        return not x.b.contains(0) and x.b.rel_accuracy_bits() >= SETTLED_BITS
    return x.kind is not Kind.UNKNOWN


def magnitude(ev: Evaluator, e: sp.Expr) -> float:
    """The size of the terms SymPy's formula adds up (the sum of their magnitudes; the
    formula's own magnitude when it is no sum): the scale of the number's rounding."""
    terms = e.args if e.is_Add else (e,)
    total = 0.0
    for term in terms:
        value = ev.memo.get(term)
        if value is None:
            continue
        size = abs(float(value))
        total += size if size == size else float("inf")
    return total


def refine(
    exprs: Sequence[sp.Expr], subs: Mapping[sp.Symbol, Real], cap: int = PRECISION_CAP
) -> Iterator[tuple[int, list[Real], list[float]]]:
    """The expressions' exact values at rising precision (x4 each time) until all are settled
    or at ``cap`` bits: (bits, values, magnitudes) each time; the caller takes the last it had
    time for."""
    bits = START_BITS
    while True:
        with real.working_precision(bits):
            ev = Evaluator(subs)
            values = [ev(e) for e in exprs]
        yield bits, values, [magnitude(ev, e) for e in exprs]
        if all(settled(v) for v in values) or bits >= cap:
            return
        bits = min(cap, bits * 4)


def final(
    exprs: Sequence[sp.Expr], subs: Mapping[sp.Symbol, Real], cap: int = PRECISION_CAP
) -> list[Real]:
    """The values :func:`refine` settles on (with no time limit of its own)."""
    values: list[Real] = []
    for _, got, _ in refine(exprs, subs, cap):
        values = got
    return values


__all__ = ["Evaluator", "exact_subs", "final", "heads", "magnitude", "refine", "settled"]
