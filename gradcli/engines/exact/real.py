"""Proven real numbers: exact rationals where the arithmetic is rational, rigorous balls (FLINT's
``arb``) for the transcendental rest, and the cases that are no real number at all.

Every :class:`Real` says what it proved:

- ``EXACT``: an exact rational (an exact zero included). ``(x - 1)**2`` at ``x = 1`` is exactly
  0, not 4.4e-280. A zero also remembers the side it is approached from where the operation
  that made it fixes one (``sqrt(0)`` is ``+0``: sqrt is never negative), so that ``1/sqrt(0)``
  is ``+inf`` rather than a pole of unknown sign.
- ``BALL``: a midpoint and a radius that contain the exact value; it may contain 0 when the
  precision is too low to separate the number from zero.
- ``POS_INF``, ``NEG_INF``: a signed infinity (``log(0)``, ``atanh(1)``, ``1/sqrt(0)``).
- ``INF``: an infinity of no definite sign, a two-sided pole (``1/(x - 1)`` at 1).
- ``HUGE``: a finite real number beyond what ball arithmetic can hold (``exp(exp(exp(1000)))``),
  with its sign: certainly far beyond float64's range.
- ``NOT_REAL``: outside the real domain (``log(-1)``, ``sqrt(-2)``, ``asin(2)``).
- ``UNDEFINED``: no value at all: ``0/0``, ``inf - inf``, ``0 * inf``, ``sin(inf)``.
- ``UNKNOWN``: not decided at this precision (a ball that straddles a pole or a domain edge);
  more precision may settle it.

The precision of the ball arithmetic is FLINT's process-wide setting: :func:`working_precision`
sets it for a block, under a lock, and restores it afterwards, so no setting outlives a call and
threads do not disturb each other.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...limits import MAX_EXACT_BITS
from .balls import arb, ctx, fmpq, fmpz


class Kind(enum.IntEnum):
    EXACT = 0
    BALL = 1
    POS_INF = 2
    NEG_INF = 3
    INF = 4
    HUGE = 5
    NOT_REAL = 6
    UNDEFINED = 7
    UNKNOWN = 8


FINITE = (Kind.EXACT, Kind.BALL, Kind.HUGE)  #: real numbers (HUGE is one, just a large one)
INFINITE = (Kind.POS_INF, Kind.NEG_INF, Kind.INF)
NUMBERS = (Kind.EXACT, Kind.BALL)

_LOCK = threading.RLock()


@contextmanager
def working_precision(bits: int) -> Iterator[None]:
    """Ball arithmetic at ``bits`` bits in this block (FLINT's global setting, restored)."""
    with _LOCK:
        before = ctx.prec
        ctx.prec = bits
        try:
            yield
        finally:
            ctx.prec = before


class Undecided(Exception):  # noqa: N818 - a state, not a failure
    """A comparison the balls cannot decide at this precision (raised by predicates)."""


class Real:
    """A proven real number, or the reason there is none (see the module docstring)."""

    __slots__ = ("b", "kind", "q", "side", "why")

    def __init__(
        self, kind: Kind, q: Any = None, b: Any = None, side: int = 0, why: str = ""
    ) -> None:
        self.kind = kind
        self.q = q  #: fmpq, for EXACT
        self.b = b  #: arb, for BALL
        self.side = side  #: EXACT zero: +1/-1 approached from above/below; HUGE: the sign
        self.why = why  #: for the kinds that are no number: what made it so

    # -- what it is ---------------------------------------------------------------------------

    @property
    def exact(self) -> bool:
        return self.kind is Kind.EXACT

    @property
    def is_zero(self) -> bool:
        """An exact zero (proven)."""
        return self.kind is Kind.EXACT and self.q == 0

    @property
    def finite(self) -> bool:
        return self.kind in FINITE

    def arb(self) -> Any:
        """As a ball at the working precision (EXACT and BALL only)."""
        return self.b if self.kind is Kind.BALL else arb(self.q)

    def sign(self) -> int | None:
        """-1, 0 or 1 when proven, else None."""
        k = self.kind
        if k is Kind.EXACT:
            return int(self.q > 0) - int(self.q < 0)
        if k is Kind.BALL:
            b = self.b
            return 1 if b > 0 else (-1 if b < 0 else None)
        if k is Kind.POS_INF:
            return 1
        if k is Kind.NEG_INF:
            return -1
        if k is Kind.HUGE:
            return self.side
        return None

    def decided_sign(self) -> int:
        """The sign, or :class:`Undecided`."""
        s = self.sign()
        if s is None:
            raise Undecided
        return s

    def __float__(self) -> float:
        k = self.kind
        if k is Kind.EXACT:
            return _fmpq_float(self.q)
        if k is Kind.BALL:
            return float(self.b.mid())  # (FLINT rounds the midpoint to the nearest double)
        if k is Kind.POS_INF:
            return float("inf")
        if k is Kind.NEG_INF:
            return float("-inf")
        if k is Kind.HUGE:
            return float("inf") * self.side
        return float("nan")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled exactly (FLINT's balls cannot be): a ball as the mantissas and exponents of
        its midpoint and radius, so that another process gets the very same ball."""
        b = None if self.b is None else _ball_parts(self.b)
        return (_rebuilt, (int(self.kind), self.q, b, self.side, self.why))

    def __repr__(self) -> str:
        if self.kind is Kind.EXACT:
            return f"Real({self.q}{'+' if self.side > 0 else '-' if self.side < 0 else ''})"
        if self.kind is Kind.BALL:
            return f"Real({self.b})"
        return f"Real({self.kind.name}{' ' + self.why if self.why else ''})"

    # -- arithmetic ---------------------------------------------------------------------------

    def __add__(self, other: Any) -> Real:
        return add(self, lift(other))

    def __radd__(self, other: Any) -> Real:
        return add(lift(other), self)

    def __sub__(self, other: Any) -> Real:
        if other is self and self.kind in FINITE:
            return ZERO  # (x - x: the same number, even where a ball cannot show it)
        return add(self, neg(lift(other)))

    def __rsub__(self, other: Any) -> Real:
        return add(lift(other), neg(self))

    def __mul__(self, other: Any) -> Real:
        return mul(self, lift(other))

    def __rmul__(self, other: Any) -> Real:
        return mul(lift(other), self)

    def __truediv__(self, other: Any) -> Real:
        return div(self, lift(other))

    def __rtruediv__(self, other: Any) -> Real:
        return div(lift(other), self)

    def __neg__(self) -> Real:
        return neg(self)

    def __pos__(self) -> Real:
        return self

    def __pow__(self, other: Any) -> Real:
        return power(self, lift(other))

    def __rpow__(self, other: Any) -> Real:
        return power(lift(other), self)


def _dyadic(x: Any) -> tuple[int, int] | str:
    """An exact, finite float of FLINT's as (mantissa, exponent); else its text (inf, nan)."""
    if x.is_finite() and x.is_exact():
        m, e = x.man_exp()
        return int(m), int(e)
    return str(x.str())


def _ball_parts(b: Any) -> tuple[tuple[int, int] | str, tuple[int, int] | str]:
    return _dyadic(b.mid()), _dyadic(b.rad())


def _rebuilt(
    kind: int,
    q: Any,
    b: tuple[tuple[int, int] | str, tuple[int, int] | str] | None,
    side: int,
    why: str,
) -> Real:
    """A :class:`Real` from its pickled parts (a (mantissa, exponent) pair is exact at any
    precision)."""
    return Real(Kind(kind), q, None if b is None else arb(*b), side, why)


# ---- constructors ------------------------------------------------------------------------------


def rational(p: int | Any, q: int | Any = 1, side: int = 0) -> Real:
    """The exact rational ``p/q``."""
    return Real(Kind.EXACT, fmpq(p, q), side=side if p == 0 else 0)


def of_float(x: float) -> Real:
    """The exact value of a double (every finite double is a dyadic rational)."""
    if x != x or x in (float("inf"), float("-inf")):
        return Real(Kind.POS_INF if x > 0 else Kind.NEG_INF) if x == x else undefined("NaN")
    num, den = x.as_integer_ratio()
    return Real(Kind.EXACT, fmpq(num, den))


ZERO = rational(0)
ONE = rational(1)


def ball(b: Any) -> Real:
    """A ball result, normalised: an exact ball is an exact number (it has no radius), and a
    ball that is not finite is UNKNOWN (the arithmetic lost track)."""
    if b.is_exact():
        if b.is_finite():
            m, e = b.mid().man_exp()
            return Real(Kind.EXACT, fmpq(m) * fmpq(2) ** int(e))
        return unknown("the ball arithmetic overflowed")
    if not b.is_finite():
        return unknown("the ball arithmetic overflowed")
    return Real(Kind.BALL, b=b)


def pos_inf(why: str = "") -> Real:
    return Real(Kind.POS_INF, why=why)


def neg_inf(why: str = "") -> Real:
    return Real(Kind.NEG_INF, why=why)


def signed_inf(sign: int, why: str = "") -> Real:
    return pos_inf(why) if sign > 0 else neg_inf(why)


def pole(why: str = "") -> Real:
    return Real(Kind.INF, why=why)


def huge(sign: int, why: str = "") -> Real:
    return Real(Kind.HUGE, side=sign, why=why)


def not_real(why: str = "") -> Real:
    return Real(Kind.NOT_REAL, why=why)


def undefined(why: str = "") -> Real:
    return Real(Kind.UNDEFINED, why=why)


def unknown(why: str = "") -> Real:
    return Real(Kind.UNKNOWN, why=why)


def lift(x: Any) -> Real:
    if isinstance(x, Real):
        return x
    if isinstance(x, int):
        return rational(x)
    if isinstance(x, float):
        return of_float(x)
    if isinstance(x, fmpq):
        return Real(Kind.EXACT, x)
    raise TypeError(f"not a number: {x!r}")


def pi() -> Real:
    return Real(Kind.BALL, b=arb.pi())


def tiny(sign: int = 0) -> Real:
    """A number of magnitude below 2**-(2**60) (1/HUGE): a ball around 0 whose every point
    rounds to zero in any float format; ``sign`` is kept as the side where known."""
    r = arb(0, arb(2) ** (-(fmpz(2) ** 60)))
    return Real(Kind.BALL, b=r)


# ---- helpers -----------------------------------------------------------------------------------


def _fmpq_float(q: Any) -> float:
    p, d = int(q.p), int(q.q)
    try:
        return p / d  # (Python rounds an int/int division correctly)
    except OverflowError:
        return float("inf") if (p > 0) == (d > 0) else float("-inf")


def _bits(q: Any) -> int:
    return int(q.height_bits())


def _exact_or_ball(q: Any) -> Real:
    """An exact result, unless it has grown past :data:`MAX_EXACT_BITS` (then a ball)."""
    if _bits(q) > MAX_EXACT_BITS:
        return ball(arb(q))
    return Real(Kind.EXACT, q)


def _failed(*xs: Real) -> Real | None:
    """The first operand that is no number and no infinity (it decides the result)."""
    for x in xs:
        if x.kind >= Kind.NOT_REAL:
            return x
    return None


def _magnitude_bits(x: Real) -> float:
    """log2 of |x| roughly (for deciding what HUGE swamps); -inf for zero."""
    if x.kind is Kind.EXACT:
        if x.q == 0:
            return float("-inf")
        return float(int(x.q.p).bit_length() - int(x.q.q).bit_length())
    if x.kind is Kind.BALL:
        m, e = x.b.mid().man_exp()
        return float(int(m).bit_length() + int(e)) if m != 0 else float("-inf")
    return float("inf")


# ---- the four operations -----------------------------------------------------------------------


def neg(x: Real) -> Real:
    k = x.kind
    if k is Kind.EXACT:
        return Real(Kind.EXACT, -x.q, side=-x.side)
    if k is Kind.BALL:
        return Real(Kind.BALL, b=-x.b)
    if k is Kind.POS_INF:
        return neg_inf(x.why)
    if k is Kind.NEG_INF:
        return pos_inf(x.why)
    if k is Kind.HUGE:
        return huge(-x.side, x.why)
    return x


def add(x: Real, y: Real) -> Real:
    kx, ky = x.kind, y.kind
    if kx is Kind.EXACT and ky is Kind.EXACT:
        q = x.q + y.q
        if q == 0:
            # +0 + +0 is +0; a difference that cancels has no side
            side = x.side if x.q == 0 and y.q == 0 and x.side == y.side else 0
            return Real(Kind.EXACT, q, side=side)
        return _exact_or_ball(q)
    if kx in NUMBERS and ky in NUMBERS:
        if kx is Kind.EXACT and x.q == 0:
            return y
        if ky is Kind.EXACT and y.q == 0:
            return x
        return ball(x.arb() + y.arb())
    bad = _failed(x, y)
    if bad is not None:
        return bad
    if kx is Kind.UNKNOWN or ky is Kind.UNKNOWN:
        return x if kx is Kind.UNKNOWN else y
    # infinities and HUGE
    if kx in INFINITE or ky in INFINITE:
        if kx in INFINITE and ky in INFINITE:
            if kx is ky and kx is not Kind.INF:
                return x
            return undefined("inf - inf")
        return x if kx in INFINITE else y
    # HUGE (+ a number, or another HUGE)
    if kx is Kind.HUGE and ky is Kind.HUGE:
        return x if x.side == y.side else unknown("a difference of two numbers beyond range")
    return x if kx is Kind.HUGE else y


def mul(x: Real, y: Real) -> Real:
    kx, ky = x.kind, y.kind
    # times an exact 1, whatever the other is (a zero keeps its side, an infinity its sign):
    # the chain rule through sums and differences is mostly this
    if ky is Kind.EXACT and y.q == 1:
        return x
    if kx is Kind.EXACT and x.q == 1:
        return y
    if kx is Kind.EXACT and ky is Kind.EXACT:
        q = x.q * y.q
        if q == 0:
            return Real(Kind.EXACT, q, side=_zero_side(x, y))
        return _exact_or_ball(q)
    bad = _failed(x, y)
    if bad is not None:
        return bad
    # an exact zero times any finite number is exactly zero; times an infinity, nothing
    for z, o in ((x, y), (y, x)):
        if z.kind is Kind.EXACT and z.q == 0:
            if o.kind in (Kind.BALL, Kind.HUGE):
                s = o.sign()
                side = z.side * s if (z.side and s) else 0
                return Real(Kind.EXACT, fmpq(0), side=side)
            if o.kind in INFINITE:
                return undefined("0 * inf")
            return o  # UNKNOWN
    if (kx is Kind.BALL and ky is Kind.BALL) or (kx is Kind.BALL and ky is Kind.EXACT):
        return ball(x.arb() * y.arb())
    if kx is Kind.EXACT and ky is Kind.BALL:
        return ball(x.arb() * y.arb())
    if kx is Kind.UNKNOWN or ky is Kind.UNKNOWN:
        return x if kx is Kind.UNKNOWN else y
    sx, sy = x.sign(), y.sign()
    if kx in INFINITE or ky in INFINITE:
        if kx is Kind.INF or ky is Kind.INF:
            if sx == 0 or sy == 0:
                return undefined("0 * inf")
            return pole(x.why or y.why)
        if sx is None or sy is None:
            return unknown("the sign of a factor of an infinity")
        return signed_inf(sx * sy, x.why or y.why)
    # HUGE times a number (or HUGE)
    if sx is None or sy is None:
        return unknown("a product with a number beyond range")
    other = y if kx is Kind.HUGE else x
    if other.kind is not Kind.HUGE and _magnitude_bits(other) < -(2**50):
        return unknown("a product of a number beyond range and a tiny one")
    return huge(sx * sy, x.why or y.why)


def _zero_side(x: Real, y: Real) -> int:
    """The side of an exact zero product: known when the zero factor has a side and the
    other's sign is known."""
    sx = x.side if x.q == 0 else (1 if x.q > 0 else -1)
    sy = y.side if y.q == 0 else (1 if y.q > 0 else -1)
    return sx * sy


def reciprocal(x: Real) -> Real:
    k = x.kind
    if k is Kind.EXACT:
        if x.q == 0:
            return signed_inf(x.side, "division by 0") if x.side else pole("division by 0")
        return Real(Kind.EXACT, 1 / x.q)
    if k is Kind.BALL:
        if x.sign() is None:
            return unknown("a division by a number not separated from 0")
        return ball(1 / x.b)
    if k in INFINITE:
        if k is Kind.INF:
            return ZERO
        return Real(Kind.EXACT, fmpq(0), side=1 if k is Kind.POS_INF else -1)
    if k is Kind.HUGE:
        return tiny(x.side)
    return x


def div(x: Real, y: Real) -> Real:
    if y.kind is Kind.EXACT and y.q == 0:
        bad = _failed(x)
        if bad is not None:
            return bad
        if x.kind is Kind.EXACT and x.q == 0:
            return undefined("0/0")
        if x.kind in INFINITE:
            return pole("inf/0")
        s = x.sign()
        if s is None:
            return unknown("a division by 0 of a number not separated from 0")
        return signed_inf(s * y.side, "division by 0") if y.side else pole("division by 0")
    if x.kind is Kind.EXACT and y.kind is Kind.EXACT:
        q = x.q / y.q
        if q == 0:
            return Real(Kind.EXACT, q, side=_zero_side(x, y))
        return _exact_or_ball(q)
    if x.kind in INFINITE and y.kind in INFINITE:
        return undefined("inf/inf")
    if x.kind is Kind.HUGE and y.kind is Kind.HUGE:
        return unknown("a ratio of two numbers beyond range")
    if x.kind in NUMBERS and y.kind is Kind.BALL:
        if y.sign() is None:
            return unknown("a division by a number not separated from 0")
        return ball(x.arb() / y.b)
    return mul(x, reciprocal(y))


# ---- powers ------------------------------------------------------------------------------------


def _integer(q: Any) -> bool:
    return bool(q.q == 1)


def _exact_root(q: Any, n: int) -> Any | None:
    """The exact n-th root of a positive rational, if it is rational."""
    if n > 64:
        return None
    out = []
    for part in (q.p, q.q):
        r = fmpz(part).root(n)
        if r**n != part:
            return None
        out.append(r)
    return fmpq(out[0], out[1])


def power(x: Real, y: Real) -> Real:
    """``x**y`` on the reals, as torch and SymPy define it: an integer exponent takes any
    base; any other exponent needs a base >= 0 (a negative base is not real: the exponents
    of a double are dyadic, and SymPy's principal branch is complex too)."""
    bad = _failed(x, y)
    if bad is not None:
        return bad
    if x.kind is Kind.EXACT and x.q == 1:
        return ONE if y.kind in FINITE else undefined("1**inf")
    if y.kind is Kind.EXACT:
        if y.q == 0:
            return ONE if x.kind in FINITE else undefined("inf**0")
        if _integer(y.q):
            return _integer_power(x, int(y.q.p))
        return _fractional_power(x, y)
    if y.kind is Kind.UNKNOWN or x.kind is Kind.UNKNOWN:
        return y if y.kind is Kind.UNKNOWN else x
    if y.kind in INFINITE or x.kind in INFINITE or x.kind is Kind.HUGE or y.kind is Kind.HUGE:
        return _power_limits(x, y)
    # y is a ball (not an exact number): x must be > 0, or exactly 0 with y's sign known
    if x.kind is Kind.EXACT and x.q == 0:
        s = y.sign()
        if s is None:
            return unknown("0 to a power not separated from 0")
        return Real(Kind.EXACT, fmpq(0), side=1) if s > 0 else pos_inf("0 to a negative power")
    sx = x.sign()
    if sx is None:
        return unknown("a power of a base not separated from 0")
    if sx < 0:
        if y.b.contains_integer():
            return unknown("a negative base to an exponent not separated from an integer")
        return not_real("a negative base to a power that is not an integer")
    result = x.arb() ** y.b
    if not result.is_finite():
        # exp(y log x): huge when y log x is large and positive, tiny when large and negative
        growth = y.b * x.arb().log()
        if growth > 0:
            return huge(1, "a power beyond range")
        if growth < 0:
            return tiny(1)
    return ball(result)


def _integer_power(x: Real, k: int) -> Real:
    if x.kind is Kind.EXACT:
        if x.q == 0:
            if k > 0:
                side = 1 if k % 2 == 0 else x.side
                return Real(Kind.EXACT, fmpq(0), side=side)
            if k % 2 == 0:
                return pos_inf("0 to a negative power")
            return signed_inf(x.side, "0 to a negative power") if x.side else pole("division by 0")
        if abs(k) * _bits(x.q) <= MAX_EXACT_BITS:
            return Real(Kind.EXACT, x.q**k)
        return _ball_integer_power(x.arb(), k, x)
    if x.kind is Kind.BALL:
        if k < 0 and x.sign() is None:
            return unknown("a negative power of a number not separated from 0")
        return _ball_integer_power(x.b, k, x)
    return _power_limits(x, rational(k))


def _ball_integer_power(b: Any, k: int, x: Real) -> Real:
    result = b ** fmpz(k)
    if result.is_finite():
        return ball(result)
    s = x.sign()
    if abs(b) > 1 and s is not None:
        if k > 0:
            return huge(s if k % 2 else 1, "a power beyond range")
        return tiny(1)
    if abs(b) < 1 and s is not None:
        if k > 0:
            return tiny(1)
        return huge(s if k % 2 else 1, "a power beyond range")
    return unknown("a power beyond the range of the ball arithmetic")


def _fractional_power(x: Real, y: Real) -> Real:
    """``x**(p/q)`` with q > 1 (y exact)."""
    if x.kind is Kind.EXACT:
        if x.q == 0:
            return (
                Real(Kind.EXACT, fmpq(0), side=1)
                if y.q > 0
                else pos_inf("0 to a negative power")  # (one-sided: the real domain is x >= 0)
            )
        if x.q < 0:
            return not_real("a negative base to a power that is not an integer")
        denominator = int(y.q.q)
        root = _exact_root(x.q, denominator) if denominator <= 64 else None
        if root is not None:
            return _integer_power(Real(Kind.EXACT, root), int(y.q.p))
        return _ball_power(x.arb(), y)
    if x.kind is Kind.BALL:
        s = x.sign()
        if s is None:
            return unknown("a fractional power of a number not separated from 0")
        if s < 0:
            return not_real("a negative base to a power that is not an integer")
        return _ball_power(x.b, y)
    return _power_limits(x, y)


def _ball_power(b: Any, y: Real) -> Real:
    result = b ** y.arb()
    if result.is_finite():
        return ball(result)
    growth = y.arb() * b.log()
    if growth > 0:
        return huge(1, "a power beyond range")
    if growth < 0:
        return tiny(1)
    return unknown("a power beyond the range of the ball arithmetic")


def _power_limits(x: Real, y: Real) -> Real:
    """Powers with an infinite or HUGE base or exponent."""
    sy = y.sign()
    if y.kind in (Kind.POS_INF, Kind.NEG_INF, Kind.HUGE) and sy is None:
        return unknown("a power to an exponent of undecided sign")
    if y.kind in INFINITE:
        if y.kind is Kind.INF:
            return undefined("a power to an unsigned infinity")
        sx = x.sign()
        if sx is None:
            return unknown("a power of an undecided base to an infinite exponent")
        if sx < 0:
            return not_real("a negative base to an infinite power")
        assert sy is not None
        if x.kind is Kind.EXACT and x.q == 0:
            return ZERO if sy > 0 else pos_inf("0**-inf")
        big = _compare_one(x)
        if big is None:
            return unknown("a power of a base not separated from 1 to an infinite exponent")
        if big == 0:
            return undefined("1**inf")
        return pos_inf("a power to an infinite exponent") if (big > 0) == (sy > 0) else ZERO
    if y.kind is Kind.HUGE:
        assert sy is not None
        sx = x.sign()
        if x.kind is Kind.EXACT and x.q == 0:
            return ZERO if sy > 0 else pos_inf("0 to a negative power")
        if sx is None or sx < 0:
            return unknown("a power with an exponent beyond range")
        big = _compare_one(x)
        if big is None:
            return unknown("a power of a base not separated from 1 to an exponent beyond range")
        if big == 0:
            return ONE
        return huge(1, "a power beyond range") if (big > 0) == (sy > 0) else tiny(1)
    # base infinite or HUGE, exponent a number
    if sy is None:
        return unknown("a power of an infinity to an exponent not separated from 0")
    integral = y.kind is Kind.EXACT and _integer(y.q)
    odd = integral and int(y.q.p) % 2 != 0
    sx = x.sign()
    if x.kind is Kind.INF:
        if sy < 0:
            return ZERO
        return pos_inf("a power of a pole") if integral and not odd else pole("a power of a pole")
    if sx is not None and sx < 0 and not integral:
        return not_real("a negative base to a power that is not an integer")
    sign = -1 if (sx is not None and sx < 0 and odd) else 1
    if x.kind in INFINITE:
        return signed_inf(sign, "a power of infinity") if sy > 0 else ZERO
    return huge(sign, "a power beyond range") if sy > 0 else tiny(sign)


def _compare_one(x: Real) -> int | None:
    """The sign of x - 1 for a positive x."""
    if x.kind is Kind.EXACT:
        return int(x.q > 1) - int(x.q < 1)
    if x.kind is Kind.BALL:
        return 1 if x.b > 1 else (-1 if x.b < 1 else None)
    if x.kind in (Kind.POS_INF, Kind.HUGE):
        return 1
    return None


# ---- elementary functions ----------------------------------------------------------------------


def arb_call(name: str, *args: Real) -> Real:
    """FLINT's ball function ``name`` on numbers (EXACT or BALL)."""
    fn: Callable[..., Any] = getattr(arb, name)
    return ball(fn(*(a.arb() for a in args)))


def compare(x: Real, y: Real) -> int | None:
    """The sign of x - y, when proven."""
    if x.kind in FINITE and y.kind in FINITE and Kind.HUGE not in (x.kind, y.kind):
        return add(x, neg(y)).sign()
    order = {Kind.NEG_INF: -2, Kind.POS_INF: 2}
    rank = []
    for v in (x, y):
        if v.kind in order:
            rank.append(order[v.kind])
        elif v.kind is Kind.HUGE:
            rank.append(v.side)
        elif v.kind in NUMBERS:
            rank.append(0)
        else:
            return None
    if rank[0] == rank[1]:
        return None
    return 1 if rank[0] > rank[1] else -1


__all__ = [
    "FINITE",
    "INFINITE",
    "NUMBERS",
    "ONE",
    "ZERO",
    "Kind",
    "Real",
    "Undecided",
    "add",
    "arb_call",
    "ball",
    "compare",
    "div",
    "huge",
    "lift",
    "mul",
    "neg",
    "not_real",
    "of_float",
    "pi",
    "pole",
    "pos_inf",
    "power",
    "rational",
    "signed_inf",
    "tiny",
    "undefined",
    "unknown",
    "working_precision",
]
