"""The batch check's reference: float64 columns that carry a bound on their rounding. The bound
must hold (the exact value lies within it) wherever the row is not marked shaky, a NaN it does
not doubt must be a true domain error, and the screen built on it must never call a row
``agree`` or ``undefined`` that the exact judge would not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flint import arb
from hypothesis import example, given

from gradcli.batch import check as batchcheck
from gradcli.engines import screen as bounded
from gradcli.engines.exact import nodewise, real
from gradcli.engines.exact.real import Kind
from gradcli.language.parser import parse
from gradcli.results import Status

from .properties import FAST, cases, screen, screen_disagreements, wild_cases


def one_row(text: str, point: dict[str, float], dtype: str = "float64") -> bounded.Columns:
    expr = parse(text)
    return bounded.Evaluator(expr, dtype).columns({k: np.array([v]) for k, v in point.items()})


def assert_within(text: str, point: dict[str, float], dtype: str = "float64") -> None:
    """The screen's number is within its bound of every point of the exact reference's ball."""
    ref = one_row(text, point, dtype)
    assert not ref.shaky[0], (text, point)
    exact = nodewise.final(parse(text), point, dtype)
    pairs = [("value", exact.value, ref.value[0], ref.value_bound[0])]
    pairs += [(n, exact.gradient[n], ref.gradient[n][0], ref.gradient_bound[n][0]) for n in point]
    for what, r, v, bound in pairs:
        assert r.kind in (Kind.EXACT, Kind.BALL), (text, point, what, r)
        with real.working_precision(256):
            off = abs(arb(float(v)) - r.arb())
            assert off <= arb(float(bound)), (text, point, what, float(v), r, bound)


@FAST
@given(cases(max_leaves=12))
def test_the_bound_holds_on_random_expressions(case: tuple[str, dict[str, float]]) -> None:
    assert_within(*case)


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("(x + 1e10) - 1e10", {"x": 0.1}),  # float64 keeps 6 digits, and torch shares the loss
        ("(1 - cos(x)) / x**2", {"x": 1e-7}),  # cancellation in the value and the gradient
        ("sin(x**2)", {"x": 1000.5}),  # the rounding of x**2 moves sin by 1e-10
        ("tanh(x)", {"x": 20.0}),  # 1 - tanh**2 cancels in the derivative formula
        ("x**7 + x**-2.5 + x**1.5", {"x": 1.3}),  # general powers
        ("exp(x) * log(x) / sqrt(x)", {"x": 3.7}),
        ("asin(x) + acos(x) + atanh(x)", {"x": 0.999}),  # close to, but clear of, the edge
        ("acosh(x) + sinh(x) + cosh(x)", {"x": 1.001}),
        ("min(x, y) + max(x*y, 1) + abs(x - y)", {"x": 0.3, "y": 0.7}),
        ("sigmoid(x) + softplus(x) + erf(x) + atan(x) + asinh(x)", {"x": -1.7}),
        ("x**y", {"x": 1.5, "y": 2.25}),
        ("log2(x) + log10(x) + tan(x)", {"x": 1.5}),
    ],
)
def test_the_bound_holds_where_float64_struggles(text: str, point: dict[str, float]) -> None:
    assert_within(text, point)


def test_the_bound_holds_in_float32() -> None:
    assert_within("sin(x**2)*exp(-y)/(1+x*y**2)", {"x": 1.7, "y": 0.3}, "float32")


def test_shared_rounding_is_seen() -> None:
    # torch and a plain float64 reference round x + 1e10 alike: both give 0.10000038...
    # The bound admits that this may be 4e-7 from the truth, so the row cannot simply agree.
    ref = one_row("(x + 1e10) - 1e10", {"x": 0.1})
    assert ref.value[0] == 0.10000038146972656
    assert ref.value_bound[0] >= 3.8e-7


def test_exact_zeros_have_no_bound() -> None:
    # (else a relu's flat side could never agree: the tolerance is relative)
    ref = one_row("relu(x) * y + max(x, 0) + 2*x*0", {"x": -3.0, "y": 0.7})
    assert ref.value[0] == 0.0 and ref.value_bound[0] == 0
    assert ref.gradient["x"][0] == 0.0 and ref.gradient_bound["x"][0] == 0
    assert ref.gradient["y"][0] == 0.0 and ref.gradient_bound["y"][0] == 0


def test_a_sure_domain_error_is_not_doubted_but_a_close_one_is() -> None:
    ref = one_row("log(x)", {"x": -1.0})
    assert math.isnan(ref.value[0]) and not ref.shaky[0]
    # x*x - 2 is 4.4e-16 here, and its rounding alone is as large: its sign is unknown
    ref = one_row("log(x*x - 2)", {"x": math.sqrt(2)})
    assert ref.shaky[0]


def test_a_step_whose_side_is_unknown_is_bounded_by_its_jump() -> None:
    ref = one_row("step(x*x - 2)", {"x": math.sqrt(2)})
    assert ref.value_bound[0] == pytest.approx(1.0, rel=1e-6)


def test_underflow_is_counted_and_overflow_is_shaky() -> None:
    ref = one_row("x*x", {"x": 1e-200})  # 0 in float64; the exact square is 1e-400
    assert ref.value[0] == 0 and ref.value_bound[0] >= 2.0**-1074
    ref = one_row("exp(x) / exp(x - 1)", {"x": 800.0})  # inf / inf; the exact value is e
    assert ref.shaky[0]


def test_the_screen_agrees_only_where_the_exact_judge_does() -> None:
    xs = [0.1, 1.0, 1e-7, -1.0, 0.0, 2.5, 1000.5, 20.0]
    for text in ("(x + 1e10) - 1e10", "(1-cos(x))/x**2", "sin(x**2)", "log(x)", "sqrt(abs(x))"):
        statuses = screen(text, {"x": xs})
        for x, status in zip(xs, statuses, strict=True):
            if status in (Status.AGREE, Status.UNDEFINED):
                truth = batchcheck.row_verdict(parse(text), {"x": x}, "float64", 30)
                assert truth is status, (text, x, status, truth)


def test_the_screen_leaves_the_hard_rows_to_the_exact_judge() -> None:
    statuses = screen("(x + 1e10) - 1e10", {"x": [0.1, 3e10]})
    assert statuses == [Status.UNCHECKED, Status.AGREE]  # unchecked: doubtful, judged later
    assert screen("log(x)", {"x": [-1.0]}) == [Status.UNDEFINED]
    assert screen("abs(x)**0.5", {"x": [0.0]}) == [Status.UNCHECKED]  # a kink, not undefined


def test_rows_the_bounds_cannot_settle_go_to_the_exact_judge() -> None:
    # At x = 10 the gradient, 10/cosh(10)**2 = 8e-8, comes from terms near 1 that cancel; the
    # bound is larger than the tolerance allows: the screen leaves the row doubtful, and the
    # exact judge (the same as grad's) settles it.
    text, xs = "tanh(x)*x - log(cosh(x))", [0.5, 10.0]
    assert screen(text, {"x": xs}) == [Status.AGREE, Status.UNCHECKED]
    assert batchcheck.row_verdict(parse(text), {"x": 10.0}, "float64", 30) is Status.AGREE


@FAST
@given(wild_cases())
@example(("sigmoid(min(asinh(atanh(-1)), x/(pi - sign(700)))) + 0*y", [{"x": 1.0, "y": 0.0}]))
@example(("log2(0.1)*sinh(1e10**0.5)*detach(1e-10)*(x - x) + 0*y", [{"x": 0.5, "y": 0.0}]))
@example(("y - step(1e-10)**log10(-1) + 0*x", [{"x": 0.0, "y": 1.0}]))
@example(("sin(asin(y)) + 0*x", [{"x": 0.0, "y": -1.0}]))
# Found by the long run. 8**27 + 729 rounds by 2**28 even in longdouble: only the bound knew.
@example(("cos(8**27 + 27**2) + 0*x + 0*y", [{"x": 1.0, "y": 0.5}]))
# cos(1e-10) is 1 in float64 and longdouble, but not exactly: (-0.1)**it is complex.
@example(("(-0.1)**cos(1e-10) + 0*x + 0*y", [{"x": 1.0, "y": 0.5}]))
# In float32 the operand underflows to 0: torch sees step's kink.
@example(("step((y*1e-10)**7) + 0*x", [{"x": 0.0, "y": -0.31}]))
def test_the_screen_never_settles_a_row_the_exact_judge_would_not(
    case: tuple[str, list[dict[str, float]]],
) -> None:
    text, points = case
    assert screen_disagreements(text, points) == []
    assert screen_disagreements(text, points, "float32") == []


def test_a_helper_that_cannot_start_is_an_error_not_a_hang() -> None:
    # A pool whose initializer raises starts a new helper forever; the setup must report it.
    import dataclasses

    from gradcli.check.budget import time_limit

    expr = dataclasses.replace(parse("x*2"), source="x *")  # the helper cannot parse this
    screen = batchcheck.Screen(expr, "float64", None, process=True)
    try:
        wait = screen.submit({"x": np.array([1.0, 2.0])})
        with time_limit(60), pytest.raises(RuntimeError, match=r"could not start .*ParseError"):
            wait()
    finally:
        screen.close()
