"""Properties over random expressions from the grammar (a fast budget here; the long run is
benchmarks/fuzz_oracle.py): autograd, the SymPy-exact derivative and an independent 50-digit
finite difference agree wherever the function is smooth; printing and re-parsing a tree gives
the same tree; arbitrary text gives a tree or a ParseError, nothing else."""

from __future__ import annotations

import math

import mpmath
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gradcli
from gradcli.errors import GradcliError
from gradcli.language.nodes import to_text
from gradcli.language.parser import parse
from gradcli.results.models import Status

from .properties import cases, expressions, finite_difference

FAST = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FAST
@given(cases(max_leaves=10))
# Shrunk counterexamples found while building this test are kept here as regular cases.
@example(("log10(2 + (x)**2)", {"x": 0.0}))
@example(("(1 + (x)**2) ** ((y)/4)", {"x": -2.0, "y": 2.0}))
@example(("detach(x) * (x)", {"x": 1.5}))
@example(("detach(detach(x))", {"x": 0.0}))  # found here: nested detach was not evaluated
# Found by the long run: 1 - tanh(u)**2 in tanh's backward loses digits near tanh(u) = 1,
# which nudging node values cannot show; it was called a mismatch.
@example(
    (
        "(asin(tanh(acos(tanh(((e) + (3)) * ((1 + (3)**2) ** ((2)/4)))/2)))) - "
        "(asin(tanh(acos(tanh(((e) + (z)) * ((1 + (3)**2) ** ((2)/4)))/2)))) + 0*x",
        {"x": 1.0, "z": 0.15686276091675433},
    )
)
def test_autograd_sympy_and_finite_differences_agree(case: tuple[str, dict[str, float]]) -> None:
    text, point = case
    r = gradcli.grad(text, point, timeout=30)
    assert r.check.status in (Status.AGREE, Status.PRECISION_LOSS), (text, point, r.check.notes)
    expr = parse(text)
    for name, g in r.gradient.items():
        fd = float(finite_difference(expr, point, name))
        assert math.isclose(g, fd, rel_tol=1e-7, abs_tol=1e-9 * max(1.0, abs(r.value))), (
            text,
            point,
            name,
            g,
            fd,
        )


@FAST
@given(cases(max_leaves=12))
def test_node_by_node_reference_matches_sympy(case: tuple[str, dict[str, float]]) -> None:
    """The linear-time reference (large expressions, batch rows) and SymPy's whole-expression
    derivative give the same exact numbers."""
    from gradcli.engines import symbolic
    from gradcli.engines.exact import adjoint

    text, point = case
    expr = parse(text)
    value, gradient = adjoint.exact(expr, point, "float64")
    sym = symbolic.build(expr)
    pairs = [(value, symbolic.evaluate(sym, sym.expr, point, "float64"))]
    pairs += [
        (gradient[n], symbolic.evaluate(sym, sym.derivative(n), point, "float64")) for n in point
    ]
    for ours, theirs in pairs:
        assert ours.value is not None and theirs.value is not None, (text, point)
        scale = max(abs(theirs.value), mpmath.mpf(10) ** -30)
        assert abs(ours.value - theirs.value) <= mpmath.mpf(10) ** -25 * scale, (
            text,
            point,
            ours.text,
            theirs.text,
        )


@FAST
@given(expressions(["x", "y", "z"], max_leaves=16))
def test_print_and_parse_round_trip(text: str) -> None:
    tree = parse(text)
    printed = to_text(tree)
    assert parse(printed) == tree
    assert to_text(parse(printed)) == printed


ALPHABET = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"])


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    st.one_of(
        st.text(ALPHABET, max_size=40),
        st.text(st.sampled_from(list("xy12.e+-*/^()@, _sinlog")), max_size=40),
    )
)
def test_arbitrary_text_is_a_tree_or_a_parse_error(text: str) -> None:
    try:
        tree = parse(text)
    except GradcliError as e:
        report = e.report()
        assert report.isascii() and "\x1b" not in report
    else:
        assert tree.nodes
