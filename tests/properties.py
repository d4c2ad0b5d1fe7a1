"""Random expressions from the grammar, for property tests and the long fuzz run.

Every expression from :func:`cases` is smooth at every point in [-2, 2]^n: functions with a
restricted domain only see arguments that stay inside it (log(1 + u**2), sqrt(1 + u**2),
a / (1 + v**2), (1 + u**2)**c, asin(tanh(u)), acosh(2 + u**2), atanh(tanh(u) / 2)).
:func:`wild_cases` take no such care, for the batch screen, which must never settle a row the
exact judge would not.
"""

from __future__ import annotations

import mpmath
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from gradcli.batch import check as batchcheck
from gradcli.engines.exact import adjoint
from gradcli.errors import GradcliError
from gradcli.language.nodes import Expr
from gradcli.language.parser import parse
from gradcli.results.models import Status

NAMES = ["x", "y", "z", "w"]

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
    "sinh(tanh({}))",
    "cosh(tanh({}))",
    "asinh({})",
    "log(1 + ({})**2)",
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


# An evaluator of our tree in mpmath, independent of torch and of SymPy, for finite
# differences at 50 digits.
_MP = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: mpmath.power(a, b),
    "neg": lambda a: -a,
    "pos": lambda a: a,
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    "tan": mpmath.tan,
    "asin": mpmath.asin,
    "acos": mpmath.acos,
    "atan": mpmath.atan,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "tanh": mpmath.tanh,
    "asinh": mpmath.asinh,
    "acosh": mpmath.acosh,
    "atanh": mpmath.atanh,
    "exp": mpmath.exp,
    "log": mpmath.log,
    "log2": lambda a: mpmath.log(a, 2),
    "log10": mpmath.log10,
    "sqrt": mpmath.sqrt,
    "abs": abs,
    "sigmoid": lambda a: 1 / (1 + mpmath.exp(-a)),
    "softplus": lambda a: mpmath.log(1 + mpmath.exp(a)),
    "erf": mpmath.erf,
    "sum": lambda a: a,
    "mean": lambda a: a,
    "detach": lambda a: a,
}


def mp_value(
    expr: Expr, point: dict[str, mpmath.mpf], frozen: dict[int, mpmath.mpf] | None = None
) -> tuple[mpmath.mpf, list[mpmath.mpf]]:
    """The value of every node at ``point``; ``frozen`` pins detach() nodes to given values."""
    values: list[mpmath.mpf] = []
    for i, node in enumerate(expr.nodes):
        if node.kind == "number":
            v = mpmath.mpf(node.value)  # the double torch uses
        elif node.kind == "constant":
            v = mpmath.mpf(mpmath.pi if node.name == "pi" else mpmath.e)
            v = mpmath.mpf(float(v))
        elif node.kind == "variable":
            v = point[node.name]
        elif node.op == "detach" and frozen is not None and i in frozen:
            v = frozen[i]
        else:
            v = _MP[node.op](*(values[a] for a in node.args))
        values.append(v)
    return values[-1], values


def finite_difference(expr: Expr, point: dict[str, float], name: str) -> mpmath.mpf:
    """∂f/∂name by a central difference at 50 digits with step 1e-20 (error ~1e-40), with
    detach() nodes held at their values (no gradient flows through them)."""
    with mpmath.workdps(50):
        base = {k: mpmath.mpf(v) for k, v in point.items()}
        _, values = mp_value(expr, base)
        frozen = {i: values[i] for i, n in enumerate(expr.nodes) if n.op == "detach"}
        h = mpmath.mpf("1e-20")
        up = dict(base, **{name: base[name] + h})
        down = dict(base, **{name: base[name] - h})
        return (mp_value(expr, up, frozen)[0] - mp_value(expr, down, frozen)[0]) / (2 * h)


# ---- anything goes: every function on raw operands, awkward constants and points -------------

WILD_UNARY = [
    *("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "sign", "step", "relu", "tanh"),
    *("atan", "asin", "acos", "sinh", "cosh", "asinh", "acosh", "atanh", "sigmoid"),
    *("softplus", "erf", "log2", "log10", "detach"),
]
WILD_POWERS = ["2", "3", "0.5", "-1", "1.5", "-2.5", "7"]
WILD_BINARY = ["({})+({})", "({})-({})", "({})*({})", "({})/({})", "min({},{})", "max({},{})"]
WILD_LEAVES = ["1", "2", "0.5", "0.1", "3", "pi", "1e10", "1e-10", "700", "-1"]
#: points where float64 struggles: zeros, signs, the edges of domains, tiny and huge numbers
WILD_POINTS = [0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, -1e-8, 1e-17, 3.14159, 700.0, 1e10, 0.1]
WILD_POINTS += [-2.5, 5e-324, 1.0000000000000002, 0.9999999999999999]


def wild_expressions(names: list[str], max_leaves: int = 10) -> st.SearchStrategy[str]:
    """Expressions with no care for domains: undefined, infinite, overflowing and non-smooth
    places are what they are for."""
    leaf = st.sampled_from(names + WILD_LEAVES)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.tuples(st.sampled_from(WILD_UNARY), inner).map(lambda t: f"{t[0]}({t[1]})")
        power = st.tuples(inner, st.sampled_from(WILD_POWERS)).map(lambda t: f"({t[0]})**{t[1]}")
        binary = st.tuples(st.sampled_from(WILD_BINARY), inner, inner).map(
            lambda t: t[0].format(t[1], t[2])
        )
        general = st.tuples(inner, inner).map(lambda t: f"({t[0]})**({t[1]})")
        return unary | power | binary | general

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


# ---- the batch screen against the exact judge ------------------------------------------------


def screen(text: str, columns: dict[str, list[float]], dtype: str = "float64") -> list[Status]:
    expr = parse(text)
    cols = {k: np.array(v) for k, v in columns.items()}
    from gradcli.engines.autograd import batch_gradients  # (imports torch)

    value, grads = batch_gradients(expr, cols, dtype)
    ref = batchcheck.reference(expr, cols, dtype)
    codes, _ = batchcheck.Screen.__new__(batchcheck.Screen).compare(ref, value, grads, None)
    return [batchcheck.STATUSES[c] for c in codes]


def screen_disagreements(
    text: str, points: list[dict[str, float]], dtype: str = "float64"
) -> list[tuple[dict[str, float], Status, Status]]:
    """Rows the screen calls agree or undefined where the exact judge says otherwise."""
    from gradcli.check.budget import CheckTimeout, time_limit

    expr = parse(text)
    columns = {name: [p[name] for p in points] for name in points[0]}
    wrong = []
    for point, status in zip(points, screen(text, columns, dtype), strict=True):
        if status not in (Status.AGREE, Status.UNDEFINED):
            continue  # doubtful: the exact judge decides anyway
        try:
            with time_limit(10):
                exact = adjoint.exact(expr, point, dtype)
                truth = batchcheck.row_verdict(expr, point, dtype, exact)
        except CheckTimeout:  # (mpmath on cosh(1e10): no verdict to compare with)
            continue
        if truth is not status:
            wrong.append((point, status, truth))
    return wrong
