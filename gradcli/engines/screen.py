"""The node-by-node reference over whole columns in float64, each number carrying a bound on
how far rounding can have moved it from the exact value.

A torch row agrees when it is within the tolerance of the exact value; this reference does not
need to be the exact value, only to know how far from it it can be. Every operation returns its
float64 result ``v`` and a bound ``e`` with ``|v - exact| <= e``: the bounds of the operands
carried through the operation's slope (over the whole interval they allow), plus the rounding of
the operation itself. Floats add, multiply and divide correctly rounded (half a unit in the last
place); NumPy's elementary functions are allowed 16 units, far more than they are documented to
lose. Where an operand's interval reaches a singularity or the edge of a domain (``log`` near
0, ``asin`` near 1), the first-order slope cannot be trusted, and the row is marked
:attr:`Context.shaky`: never ``agree``, and a ``NaN`` there proves nothing.

Float64 keeps NumPy's vector code (about ten times faster than 80-bit ``longdouble``, whose
``sin`` and ``cos`` cost 0.12 us an element). Rows that the bounds cannot settle go to the exact
reference (:mod:`gradcli.check.reference`), not to a wider float. Two rare cases are handled
by rerunning a block with more care, detected from the processor's own flags at no cost in the
common case: a result that underflowed (its rounding is then absolute, up to 2^-1074, not
relative) and an overflow (an infinity that is no singularity: such rows are shaky).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..language.nodes import Expr, Node, live_nodes
from ..language.ops import CONSTANTS, OPS
from ..language.values import round_to
from .formulas import Partials


def simple_power(
    base: Any, k: float, sqrt: Callable[[Any], Any], reciprocal: Callable[[Any], Any]
) -> Any:
    """``base**k`` for the common constant exponents, which need no general power (a powl
    costs ~0.5 us an element), or None for the others."""
    if k == 1:
        return base
    if k in (2, 3):
        return base * base if k == 2 else base * base * base
    if k in (0.5, -0.5):
        root = sqrt(base)
        return root if k == 0.5 else reciprocal(root)
    return reciprocal(base) if k == -1 else None


_erf_columns = np.vectorize(math.erf, otypes=[np.float64])


def erf64(v: Any) -> Any:
    """libm's erf over an array (NumPy has none), in float64; an operand that records what is
    done to it (the compiled screen's trace) records it."""
    traced = getattr(v, "erf", None)
    return traced() if traced is not None else _erf_columns(v)


ROUND = 2.0**-52  #: a correctly rounded operation: |error| <= ROUND * |result| (twice u)
LIBM = 2.0**-48  #: an elementary function of NumPy's or libm's: 16 units in the last place
TINY = 2.0**-1074  #: the rounding of a result in the subnormal range is absolute
MIN_NORMAL = 2.0**-1022
#: an operand's relative uncertainty beyond which the slope of a function that is singular
#: there (1/u, log u, u**-0.5, ...) cannot be trusted to bound the change
FIRST_ORDER = 2.0**-20
#: the bounds are themselves computed in float64: each step may lose a unit in their last place,
#: which this margin covers for a million steps
GROW = 1 + 2.0**-30


class Context:
    """What one evaluation learns besides the numbers."""

    def __init__(self, n: int, careful: bool) -> None:
        self.careful = careful  #: count underflow and flag overflow (a rerun after either)
        self.shaky = np.zeros(n, dtype=bool)  #: rows whose bounds or NaNs cannot be trusted

    def doubt(self, rows: Any) -> None:
        self.shaky |= rows


class Bounded:
    """A float64 column ``v`` (or one float) and a bound ``e`` on its distance from the exact
    value; ``e`` is the plain number 0.0 for an exact column (an input)."""

    __slots__ = ("_abs", "ctx", "e", "v")

    def __init__(self, v: Any, e: Any, ctx: Context | None) -> None:
        self.v, self.e, self.ctx = v, e, ctx
        self._abs: Any = None

    @property
    def abs(self) -> Any:
        """``|v|``, computed once."""
        if self._abs is None:
            self._abs = np.abs(self.v)
        return self._abs

    @property
    def exact(self) -> bool:
        return _ndim(self.e) == 0 and self.e == 0

    # -- the arithmetic the derivative formulas are made of ----------------------------------

    def __add__(self, other: Any) -> Bounded:
        o = _lift(other, self.ctx)
        ctx = self.ctx or o.ctx
        v = self.v + o.v
        if _scalar(self, o):
            return Bounded(v, self.e + o.e + _exact_error(v, self.v, o.v, operator.add), ctx)
        result = Bounded(v, 0.0, ctx)
        result.e = self.e + o.e + ROUND * result.abs
        return _overflow(result, self, o)

    __radd__ = __add__

    def __neg__(self) -> Bounded:
        result = Bounded(-self.v, self.e, self.ctx)
        result._abs = self._abs
        return result

    def __mul__(self, other: Any) -> Bounded:
        o = _lift(other, self.ctx)
        ctx = self.ctx or o.ctx
        v = self.v * o.v
        if _scalar(self, o):
            exact = _exact_error(v, self.v, o.v, operator.mul)
            return Bounded(v, abs(self.v) * o.e + abs(o.v) * self.e + self.e * o.e + exact, ctx)
        result = Bounded(v, 0.0, ctx)
        # |a| e_b + |b| e_a + e_a e_b, and the rounding: ROUND |a b| (== ROUND |v|, but with
        # one multiplication fewer)
        exact = _power_of_two(o) or _power_of_two(self)
        if self is o:  # a square: the two errors are one
            e = 0.0 if self.exact else (2 * self.abs + self.e) * self.e
            if not exact:
                e = e + ROUND * result.abs
        elif o.exact and self.exact:
            e = 0.0 if exact else ROUND * result.abs
        elif o.exact:
            e = o.abs * (self.e if exact else self.e + ROUND * self.abs)
        elif self.exact:
            e = self.abs * (o.e if exact else o.e + ROUND * o.abs)
        elif exact:
            e = self.abs * o.e + (o.abs + o.e) * self.e
        else:
            e = self.abs * (o.e + ROUND * o.abs) + (o.abs + o.e) * self.e
        if ctx is not None and ctx.careful:
            e = e + TINY * ((result.abs < MIN_NORMAL) & (self.v != 0) & (o.v != 0))
        result.e = e
        return _overflow(result, self, o)

    __rmul__ = __mul__

    def __rtruediv__(self, other: Any) -> Bounded:
        """``other / self`` for a plain number ``other`` (the formulas write ``1/u``)."""
        c = float(other)
        return _reciprocal(self) if c == 1 else _reciprocal(self) * c


def _ndim(x: Any) -> int:
    """``np.ndim`` for what a Bounded holds (an array, a NumPy or Python number), without its
    conversion to an array (the screen asks this of every operand of every operation)."""
    return getattr(x, "ndim", 0)


def _lift(x: Any, ctx: Context | None) -> Bounded:
    return x if isinstance(x, Bounded) else Bounded(np.float64(x), 0.0, ctx)


def _scalar(a: Bounded, b: Bounded) -> bool:
    return _ndim(a.v) == 0 and _ndim(b.v) == 0 and _ndim(a.e) == 0 and _ndim(b.e) == 0


def _exact_error(v: Any, a: Any, b: Any, op: Callable[[Fraction, Fraction], Fraction]) -> float:
    """The rounding of ``v = op(a, b)`` on two floats, exactly (for constants: exponents must
    stay exact, so that ``u**(2-1)`` is still a square)."""
    return _rounding(float(v), float(a), float(b), op)


@functools.lru_cache(maxsize=1024)
def _rounding(v: float, a: float, b: float, op: Callable[[Fraction, Fraction], Fraction]) -> float:
    """(The same constants meet in every block of rows: worked out once.)"""
    if not all(math.isfinite(x) for x in (v, a, b)):
        return math.inf
    return float(abs(Fraction(v) - op(Fraction(a), Fraction(b))))


def _exact_constant(x: Bounded) -> bool:
    return _ndim(x.v) == 0 and x.exact


def _power_of_two(x: Bounded) -> bool:
    """Multiplying by it is exact (short of underflow, which the careful pass counts)."""
    if not _exact_constant(x):
        return False
    m, _ = math.frexp(float(x.v))
    return abs(m) == 0.5 or x.v == 0


def _overflow(result: Bounded, *args: Bounded) -> Bounded:
    """On the careful pass: an infinity made from finite operands is an overflow, not a
    singularity; its row is shaky (the exact value is finite, and so may be what follows)."""
    ctx = result.ctx
    if ctx is not None and ctx.careful:  # (a constant that overflows: every row)
        made = np.isinf(result.v)
        for a in args:
            made &= np.isfinite(a.v)
        ctx.doubt(made)
    return result


def _near(ctx: Context | None, arg: Bounded, distance: Any) -> None:
    """Mark the rows where ``arg``'s interval comes within reach of a singularity or a domain
    edge ``distance`` away (``distance >= 0``; a NaN bound counts, a NaN operand was decided
    upstream)."""
    if ctx is not None and not arg.exact:  # (a constant near the edge: every row)
        ctx.doubt(~(arg.e <= FIRST_ORDER * distance) & ~np.isnan(arg.v))


def _through_edge(arg: Bounded, distance: Any, slope_times_e: Callable[[], Any]) -> Any:
    """The operand's bound carried through a function that is singular, or ends, ``distance``
    away from it: rows within reach are shaky (:func:`_near`), and where the operand is exact
    the spread is 0 (the slope there may be infinite)."""
    _near(arg.ctx, arg, distance)
    if arg.exact:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arg.e == 0, 0.0, slope_times_e())


