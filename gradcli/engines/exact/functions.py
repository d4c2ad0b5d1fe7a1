"""The exact engine's vocabulary: what the op table's ``exact`` column sees as ``X``.

Each function takes and returns :class:`~gradcli.engines.exact.real.Real`. At the rational points
where an elementary function has a rational value (``sin(0)``, ``cos(0)``, ``log(1)``,
``sqrt(9/4)``) the result is that exact number; elsewhere it is a ball from FLINT (by
Lindemann-Weierstrass, those values are irrational, so nothing exact is lost). Domain edges and
infinities follow the limits from inside the real domain: ``log(0) = -inf``, ``atanh(1) =
+inf``, ``exp(-inf) = +0``; where no limit exists the result says so (``sin(inf)`` is
undefined).

The predicates (:meth:`Namespace.zero`, :meth:`Namespace.equal`, ...) answer for the exact
numbers, and raise :class:`~gradcli.engines.exact.real.Undecided` when the balls cannot tell at
this precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import real
from .balls import arb, fmpq, fmpz
from .real import FINITE, INFINITE, NUMBERS, ONE, ZERO, Kind, Real, Undecided


def _zero_like(x: Real, side: int = 0) -> Real:
    return Real(Kind.EXACT, fmpq(0), side=side)


def _bounded_limit(x: Real, at_pos: Any, at_neg: Any, what: str) -> Real:
    """A function with finite limits at +-inf (and so for HUGE): those limits."""
    if x.kind is Kind.INF:
        return real.undefined(f"{what} of an unsigned infinity")
    if x.kind is Kind.POS_INF or (x.kind is Kind.HUGE and x.side > 0):
        value: Real = at_pos()
    else:
        value = at_neg()
    if x.kind is Kind.HUGE and value.kind in NUMBERS:  # (the limit, to within 1/HUGE)
        value = real.ball(value.arb() + arb(0, arb(2) ** (-(fmpz(2) ** 60))))
    return value


class Namespace:
    """Exact and ball arithmetic by operation (``X.sin(u)``, ``X.pow(u, v)``, ...)."""

    Undecided = Undecided

    # -- building blocks -----------------------------------------------------------------------

    @staticmethod
    def rational(p: int, q: int = 1) -> Real:
        return real.rational(p, q)

    @staticmethod
    def pi() -> Real:
        return real.pi()

    @staticmethod
    def e() -> Real:
        return real.ball(arb(1).exp())

    @staticmethod
    def arb_call(name: str, *args: Real) -> Real:
        """FLINT's ball function ``name`` on finite numbers."""
        return real.arb_call(name, *args)

    @staticmethod
    def undefined(why: str) -> Real:
        return real.undefined(why)

    @staticmethod
    def not_real(why: str) -> Real:
        return real.not_real(why)

    @staticmethod
    def sign_of(x: Real) -> int:
        """-1, 0 or 1, or :class:`Undecided`."""
        return x.decided_sign()

    @staticmethod
    def positive(x: Real) -> bool:
        """Whether ``x`` is proven positive (False when not, or not known)."""
        return x.sign() == 1

    @staticmethod
    def zero(x: Real) -> bool:
        """Whether ``x`` is exactly 0 (False for what is no number)."""
        if x.kind is Kind.EXACT:
            return bool(x.q == 0)
        if x.kind is Kind.BALL:
            if x.b.contains(0):
                raise Undecided
            return False
        if x.kind is Kind.UNKNOWN:
            raise Undecided
        return False

    @classmethod
    def all_zero(cls, *xs: Real) -> bool:
        return all(cls.zero(x) for x in xs)

    @classmethod
    def equal(cls, x: Real, y: Real) -> bool:
        """Whether two numbers are exactly equal (a tie of min or max)."""
        if x is y and x.kind in FINITE:
            return True  # (the same operation on the same numbers)
        if x.kind in NUMBERS and y.kind in NUMBERS:
            return cls.zero(x - y)
        if Kind.UNKNOWN in (x.kind, y.kind):
            raise Undecided
        return False

    # -- the arithmetic ------------------------------------------------------------------------

    @staticmethod
    def pow(x: Real, y: Real) -> Real:
        return real.power(x, y)

    # -- elementary functions ------------------------------------------------------------------

    @staticmethod
    def sin(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().sin())
        if x.kind is Kind.HUGE:
            return real.ball(arb(0, 1))  # (some number in [-1, 1])
        return _fail(x, "sin of an infinity")

    @staticmethod
    def cos(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return ONE
        if x.kind in NUMBERS:
            return real.ball(x.arb().cos())
        if x.kind is Kind.HUGE:
            return real.ball(arb(0, 1))
        return _fail(x, "cos of an infinity")

    @staticmethod
    def tan(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().tan())  # (not finite where the ball holds a pole)
        if x.kind is Kind.HUGE:
            return real.unknown("tan of a number beyond range")
        return _fail(x, "tan of an infinity")

    @staticmethod
    def asin(x: Real) -> Real:
        return _inverse_trig(x, "asin", zero_at=0)

    @staticmethod
    def acos(x: Real) -> Real:
        return _inverse_trig(x, "acos", zero_at=1)

    @staticmethod
    def atan(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().atan())
        return _bounded_limit(
            x, lambda: real.ball(arb.pi() / 2), lambda: real.ball(-arb.pi() / 2), "atan"
        )

    @staticmethod
    def sinh(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return _growth(x, x.arb().sinh(), odd=True)
        if x.kind in (Kind.POS_INF, Kind.NEG_INF, Kind.HUGE):
            return x
        return _fail(x, "sinh of an unsigned infinity")

    @staticmethod
    def cosh(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return ONE
        if x.kind in NUMBERS:
            return _growth(x, x.arb().cosh(), odd=False)
        if x.kind in (Kind.POS_INF, Kind.NEG_INF, Kind.INF):
            return real.pos_inf("cosh of an infinity")
        if x.kind is Kind.HUGE:
            return real.huge(1, "cosh beyond range")
        return _fail(x, "")

    @staticmethod
    def tanh(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().tanh())
        return _bounded_limit(x, lambda: ONE, lambda: real.rational(-1), "tanh")

    @staticmethod
    def asinh(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().asinh())
        if x.kind in (Kind.POS_INF, Kind.NEG_INF):
            return x
        if x.kind is Kind.HUGE:
            return real.unknown("asinh of a number beyond range")
        return _fail(x, "asinh of an unsigned infinity")

    @staticmethod
    def acosh(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 1:
            return _zero_like(x, side=1)
        if x.kind in NUMBERS:
            c = real.compare(x, ONE)
            if c is None:
                return real.unknown("acosh of a number not separated from 1")
            if c < 0:
                return real.not_real("acosh below 1")
            return real.ball(x.arb().acosh())
        if x.kind is Kind.POS_INF:
            return x
        if x.kind is Kind.HUGE:
            return (
                real.unknown("acosh of a number beyond range")
                if x.side > 0
                else real.not_real("acosh below 1")
            )
        if x.kind is Kind.NEG_INF:
            return real.not_real("acosh below 1")
        return _fail(x, "acosh of an unsigned infinity")

    @staticmethod
    def atanh(x: Real) -> Real:
        if x.kind is Kind.EXACT:
            if x.q == 0:
                return x
            if x.q == 1:
                return real.pos_inf("atanh at 1")
            if x.q == -1:
                return real.neg_inf("atanh at -1")
        if x.kind in NUMBERS:
            inside = real.compare(abs_real(x), ONE)
            if inside is None:
                return real.unknown("atanh of a number not separated from +-1")
            if inside > 0:
                return real.not_real("atanh outside (-1, 1)")
            return real.ball(x.arb().atanh())
        return _fail(x, "atanh outside (-1, 1)", not_real=True)

    @staticmethod
    def exp(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return ONE
        if x.kind in NUMBERS:
            r = x.arb().exp()
            if r.is_finite():
                return real.ball(r)
            return real.huge(1, "exp beyond range") if x.sign() == 1 else real.tiny(1)
        if x.kind is Kind.POS_INF:
            return x
        if x.kind is Kind.NEG_INF:
            return _zero_like(x, side=1)
        if x.kind is Kind.HUGE:
            return real.huge(1, "exp beyond range") if x.side > 0 else real.tiny(1)
        return _fail(x, "exp of an unsigned infinity")

    @staticmethod
    def log(x: Real) -> Real:
        if x.kind is Kind.EXACT:
            if x.q == 1:
                return ZERO
            if x.q == 0:
                return real.neg_inf("log of 0")
            if x.q < 0:
                return real.not_real("log of a negative number")
            return real.ball(x.arb().log())
        if x.kind is Kind.BALL:
            s = x.sign()
            if s is None:
                return real.unknown("log of a number not separated from 0")
            if s < 0:
                return real.not_real("log of a negative number")
            return real.ball(x.b.log())
        if x.kind is Kind.POS_INF:
            return x
        if x.kind is Kind.HUGE:
            return (
                real.unknown("log of a number beyond range")
                if x.side > 0
                else real.not_real("log of a negative number")
            )
        return _fail(x, "log of a negative infinity", not_real=True)

    @classmethod
    def log_base(cls, x: Real, base: int) -> Real:
        """log2, log10: exact at the exact powers of the base."""
        if x.kind is Kind.EXACT and x.q > 0:
            for num, den, sign in ((x.q.p, x.q.q, 1), (x.q.q, x.q.p, -1)):
                if den == 1 and num > 0:
                    k = 0
                    n = fmpz(num)
                    while n % base == 0:
                        n //= base
                        k += 1
                    if n == 1:
                        return real.rational(sign * k)
        value = cls.log(x)
        if value.kind in NUMBERS:
            return real.ball(value.arb() / arb(base).log())
        return value

    @staticmethod
    def sqrt(x: Real) -> Real:
        if x.kind in FINITE and x.sign() == -1:
            return real.not_real("sqrt of a negative number")
        return real.power(x, real.rational(1, 2))

    @staticmethod
    def abs(x: Real) -> Real:
        return abs_real(x)

    @staticmethod
    def sign(x: Real) -> Real:
        if x.kind in FINITE or x.kind in (Kind.POS_INF, Kind.NEG_INF):
            s = x.sign()
            if s is None:
                return real.unknown("sign of a number not separated from 0")
            return real.rational(s)
        return _fail(x, "sign of an unsigned infinity")

    @staticmethod
    def step(x: Real) -> Real:
        if x.kind in FINITE or x.kind in (Kind.POS_INF, Kind.NEG_INF):
            s = x.sign()
            if s is None:
                return real.unknown("step of a number not separated from 0")
            return ONE if s > 0 else ZERO
        return _fail(x, "step of an unsigned infinity")

    @classmethod
    def sigmoid(cls, x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return real.rational(1, 2)
        if x.kind in INFINITE or x.kind is Kind.HUGE:
            return _bounded_limit(x, lambda: ONE, lambda: _zero_like(x, 1), "sigmoid")
        return ONE / (ONE + cls.exp(-x))

    @staticmethod
    def relu(x: Real) -> Real:
        if x.kind is Kind.BALL:
            return real.ball(x.b.max(0)) if x.sign() is None else (x if x.b > 0 else ZERO)
        if x.kind in FINITE or x.kind in (Kind.POS_INF, Kind.NEG_INF):
            s = x.sign()
            if s is None:
                return real.unknown("relu of an undecided number")
            return x if s > 0 else _zero_like(x, side=1)
        return _fail(x, "relu of an unsigned infinity")

    @classmethod
    def softplus(cls, x: Real) -> Real:
        if x.kind in NUMBERS:
            return cls.log(ONE + cls.exp(x)) if x.sign() != 1 else x + cls.log(ONE + cls.exp(-x))
        if x.kind in (Kind.POS_INF, Kind.HUGE) and x.sign() == 1:
            return x
        if x.kind in (Kind.NEG_INF, Kind.HUGE):
            return _zero_like(x, side=1) if x.kind is Kind.NEG_INF else real.tiny(1)
        return _fail(x, "softplus of an unsigned infinity")

    @staticmethod
    def erf(x: Real) -> Real:
        if x.kind is Kind.EXACT and x.q == 0:
            return x
        if x.kind in NUMBERS:
            return real.ball(x.arb().erf())
        return _bounded_limit(x, lambda: ONE, lambda: real.rational(-1), "erf")

    @classmethod
    def max(cls, x: Real, y: Real) -> Real:
        return _extreme(x, y, 1)

    @classmethod
    def min(cls, x: Real, y: Real) -> Real:
        return _extreme(x, y, -1)

    @staticmethod
    def detach(x: Real) -> Real:
        return x

    # -- whole arrays (object arrays of Real; a Real is a scalar) ------------------------------

    @staticmethod
    def reduce_sum(u: Any) -> Real:
        if isinstance(u, Real):
            return u
        total = ZERO
        for x in u.flat:
            total = total + x
        return total

    @classmethod
    def reduce_mean(cls, u: Any) -> Real:
        if isinstance(u, Real):
            return u
        return cls.reduce_sum(u) / real.rational(u.size)

    @classmethod
    def dot(cls, u: Any, v: Any) -> Real:
        return cls.reduce_sum(u * v)

    @staticmethod
    def matmul(u: Any, v: Any) -> Any:
        out = np.matmul(u, v)
        return out.item() if isinstance(out, np.ndarray) and out.ndim == 0 else out


def abs_real(x: Real) -> Real:
    if x.kind is Kind.EXACT:
        return Real(Kind.EXACT, abs(x.q), side=1 if x.q == 0 else 0)
    if x.kind is Kind.BALL:
        return real.ball(abs(x.b))
    if x.kind in INFINITE:
        return real.pos_inf(x.why)
    if x.kind is Kind.HUGE:
        return real.huge(1, x.why)
    return x


def _fail(x: Real, why: str, not_real: bool = False) -> Real:
    """The result of a function at what is no number: that, or (for an infinity) undefined."""
    if x.kind >= Kind.NOT_REAL:
        return x
    return real.not_real(why) if not_real else real.undefined(why)


def _inverse_trig(x: Real, name: str, zero_at: int) -> Real:
    if x.kind is Kind.EXACT and x.q == zero_at:
        return _zero_like(x, side=1 if name == "acos" else 0)
    if x.kind in NUMBERS:
        inside = real.compare(abs_real(x), ONE)
        if inside is None:
            return real.unknown(f"{name} of a number not separated from +-1")
        if inside > 0:
            return real.not_real(f"{name} outside [-1, 1]")
        return real.ball(getattr(x.arb(), name)())
    return _fail(x, f"{name} outside [-1, 1]", not_real=True)


def _growth(x: Real, r: Any, odd: bool) -> Real:
    """sinh and cosh: beyond the ball arithmetic's range, HUGE with the right sign."""
    if r.is_finite():
        return real.ball(r)
    s = x.sign()
    if s is None:
        return real.unknown("a hyperbolic function beyond range")
    return real.huge(s if odd else 1, "a hyperbolic function beyond range")


def _extreme(x: Real, y: Real, direction: int) -> Real:
    bad = next((v for v in (x, y) if v.kind >= Kind.NOT_REAL), None)
    if bad is not None:
        return bad
    if x.kind in NUMBERS and y.kind in NUMBERS:
        c = real.compare(x, y)
        if c is None:
            fn = arb.max if direction > 0 else arb.min
            return real.ball(fn(x.arb(), y.arb()))
        return x if c * direction >= 0 else y
    if Kind.INF in (x.kind, y.kind):
        return real.undefined("max or min of an unsigned infinity")
    c = real.compare(x, y)
    if c is None:
        return real.unknown("max or min of numbers that cannot be compared")
    return x if c * direction >= 0 else y


X = Namespace()

__all__ = ["Namespace", "X", "abs_real"]
