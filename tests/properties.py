"""Random expressions for the property tests and the long fuzz run.

Three kinds:

- :func:`cases`: smooth at every point in [-2, 2]^n: functions with a restricted domain only see
  arguments that stay inside it (log(1 + u**2), asin(tanh(u)), ...);
- :func:`wild_cases`: every function and operator of the op table (drawn from the table, so a
  new row is tested at once) on raw operands, at awkward points: undefined, infinite,
  overflowing and non-smooth places are what they are for;
- :func:`special_cases`: an expression and an exact point, with one inner node shifted to an
  exact zero (``u - u(p)``) or turned into a pole (``1/(u - u(p))``), so that zeros, poles,
  kinks and domain edges are drawn on purpose, not only met by chance.

The independent oracle is a finite difference of the function's exact values (the exact
engine's op kernels, at 256 bits, a step of 2**-60): it uses no derivative formula at all,
neither torch's nor SymPy's.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis import strategies as st

from gradcli.batch import check as batchcheck
from gradcli.engines.exact import nodewise, real
from gradcli.engines.exact.real import Kind
from gradcli.errors import GradcliError
from gradcli.language.nodes import Expr
from gradcli.language.ops import OPS
from gradcli.language.parser import parse
from gradcli.results import Status

NAMES = ["x", "y", "z", "w"]

# No shrinking: a failure is reported at once, with the example as drawn (each example runs
# torch and the exact engines, and shrinking one could take many minutes).
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=NO_SHRINK,
)


# ---- smooth expressions ---------------------------------------------------------------------

# Each wraps an operand's text into a smooth, in-domain use of one function of the table.
UNARY = [
    "sin({})",
    "cos({})",
    "tanh({})",
    "atan({})",
    "sigmoid({})",
    "softplus({})",
    "erf({})",
    "exp(tanh({}))",
    "expm1(tanh({}))",
    "sinh(tanh({}))",
    "cosh(tanh({}))",
    "asinh({})",
    "log(1 + ({})**2)",
    "log1p(({})**2)",
    "sqrt(1 + ({})**2)",
    "asin(tanh({}))",
    "acos(tanh({})/2)",
    "acosh(2 + ({})**2)",
    "atanh(tanh({})/2)",
    "log2(1 + ({})**2)",
    "log10(2 + ({})**2)",
    "-({})",
    "+({})",
    "detach({})",
    "sum({})",
    "mean({})",
]
BINARY = [
    "({}) + ({})",
    "({}) - ({})",
    "({}) * ({})",
    "({}) / (1 + ({})**2)",
    "(1 + ({})**2) ** (({})/4)",
    "pow(1 + ({})**2, 0.5)",
    "atan2({}, 2 + ({})**2)",
    "hypot({}, 1 + ({})**2)",
]
CONSTANTS = ["1", "2", "3", "0.5", "1.5", "0.25", "pi", "e"]


def expressions(names: list[str], max_leaves: int = 12) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(names + CONSTANTS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1]))
        binary = st.tuples(st.sampled_from(BINARY), inner, inner).map(
            lambda t: t[0].format(t[1], t[2]) if t[0].count("{}") == 2 else t[0].format(t[1])
        )
        return unary | binary

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def cases(max_leaves: int = 12) -> st.SearchStrategy[tuple[str, dict[str, float]]]:
    """(expression, point) with 1 to 4 variables, all used, values in [-2, 2]."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, dict[str, float]]:
        k = draw(st.integers(1, 4))
        names = NAMES[:k]
        text = draw(expressions(names, max_leaves))
        used = set(parse(text).variables)
        text = " + ".join([text, *(f"0*{n}" for n in names if n not in used)])
        point = {n: draw(st.floats(-2, 2, allow_nan=False, width=64)) for n in names}
        return text, point

    return build()


# ---- the independent oracle: finite differences of exact values -------------------------------


def exact_value(
    expr: Expr,
    point: dict[str, object],
    frozen: dict[int, object] | None = None,
    bits: int = 256,
) -> real.Real:
    """The function's exact value (the exact engine's kernels, no derivative formulas)."""
    ref = nodewise.evaluate(expr, point, "float64", bits=bits, frozen=frozen)  # type: ignore[arg-type]
    return ref.value  # type: ignore[no-any-return]