def _libm(v: Any, slope_times_e: Any, arg: Bounded, *, zero_at: float | None = 0.0) -> Bounded:
    """The result of an elementary function: the operand's bound through the slope, plus the
    function's own error (relative; and absolute when the result is subnormal, on the careful
    pass, except at an exact zero of the function)."""
    ctx = arg.ctx
    result = Bounded(v, 0.0, ctx)
    e = slope_times_e + LIBM * result.abs
    if ctx is not None and ctx.careful:
        tiny = result.abs < MIN_NORMAL
        if zero_at is not None:
            tiny &= arg.v != zero_at
        e = e + TINY * tiny
    result.e = e
    return _overflow(result, arg)


def _reciprocal(b: Bounded) -> Bounded:
    result = Bounded(1 / b.v, 0.0, b.ctx)
    e = ROUND * result.abs + _through_edge(b, b.abs, lambda: 2 * b.e * (result.v * result.v))
    if b.ctx is not None and b.ctx.careful:
        e = e + TINY * (result.abs < MIN_NORMAL)
    result.e = e
    return _overflow(result, b)


def _sqrt(b: Bounded) -> Bounded:
    v = np.sqrt(b.v)
    spread = _through_edge(b, b.abs, lambda: b.e / v)  # slope 1/(2 sqrt u), doubled
    return Bounded(v, spread + ROUND * np.abs(v), b.ctx)


