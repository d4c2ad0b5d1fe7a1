"""Random expressions from the grammar, for property tests and the long fuzz run.

Every generated expression is smooth at every point in [-2, 2]^n: functions with a restricted
domain only see arguments that stay inside it (log(1 + u**2), sqrt(1 + u**2), a / (1 + v**2),
(1 + u**2)**c, asin(tanh(u)), acosh(2 + u**2), atanh(tanh(u) / 2)).
"""

from __future__ import annotations

import mpmath
from hypothesis import strategies as st

from gradcli.nodes import Expr
from gradcli.parser import parse

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
