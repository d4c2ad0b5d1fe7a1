"""The exact engine: proven numbers, the node-by-node reference and SymPy's derivatives in the
same arithmetic. What it reports must be what is true (checked against rationals by hand and
independent mpmath evaluations at hundreds of digits), and the two references must agree."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
from flint import arb, ctx

from gradcli._dev import local_rules
from gradcli.engines import symbolic
from gradcli.engines.exact import nodewise, real, sympy_eval
from gradcli.engines.exact.functions import X
from gradcli.engines.exact.real import Kind, Real
from gradcli.language.parser import parse
from gradcli.language.shapes import infer_shapes
from gradcli.language.values import Array

from .conftest import load_jsonl


def test_stored_rules_are_what_sympy_derives() -> None:
    assert local_rules.TARGET.read_text() == local_rules.source(), (
        "regenerate with: python -m gradcli._dev.local_rules --write"
    )


# ---- proven numbers ------------------------------------------------------------------------------


def q(x: Real) -> Fraction:
    assert x.kind is Kind.EXACT, x
    return Fraction(int(x.q.p), int(x.q.q))


def test_rational_arithmetic_is_exact() -> None:
    x = real.of_float(1.0)
    assert (x - real.ONE) ** real.rational(2) == real.ZERO or q((x - real.ONE) ** 2) == 0
    assert q(real.of_float(0.1) * real.rational(10)) == Fraction(0.1) * 10  # the double's value
    assert q(real.rational(1, 3) + real.rational(1, 6)) == Fraction(1, 2)


def test_the_kinds_of_what_is_no_number() -> None:
    zero = real.ZERO
    assert (real.ONE / zero).kind is Kind.INF  # a two-sided pole: no sign
    assert (zero / zero).kind is Kind.UNDEFINED
    assert X.log(zero).kind is Kind.NEG_INF
    assert X.log(real.rational(-1)).kind is Kind.NOT_REAL
    assert (
        X.atanh(real.ONE).kind is Kind.POS_INF and X.atanh(real.rational(-1)).kind is Kind.NEG_INF
    )
    assert X.asin(real.rational(2)).kind is Kind.NOT_REAL
    assert X.sin(real.pos_inf()).kind is Kind.UNDEFINED
    assert (real.pos_inf() - real.pos_inf()).kind is Kind.UNDEFINED
    assert (zero * real.pos_inf()).kind is Kind.UNDEFINED


def test_one_sided_zeros_give_signed_infinities() -> None:
    # sqrt is never negative, so 1/sqrt(0) is +inf; -1/(2 sqrt(0)) is -inf
    root = X.sqrt(real.ZERO)
    assert root.is_zero and root.side == 1
    assert (real.ONE / root).kind is Kind.POS_INF
    assert (real.rational(-1) / (real.rational(2) * root)).kind is Kind.NEG_INF
    assert real.power(real.ZERO, real.rational(-1, 2)).kind is Kind.POS_INF
    assert real.power(real.ZERO, real.rational(-2)).kind is Kind.POS_INF
    assert real.power(real.ZERO, real.rational(-1)).kind is Kind.INF


def test_elementary_functions_are_exact_where_their_values_are_rational() -> None:
    zero, one = real.ZERO, real.ONE
    assert q(X.sin(zero)) == 0 and q(X.cos(zero)) == 1 and q(X.exp(zero)) == 1
    assert q(X.log(one)) == 0 and q(X.acosh(one)) == 0 and q(X.acos(one)) == 0
    assert q(X.sqrt(real.rational(9, 4))) == Fraction(3, 2)
    assert (
        q(X.log_base(real.rational(1024), 2)) == 10
        and q(X.log_base(real.rational(1, 100), 10)) == -2
    )
    assert q(X.sigmoid(zero)) == Fraction(1, 2)
    assert q(real.power(real.rational(8, 27), real.rational(2, 3))) == Fraction(4, 9)
    assert X.sin(one).kind is Kind.BALL  # transcendental: a ball, never a rounded "exact"


def test_powers_follow_torch_and_sympy_on_the_reals() -> None:
    assert q(real.power(real.rational(-2), real.rational(3))) == -8
    assert real.power(real.rational(-8), real.rational(1, 3)).kind is Kind.NOT_REAL
    assert q(real.power(real.ZERO, real.ZERO)) == 1
    assert real.power(real.ZERO, real.rational(1, 2)).is_zero


def test_numbers_beyond_any_range_keep_their_sign() -> None:
    with real.working_precision(128):
        big = X.exp(X.exp(X.exp(real.rational(1000))))
        assert big.kind is Kind.HUGE and big.side == 1
        assert (real.ONE / big).kind is Kind.BALL  # a tiny ball around 0
        assert X.tanh(big).kind is Kind.BALL and abs(float(X.tanh(big)) - 1) < 1e-30
        tower = real.rational(2)
        for _ in range(6):
            tower = real.power(real.rational(2), tower)
        assert tower.kind is Kind.HUGE


def test_the_precision_is_restored() -> None:
    before = ctx.prec
    with real.working_precision(4096):
        assert ctx.prec == 4096
    assert ctx.prec == before


# ---- the node-by-node reference ------------------------------------------------------------------


def settle(text: str, point: dict[str, object]) -> nodewise.Reference:
    expr = parse(text)
    shapes = {k: v.shape if isinstance(v, Array) else () for k, v in point.items()}
    infer_shapes(expr, shapes)
    return nodewise.final(expr, point, "float64")  # type: ignore[arg-type]


def mp_check(x: Real, expected: mpmath.mpf, digits: int = 40) -> None:
    """``x`` is proven to hold the independently computed ``expected``."""
    assert x.kind in (Kind.EXACT, Kind.BALL), x
    with mpmath.workdps(digits + 20), real.working_precision(4 * digits + 64):
        assert x.kind is Kind.EXACT or x.b.rel_accuracy_bits() > 3.3 * digits
        mid = mpmath.mpf(x.arb().mid().str(digits + 10, radius=False))
        assert abs(mid - expected) <= abs(expected) * mpmath.mpf(10) ** -digits


def test_exact_zeros_at_minima_and_roots() -> None:
    ref = settle("(x-1)**2", {"x": 1.0})
    assert ref.value.is_zero and ref.gradient["x"].is_zero and ref.bits == 128
    ref = settle(
        "mean((w*X + b - Y)**2)",
        {"X": Array((3,), (1.0, 2.0, 3.0)), "Y": Array((3,), (3.0, 5.0, 7.0)), "w": 2.0, "b": 1.0},
    )
    assert ref.value.is_zero and all(g.is_zero for g in ref.gradient.values())


def test_tiny_numbers_are_found_by_raising_the_precision() -> None:
    # 1 - tanh(log10(x))**2 at 1e-300 cancels over 260 digits; log(sigmoid(400)) is -1.9e-174
    with mpmath.workdps(1000):
        x = mpmath.mpf(1e-300)
        expected = (1 - mpmath.tanh(mpmath.log10(x)) ** 2) / (x * mpmath.log(10))
        ref = settle("tanh(log10(x))", {"x": 1e-300})
        mp_check(ref.gradient["x"], expected)
        ref = settle("log(sigmoid(x))", {"x": 400.0})
        mp_check(ref.value, mpmath.log(1 / (1 + mpmath.exp(-400))))
    assert ref.bits > 128


def test_poles_and_domain_edges() -> None:
    ref = settle("1/(x-1)", {"x": 1.0})
    assert ref.failure is not None and ref.value.kind is Kind.INF
    assert settle("log(x-1)", {"x": 1.0}).value.kind is Kind.NEG_INF
    ref = settle("sqrt(1-x**2)", {"x": 1.0})
    assert ref.value.is_zero and ref.gradient["x"].kind is Kind.NEG_INF  # an edge: slope -inf
    assert settle("acosh(x)", {"x": 1.0}).gradient["x"].kind is Kind.POS_INF


def test_a_zero_base_has_slope_zero_in_its_exponent() -> None:
    ref = settle("x**y", {"x": 0.0, "y": 2.0})
    assert ref.gradient["x"].is_zero and ref.gradient["y"].is_zero


@pytest.mark.parametrize(
    ("text", "point", "exists", "value"),
    [
        ("x*abs(x)", {"x": 0.0}, True, 0),
        ("relu(x)**2", {"x": 0.0}, True, 0),
        ("relu(x) - relu(-x)", {"x": 0.0}, True, 1),  # x itself; torch's convention gives 0
        ("abs(x)", {"x": 0.0}, False, None),
        ("abs(x-1)*y", {"x": 1.0, "y": 4.0}, False, None),
        ("max(x, y)", {"x": 1.0, "y": 1.0}, False, None),
        ("max(sin(x), sin(1))", {"x": 1.0}, False, None),  # a tie no ball could show
    ],
)
def test_kinks_are_decided_from_both_sides(
    text: str, point: dict[str, float], exists: bool, value: int | None
) -> None:
    ref = settle(text, point)
    one = ref.one_sided[0]["x"]
    assert one.exists is exists
    if value is not None:
        assert q(one.value) == value


def test_a_jump_is_never_differentiable() -> None:
    ref = settle("x*step(x)", {"x": 0.0})
    assert "x" in ref.jumps


def test_the_scale_of_a_derivative_sees_inside_the_formulas() -> None:
    # d/dx tanh(x) = 1 - tanh(x)**2: the terms are of size 1 even where the result is tiny
    ref = settle("tanh(x)", {"x": 10.0})
    assert 1.9 < ref.scale["x"] < 2.1
    # d/dx (1e300*y + exp(x)) is made of terms of size e, whatever |f| is
    ref = settle("1e300*y + exp((x+1e16)-1e16)", {"x": 1.0, "y": 1.0})
    assert ref.scale["x"] == pytest.approx(2.718281828459045)


# ---- both references agree --------------------------------------------------------------------


def _corpus_points() -> list[tuple[str, dict[str, float]]]:
    out = []
    for name in ("oracle_public.jsonl", "stress_public.jsonl", "special_public.jsonl"):
        for case in load_jsonl(name):
            if all(isinstance(v, (int, float)) for v in case["point"].values()):
                out.append((case["expr"], {k: float(v) for k, v in case["point"].items()}))
    return out


CORPUS = _corpus_points()


def test_there_are_many_corpus_points() -> None:
    assert len(CORPUS) > 120


def _consistent(a: Real, b: Real) -> bool:
    if a.kind in (Kind.EXACT, Kind.BALL) and b.kind in (Kind.EXACT, Kind.BALL):
        with real.working_precision(256):
            return bool(a.arb().overlaps(b.arb()))
    return True  # (a formula SymPy writes differently may meet 0*inf where ours does not)


@pytest.mark.parametrize(("text", "point"), CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_node_by_node_and_sympy_agree_on_the_corpora(text: str, point: dict[str, float]) -> None:
    ref = settle(text, point)
    expr = parse(text)
    sym = symbolic.build(expr)
    exprs = [sym.expr, *(sym.derivative(n) for n in point)]
    values = sympy_eval.final(exprs, sympy_eval.exact_subs(sym, point, "float64"))
    assert _consistent(ref.value, values[0]), (text, ref.value, values[0])
    for name, value in zip(point, values[1:], strict=True):
        if name in ref.jumps or name in ref.one_sided[0]:
            continue
        assert _consistent(ref.gradient[name], value), (text, name, ref.gradient[name], value)


def test_the_oracle_values_lie_in_the_proven_balls() -> None:
    checked = 0
    for case in load_jsonl("oracle_public.jsonl"):
        if not all(isinstance(v, (int, float)) for v in case["point"].values()):
            continue
        ref = settle(case["expr"], {k: float(v) for k, v in case["point"].items()})
        with real.working_precision(256):
            assert abs(float(ref.value) - case["value"]) <= 1e-12 * max(1.0, abs(case["value"]))
            for name, g in case["grad"].items():
                assert abs(float(ref.gradient[name]) - g) <= 1e-12 * max(1.0, abs(g)), case
        checked += 1
    assert checked > 90


def test_sympy_cancels_what_its_algebra_sees_exactly() -> None:
    sym = symbolic.build(parse("sin(x) - sin(1)"))
    values = sympy_eval.final([sym.expr], sympy_eval.exact_subs(sym, {"x": 1.0}, "float64"))
    assert values[0].is_zero


def test_arb_is_what_the_engine_uses() -> None:
    # (a guard for the dependency: balls carry their radius)
    with real.working_precision(64):
        assert not (arb(1) / 3).is_exact()