def _power(b: Bounded, p: Bounded) -> Bounded:
    if _exact_constant(p):
        k = float(p.v)
        done = simple_power(b, k, _sqrt, _reciprocal)
        if done is not None:
            return done  # type: ignore[no-any-return]
        v = np.power(b.v, k)
        if k.is_integer() and k > 0:  # entire: the slope is largest at the interval's far end
            slope = k * np.power(np.abs(b.v) + b.e, k - 1)
            return _libm(v, slope * b.e, b)
        # A pole at 0 (k < 0), or a domain edge (fractional k). Within 2^-20 of b, |b|**(k-1)
        # changes by a factor exp(|k-1| 2^-20) at most.
        grow = 2 * math.exp(min(abs(k - 1) * FIRST_ORDER, 700.0))
        spread = _through_edge(b, b.abs, lambda: grow * abs(k) * np.abs(v / b.v) * b.e)
        return _libm(v, spread, b)
    # A variable exponent: u**w = exp(w log u), for a positive base only. The exponent w log u
    # moves by delta at most, so the result by |v| (exp(delta) - 1) <= 2 |v| delta.
    v = np.power(b.v, p.v)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.abs(p.v / b.v) * b.e + np.abs(np.log(np.abs(b.v))) * p.e
    ctx = b.ctx or p.ctx
    if ctx is not None:
        ctx.doubt(~(b.v > 0) | ~(delta <= FIRST_ORDER))
    return _libm(v, 2 * np.abs(v) * delta, b)


