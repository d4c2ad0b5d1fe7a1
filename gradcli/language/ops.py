"""The operation table: every operator and function of the expression language, once.

Each row says, column by column, everything any stage needs to know about one operation:

- how it is written (``symbol``, ``precedence``, ``callable``) and folded while parsing;
- ``torch``: how PyTorch computes it, and ``grad_fn``: the backward node torch records for it;
- ``sympy``: how SymPy writes it (the symbolic derivatives, and the local rules that the exact
  reference differentiates one operation at a time, come from this column);
- ``exact``: its value in the exact engine's proven arithmetic (rationals and balls);
- ``screen``: its value in float64 with a bound on the rounding (the batch check's screen);
- ``derivative``: its local partial derivatives in gradcli's own language (graph, steps, README);
- ``shape``: how the shapes of its operands combine; ``kink``: where it is not differentiable;
- ``rule``: the name of the differentiation rule the steps show; ``latex`` and ``doc``.

The columns are functions of an engine's vocabulary and the operands, so this file imports no
engine: ``T`` is :mod:`torch`, ``S`` a SymPy namespace (``engines/symbolic.py``), ``X`` the
exact namespace (``engines/exact/functions.py``), ``B`` the bounded float64 namespace
(``engines/screen.py``) and ``K`` a namespace of predicates (exact or float). Adding a function
means adding one row here and regenerating the derived files (README: Adding a function).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Fn = Callable[..., Any]


@dataclass(frozen=True)
class Kink:
    """Where an operation is not differentiable.

    ``corner``: it is continuous there, and its one-sided slopes differ (abs at 0, relu at 0,
    max at a tie); there it is positively homogeneous, so the slope along a direction is the
    operation applied to the operands' slopes along it, which is how the exact reference tells
    whether the whole expression is differentiable (``x*abs(x)`` is, ``abs(x)`` is not).
    ``jump``: it is not continuous there (sign, step).
    """

    kind: Literal["corner", "jump"]
    at: Fn  #: ``(K, *operands) -> bool``: the operands sit exactly on the kink
    torch: str  #: what torch does there, for the verdict's note


@dataclass(frozen=True)
class Op:
    """One operation of the language."""

    name: str  #: the name in the tree, in JSON and (for functions) in expressions
    arity: int
    torch: Fn  #: ``(T, *operands) -> tensor``
    grad_fn: str | None  #: torch's backward node for it (None: torch records none)
    sympy: Fn  #: ``(S, *operands) -> SymPy expression``
    exact: Fn  #: ``(X, *operands) -> Real``
    screen: Fn  #: ``(B, *operands) -> Bounded``
    derivative: tuple[str, ...]  #: local partial derivatives, one per operand, in u and v
    latex: str  #: LaTeX template with ``{0}``, ``{1}`` for the operands
    doc: str  #: one line for the reference table
    rule: str = "chain"  #: the steps' rule: sum, difference, sign, product, quotient, power, ...
    symbol: str | None = None  #: the infix or prefix spelling (``+``, ``**``, ...)
    precedence: int = 0  #: binding strength of ``symbol``; higher binds tighter
    callable: bool = True  #: may be written as ``name(...)``
    kink: Kink | None = None
    fold: Fn | None = None  #: float arithmetic, to size up constant exponents while parsing
    #: "elementwise" (operands broadcast), "reduce" (to a scalar; of a scalar, the scalar
    #: itself), "matmul" or "dot"
    shape: Literal["elementwise", "reduce", "matmul", "dot"] = "elementwise"
    passes_gradient: bool = True  #: False for detach: no gradient flows back through it
    #: exact local partials where the formulas from SymPy break down, or None:
    #: ``(X, *operands) -> tuple of Real | None`` (pow at a zero base)
    exact_partials: Fn | None = None
    #: how a PyTorch script writes it, with ``{0}``, ``{1}`` for the operands (a method call
    #: or comparison gets its operand in parentheses unless it is an atom); None:
    #: ``torch.<name>(...)``
    code: str | None = None

    @property
    def elementwise(self) -> bool:
        return self.shape == "elementwise"


def _fold_pow(a: float, b: float) -> float | None:
    try:
        result = math.pow(a, b)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return None
    return result


def _pow_partials(X: Any, u: Any, v: Any) -> tuple[Any, Any] | None:
    """``u**v`` at a base of exactly 0, where SymPy's ``v*u**(v-1)`` and ``u**v*log(u)`` meet
    0*inf: as a function of v alone, 0**v is 0 for every v > 0, so its slope is 0 there; as a
    function of u alone, u**0 is 1 and u**1 is u."""
    if not X.zero(u):
        return None
    s = X.sign_of(v)
    if s < 0:
        return X.undefined("0 to a negative power"), X.undefined("0 to a negative power")
    if s == 0:  # 0**0: u**0 is 1 for every u; 0**v jumps at v = 0
        return X.rational(0), X.undefined("0**v jumps at v = 0")
    one = X.sign_of(v - X.rational(1))
    d_u = X.rational(0) if one > 0 else (X.rational(1) if one == 0 else X.pow(u, v - 1) * v)
    return d_u, X.rational(0)


# Binding strengths of the operators, loosest first.
SUM, PRODUCT, SIGN, POWER = 1, 2, 3, 4

_AT_ZERO = Kink("corner", lambda K, u: K.zero(u), "")
_TIE = "at a tie torch splits the gradient evenly"

# fmt: off
_TABLE: tuple[Op, ...] = (
    # ---- operators ---------------------------------------------------------------------------
    Op("add", 2, lambda T, u, v: T.add(u, v), "AddBackward0", lambda S, u, v: u + v,
       lambda X, u, v: u + v, lambda B, u, v: u + v,
       ("1", "1"), "{0} + {1}", "sum", rule="sum", symbol="+", precedence=SUM,
       callable=False, fold=lambda a, b: a + b),
    Op("sub", 2, lambda T, u, v: T.sub(u, v), "SubBackward0", lambda S, u, v: u - v,
       lambda X, u, v: u - v, lambda B, u, v: u + (-v),
       ("1", "-1"), "{0} - {1}", "difference", rule="difference", symbol="-",
       precedence=SUM, callable=False, fold=lambda a, b: a - b),
    Op("mul", 2, lambda T, u, v: T.mul(u, v), "MulBackward0", lambda S, u, v: u * v,
       lambda X, u, v: u * v, lambda B, u, v: u * v,
       ("v", "u"), r"{0} \cdot {1}", "product", rule="product", symbol="*",
       precedence=PRODUCT, callable=False, fold=lambda a, b: a * b),
    Op("div", 2, lambda T, u, v: T.div(u, v), "DivBackward0", lambda S, u, v: u / v,
       lambda X, u, v: u / v, lambda B, u, v: u * (1 / v),
       ("1/v", "-u/v**2"), r"\frac{{{0}}}{{{1}}}", "quotient", rule="quotient", symbol="/",
       precedence=PRODUCT, callable=False, fold=lambda a, b: a / b),
    Op("matmul", 2, lambda T, u, v: T.matmul(u, v), "MmBackward0",
       lambda S, u, v: S.matmul(u, v), lambda X, u, v: X.matmul(u, v),
       lambda B, u, v: B.unsupported("matmul"),
       ("v", "u"), r"{0} {1}", "matrix product (vector and matrix values)", rule="matmul",
       symbol="@", precedence=PRODUCT, callable=False, shape="matmul"),
    Op("neg", 1, lambda T, u: T.neg(u), "NegBackward0", lambda S, u: -u,
       lambda X, u: -u, lambda B, u: -u,
       ("-1",), "-{0}", "negation", rule="sign", symbol="-", precedence=SIGN,
       callable=False, fold=lambda a: -a),
    Op("pos", 1, lambda T, u: u, None, lambda S, u: u,
       lambda X, u: u, lambda B, u: u,
       ("1",), "+{0}", "unary plus", rule="sign", symbol="+", precedence=SIGN,
       callable=False, fold=lambda a: a),
    Op("pow", 2, lambda T, u, v: T.pow(u, v), "PowBackward1", lambda S, u, v: S.Pow(u, v),
       lambda X, u, v: X.pow(u, v), lambda B, u, v: B.pow(u, v),
       ("v*u**(v-1)", "u**v*log(u)"), "{{{0}}}^{{{1}}}", "power; also written u**v and u^v",
       rule="power", symbol="**", precedence=POWER, fold=_fold_pow,
       exact_partials=_pow_partials),
    # ---- elementary functions ----------------------------------------------------------------
    Op("sin", 1, lambda T, u: T.sin(u), "SinBackward0", lambda S, u: S.sin(u),
       lambda X, u: X.sin(u), lambda B, u: B.sin(u),
       ("cos(u)",), r"\sin\left({0}\right)", "sine"),
    Op("cos", 1, lambda T, u: T.cos(u), "CosBackward0", lambda S, u: S.cos(u),
       lambda X, u: X.cos(u), lambda B, u: B.cos(u),
       ("-sin(u)",), r"\cos\left({0}\right)", "cosine"),
    Op("tan", 1, lambda T, u: T.tan(u), "TanBackward0", lambda S, u: S.tan(u),
       lambda X, u: X.tan(u), lambda B, u: B.tan(u),
       ("1/cos(u)**2",), r"\tan\left({0}\right)", "tangent"),
    Op("asin", 1, lambda T, u: T.asin(u), "AsinBackward0", lambda S, u: S.asin(u),
       lambda X, u: X.asin(u), lambda B, u: B.asin(u),
       ("1/sqrt(1-u**2)",), r"\arcsin\left({0}\right)", "inverse sine, domain [-1, 1]"),
    Op("acos", 1, lambda T, u: T.acos(u), "AcosBackward0", lambda S, u: S.acos(u),
       lambda X, u: X.acos(u), lambda B, u: B.acos(u),
       ("-1/sqrt(1-u**2)",), r"\arccos\left({0}\right)", "inverse cosine, domain [-1, 1]"),
    Op("atan", 1, lambda T, u: T.atan(u), "AtanBackward0", lambda S, u: S.atan(u),
       lambda X, u: X.atan(u), lambda B, u: B.atan(u),
       ("1/(1+u**2)",), r"\arctan\left({0}\right)", "inverse tangent"),
    Op("atan2", 2, lambda T, y, x: T.atan2(y, x), "Atan2Backward0",
       lambda S, y, x: S.atan2(y, x),
       lambda X, y, x: (X.arb_call("atan2", y, x) if X.positive(x)  # (smooth for x > 0)
                        else X.undefined("atan2(0, 0) has no angle") if X.all_zero(y, x)
                        else X.arb_call("atan2", y, x)),
       lambda B, y, x: B.atan2(y, x),
       ("v/(u**2+v**2)", "-u/(u**2+v**2)"), r"\operatorname{{atan2}}\left({0}, {1}\right)",
       "angle of the point (v, u): atan2(y, x), in (-pi, pi]"),
    Op("sinh", 1, lambda T, u: T.sinh(u), "SinhBackward0", lambda S, u: S.sinh(u),
       lambda X, u: X.sinh(u), lambda B, u: B.sinh(u),
       ("cosh(u)",), r"\sinh\left({0}\right)", "hyperbolic sine"),
    Op("cosh", 1, lambda T, u: T.cosh(u), "CoshBackward0", lambda S, u: S.cosh(u),
       lambda X, u: X.cosh(u), lambda B, u: B.cosh(u),
       ("sinh(u)",), r"\cosh\left({0}\right)", "hyperbolic cosine"),
    Op("tanh", 1, lambda T, u: T.tanh(u), "TanhBackward0", lambda S, u: S.tanh(u),
       lambda X, u: X.tanh(u), lambda B, u: B.tanh(u),
       ("1-tanh(u)**2",), r"\tanh\left({0}\right)", "hyperbolic tangent"),
    Op("asinh", 1, lambda T, u: T.asinh(u), "AsinhBackward0", lambda S, u: S.asinh(u),
       lambda X, u: X.asinh(u), lambda B, u: B.asinh(u),
       ("1/sqrt(u**2+1)",), r"\operatorname{{arsinh}}\left({0}\right)",
       "inverse hyperbolic sine"),
    Op("acosh", 1, lambda T, u: T.acosh(u), "AcoshBackward0", lambda S, u: S.acosh(u),
       lambda X, u: X.acosh(u), lambda B, u: B.acosh(u),
       ("1/sqrt(u**2-1)",), r"\operatorname{{arcosh}}\left({0}\right)",
       "inverse hyperbolic cosine, domain [1, inf)"),
    Op("atanh", 1, lambda T, u: T.atanh(u), "AtanhBackward0", lambda S, u: S.atanh(u),
       lambda X, u: X.atanh(u), lambda B, u: B.atanh(u),
       ("1/(1-u**2)",), r"\operatorname{{artanh}}\left({0}\right)",
       "inverse hyperbolic tangent, domain (-1, 1)"),
    Op("exp", 1, lambda T, u: T.exp(u), "ExpBackward0", lambda S, u: S.exp(u),
       lambda X, u: X.exp(u), lambda B, u: B.exp(u),
       ("exp(u)",), r"e^{{{0}}}", "exponential"),
    Op("expm1", 1, lambda T, u: T.expm1(u), "Expm1Backward0", lambda S, u: S.exp(u) - 1,
       lambda X, u: X.exp(u) - X.rational(1),
       lambda B, u: B.smooth("expm1", u, slope=lambda v, e: (abs(v) + 1) * B.exp_growth(e)),
       ("exp(u)",), r"e^{{{0}}} - 1", "exp(u) - 1, accurate for small u"),
    Op("log", 1, lambda T, u: T.log(u), "LogBackward0", lambda S, u: S.log(u),
       lambda X, u: X.log(u), lambda B, u: B.log(u),
       ("1/u",), r"\ln\left({0}\right)", "natural logarithm"),
    Op("log1p", 1, lambda T, u: T.log1p(u), "Log1PBackward0", lambda S, u: S.log(1 + u),
       lambda X, u: X.log(X.rational(1) + u),
       lambda B, u: B.near_edge("log1p", u, distance=lambda v: abs(1 + v),
                                slope=lambda v: 1 / abs(1 + v)),
       ("1/(1+u)",), r"\ln\left(1 + {0}\right)", "log(1 + u), accurate for small u"),
    Op("log2", 1, lambda T, u: T.log2(u), "Log2Backward0", lambda S, u: S.log(u, 2),
       lambda X, u: X.log_base(u, 2), lambda B, u: B.log(u) * B.constant(1 / math.log(2)),
       ("1/(u*log(2))",), r"\log_2\left({0}\right)", "base-2 logarithm"),
    Op("log10", 1, lambda T, u: T.log10(u), "Log10Backward0", lambda S, u: S.log(u, 10),
       lambda X, u: X.log_base(u, 10), lambda B, u: B.log(u) * B.constant(1 / math.log(10)),
       ("1/(u*log(10))",), r"\log_{{10}}\left({0}\right)", "base-10 logarithm"),
    Op("sqrt", 1, lambda T, u: T.sqrt(u), "SqrtBackward0", lambda S, u: S.sqrt(u),
       lambda X, u: X.sqrt(u), lambda B, u: B.sqrt(u),
       ("1/(2*sqrt(u))",), r"\sqrt{{{0}}}", "square root"),
    Op("hypot", 2, lambda T, u, v: T.hypot(u, v), "HypotBackward0",
       lambda S, u, v: S.sqrt(u**2 + v**2),
       lambda X, u, v: X.sqrt(u * u + v * v), lambda B, u, v: B.sqrt(u * u + v * v),
       ("u/hypot(u, v)", "v/hypot(u, v)"), r"\sqrt{{{0}^2 + {1}^2}}",
       "sqrt(u**2 + v**2) without overflow",
       kink=Kink("corner", lambda K, u, v: K.all_zero(u, v),
                 "torch gives nan for both slopes at (0, 0)")),
    Op("abs", 1, lambda T, u: T.abs(u), "AbsBackward0", lambda S, u: S.Abs(u),
       lambda X, u: X.abs(u), lambda B, u: B.abs(u),
       ("sign(u)",), r"\left|{0}\right|", "absolute value",
       kink=Kink("corner", lambda K, u: K.zero(u), "torch uses the subgradient sign(0) = 0")),
    Op("sign", 1, lambda T, u: T.sign(u), "SignBackward0", lambda S, u: S.sign(u),
       lambda X, u: X.sign(u), lambda B, u: B.sign(u),
       ("0",), r"\operatorname{{sgn}}\left({0}\right)", "sign: -1, 0 or 1",
       kink=Kink("jump", lambda K, u: K.zero(u), "torch uses slope 0 there")),
    Op("step", 1, lambda T, u: (u > 0).to(u.dtype), None, lambda S, u: S.Heaviside(u, 0),
       lambda X, u: X.step(u), lambda B, u: B.step(u),
       ("0",), r"H\left({0}\right)", "unit step: 1 where u > 0, else 0",
       kink=Kink("jump", lambda K, u: K.zero(u), "torch uses slope 0 there"),
       code="({0} > 0).to({0}.dtype)"),
    Op("sigmoid", 1, lambda T, u: T.sigmoid(u), "SigmoidBackward0", lambda S, u: S.sigmoid(u),
       lambda X, u: X.sigmoid(u), lambda B, u: B.sigmoid(u),
       ("sigmoid(u)*(1-sigmoid(u))",), r"\sigma\left({0}\right)", "logistic 1/(1+exp(-u))"),
    Op("relu", 1, lambda T, u: T.relu(u), "ReluBackward0", lambda S, u: S.Max(0, u),
       lambda X, u: X.relu(u), lambda B, u: B.max(B.constant(0.0), u),
       ("step(u)",), r"\max\left(0, {0}\right)", "max(0, u)",
       kink=Kink("corner", lambda K, u: K.zero(u), "torch uses the subgradient 0 at 0")),
    Op("softplus", 1, lambda T, u: T.nn.functional.softplus(u), "SoftplusBackward0",
       lambda S, u: S.softplus(u), lambda X, u: X.softplus(u), lambda B, u: B.softplus(u),
       ("sigmoid(u)",), r"\ln\left(1 + e^{{{0}}}\right)", "log(1+exp(u))",
       code="torch.nn.functional.softplus({0})"),
    Op("erf", 1, lambda T, u: T.erf(u), "ErfBackward0", lambda S, u: S.erf(u),
       lambda X, u: X.erf(u), lambda B, u: B.erf(u),
       ("2/sqrt(pi)*exp(-u**2)",), r"\operatorname{{erf}}\left({0}\right)", "error function"),
    Op("min", 2, lambda T, u, v: T.minimum(u, v), "MinimumBackward0",
       lambda S, u, v: S.Min(u, v), lambda X, u, v: X.min(u, v), lambda B, u, v: B.min(u, v),
       ("step(v-u)", "step(u-v)"), r"\min\left({0}, {1}\right)", "smaller of two",
       kink=Kink("corner", lambda K, u, v: K.equal(u, v), _TIE), code="torch.minimum({0}, {1})"),
    Op("max", 2, lambda T, u, v: T.maximum(u, v), "MaximumBackward0",
       lambda S, u, v: S.Max(u, v), lambda X, u, v: X.max(u, v), lambda B, u, v: B.max(u, v),
       ("step(u-v)", "step(v-u)"), r"\max\left({0}, {1}\right)", "larger of two",
       kink=Kink("corner", lambda K, u, v: K.equal(u, v), _TIE), code="torch.maximum({0}, {1})"),
    # ---- tensors and gradient control --------------------------------------------------------
    Op("sum", 1, lambda T, u: T.sum(u), "SumBackward0", lambda S, u: S.reduce_sum(u),
       lambda X, u: X.reduce_sum(u), lambda B, u: u,
       ("1",), r"\sum {0}", "sum of all elements (a scalar stays itself)", rule="reduction",
       shape="reduce"),
    Op("mean", 1, lambda T, u: T.mean(u), "MeanBackward0", lambda S, u: S.reduce_mean(u),
       lambda X, u: X.reduce_mean(u), lambda B, u: u,
       ("1",), r"\operatorname{{mean}}\left({0}\right)", "mean of all elements",
       rule="reduction", shape="reduce"),
    Op("dot", 2, lambda T, u, v: T.dot(u, v), "DotBackward0", lambda S, u, v: S.dot(u, v),
       lambda X, u, v: X.dot(u, v), lambda B, u, v: B.unsupported("dot"),
       ("v", "u"), r"{0} \cdot {1}", "dot product of two vectors", rule="dot", shape="dot"),
    Op("detach", 1, lambda T, u: u.detach(), None, lambda S, u: S.detach(u),
       lambda X, u: u, lambda B, u: u,
       ("0",), r"\operatorname{{sg}}\left({0}\right)",
       "stop-gradient: the value of u, no gradient flows back", rule="stop-gradient",
       passes_gradient=False, code="{0}.detach()"),
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
    "arctan2": "atan2",
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
    "sqr": "sqrt",
    "exp2": "pow",
    "norm": "hypot",
    "ln1p": "log1p",
}