def finite_difference(expr: Expr, point: dict[str, float], name: str) -> float | None:
    """∂f/∂name by a central difference of exact values, step 2**-60 (truncation error about
    2**-120 times the third derivative), with detach() nodes held at their values (no gradient
    flows through them); None where the function is not defined nearby."""
    h = real.rational(1, 2**60)
    base = {k: real.of_float(v) for k, v in point.items()}
    for bits in (256, 4096):  # (more where a comparison could not be decided at 256)
        with real.working_precision(bits):
            at = nodewise.evaluate(expr, base, "float64", bits=bits)  # type: ignore[arg-type]
            frozen = {
                i: at.values[i]
                for i, n in enumerate(expr.nodes)
                if n.kind == "op" and n.op == "detach"
            }
            up = exact_value(expr, {**base, name: base[name] + h}, frozen, bits)
            down = exact_value(expr, {**base, name: base[name] - h}, frozen, bits)
            numbers = (Kind.EXACT, Kind.BALL)
            if up.kind in numbers and down.kind in numbers:
                return float((up - down) / (h * real.rational(2)))
            if Kind.UNKNOWN not in (up.kind, down.kind):
                return None
    return None


# ---- anything goes: every row of the op table ----------------------------------------------

#: operations that take scalars (the whole-array ones need vectors)
TABLE = [op for op in OPS.values() if op.elementwise]
WILD_POWERS = ["2", "3", "0.5", "-1", "1.5", "-2.5", "7"]
WILD_LEAVES = ["1", "2", "0.5", "0.1", "3", "pi", "1e10", "1e-10", "700", "-1"]
#: points where float64 struggles: zeros, signs, the edges of domains, tiny and huge numbers
WILD_POINTS = [0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, -1e-8, 1e-17, 3.14159, 700.0, 1e10, 0.1]
WILD_POINTS += [-2.5, 5e-324, 1.0000000000000002, 0.9999999999999999]


def _apply(op_name: str, parts: list[str]) -> str:
    op = OPS[op_name]
    if op.symbol is not None and not op.callable:
        if op.arity == 1:
            return f"{op.symbol}({parts[0]})"
        return f"({parts[0]}){op.symbol}({parts[1]})"
    return f"{op.name}({', '.join(parts)})"


def wild_expressions(names: list[str], max_leaves: int = 10) -> st.SearchStrategy[str]:
    """Expressions of every scalar operation of the table, with no care for domains."""
    leaf = st.sampled_from(names + WILD_LEAVES)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        one = st.tuples(st.sampled_from([op.name for op in TABLE if op.arity == 1]), inner)
        two = st.tuples(st.sampled_from([op.name for op in TABLE if op.arity == 2]), inner, inner)
        power = st.tuples(inner, st.sampled_from(WILD_POWERS)).map(lambda t: f"({t[0]})**{t[1]}")
        return (
            one.map(lambda t: _apply(t[0], [t[1]]))
            | two.map(lambda t: _apply(t[0], [t[1], t[2]]))
            | power
        )

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def wild_cases(max_leaves: int = 10) -> st.SearchStrategy[tuple[str, list[dict[str, float]]]]:
    """(expression in x and y, four points)."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, list[dict[str, float]]]:
        text = draw(wild_expressions(["x", "y"], max_leaves))
        names = ["x", "y"]
        number = st.one_of(st.sampled_from(WILD_POINTS), st.floats(-3, 3, allow_nan=False))
        points = [{n: draw(number) for n in names} for _ in range(4)]
        try:
            used = set(parse(text).variables)
        except GradcliError:  # nested past the parser's limit: draw again
            assume(False)
        text = " + ".join([text, *(f"0*{n}" for n in names if n not in used)])
        return text, points

    return build()


# ---- special points on purpose -------------------------------------------------------------


def _as_double(x: real.Real) -> float | None:
    """The exact number as a double, if it is one exactly."""
    if x.kind is not Kind.EXACT:
        return None
    f = float(x)
    if not math.isfinite(f) or real.of_float(f).q != x.q:
        return None
    return f


def special_cases(
    max_leaves: int = 8,
) -> st.SearchStrategy[tuple[str, dict[str, float]]]:
    """(expression, point): a smooth or wild expression at a point, with one inner node ``u``
    replaced by ``u - u(p)`` (an exact zero inside: roots, minima, kinks, edges) or by
    ``1/(u - u(p))`` (a pole), where ``u(p)`` is exactly a double."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, dict[str, float]]:
        names = ["x", "y"]
        smooth = draw(st.booleans())
        text = draw(
            expressions(names, max_leaves) if smooth else wild_expressions(names, max_leaves)
        )
        try:
            expr = parse(text)
        except GradcliError:
            assume(False)
        number = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -2.0, 0.25, 1.5])
        point = {n: draw(number) for n in names}
        values = nodewise.evaluate(expr, point, "float64").values  # type: ignore[arg-type]
        inner = [
            i
            for i, node in enumerate(expr.nodes[:-1])
            if node.kind == "op"
            and isinstance(values[i], real.Real)
            and _as_double(values[i]) is not None
        ]
        assume(inner)
        i = draw(st.sampled_from(inner))
        c = _as_double(values[i])
        assert c is not None
        node = expr.nodes[i]
        sub = expr.source[node.start : node.end]
        shifted = f"(({sub}) - {c!r})" if c >= 0 else f"(({sub}) + {-c!r})"
        if draw(st.integers(0, 3)) == 0:
            shifted = f"(1/{shifted})"
        new = expr.source[: node.start] + shifted + expr.source[node.end :]
        try:
            used = set(parse(new).variables)
        except GradcliError:
            assume(False)
        new = " + ".join([new, *(f"0*{n}" for n in names if n not in used)])
        return new, point

    return build()