# ---- the elementary functions ------------------------------------------------------------------


def _bounded_by(fn: Callable[[Any], Any], lipschitz: float) -> Callable[[Bounded], Bounded]:
    """A function whose slope never exceeds ``lipschitz``."""
    return lambda a: _libm(fn(a.v), lipschitz * a.e, a)


def _exp(a: Bounded) -> Bounded:
    v = np.exp(a.v)
    return _libm(v, np.abs(v) * np.expm1(a.e) * (1 + LIBM), a, zero_at=None)


def _guarded(e: Any, a: Bounded) -> Any:
    """``e``, valid while the operand's bound is at most 1/2 (else unbounded)."""
    return np.where(a.e <= 0.5, e, np.inf)


def _sinh(a: Bounded) -> Bounded:
    v = np.sinh(a.v)
    return _libm(v, _guarded(2 * (np.abs(v) + 1) * a.e, a), a)


def _cosh(a: Bounded) -> Bounded:
    v = np.cosh(a.v)
    return _libm(v, _guarded(2 * v * a.e, a), a, zero_at=None)


def _tan(a: Bounded) -> Bounded:
    v = np.tan(a.v)
    _near(a.ctx, a, 1 / (1 + np.abs(v)))  # the distance to the nearest pole, roughly
    return _libm(v, 2 * (1 + v * v) * a.e, a)


def _edge_of_one(fn: Callable[[Any], Any], slope: Callable[[Any], Any]) -> Callable[..., Any]:
    """asin, acos, atanh: defined inside [-1, 1], singular at its edges."""

    def apply(a: Bounded) -> Bounded:
        spread = _through_edge(a, np.abs(1 - a.abs), lambda: 2 * slope(a.v) * a.e)
        return _libm(fn(a.v), spread, a, zero_at=None if fn is np.arccos else 0.0)

    return apply


def _acosh(a: Bounded) -> Bounded:
    spread = _through_edge(a, np.abs(a.v - 1), lambda: 2 * a.e / np.sqrt(a.v * a.v - 1))
    return _libm(np.arccosh(a.v), spread, a, zero_at=1.0)


def _log(a: Bounded) -> Bounded:
    spread = _through_edge(a, a.abs, lambda: 2 * a.e / a.abs)
    return _libm(np.log(a.v), spread, a, zero_at=1.0)


def _jump(a: Bounded, height: float) -> Any:
    """The bound of a step function: ``height`` where the operand may lie on either side of 0."""
    if a.exact:  # (an input: it lies where it is)
        return 0.0
    return height * (~(np.abs(a.v) > a.e) & ~(a.e == 0))


def _sign(a: Bounded) -> Bounded:
    return Bounded(np.sign(a.v), _jump(a, 2.0), a.ctx)


def _heaviside(a: Bounded, at_zero: Any = 0) -> Bounded:
    half = float(at_zero.v if isinstance(at_zero, Bounded) else at_zero)
    v = np.where(a.v > 0, 1.0, np.where(a.v == 0, half, 0.0))
    return Bounded(v, _jump(a, 1.0), a.ctx)


