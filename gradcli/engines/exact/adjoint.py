"""The node-by-node reference: values and local derivatives in high precision, adjoints
propagated backwards through the tree, in time linear in its size.

SymPy's whole-expression derivative grows badly with the expression (a sum of 10,000 terms, a
chain of 200 nested functions); this reference does not. Each operation's value and local
derivatives are formulas SymPy derived one operation at a time (``_local_rules.py``); here they
are evaluated with arbitrary-precision arithmetic (mpmath, for one point) or over whole columns
(NumPy, in float64 or 80-bit ``longdouble``; ``bounded.py`` adds bounds), and the chain rule is
applied by reverse accumulation, exactly as backpropagation does but with different formulas
and different arithmetic from torch's.

For one point the pass runs at two working precisions and is repeated at higher ones until the
two agree to well beyond the 30 digits reported, so cancellation cannot fool it. Where an
operation leaves the real numbers (``log(-1)``, ``sqrt(-1)``) or hits a singularity (``1/0``)
the value, or the gradient, is undefined, with the place named.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import mpmath
import numpy as np

from ..._dev.local_rules import Formula
from ...language.nodes import Expr, Node
from ...language.ops import CONSTANTS
from ._rules import RULES
from .numbers import DIGITS, Exact, round_to

#: working precisions (decimal digits) tried in pairs until a pair agrees
PRECISIONS = ((50, 70), (120, 150), (300, 340))

Compiled = Callable[[Sequence[Any]], Any]
Partial = Callable[[Sequence[Any], Any], Any]  #: (operands, the node's value) -> derivative


@dataclass(frozen=True)
class Numbers:
    """One kind of arithmetic: how to make constants and call functions."""

    rational: Callable[[int, int], Any]
    pi: Callable[[], Any]
    e: Callable[[], Any]
    power: Callable[[Any, Any], Any]
    functions: Mapping[str, Callable[..., Any]]


def _heaviside_mp(x: Any, at_zero: Any = 0) -> Any:
    return mpmath.mpf(1) if x > 0 else (at_zero if x == 0 else mpmath.mpf(0))


def _mp_power(base: Any, exponent: Any) -> Any:
    if exponent == int(exponent) and abs(exponent) < 1 << 20:
        return base ** int(exponent)  # exact integer powers, and real for negative bases
    return mpmath.power(base, exponent)


MP = Numbers(
    rational=lambda p, q: mpmath.mpf(p) / q,
    pi=lambda: +mpmath.pi,
    e=lambda: +mpmath.e,
    power=_mp_power,
    functions={
        **{
            name: getattr(mpmath, name)
            for name in (
                *("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh"),
                *("asinh", "acosh", "atanh", "exp", "log", "erf"),
            )
        },
        "Abs": mpmath.fabs,
        "sign": mpmath.sign,
        "Heaviside": _heaviside_mp,
        # The derivative of sign and step: zero away from 0 (at 0 the kink check speaks).
        "DiracDelta": lambda x: mpmath.mpf(0),
        "Min": min,
        "Max": max,
        "sigmoid": lambda u: 1 / (1 + mpmath.exp(-u)),
        "softplus": lambda u: mpmath.log1p(mpmath.exp(u)),
        "detach": lambda u: u,
    },
)


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


def _np_power(base: Any, exponent: Any) -> Any:
    if np.ndim(exponent) == 0:
        done = simple_power(base, float(exponent), np.sqrt, lambda b: 1 / b)
        if done is not None:
            return done
    return np.power(base, exponent)


#: libm's erf over an array (NumPy has none), in float64
erf64 = np.vectorize(math.erf, otypes=[np.float64])


def numpy_numbers(dt: Any) -> Numbers:
    """Arithmetic over NumPy arrays of type ``dt``."""
    return Numbers(
        rational=lambda p, q: dt(p) / dt(q),
        pi=lambda: dt("3.14159265358979323846264338327950288"),
        e=lambda: dt("2.71828182845904523536028747135266250"),
        power=_np_power,
        functions={
            "sin": np.sin,
            "cos": np.cos,
            "tan": np.tan,
            "asin": np.arcsin,
            "acos": np.arccos,
            "atan": np.arctan,
            "sinh": np.sinh,
            "cosh": np.cosh,
            "tanh": np.tanh,
            "asinh": np.arcsinh,
            "acosh": np.arccosh,
            "atanh": np.arctanh,
            "exp": np.exp,
            "log": np.log,
            # NumPy has no erf: libm's, in float64 (its error is far inside the tolerance).
            "erf": lambda u: erf64(np.asarray(u, dtype=np.float64)).astype(dt),
            "Abs": np.abs,
            "sign": np.sign,
            "Heaviside": lambda x, at_zero=0: np.where(x > 0, dt(1), np.where(x == 0, at_zero, 0)),
            "DiracDelta": lambda x: np.zeros_like(x),
            "Min": np.minimum,
            "Max": np.maximum,
            "sigmoid": lambda u: 1 / (1 + np.exp(-u)),
            "softplus": lambda u: np.logaddexp(dt(0), u),
            "detach": lambda u: u,
        },
    )


FLOAT64 = numpy_numbers(np.float64)
LONGDOUBLE = numpy_numbers(np.longdouble)


def compile_formula(f: Formula, numbers: Numbers) -> Compiled:
    """A function of the operands that evaluates ``f`` with ``numbers``."""
    tag = f[0]
    if tag == "arg":
        i = f[1]
        return lambda a: a[i]
    if tag in ("num", "pi", "E"):
        c = (
            numbers.rational(f[1], f[2])
            if tag == "num"
            else (numbers.pi if tag == "pi" else numbers.e)()
        )
        return lambda a: c
    if tag == "call":
        fn = numbers.functions[f[1]]
        args = [compile_formula(g, numbers) for g in f[2:]]
        if len(args) == 1:
            only = args[0]
            return lambda a: fn(only(a))
        return lambda a: fn(*(g(a) for g in args))
    parts = [compile_formula(g, numbers) for g in f[1:]]
    if tag == "add":
        return lambda a: reduce(operator.add, [p(a) for p in parts])
    if tag == "mul":
        if f[1] == ("num", -1, 1) and len(parts) == 2:
            rest = parts[1]
            return lambda a: -rest(a)
        return lambda a: reduce(operator.mul, [p(a) for p in parts])
    if tag == "pow":
        base, exponent = parts
        if f[2][0] == "num":  # the common exponents, without a general power
            p, q = f[2][1], f[2][2]
            if (p, q) == (-1, 1):
                return lambda a: 1 / base(a)
            if (p, q) == (2, 1):
                return lambda a: _square(base(a))
            if (p, q) == (-2, 1):
                return lambda a: 1 / _square(base(a))
        return lambda a: numbers.power(base(a), exponent(a))
    raise ValueError(f"unknown formula {f!r}")


def _square(x: Any) -> Any:
    return x * x  # (the base evaluated once: it may be tan(u))


def _reuse_value(args: Sequence[Any], result: Any) -> Any:
    return result


def _partial(fn: Compiled) -> Partial:
    return lambda args, result: fn(args)


class Kernels:
    """Every operation's compiled value and partial derivatives, compiled on first use.

    A partial derivative is a function of the operands and the node's own value: where SymPy's
    formula is the operation itself (the derivative of exp is exp) the value is reused.
    """

    def __init__(self, numbers: Numbers) -> None:
        self.numbers = numbers
        self.cache: dict[str, tuple[Compiled, tuple[Partial, ...]]] = {}

    def __getitem__(self, op: str) -> tuple[Compiled, tuple[Partial, ...]]:
        if op not in self.cache:
            value, partials = RULES[op]
            compiled: list[Partial] = []
            for p in partials:
                compiled.append(
                    _reuse_value if p == value else _partial(compile_formula(p, self.numbers))
                )
            self.cache[op] = (compile_formula(value, self.numbers), tuple(compiled))
        return self.cache[op]


def supports(expr: Expr) -> bool:
    """Whether every operation has a node-by-node rule (not the matrix ones)."""
    return all(node.kind != "op" or node.op in RULES for node in expr.nodes)


def live_nodes(expr: Expr) -> list[bool]:
    """Nodes a gradient flows back through: they depend on a variable, not through detach."""
    live = []
    for node in expr.nodes:
        if node.kind == "variable":
            live.append(True)
        elif node.kind == "op" and node.op != "detach":
            live.append(any(live[a] for a in node.args))
        else:
            live.append(False)
    return live


def _leaf(node: Node, point: Mapping[str, Any], dtype: str, convert: Callable[[float], Any]) -> Any:
    if node.kind == "number":
        return convert(round_to(node.value, dtype))
    if node.kind == "constant":
        return convert(round_to(CONSTANTS[node.name], dtype))
    return point[node.name]


# ---- one point, in arbitrary precision ---------------------------------------------------------


class _UndefinedError(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _real(x: Any, node: Node) -> Any:
    """``x`` as a finite real, or _UndefinedError naming the operation."""
    if isinstance(x, mpmath.mpc):
        if x.imag != 0:
            raise _UndefinedError(f"complex: {node.op} at column {node.start + 1} leaves the reals")
        x = x.real
    if not mpmath.isfinite(x):
        raise _UndefinedError(f"infinite: {node.op} at column {node.start + 1} is at a singularity")
    return x


def _call(node: Node, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return _real(fn(*args), node)
    except (ZeroDivisionError, ValueError):
        raise _UndefinedError(
            f"infinite: {node.op} at column {node.start + 1} divides by zero"
        ) from None


def _pass(
    expr: Expr, point: Mapping[str, float], dtype: str, dps: int
) -> tuple[Any, dict[str, Any]]:
    """Value and gradient at ``dps`` digits; an entry is mpf, or the text of why it is not."""
    with mpmath.workdps(dps):
        kernels = Kernels(MP)
        inputs = {name: mpmath.mpf(round_to(float(x), dtype)) for name, x in point.items()}
        values: list[Any] = []
        try:
            for node in expr.nodes:
                if node.kind == "op":
                    args = [values[a] for a in node.args]
                    values.append(_call(node, kernels[node.op][0], args))
                else:
                    values.append(_leaf(node, inputs, dtype, mpmath.mpf))
        except _UndefinedError as stop:
            return stop.text, {name: "undefined (the function is)" for name in point}
        live = live_nodes(expr)
        adjoint: list[Any] = [mpmath.mpf(0)] * len(values)
        adjoint[-1] = mpmath.mpf(1)
        for i in range(len(values) - 1, -1, -1):
            node, bar = expr.nodes[i], adjoint[i]
            if node.kind != "op" or isinstance(bar, str) or bar == 0 or not live[i]:
                continue
            args = [values[a] for a in node.args]
            for a, partial in zip(node.args, kernels[node.op][1], strict=True):
                if not live[a] or isinstance(adjoint[a], str):
                    continue
                try:
                    adjoint[a] += bar * _call(node, partial, args, values[i])
                except _UndefinedError as stop:
                    adjoint[a] = stop.text
        gradient: dict[str, Any] = {name: mpmath.mpf(0) for name in point}
        for node, bar in zip(expr.nodes, adjoint, strict=True):
            if node.kind == "variable" and not isinstance(gradient[node.name], str):
                gradient[node.name] = bar if isinstance(bar, str) else gradient[node.name] + bar
        return values[-1], gradient


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return bool(a == b or abs(a - b) <= mpmath.mpf(10) ** -(DIGITS + 5) * max(abs(a), abs(b)))


def _exact(x: Any) -> Exact:
    if isinstance(x, str):
        return Exact(None, x)
    with mpmath.workdps(DIGITS + 10):
        value = +x  # rounded to the working precision
        return Exact(value, mpmath.nstr(value, DIGITS, min_fixed=-4, max_fixed=17))


def _settle(low: Any, high: Any) -> Any:
    if isinstance(low, str) or isinstance(high, str) or _close(low, high):
        return high
    if abs(high) < abs(low) * mpmath.mpf(10) ** -15:
        return mpmath.mpf(0)
    return high


def exact(expr: Expr, point: Mapping[str, float], dtype: str) -> tuple[Exact, dict[str, Exact]]:
    """The exact value and gradient of a scalar expression at ``point`` (scalar variables)."""
    for low, high in PRECISIONS:
        first = _pass(expr, point, dtype, low)
        second = _pass(expr, point, dtype, high)
        if _close(first[0], second[0]) and all(_close(first[1][n], second[1][n]) for n in point):
            break
    # Agreement at the highest precision tried; or a number that shrinks as fast as the
    # precision grows: the residue of a true zero (x - x computed the long way).
    value = _settle(first[0], second[0])
    return _exact(value), {n: _exact(_settle(first[1][n], second[1][n])) for n in point}


# ---- many points, in float64 or extended precision --------------------------------------------


def sweep(
    expr: Expr, kernels: Kernels, leaf: Callable[[Node], Any], seed: Any
) -> tuple[list[Any], dict[str, Any]]:
    """Every node's value, and the gradient by reverse accumulation (from ``seed``, the
    derivative of the output with respect to itself), in the arithmetic of ``kernels``. A
    variable nothing flows back to is missing from the gradient."""
    values: list[Any] = []
    for node in expr.nodes:
        if node.kind == "op":
            values.append(kernels[node.op][0]([values[a] for a in node.args]))
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
        args = [values[a] for a in node.args]
        for a, partial in zip(node.args, kernels[node.op][1], strict=True):
            if live[a]:
                term = bar * partial(args, values[i])
                adjoint[a] = term if adjoint[a] is None else adjoint[a] + term
    return values, gradient


def columns(
    expr: Expr, inputs: Mapping[str, np.ndarray], dtype: str, extended: bool = False
) -> tuple[np.ndarray, dict[str, np.ndarray], list[np.ndarray]]:
    """Value, gradient and every node's value over whole columns, with these formulas in plain
    float64 (how they fare with float64's rounding), or in NumPy's 80-bit ``longdouble``
    (``extended``: 11 bits more, at about five times the cost). Undefined results come out as
    NaN or inf, as IEEE arithmetic makes them.
    """
    dt = np.longdouble if extended else np.float64
    stored = np.float32 if dtype == "float32" else np.float64  # the inputs as torch holds them
    point = {name: np.asarray(col).astype(stored).astype(dt) for name, col in inputs.items()}
    n = len(next(iter(point.values()))) if point else 1
    with np.errstate(all="ignore"):
        values, gradient = sweep(
            expr,
            Kernels(LONGDOUBLE if extended else FLOAT64),
            lambda node: _leaf(node, point, dtype, dt),
            np.ones(n, dtype=dt),
        )
        full = {name: np.zeros(n, dtype=dt) + gradient.get(name, 0) for name in inputs}
    value = np.broadcast_to(np.asarray(values[-1], dtype=dt), (n,))
    return value, full, values  # (a node without variables below it is a 0-d number)


def rounding_error(
    expr: Expr,
    point: Mapping[str, float],
    dtype: str,
    exact_value: Exact,
    exact_gradient: Mapping[str, Exact],
) -> tuple[float, dict[str, float]]:
    """How far the same formulas land from the exact numbers in float64 arithmetic: what
    rounding alone can do at this point, including inside derivative formulas (1 - tanh(u)**2
    near tanh(u) = 1), which nudging torch's node values cannot show."""

    def off(got: Any, exact: Exact) -> float:
        if exact.value is None:
            return 0.0
        got = float(got[0])
        return abs(got - float(exact.value)) if math.isfinite(got) else math.inf

    inputs = {name: np.array([x], dtype=np.float64) for name, x in point.items()}
    value, gradient, _ = columns(expr, inputs, dtype)
    return off(value, exact_value), {n: off(gradient[n], exact_gradient[n]) for n in point}


__all__ = ["FLOAT64", "LONGDOUBLE", "MP", "columns", "exact", "supports", "sweep"]
