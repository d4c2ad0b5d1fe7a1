"""The node-by-node exact reference: every node's value in proven arithmetic, each operation's
local partial derivatives from SymPy (``_rules.py``), and the chain rule by reverse
accumulation, in time linear in the size of the tree.

It follows the expression exactly as written, one operation at a time, with the operations'
own meaning (``step(0) = 0``, ``0**0 = 1``), so it is the authority on where the function is
defined: a node that leaves the real numbers, or reaches a pole, makes the function undefined
at the point, whatever the nodes above it do with that (``x/x`` at 0 is 0/0, not 1).

At a kink (``abs`` at 0, ``relu`` at 0, ``max`` at a tie), the local slope is not one number.
There the derivative is decided from the slopes along +e_i and -e_i (forward mode, one pass per
variable element through a kink): these operations are positively homogeneous at their kink,
so the slope of ``abs(u)`` along a direction is ``abs(du)``. Each tangent is kept as an odd and
an even part (``t(+1) = a + b``, ``t(-1) = -a + b``); the partial derivative exists exactly
when the even part of the output is exactly 0, and then it is the odd part. So ``x*abs(x)`` at
0 has slope 0, ``relu(x) - relu(-x)`` slope 1 (though torch's convention gives 0), and
``abs(x)`` none (its one-sided slopes are -1 and 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...language.nodes import Expr, Node, live_nodes
from ...language.ops import CONSTANTS, OPS
from ...language.values import Array, Value, labels, round_to
from ...limits import MAX_DIRECTIONAL, PRECISION_CAP, SETTLED_BITS, START_BITS
from ..formulas import Partials
from ..overlay import Overlay
from . import real
from ._rules import RULES
from .functions import X
from .real import FINITE, INFINITE, NUMBERS, Kind, Real, Undecided

Values = Any  #: a Real, or an object ndarray of Reals

#: operations whose operands may be swapped (for recognising the same operation twice)
_COMMUTATIVE = frozenset(("add", "mul", "min", "max", "hypot"))


@dataclass(frozen=True)
class KinkHit:
    """A non-smooth operation whose exact operands sit on its kink (at some element)."""

    node: int
    kind: str  #: "corner" or "jump"
    decided: bool  #: False: the balls could not tell whether it is exactly on the kink


@dataclass(frozen=True)
class OneSided:
    """A partial derivative decided direction by direction, through a kink."""

    exists: bool | None  #: None: not decided (the even part not separated from 0)
    value: Real  #: the derivative where it exists
    right: Real  #: the slope along +e_i
    left: Real  #: the slope from the left, -(slope along -e_i)


@dataclass
class Reference:
    """What the node-by-node pass proved at one precision."""

    bits: int
    values: list[Values]  #: every node's exact value
    value: Values  #: the root's
    failure: int | None  #: the first node whose value is not a finite real (or None)
    gradients: list[dict[str, Real]]  #: per seed: element label -> exact derivative
    #: per seed: label -> sum of |chain-rule contributions| (worked out when first asked for)
    scales: list[MutableMapping[str, float]]
    kinks: list[KinkHit] = field(default_factory=list)
    one_sided: list[dict[str, OneSided]] = field(default_factory=list)  #: per seed
    jumps: dict[str, int] = field(default_factory=dict)  #: label -> the jump node it meets
    #: op node -> its local partial derivatives (where the reverse pass needed them)
    partials: dict[int, tuple[Values, ...]] = field(default_factory=dict)
    settled: bool = True  #: every number is settled (more precision would not change a verdict)

    @property
    def gradient(self) -> dict[str, Real]:
        return self.gradients[0] if self.gradients else {}

    @property
    def scale(self) -> MutableMapping[str, float]:
        return self.scales[0] if self.scales else {}


class LazyScales(Overlay):
    """Each label's scale, from a second reverse pass made only when the judge first needs
    one (most numbers agree on the relative tolerance alone); entries may be set over it."""

    def __init__(self, p: _Pass, seed: Values, bits: int) -> None:
        super().__init__()
        self._pass, self._seed, self._bits = p, seed, bits
        self._data: dict[str, float] | None = None

    def _load(self) -> dict[str, float]:
        if self._data is None:
            with real.working_precision(self._bits):
                self._data = self._pass.reverse(self._seed, with_sizes=True)[1]
        return self._data


def supports(expr: Expr) -> bool:
    """Every operation of the tree has rules (all do; kept for the strategy's benefit)."""
    return all(node.kind != "op" or node.op in OPS for node in expr.nodes)


# ---- values ------------------------------------------------------------------------------------


def _leaf(node: Node, point: Mapping[str, Value], dtype: str) -> Values:
    if node.kind == "number":
        return real.of_float(round_to(node.value, dtype))
    if node.kind == "constant":
        return real.of_float(round_to(CONSTANTS[node.name], dtype))
    value = point[node.name]
    if isinstance(value, Real):  # (an exact point given directly: finite differences)
        return value
    if isinstance(value, Array):
        out = np.empty(len(value.data), dtype=object)
        for i, x in enumerate(value.data):
            out[i] = real.of_float(round_to(x, dtype))
        return out.reshape(value.shape)
    return real.of_float(round_to(float(value), dtype))


def _leaf_key(node: Node, point: Mapping[str, Value], v: Values, dtype: str) -> Any:
    """What makes two leaves the same number, for the pass's ids: the double they stand for
    (a float hashes fast, a rational through Python's Fraction slowly; of_float is exact, so
    equal doubles are equal numbers); an exact point given directly by its rational; None for
    an array."""
    if not isinstance(v, Real) or v.kind is not Kind.EXACT:
        return None
    if node.kind == "number":
        return ("f", round_to(node.value, dtype))
    if node.kind == "constant":
        return ("f", round_to(CONSTANTS[node.name], dtype))
    given = point[node.name]
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return ("f", round_to(float(given), dtype))
    return ("q", v.q)


def _safe(fn: Callable[..., Real], *args: Any) -> Real:
    try:
        return fn(X, *args)
    except Undecided:
        return real.unknown("a comparison not decided at this precision")
    except (ZeroDivisionError, ValueError, OverflowError) as e:  # (FLINT's own refusals)
        return real.unknown(f"the ball arithmetic refused: {e}")


def _elementwise(fn: Callable[..., Real], args: Sequence[Values]) -> Values:
    if all(type(a) is Real for a in args):
        return _safe(fn, *args)
    vectorized = np.frompyfunc(lambda *a: _safe(fn, *a), len(args), 1)
    return vectorized(*args)


def _elements(v: Values) -> Iterator[Real]:
    if isinstance(v, Real):
        yield v
    else:
        yield from v.flat


def _first_failure(v: Values) -> Real | None:
    for x in _elements(v):
        if x.kind not in FINITE:
            return x
    return None


def _settled(x: Real) -> bool:
    if x.kind is Kind.BALL:
        return not x.b.contains(0) and x.b.rel_accuracy_bits() >= SETTLED_BITS
    return x.kind is not Kind.UNKNOWN


# ---- array operations --------------------------------------------------------------------------


def _reduce_to(x: Values, shape: tuple[int, ...]) -> Values:
    """Sum a broadcast adjoint back to an operand's shape."""
    xs = np.shape(x) if not isinstance(x, Real) else ()
    if xs == shape:
        return x
    arr = np.asarray(x, dtype=object)
    while arr.ndim > len(shape):
        arr = np.asarray(arr.sum(axis=0), dtype=object)  # (a 1-d sum is a bare object)
    for axis, n in enumerate(shape):
        if n == 1 and arr.shape[axis] != 1:
            arr = np.asarray(arr.sum(axis=axis, keepdims=True), dtype=object)
    return arr.item() if arr.ndim == 0 else arr


def _shape(v: Values) -> tuple[int, ...]:
    return () if isinstance(v, Real) else tuple(v.shape)


def _as_real(v: Values) -> Values:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    return v


def _vjp(op: str, bar: Values, args: Sequence[Values]) -> tuple[Values, ...]:
    """The adjoints of the operands of a whole-array operation."""
    if op == "sum":
        (u,) = args
        return (bar if isinstance(u, Real) else np.full(u.shape, bar, dtype=object),)
    if op == "mean":
        (u,) = args
        if isinstance(u, Real):
            return (bar,)
        return (np.full(u.shape, bar / real.rational(u.size), dtype=object),)
    if op == "dot":
        u, v = args
        return (v * bar, u * bar)
    if op == "matmul":
        u, v = args
        g = bar if not isinstance(bar, Real) else np.array(bar, dtype=object)
        if u.ndim == 1 and v.ndim == 1:
            return (v * bar, u * bar)
        if u.ndim == 2 and v.ndim == 2:
            return (g @ v.T, u.T @ g)
        if u.ndim == 1:  # (m,) @ (m, k) -> (k,)
            return (v @ g, np.outer(u, g))
        return (np.outer(g, v), u.T @ g)  # (n, m) @ (m,) -> (n,)
    raise ValueError(op)


def _jvp(op: str, args: Sequence[Values], tangents: Sequence[Values | None]) -> Values:
    """The tangent of a whole-array operation from its operands' tangents."""
    fn = OPS[op].exact
    if op in ("sum", "mean"):
        return _as_real(fn(X, tangents[0]))
    u, v = args
    du, dv = tangents
    parts = []
    if du is not None:
        parts.append(_as_real(fn(X, du, v)))
    if dv is not None:
        parts.append(_as_real(fn(X, u, dv)))
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


# ---- the pass ----------------------------------------------------------------------------------


class _Pass:
    """One evaluation at one precision."""

    def __init__(
        self,
        expr: Expr,
        point: Mapping[str, Value],
        dtype: str,
        frozen: Mapping[int, Values] | None = None,
    ) -> None:
        self.expr, self.point, self.dtype = expr, point, dtype
        self.frozen = frozen or {}
        self.live = live_nodes(expr)
        self.partials = Partials("exact", X, _abs_float)
        self.local: dict[int, tuple[Values, ...]] = {}
        self.sizes: dict[int, tuple[Any, ...]] = {}
        self.values: list[Values] = []
        self.kinks: list[KinkHit] = []
        self.kink_at: dict[int, Any] = {}  #: node -> where (bool, or a bool array) it is on it
        self.failure: int | None = None
        self.settled = True
        #: every variable a plain number: then every node's value is one Real (no arrays to
        #: look for, node after node)
        self.scalar = not any(isinstance(v, Array) for v in point.values())

    def forward(self) -> None:
        # Each node gets an id: the same operation on the same numbers gets the same id, and
        # the same value object, so x - x and ties such as max(sin(x), sin(1)) at x = 1 are
        # exact even where the balls alone could not show it.
        ids: dict[Any, int] = {}
        shared: dict[int, Values] = {}
        node_ids: list[int] = []
        # A leaf's value and key once per name or number: a variable used 50,000 times is
        # converted once (and a rational's hash, through Python's Fraction, is slow)
        leaves: dict[tuple[str, Any], tuple[Values, Any]] = {}
        for i, node in enumerate(self.expr.nodes):
            if node.kind != "op":
                which = (node.kind, node.value if node.kind == "number" else node.name)
                known_leaf = leaves.get(which)
                if known_leaf is None:
                    v = _leaf(node, self.point, self.dtype)
                    known_leaf = leaves[which] = (v, _leaf_key(node, self.point, v, self.dtype))
                v, key = known_leaf
                if key is None:
                    key = i
            else:
                op = OPS[node.op]
                args = [self.values[a] for a in node.args]
                arg_ids = tuple(node_ids[a] for a in node.args)
                if node.op in _COMMUTATIVE:
                    arg_ids = tuple(sorted(arg_ids))
                key = (node.op, arg_ids)
                known = ids.get(key)
                if i in self.frozen:  # (held at a given value: finite differences)
                    v, key = self.frozen[i], ("frozen", i)
                elif known is not None:
                    v = shared[known]
                elif op.elementwise:
                    v = _safe(op.exact, *args) if self.scalar else _elementwise(op.exact, args)
                else:
                    v = _as_real(op.exact(X, *args))
                if op.kink is not None and self.live[i]:
                    self._kink(i, op.kink, args)
            node_id = ids.setdefault(key, len(ids))
            shared.setdefault(node_id, v)
            node_ids.append(node_id)
            self.values.append(v)
            bad = (None if v.kind in FINITE else v) if isinstance(v, Real) else _first_failure(v)
            if bad is not None:
                if bad.kind is Kind.UNKNOWN:
                    self.settled = False
                elif self.failure is None:
                    self.failure = i

    def _kink(self, i: int, kink: Any, args: Sequence[Values]) -> None:
        def at(*a: Real) -> Any:
            if any(x.kind not in FINITE for x in a):
                return False
            try:
                return bool(kink.at(X, *a))
            except Undecided:
                return None

        if all(isinstance(a, Real) for a in args):
            where: Any = at(*args)
            hit, undecided = where is True, where is None
        else:
            where = np.frompyfunc(at, len(args), 1)(*args)
            flags = list(where.flat)
            hit = any(f is True for f in flags)
            undecided = any(f is None for f in flags)
        if hit or undecided:
            self.kinks.append(KinkHit(i, kink.kind, not undecided))
            self.kink_at[i] = where
            if undecided:
                self.settled = False

    def partials_of(self, i: int) -> tuple[Values, ...]:
        got = self.local.get(i)
        if got is not None:
            return got
        node = self.expr.nodes[i]
        if self.scalar:
            fixed = _constant_partials(node.op)
            if fixed is not None:  # (sums and differences: the same numbers at every node)
                return fixed[0]
        # the operands and the operation's own value (the formulas may reuse it)
        args = [self.values[a] for a in node.args] + [self.values[i]]
        compiled = self.partials[node.op]

        def one(*a: Real) -> tuple[Real, ...]:
            return _one_partials(self, node.op, a)

        if self.scalar or all(isinstance(a, Real) for a in args):
            got = one(*args)
        else:
            parts = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
            result = [np.empty(parts[0].shape, dtype=object) for _ in compiled]
            for index in np.ndindex(parts[0].shape):
                for k, p in enumerate(one(*(q[index] for q in parts))):
                    result[k][index] = p
            got = tuple(result)
        self.local[i] = got
        return got

    def sizes_of(self, i: int) -> tuple[Any, ...]:
        """The size of the terms of each local partial at node ``i`` (floats, or arrays)."""
        got = self.sizes.get(i)
        if got is not None:
            return got
        node = self.expr.nodes[i]
        if self.scalar:
            fixed = _constant_partials(node.op)
            if fixed is not None:
                return fixed[1]
        args = [self.values[a] for a in node.args] + [self.values[i]]  # (as in partials_of)
        local = self.partials_of(i)
        compiled = self.partials.magnitudes(node.op)
        own = OPS[node.op].exact_partials is not None

        def one(k: int, *a: Real) -> float:
            f = compiled[k]
            if f is None or own:  # (no sum or product: the size of the partial's value)
                return math.nan
            try:
                return float(f(a))
            except Undecided:
                return math.inf

        out: list[Any] = []
        scalar = all(isinstance(a, Real) for a in args)
        for k in range(len(local)):
            if scalar:
                size = one(k, *args)
                out.append(_abs_float(local[k]) if size != size else size)
                continue
            parts = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
            sizes = np.empty(parts[0].shape, dtype=np.float64)
            for index in np.ndindex(parts[0].shape):
                size = one(k, *(q[index] for q in parts))
                sizes[index] = _abs_float(local[k][index]) if size != size else size
            out.append(sizes)
        got = tuple(out)
        self.sizes[i] = got
        return got

    def reverse(
        self, seed: Values, with_sizes: bool = False
    ) -> tuple[dict[str, Real], dict[str, float]]:
        """The gradient from ``seed`` (the output's adjoint), and with ``with_sizes`` each
        label's scale (the sum of the magnitudes of its chain-rule contributions; 0 without)."""
        expr, values = self.expr, self.values
        n = len(values)
        adjoint: list[Values | None] = [None] * n
        scale: list[Any] = [None] * n
        adjoint[-1] = seed
        scale[-1] = _abs_floats(seed) if with_sizes else 0.0
        totals: dict[str, Values] = {}
        scales: dict[str, Any] = {}
        for i in range(n - 1, -1, -1):
            bar, mag = adjoint[i], scale[i]
            adjoint[i] = scale[i] = None  # done with: keep memory to what is still needed
            if bar is None:
                continue
            node = expr.nodes[i]
            if node.kind == "variable":
                totals[node.name] = bar if node.name not in totals else totals[node.name] + bar
                scales[node.name] = mag if node.name not in scales else scales[node.name] + mag
                continue
            if node.kind != "op" or not self.live[i]:
                continue
            # (an exact zero adjoint still goes through: times an infinite local slope it is
            # 0*inf, no number; (sqrt(x))**2 at 0 has slope 1, not 0)
            op = OPS[node.op]
            args = [values[a] for a in node.args]
            if op.elementwise:
                local = self.partials_of(i)
                terms = self.sizes_of(i) if with_sizes else None
                scalar = self.scalar or (
                    isinstance(bar, Real) and all(isinstance(v, Real) for v in args)
                )
                for k, a in enumerate(node.args):
                    if not self.live[a]:
                        continue
                    size: Any = 0.0
                    if scalar:  # (the common case, without the arrays' broadcasting)
                        contribution = bar * local[k]
                        if terms is not None:
                            size = mag * terms[k]
                    else:
                        contribution = _reduce_to(_times(bar, local[k]), _shape(values[a]))
                        if terms is not None:
                            size = _reduce_to_floats(mag * terms[k], _shape(values[a]))
                    _accumulate(adjoint, scale, a, contribution, size)
            else:
                for a, contribution in zip(node.args, _vjp(node.op, bar, args), strict=True):
                    if self.live[a]:
                        size = _abs_floats(contribution) if with_sizes else 0.0
                        _accumulate(adjoint, scale, a, _as_real(contribution), size)
        gradient: dict[str, Real] = {}
        sizes: dict[str, float] = {}
        for name, value in self.point.items():
            got = totals.get(name)
            mags = scales.get(name)
            names = labels(name, value)
            if got is None:
                for label in names:
                    gradient[label], sizes[label] = real.ZERO, 0.0
            elif isinstance(got, Real):
                gradient[names[0]], sizes[names[0]] = got, float(mags or 0.0)
            else:
                sizes_of = np.broadcast_to(np.asarray(mags, dtype=np.float64), got.shape)
                for label, g, s in zip(names, got.flat, sizes_of.flat, strict=True):
                    gradient[label], sizes[label] = g, float(s)
        return gradient, sizes

    def directional(self, name: str, element: int) -> tuple[Values, Values] | None:
        """The output's tangent along +e (odd part, even part) for one variable element, or
        None when a kink on the way cannot be decided (or torch's rule does not apply)."""
        expr, values = self.expr, self.values
        odd: list[Values | None] = [None] * len(values)
        even: list[Values | None] = [None] * len(values)
        for i, node in enumerate(expr.nodes):
            if node.kind == "variable":
                if node.name == name:
                    v = values[i]
                    if isinstance(v, Real):
                        odd[i], even[i] = real.ONE, real.ZERO
                    else:
                        seed = np.full(v.shape, real.ZERO, dtype=object)
                        seed.flat[element] = real.ONE
                        odd[i], even[i] = seed, np.full(v.shape, real.ZERO, dtype=object)
                continue
            if node.kind != "op" or not self.live[i]:
                continue
            ts = [(odd[a], even[a]) for a in node.args]
            if all(t[0] is None for t in ts):
                continue
            op = OPS[node.op]
            args = [values[a] for a in node.args]
            if not op.elementwise:
                odd[i] = _jvp(node.op, args, [t[0] for t in ts])
                even[i] = _jvp(node.op, args, [t[1] for t in ts])
                continue
            shape = _shape(values[i])
            local = self.partials_of(i)
            a_out: Values = None
            b_out: Values = None
            for k, (ta, tb) in enumerate(ts):
                if ta is None:
                    continue
                pa, pb = _times(local[k], ta), _times(local[k], tb)
                a_out = pa if a_out is None else a_out + pa
                b_out = pb if b_out is None else b_out + pb
            where = self.kink_at.get(i)
            if where is not None:
                if op.kink is not None and op.kink.kind == "jump":
                    return None
                corrected = _corner(op.exact, ts, where, shape)
                if corrected is None:
                    return None
                a_out, b_out = (
                    _replace_at(a_out, corrected[0], where),
                    _replace_at(b_out, corrected[1], where),
                )
            odd[i], even[i] = a_out, b_out
        return odd[-1], even[-1]


@functools.cache
def _constant_partials(op_name: str) -> tuple[tuple[Real, ...], tuple[float, ...]] | None:
    """The local partials of an operation whose partials are numbers (``add``: 1 and 1,
    ``sub``: 1 and -1), with their sizes; None for any other."""
    op = OPS[op_name]
    rules: Any = RULES.get(op_name)  # (a generated table: its type is a long union)
    if rules is None or op.exact_partials is not None or not op.elementwise:
        return None
    numbers: list[tuple[int, int]] = []
    for rule in rules:
        if rule[0] != "num":
            return None
        numbers.append((int(rule[1]), int(rule[2])))
    values = tuple(real.rational(p, q) for p, q in numbers)
    return values, tuple(abs(p / q) for p, q in numbers)


def _one_partials(p: _Pass, op_name: str, a: Sequence[Real]) -> tuple[Real, ...]:
    """One element's local partials (``a``: the operands, then the operation's value): the
    row's own where it has them here, else SymPy's."""
    op = OPS[op_name]
    if op.exact_partials is not None:
        try:
            special = op.exact_partials(X, *a[:-1])
        except Undecided:
            special = None
        if special is not None:
            return tuple(special)
    out = []
    for f in p.partials[op_name]:
        try:
            out.append(f(a))
        except Undecided:
            out.append(real.unknown("a comparison not decided at this precision"))
    return tuple(out)


def _corner(
    fn: Callable[..., Real], ts: Sequence[tuple[Values, Values]], where: Any, shape: Any
) -> tuple[Values, Values] | None:
    """The (odd, even) tangent of a corner operation at its kink: the operation applied to the
    operands' one-sided slopes (it is positively homogeneous there)."""

    def one(*parts: Real) -> tuple[Real, Real]:
        k = len(parts) // 2
        a, b = parts[:k], parts[k:]
        plus = _safe(fn, *(ai + bi for ai, bi in zip(a, b, strict=True)))
        minus = _safe(fn, *(bi - ai for ai, bi in zip(a, b, strict=True)))
        half = real.rational(1, 2)
        return (plus - minus) * half, (plus + minus) * half

    zero = real.ZERO
    filled = [(t[0] if t[0] is not None else zero, t[1] if t[1] is not None else zero) for t in ts]
    if isinstance(where, bool):
        pair = one(*(f[0] for f in filled), *(f[1] for f in filled))
        if any(p.kind not in NUMBERS for p in pair):
            return None
        return pair
    arrays = np.broadcast_arrays(
        *[np.asarray(f[0], dtype=object) for f in filled],
        *[np.asarray(f[1], dtype=object) for f in filled],
        np.asarray(where, dtype=object),
    )
    out_a = np.empty(arrays[0].shape, dtype=object)
    out_b = np.empty(arrays[0].shape, dtype=object)
    for index in np.ndindex(arrays[0].shape):
        if arrays[-1][index] is not True:
            out_a[index] = out_b[index] = None
            continue
        pa, pb = one(*(arr[index] for arr in arrays[:-1]))
        if pa.kind not in NUMBERS or pb.kind not in NUMBERS:
            return None
        out_a[index], out_b[index] = pa, pb
    return out_a, out_b


def _replace_at(base: Values, new: Values, where: Any) -> Values:
    if isinstance(where, bool):
        return new
    out = np.array(base, dtype=object) if not isinstance(base, np.ndarray) else base.copy()
    out = np.broadcast_to(out, np.shape(new)).copy() if out.shape != np.shape(new) else out
    for index in np.ndindex(np.shape(new)):
        if new[index] is not None:
            out[index] = new[index]
    return out


def _times(a: Values, b: Values) -> Values:
    if isinstance(a, Real) and isinstance(b, Real):
        return a * b
    return np.asarray(a, dtype=object) * np.asarray(b, dtype=object)


def _all_zero(v: Values) -> bool:
    return all(x.kind is Kind.EXACT and x.q == 0 for x in _elements(v))


def _abs_floats(v: Values) -> Any:
    if isinstance(v, Real):
        return _abs_float(v)
    return np.vectorize(_abs_float, otypes=[np.float64])(v) if v.size else np.zeros(v.shape)


def _abs_float(x: Real) -> float:
    f = abs(float(x))
    return f if f == f else math.inf


def _reduce_to_floats(x: Any, shape: tuple[int, ...]) -> Any:
    if np.shape(x) == shape:
        return x
    arr = np.asarray(x, dtype=np.float64)
    while arr.ndim > len(shape):
        arr = arr.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and arr.shape[axis] != 1:
            arr = arr.sum(axis=axis, keepdims=True)
    return float(arr) if arr.ndim == 0 else arr


def _accumulate(adjoint: list[Any], scale: list[Any], a: int, contribution: Any, size: Any) -> None:
    if adjoint[a] is None:
        adjoint[a], scale[a] = contribution, size
    else:
        adjoint[a] = adjoint[a] + contribution
        scale[a] = scale[a] + size


# ---- the reference, at rising precision --------------------------------------------------------


def evaluate(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    seeds: Sequence[Values] | None = None,
    bits: int = START_BITS,
    frozen: Mapping[int, Values] | None = None,
) -> Reference:
    """The reference at one precision. ``seeds`` are the output's adjoints to differentiate
    from (default: 1, for a scalar output; a vector for a VJP; one per Jacobian row);
    ``frozen`` holds some nodes at given values (no gradient flows through them anyway)."""
    with real.working_precision(bits):
        p = _Pass(expr, point, dtype, frozen)
        p.forward()
        value = p.values[-1]
        if seeds is None:
            seeds = [real.ONE]
        seeds = [_lift_seed(s) for s in seeds]
        gradients: list[dict[str, Real]] = []
        scales: list[MutableMapping[str, float]] = []
        one_sided: list[dict[str, OneSided]] = []
        jumps: dict[str, int] = {}
        depends = expr.depends() if p.kinks else []
        corner_vars: set[str] = set()
        for hit in p.kinks:
            for name in depends[hit.node]:
                if hit.kind == "jump" or not hit.decided:
                    for label in labels(name, point[name]):
                        jumps.setdefault(label, hit.node)
                else:
                    corner_vars.add(name)
        for seed in seeds:
            if p.failure is not None:
                gradients.append(
                    {label: real.undefined("the function is undefined") for label in _labels(point)}
                )
                scales.append({label: 0.0 for label in _labels(point)})
                one_sided.append({})
                continue
            g, _ = p.reverse(seed)
            gradients.append(g)
            scales.append(LazyScales(p, seed, bits))
            decided: dict[str, OneSided] = {}
            budget = MAX_DIRECTIONAL
            for name in sorted(corner_vars):
                for element, label in enumerate(labels(name, point[name])):
                    if label in jumps:
                        continue
                    if budget <= 0:
                        jumps[label] = -1  # (not decided: past the budget)
                        continue
                    budget -= 1
                    decided[label] = _one_sided(p.directional(name, element), seed)
            one_sided.append(decided)
        settled = p.settled and all(_settled(x) for x in _elements(value))
        for g, decided in zip(gradients, one_sided, strict=True):
            for label, x in g.items():
                if label in jumps:
                    continue  # (decided by the kink, whatever the number)
                known = decided.get(label)
                if known is None:
                    settled = settled and _settled(x)
                else:
                    settled = settled and known.exists is not None and _settled(known.value)
        return Reference(
            bits,
            p.values,
            value,
            p.failure,
            gradients,
            scales,
            p.kinks,
            one_sided,
            jumps,
            p.local,
            settled,
        )


def _lift_seed(seed: Values) -> Values:
    if isinstance(seed, Real):
        return seed
    if isinstance(seed, (int, float)):
        return real.of_float(float(seed))
    if isinstance(seed, Array):
        out = np.empty(len(seed.data), dtype=object)
        for i, x in enumerate(seed.data):
            out[i] = real.of_float(x)
        return out.reshape(seed.shape)
    return seed


def _labels(point: Mapping[str, Value]) -> list[str]:
    return [label for name, value in point.items() for label in labels(name, value)]


def _one_sided(tangent: tuple[Values, Values] | None, seed: Values) -> OneSided:
    unknown = real.unknown("a kink that could not be decided")
    if tangent is None:
        return OneSided(None, unknown, unknown, unknown)
    a, b = tangent
    if not isinstance(seed, Real) or not isinstance(a, Real):  # a VJP: the weighted sum
        weights = np.asarray(seed, dtype=object)
        a = sum((w * x for w, x in zip(weights.flat, np.asarray(a).flat, strict=True)), real.ZERO)
        b = sum((w * x for w, x in zip(weights.flat, np.asarray(b).flat, strict=True)), real.ZERO)
    elif seed is not real.ONE:
        a, b = a * seed, b * seed
    right, left = a + b, a - b
    if b.kind is Kind.EXACT and b.q == 0:
        return OneSided(True, a, right, left)
    if b.kind in NUMBERS and b.sign() is not None:
        return OneSided(False, a, right, left)
    if b.kind in INFINITE or b.kind in (Kind.NOT_REAL, Kind.UNDEFINED):
        return OneSided(False, a, right, left)
    return OneSided(None, a, right, left)


def refine(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    seeds: Sequence[Values] | None = None,
    cap: int = PRECISION_CAP,
) -> Iterator[Reference]:
    """The reference at rising precision (x4 each time), until it is settled or at ``cap``
    bits: the caller takes the last one it had time for."""
    bits = START_BITS
    while True:
        ref = evaluate(expr, point, dtype, seeds, bits)
        yield ref
        if ref.settled or bits >= cap:
            return
        bits = min(cap, bits * 4)


def final(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    seeds: Sequence[Values] | None = None,
) -> Reference:
    """The reference :func:`refine` settles on (with no time limit of its own)."""
    last = None
    for ref in refine(expr, point, dtype, seeds):
        last = ref
    assert last is not None
    return last


__all__ = [
    "KinkHit",
    "OneSided",
    "Reference",
    "evaluate",
    "final",
    "refine",
    "supports",
]