def _extreme(pick: Callable[[Any, Any], Any], first_wins: Callable[[Any, Any], Any]) -> Any:
    """Min and Max: 1-Lipschitz in each operand; where one operand surely wins, its bound."""

    def apply(a: Any, b: Any) -> Bounded:
        a, b = _lift(a, getattr(b, "ctx", None)), _lift(b, getattr(a, "ctx", None))
        margin = (a.e + b.e) * (1 + 4 * ROUND)  # (a - b is rounded too)
        v = pick(a.v, b.v)
        a_wins = first_wins(a.v - b.v, margin)
        b_wins = first_wins(b.v - a.v, margin)
        e = np.where(a_wins, a.e, np.where(b_wins, b.e, np.maximum(a.e, b.e)))
        return Bounded(v, e, a.ctx or b.ctx)

    return apply


def _sigmoid(a: Bounded) -> Bounded:
    return 1 / (1 + _exp(-a))


def _erf(a: Bounded) -> Bounded:
    return _libm(erf64(a.v), 1.13 * a.e, a)  # slope 2/sqrt(pi) at most


def _zero(a: Bounded) -> Bounded:
    return Bounded(np.zeros_like(a.v), 0.0, a.ctx)


class Namespace:
    """What the op table's ``screen`` column sees as ``B``: float64 with rounding bounds."""

    @staticmethod
    def rational(p: int, q: int) -> Bounded:
        return Bounded(np.float64(p / q), float(abs(Fraction(p / q) - Fraction(p, q))), None)

    @staticmethod
    def constant(c: float) -> Bounded:
        """A float64 constant, as it is (exact: it is a double)."""
        return Bounded(np.float64(c), 0.0, None)

    @staticmethod
    def pi() -> Bounded:
        return Bounded(np.float64(math.pi), ROUND * math.pi, None)

    @staticmethod
    def e() -> Bounded:
        return Bounded(np.float64(math.e), ROUND * math.e, None)

    pow = staticmethod(_power)
    sqrt = staticmethod(_sqrt)
    sin = staticmethod(_bounded_by(np.sin, 1.0))

    @staticmethod
    def cos(a: Bounded) -> Bounded:
        return _libm(np.cos(a.v), a.e, a, zero_at=None)

    tan = staticmethod(_tan)
    asin = staticmethod(_edge_of_one(np.arcsin, lambda u: 1 / np.sqrt(1 - u * u)))
    acos = staticmethod(_edge_of_one(np.arccos, lambda u: 1 / np.sqrt(1 - u * u)))
    atan = staticmethod(_bounded_by(np.arctan, 1.0))
    sinh = staticmethod(_sinh)
    cosh = staticmethod(_cosh)
    tanh = staticmethod(_bounded_by(np.tanh, 1.0))
    asinh = staticmethod(_bounded_by(np.arcsinh, 1.0))
    acosh = staticmethod(_acosh)
    atanh = staticmethod(_edge_of_one(np.arctanh, lambda u: 1 / (1 - u * u)))
    exp = staticmethod(_exp)
    log = staticmethod(_log)
    erf = staticmethod(_erf)
    sign = staticmethod(_sign)
    sigmoid = staticmethod(_sigmoid)
    max = staticmethod(_extreme(np.maximum, lambda d, m: d > m))
    min = staticmethod(_extreme(np.minimum, lambda d, m: d < -m))

    @staticmethod
    def abs(a: Bounded) -> Bounded:
        return Bounded(np.abs(a.v), a.e, a.ctx)

    @staticmethod
    def step(a: Bounded) -> Bounded:
        return _heaviside(a, 0)

    @staticmethod
    def softplus(a: Bounded) -> Bounded:
        return _libm(np.logaddexp(0.0, a.v), a.e, a, zero_at=None)

    @staticmethod
    def atan2(y: Bounded, x: Bounded) -> Bounded:
        """The angle: both partial slopes are at most 1/r (r = hypot(x, y)); rows whose
        interval reaches the origin, or the branch cut (x < 0, y = 0, where the angle jumps
        from pi to -pi), are shaky."""
        y, x = _lift(y, getattr(x, "ctx", None)), _lift(x, getattr(y, "ctx", None))
        v = np.arctan2(y.v, x.v)
        r = np.hypot(y.v, x.v)
        reach = y.e + x.e
        ctx = y.ctx or x.ctx
        if ctx is not None and not (y.exact and x.exact):
            ctx.doubt(~(reach <= FIRST_ORDER * r) | ((x.v < 0) & ~(np.abs(y.v) > y.e)))
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(reach == 0, 0.0, 2 * reach / r)
        result = Bounded(v, 0.0, ctx)
        result.e = spread + LIBM * result.abs
        return result

    @staticmethod
    def smooth(name: str, a: Bounded, slope: Callable[[Any, Any], Any]) -> Bounded:
        """NumPy's function ``name``, whose slope over the operand's interval is at most
        ``slope(v, e)``."""
        v = getattr(np, name)(a.v)
        return _libm(v, slope(a.v, a.e) * a.e, a)

    @staticmethod
    def near_edge(
        name: str, a: Bounded, distance: Callable[[Any], Any], slope: Callable[[Any], Any]
    ) -> Bounded:
        """NumPy's function ``name``, singular ``distance(v)`` away, with slope ``slope(v)``
        (rows whose interval comes within reach of the singularity are shaky)."""
        v = getattr(np, name)(a.v)
        spread = _through_edge(a, distance(a.v), lambda: 2 * slope(a.v) * a.e)
        return _libm(v, spread, a)

    @staticmethod
    def exp_growth(e: Any) -> Any:
        """How much exp can grow over an interval of half-width ``e``."""
        return np.exp(np.minimum(e, 700.0))

    @staticmethod
    def unsupported(name: str) -> Bounded:
        raise ValueError(f"{name} takes whole vectors, which batch rows never are")


