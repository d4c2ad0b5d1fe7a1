"""Properties over random expressions (a fast budget here; the long run is
benchmarks/fuzz_oracle.py): autograd, the exact reference and a finite difference of exact
values agree wherever the function is smooth; at special points made on purpose (inner zeros
and poles) nothing breaks and a point gets the same verdict alone or as a batch row; the two
exact references agree; printing and re-parsing a tree gives the same tree; arbitrary text
gives a tree or a ParseError, nothing else."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gradcli
from gradcli.engines.exact import nodewise
from gradcli.engines.exact.real import Kind
from gradcli.errors import GradcliError
from gradcli.language.nodes import to_text
from gradcli.language.parser import parse
from gradcli.results import Status

from .properties import (
    FAST,
    NO_SHRINK,
    cases,
    expressions,
    finite_difference,
    references_disagree,
    special_cases,
)


@FAST
@given(cases(max_leaves=10))
# Shrunk counterexamples found while building this test are kept here as regular cases.
@example(("log10(2 + (x)**2)", {"x": 0.0}))
@example(("(1 + (x)**2) ** ((y)/4)", {"x": -2.0, "y": 2.0}))
@example(("detach(x) * (x)", {"x": 1.5}))
@example(("detach(detach(x))", {"x": 0.0}))
# Found by the long run: 1 - tanh(u)**2 in tanh's backward loses digits near tanh(u) = 1,
# which nudging node values cannot show; it was called a mismatch.
@example(
    (
        "(asin(tanh(acos(tanh(((e) + (3)) * ((1 + (3)**2) ** ((2)/4)))/2)))) - "
        "(asin(tanh(acos(tanh(((e) + (z)) * ((1 + (3)**2) ** ((2)/4)))/2)))) + 0*x",
        {"x": 1.0, "z": 0.15686276091675433},
    )
)
def test_autograd_exact_and_finite_differences_agree(case: tuple[str, dict[str, float]]) -> None:
    text, point = case
    r = gradcli.grad(text, point, timeout=30)
    assert r.check.status in (Status.AGREE, Status.PRECISION_LOSS), (text, point, r.check.notes)
    expr = parse(text)
    for name, g in r.gradient.items():
        fd = finite_difference(expr, point, name)
        assert fd is not None, (text, point, name)
        assert math.isclose(g, fd, rel_tol=1e-7, abs_tol=1e-9 * max(1.0, abs(r.value))), (
            text,
            point,
            name,
            g,
            fd,
        )


@FAST
@given(cases(max_leaves=12))
def test_node_by_node_and_sympy_give_the_same_exact_numbers(
    case: tuple[str, dict[str, float]],
) -> None:
    text, point = case
    assert references_disagree(text, point) == [], (text, point)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=NO_SHRINK,
)
@given(special_cases())
@example(("(((x) - 1.0))**2 + 0*y", {"x": 1.0, "y": 0.0}))
@example(("relu(((x*y) - 3.0)) + 0*x", {"x": 1.0, "y": 3.0}))
@example(("(1/((x) - 2.0)) + 0*y", {"x": 2.0, "y": 0.0}))
def test_special_points_get_one_proven_verdict(case: tuple[str, dict[str, float]]) -> None:
    """Inner zeros and poles made on purpose: no error; the same verdict alone and as a
    batch row; an exact zero that torch computes exactly agrees; where the reference says
    the function is smooth and defined here, its derivative is the finite difference's."""
    text, point = case
    r = gradcli.grad(text, point, timeout=30)
    status = r.check.status
    assert status in set(Status), (text, point)
    columns = {k: np.array([v]) for k, v in point.items()}
    row = gradcli.grad_batch(text, columns, timeout=30)
    assert row["status"][0] == status.value, (text, point, r.check.notes)
    value = r.check.value
    assert value is not None
    if value.exact_kind == "zero" and r.value == 0:
        assert value.status is Status.AGREE, (text, point, value)
    expr = parse(text)
    ref = nodewise.final(expr, point, "float64")
    if ref.failure is not None or ref.kinks:
        return
    for name in point:
        exact = ref.gradient[name]
        fd = finite_difference(expr, point, name)
        if fd is None or exact.kind not in (Kind.EXACT, Kind.BALL) or not math.isfinite(fd):
            continue
        scale = max(1.0, abs(float(ref.value)) if ref.value.finite else 1.0)
        assert math.isclose(float(exact), fd, rel_tol=1e-9, abs_tol=1e-12 * scale), (
            text,
            point,
            name,
            float(exact),
            fd,
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
