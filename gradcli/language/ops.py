"""The operation table: every operator and function of the expression language, once.

Each entry says, top to bottom, how the operation is written, how torch computes it, how SymPy
writes it, its local derivatives (in gradcli's own expression language, with the operands called
``u`` and ``v``), its LaTeX form, and where it is not differentiable. The parser, the torch
evaluator, the SymPy translator, the checker and the README's reference all read this table;
adding a function means adding one entry here.

The torch and SymPy columns are functions of a module plus the operands, so this file imports
neither library: ``T`` is :mod:`torch` and ``S`` is a SymPy namespace (see ``symbolic.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Fn = Callable[..., Any]
Kink = Callable[..., bool]


@dataclass(frozen=True)
class Op:
    """One operation of the language."""

    name: str  #: the name in the tree, in JSON and (for functions) in expressions
    arity: int
    torch: Fn  #: ``(torch, *operands) -> tensor``
    sympy: Fn  #: ``(sympy_namespace, *operands) -> SymPy expression``
    derivative: tuple[str, ...]  #: local partial derivatives, one per operand, in u and v
    latex: str  #: LaTeX template with ``{0}``, ``{1}`` for the operands
    doc: str  #: one line for the reference table
    symbol: str | None = None  #: the infix or prefix spelling (``+``, ``**``, ...)
    precedence: int = 0  #: binding strength of ``symbol``; higher binds tighter
    callable: bool = True  #: may be written as ``name(...)``
    kink: Kink | None = None  #: true when the operands sit where the op is not differentiable
    kink_note: str = ""  #: what torch does there
    fold: Fn | None = None  #: float arithmetic, to size up constant exponents while parsing
    elementwise: bool = True  #: applies element by element (else it takes whole arrays)


def _fold_pow(a: float, b: float) -> float | None:
    try:
        result = math.pow(a, b)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return None
    return result


# Binding strengths of the operators, loosest first.
SUM, PRODUCT, SIGN, POWER = 1, 2, 3, 4

# fmt: off
_TABLE: tuple[Op, ...] = (
    # ---- operators ---------------------------------------------------------------------------
    Op("add", 2, lambda T, u, v: T.add(u, v), lambda S, u, v: u + v,
       ("1", "1"), "{0} + {1}", "sum", symbol="+", precedence=SUM, callable=False,
       fold=lambda a, b: a + b),
    Op("sub", 2, lambda T, u, v: T.sub(u, v), lambda S, u, v: u - v,
       ("1", "-1"), "{0} - {1}", "difference", symbol="-", precedence=SUM, callable=False,
       fold=lambda a, b: a - b),
    Op("mul", 2, lambda T, u, v: T.mul(u, v), lambda S, u, v: u * v,
       ("v", "u"), r"{0} \cdot {1}", "product", symbol="*", precedence=PRODUCT, callable=False,
       fold=lambda a, b: a * b),
    Op("div", 2, lambda T, u, v: T.div(u, v), lambda S, u, v: u / v,
       ("1/v", "-u/v**2"), r"\frac{{{0}}}{{{1}}}", "quotient", symbol="/", precedence=PRODUCT,
       callable=False, fold=lambda a, b: a / b),
    Op("matmul", 2, lambda T, u, v: T.matmul(u, v), lambda S, u, v: S.matmul(u, v),
       ("v", "u"), r"{0} {1}", "matrix product (vector and matrix values)", symbol="@",
       precedence=PRODUCT, callable=False, elementwise=False),
    Op("neg", 1, lambda T, u: T.neg(u), lambda S, u: -u,
       ("-1",), "-{0}", "negation", symbol="-", precedence=SIGN, callable=False,
       fold=lambda a: -a),
    Op("pos", 1, lambda T, u: u, lambda S, u: u,
       ("1",), "+{0}", "unary plus", symbol="+", precedence=SIGN, callable=False,
       fold=lambda a: a),
    Op("pow", 2, lambda T, u, v: T.pow(u, v), lambda S, u, v: S.Pow(u, v),
       ("v*u**(v-1)", "u**v*log(u)"), "{{{0}}}^{{{1}}}", "power; also written u**v and u^v",
       symbol="**", precedence=POWER,
       kink=lambda u, v: (u == 0) & (v > 0) & (v < 1),  # (also works on whole arrays)
       kink_note="a fractional power at 0 has an infinite slope", fold=_fold_pow),
    # ---- elementary functions ----------------------------------------------------------------
    Op("sin", 1, lambda T, u: T.sin(u), lambda S, u: S.sin(u),
       ("cos(u)",), r"\sin\left({0}\right)", "sine"),
    Op("cos", 1, lambda T, u: T.cos(u), lambda S, u: S.cos(u),
       ("-sin(u)",), r"\cos\left({0}\right)", "cosine"),
    Op("tan", 1, lambda T, u: T.tan(u), lambda S, u: S.tan(u),
       ("1/cos(u)**2",), r"\tan\left({0}\right)", "tangent"),
    Op("asin", 1, lambda T, u: T.asin(u), lambda S, u: S.asin(u),
       ("1/sqrt(1-u**2)",), r"\arcsin\left({0}\right)", "inverse sine, domain [-1, 1]"),
    Op("acos", 1, lambda T, u: T.acos(u), lambda S, u: S.acos(u),
       ("-1/sqrt(1-u**2)",), r"\arccos\left({0}\right)", "inverse cosine, domain [-1, 1]"),
    Op("atan", 1, lambda T, u: T.atan(u), lambda S, u: S.atan(u),
       ("1/(1+u**2)",), r"\arctan\left({0}\right)", "inverse tangent"),
    Op("sinh", 1, lambda T, u: T.sinh(u), lambda S, u: S.sinh(u),
       ("cosh(u)",), r"\sinh\left({0}\right)", "hyperbolic sine"),
    Op("cosh", 1, lambda T, u: T.cosh(u), lambda S, u: S.cosh(u),
       ("sinh(u)",), r"\cosh\left({0}\right)", "hyperbolic cosine"),
    Op("tanh", 1, lambda T, u: T.tanh(u), lambda S, u: S.tanh(u),
       ("1-tanh(u)**2",), r"\tanh\left({0}\right)", "hyperbolic tangent"),
    Op("asinh", 1, lambda T, u: T.asinh(u), lambda S, u: S.asinh(u),
       ("1/sqrt(u**2+1)",), r"\operatorname{{arsinh}}\left({0}\right)", "inverse hyperbolic sine"),
    Op("acosh", 1, lambda T, u: T.acosh(u), lambda S, u: S.acosh(u),
       ("1/sqrt(u**2-1)",), r"\operatorname{{arcosh}}\left({0}\right)",
       "inverse hyperbolic cosine, domain [1, inf)"),
    Op("atanh", 1, lambda T, u: T.atanh(u), lambda S, u: S.atanh(u),
       ("1/(1-u**2)",), r"\operatorname{{artanh}}\left({0}\right)",
       "inverse hyperbolic tangent, domain (-1, 1)"),
    Op("exp", 1, lambda T, u: T.exp(u), lambda S, u: S.exp(u),
       ("exp(u)",), r"e^{{{0}}}", "exponential"),
    Op("log", 1, lambda T, u: T.log(u), lambda S, u: S.log(u),
       ("1/u",), r"\ln\left({0}\right)", "natural logarithm"),
    Op("log2", 1, lambda T, u: T.log2(u), lambda S, u: S.log(u, 2),
       ("1/(u*log(2))",), r"\log_2\left({0}\right)", "base-2 logarithm"),
    Op("log10", 1, lambda T, u: T.log10(u), lambda S, u: S.log(u, 10),
       ("1/(u*log(10))",), r"\log_{{10}}\left({0}\right)", "base-10 logarithm"),
    Op("sqrt", 1, lambda T, u: T.sqrt(u), lambda S, u: S.sqrt(u),
       ("1/(2*sqrt(u))",), r"\sqrt{{{0}}}", "square root",
       kink=lambda u: u == 0, kink_note="torch returns inf, the slope of sqrt at 0"),
    Op("abs", 1, lambda T, u: T.abs(u), lambda S, u: S.Abs(u),
       ("sign(u)",), r"\left|{0}\right|", "absolute value",
       kink=lambda u: u == 0, kink_note="torch uses the subgradient 0 (sign(0) = 0)"),
    Op("sign", 1, lambda T, u: T.sign(u), lambda S, u: S.sign(u),
       ("0",), r"\operatorname{{sgn}}\left({0}\right)", "sign: -1, 0 or 1",
       kink=lambda u: u == 0, kink_note="sign jumps at 0; torch uses slope 0"),
    Op("step", 1, lambda T, u: (u > 0).to(u.dtype), lambda S, u: S.Heaviside(u, 0),
       ("0",), r"H\left({0}\right)", "unit step: 1 where u > 0, else 0",
       kink=lambda u: u == 0, kink_note="step jumps at 0; torch uses slope 0"),
    Op("sigmoid", 1, lambda T, u: T.sigmoid(u), lambda S, u: S.sigmoid(u),
       ("sigmoid(u)*(1-sigmoid(u))",), r"\sigma\left({0}\right)", "logistic 1/(1+exp(-u))"),
    Op("relu", 1, lambda T, u: T.relu(u), lambda S, u: S.Max(0, u),
       ("step(u)",), r"\max\left(0, {0}\right)", "max(0, u)",
       kink=lambda u: u == 0, kink_note="torch uses the subgradient 0 at 0"),
    Op("softplus", 1, lambda T, u: T.nn.functional.softplus(u), lambda S, u: S.softplus(u),
       ("sigmoid(u)",), r"\ln\left(1 + e^{{{0}}}\right)", "log(1+exp(u))"),
    Op("erf", 1, lambda T, u: T.erf(u), lambda S, u: S.erf(u),
       ("2/sqrt(pi)*exp(-u**2)",), r"\operatorname{{erf}}\left({0}\right)", "error function"),
    Op("min", 2, lambda T, u, v: T.minimum(u, v), lambda S, u, v: S.Min(u, v),
       ("step(v-u)", "step(u-v)"), r"\min\left({0}, {1}\right)", "smaller of two",
       kink=lambda u, v: u == v, kink_note="at a tie torch splits the gradient evenly"),
    Op("max", 2, lambda T, u, v: T.maximum(u, v), lambda S, u, v: S.Max(u, v),
       ("step(u-v)", "step(v-u)"), r"\max\left({0}, {1}\right)", "larger of two",
       kink=lambda u, v: u == v, kink_note="at a tie torch splits the gradient evenly"),
    # ---- tensors and gradient control --------------------------------------------------------
    Op("sum", 1, lambda T, u: T.sum(u), lambda S, u: S.reduce_sum(u),
       ("1",), r"\sum {0}", "sum of all elements (a scalar stays itself)", elementwise=False),
    Op("mean", 1, lambda T, u: T.mean(u), lambda S, u: S.reduce_mean(u),
       ("1",), r"\operatorname{{mean}}\left({0}\right)", "mean of all elements",
       elementwise=False),
    Op("dot", 2, lambda T, u, v: T.dot(u, v), lambda S, u, v: S.dot(u, v),
       ("v", "u"), r"{0} \cdot {1}", "dot product of two vectors", elementwise=False),
    Op("detach", 1, lambda T, u: u.detach(), lambda S, u: S.detach(u),
       ("0",), r"\operatorname{{sg}}\left({0}\right)",
       "stop-gradient: the value of u, no gradient flows back"),
)
# fmt: on

OPS: dict[str, Op] = {op.name: op for op in _TABLE}

#: infix operators by spelling; ``^`` is power exactly like ``**`` (there is no XOR).
BINARY_SYMBOLS: dict[str, Op] = {
    **{op.symbol: op for op in _TABLE if op.symbol and op.arity == 2},
    "^": OPS["pow"],
}
PREFIX_SYMBOLS: dict[str, Op] = {"-": OPS["neg"], "+": OPS["pos"]}

#: functions callable by name
FUNCTIONS: dict[str, Op] = {op.name: op for op in _TABLE if op.callable}

#: named constants and their float64 values
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

#: common names from other tools, mapped to ours, for "did you mean" hints
ALIASES: dict[str, str] = {
    "ln": "log",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arsinh": "asinh",
    "arcsinh": "asinh",
    "arcosh": "acosh",
    "arccosh": "acosh",
    "artanh": "atanh",
    "arctanh": "atanh",
    "fabs": "abs",
    "sgn": "sign",
    "heaviside": "step",
    "logistic": "sigmoid",
    "expit": "sigmoid",
    "power": "pow",
    "maximum": "max",
    "minimum": "min",
    "lg": "log10",
    "atan2": "atan",
    "sqr": "sqrt",
    "exp2": "pow",
}