B = Namespace()


# ---- whole columns -----------------------------------------------------------------------------


def sweep(
    expr: Expr, partials: Partials, leaf: Callable[[Node], Any], seed: Any
) -> tuple[list[Any], dict[str, Any]]:
    """Every node's value (the op table's screen column) and the gradient by reverse
    accumulation from ``seed`` (the local rules, in the same arithmetic). A variable nothing
    flows back to is missing. Batch rows are scalars: a reduction of a scalar is the scalar
    itself."""
    values: list[Any] = []
    for node in expr.nodes:
        if node.kind == "op":
            values.append(OPS[node.op].screen(B, *(values[a] for a in node.args)))
        else:
            values.append(leaf(node))
    live = live_nodes(expr)
    adjoint: list[Any] = [None] * len(values)
    adjoint[-1] = seed
    gradient: dict[str, Any] = {}
    for i in range(len(values) - 1, -1, -1):
        node, bar = expr.nodes[i], adjoint[i]
        adjoint[i] = None  # done with: keep memory to what is still needed
        if bar is None:
            continue
        if node.kind == "variable":
            known = gradient.get(node.name)
            gradient[node.name] = bar if known is None else known + bar
            continue
        if node.kind != "op" or not live[i]:
            continue
        args = [*(values[a] for a in node.args), values[i]]  # the operands, then the value
        for a, partial in zip(node.args, partials[node.op], strict=True):
            if live[a]:
                term = bar * partial(args)
                adjoint[a] = term if adjoint[a] is None else adjoint[a] + term
    return values, gradient


_PARTIALS = Partials("screen", B)


def _leaf(node: Node, point: Mapping[str, Bounded], dtype: str, ctx: Context) -> Bounded:
    if node.kind == "number":
        return Bounded(np.float64(round_to(node.value, dtype)), 0.0, ctx)
    if node.kind == "constant":
        return Bounded(np.float64(round_to(CONSTANTS[node.name], dtype)), 0.0, ctx)
    return point[node.name]