def references_disagree(text: str, point: dict[str, float]) -> list[str]:
    """Where the node-by-node reference and SymPy's derivative (both in proven arithmetic)
    contradict each other: two proven numbers whose balls do not overlap."""
    from gradcli.engines import symbolic
    from gradcli.engines.exact import sympy_eval

    expr = parse(text)
    ref = nodewise.final(expr, point, "float64")
    sym = symbolic.build(expr)
    exprs = [sym.expr, *(sym.derivative(n) for n in point)]
    theirs = sympy_eval.final(exprs, sympy_eval.exact_subs(sym, point, "float64"))
    ours = [ref.value, *(ref.gradient[n] for n in point)]
    wrong = []
    for what, a, b in zip(["value", *point], ours, theirs, strict=True):
        if a.kind in (Kind.EXACT, Kind.BALL) and b.kind in (Kind.EXACT, Kind.BALL):
            with real.working_precision(256):
                if not a.arb().overlaps(b.arb()):
                    wrong.append(f"{what}: node by node {a}, SymPy {b}")
            continue
        at_kink = what in ref.jumps or what in ref.one_sided[0]
        one_only = (a.kind in (Kind.EXACT, Kind.BALL)) != (b.kind in (Kind.EXACT, Kind.BALL))
        if one_only and not at_kink:  # (one says a number, the other none)
            wrong.append(f"{what}: node by node {a}, SymPy {b}")
    return wrong


# ---- the batch screen against the exact judge ------------------------------------------------


def screen(
    text: str, columns: dict[str, list[float]], dtype: str = "float64", compiled: bool = False
) -> list[Status]:
    """The screen's statuses of torch's rows: NumPy's screen, or the compiled one (which must
    then be had: no silent fallback)."""
    expr = parse(text)
    cols = {k: np.array(v) for k, v in columns.items()}
    from gradcli.engines.autograd import batch_gradients  # (imports torch)

    value, grads = batch_gradients(expr, cols, dtype)
    if compiled:
        from gradcli.batch.kernel import Screener

        screener = Screener(expr, dtype, compile_now=True)
        assert screener.kernel is not None, screener.why
        ref = screener.chunk(cols)
    else:
        ref = batchcheck.screen_chunk(expr, cols, dtype)
    codes, _ = batchcheck.Screen.__new__(batchcheck.Screen).compare(ref, value, grads, None)
    return [batchcheck.STATUSES[c] for c in codes]


def screen_disagreements(
    text: str, points: list[dict[str, float]], dtype: str = "float64", compiled: bool = False
) -> list[tuple[dict[str, float], Status, Status]]:
    """Rows the screen calls agree or undefined where the exact judge says otherwise."""
    expr = parse(text)
    columns = {name: [p[name] for p in points] for name in points[0]}
    wrong = []
    for point, status in zip(points, screen(text, columns, dtype, compiled), strict=True):
        if status not in (Status.AGREE, Status.UNDEFINED):
            continue  # doubtful: the exact judge decides anyway
        truth = batchcheck.row_verdict(expr, point, dtype, 30)
        if truth in (Status.TIMEOUT, Status.INCONCLUSIVE):
            continue  # (no verdict to compare with)
        if truth is not status:
            wrong.append((point, status, truth))
    return wrong