def _sweep(
    expr: Expr, inputs: Mapping[str, np.ndarray], dtype: str, careful: bool
) -> tuple[list[Bounded], dict[str, Bounded], Context]:
    n = len(next(iter(inputs.values()))) if inputs else 1
    ctx = Context(n, careful)
    point = {name: Bounded(col, 0.0, ctx) for name, col in inputs.items()}
    seed = Bounded(
        np.ones(n, dtype=next(iter(inputs.values())).dtype if inputs else None), 0.0, ctx
    )
    values, gradient = sweep(expr, _PARTIALS, lambda node: _leaf(node, point, dtype, ctx), seed)
    return values, gradient, ctx


@dataclass(frozen=True)
class Columns:
    """The reference over a block of rows: ``|value - exact| <= value_bound`` in every row that
    is not shaky, and likewise for each gradient component."""

    value: np.ndarray
    value_bound: np.ndarray
    gradient: dict[str, np.ndarray]
    gradient_bound: dict[str, np.ndarray]
    nodes: list[np.ndarray]  #: every node's value (a 0-d number where no variable is below)
    node_bounds: list[Any]  #: and its bound
    shaky: np.ndarray  #: the bounds, and the NaNs, of these rows prove nothing


class Evaluator:
    """The bounded reference of one expression, evaluated block by block."""

    def __init__(self, expr: Expr, dtype: str) -> None:
        self.expr, self.dtype = expr, dtype
        self.stored = np.float32 if dtype == "float32" else np.float64  # as torch holds them

    def columns(self, inputs: Mapping[str, np.ndarray]) -> Columns:
        point = {
            name: np.asarray(col).astype(self.stored).astype(np.float64)
            for name, col in inputs.items()
        }
        try:
            # Fast: no underflow and no overflow may happen (the processor's flags say so).
            with np.errstate(over="raise", under="raise", divide="ignore", invalid="ignore"):
                nodes, gradient, ctx = _sweep(self.expr, point, self.dtype, False)
        except FloatingPointError:  # an underflow or overflow somewhere: again, with care
            with np.errstate(all="ignore"):
                nodes, gradient, ctx = _sweep(self.expr, point, self.dtype, True)
        n = len(ctx.shaky)

        def full(x: Any) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))

        with np.errstate(all="ignore"):
            value = nodes[-1]
            grads = {name: gradient.get(name, Bounded(0.0, 0.0, ctx)) for name in inputs}
            return Columns(
                full(value.v),
                full(value.e * GROW),
                {name: full(g.v) for name, g in grads.items()},
                {name: full(g.e * GROW) for name, g in grads.items()},
                [node.v for node in nodes],
                [node.e for node in nodes],
                ctx.shaky,
            )


def plain_columns(
    expr: Expr, inputs: Mapping[str, np.ndarray], dtype: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The same formulas over whole columns in plain float64, no bounds kept track of: how they
    fare with float64's rounding. Undefined results come out as NaN or inf."""
    stored = np.float32 if dtype == "float32" else np.float64  # the inputs as torch holds them
    point = {
        name: np.asarray(col).astype(stored).astype(np.float64) for name, col in inputs.items()
    }
    n = len(next(iter(point.values()))) if point else 1
    with np.errstate(all="ignore"):
        nodes, gradient, _ = _sweep(expr, point, dtype, False)
        value = np.broadcast_to(np.asarray(nodes[-1].v, dtype=np.float64), (n,))
        full = {
            name: np.zeros(n, dtype=np.float64) + (gradient[name].v if name in gradient else 0)
            for name in inputs
        }
    return value, full


def plain(expr: Expr, point: Mapping[str, float], dtype: str) -> tuple[float, dict[str, float]]:
    """The value and gradient at one point of scalars, with the formulas in plain float64."""
    value, gradient = plain_columns(
        expr, {n: np.array([x], dtype=np.float64) for n, x in point.items()}, dtype
    )
    return float(value[0]), {n: float(g[0]) for n, g in gradient.items()}


__all__ = ["B", "Bounded", "Columns", "Evaluator", "plain", "plain_columns", "sweep"]
