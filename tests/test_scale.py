"""Deep and large expressions: no walk over the tree recurses, so a chain tens of thousands of
operations deep is parsed, computed, checked, printed and drawn like a short one.

The oracle here is independent of gradcli: the chain rule worked in a Python loop with the
``math`` module (a chain of smooth functions whose float64 derivative loses no digits)."""

from __future__ import annotations

import json
import math
import sys

import pytest

import gradcli
from gradcli.errors import TimeLimitError
from gradcli.language.parser import parse
from gradcli.limits import LOCAL_OPERAND

from .conftest import run_cli

# (function, its derivative), applied from the inside out
_CHAIN = (
    ("sin", math.sin, math.cos),
    ("tanh", math.tanh, lambda u: 1 - math.tanh(u) ** 2),
    ("cos", math.cos, lambda u: -math.sin(u)),
    ("sigmoid", lambda u: 1 / (1 + math.exp(-u)), lambda u: math.exp(-u) / (1 + math.exp(-u)) ** 2),
)


def _chain(depth: int) -> tuple[str, float, float]:
    """A chain of ``depth`` nested functions, its value and derivative at x = 0.5."""
    text, u, slope = "x", 0.5, 1.0
    for k in range(depth):
        name, f, df = _CHAIN[k % len(_CHAIN)]
        text = f"{name}({text})"
        slope *= df(u)
        u = f(u)
    return text, u, slope


def test_a_chain_deeper_than_any_recursion_limit_is_checked() -> None:
    # 20,000 levels: a walk that recursed once per level would need 20 times Python's default
    # stack, and more than the 8,000 levels the symbolic work is given.
    text, value, slope = _chain(20_000)
    assert sys.getrecursionlimit() < 20_000
    r = gradcli.grad(text, x=0.5)
    assert r.check.status.value == "agree"
    assert r.value == pytest.approx(value, rel=1e-12)
    assert r.gradient["x"] == pytest.approx(slope, rel=1e-9)
    assert "node by node" in " ".join(r.check.notes)


def test_a_deep_chain_through_the_command_line() -> None:
    text, _, slope = _chain(10_000)
    done = run_cli("grad", text, "--x", "0.5", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["check"]["status"] == "agree"
    assert doc["gradient"]["x"] == pytest.approx(slope, rel=1e-9)
    shown = run_cli("grad", text, "--x", "0.5", env={"COLUMNS": "60"}, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert max(len(line) for line in shown.stdout.splitlines()) <= 60
    assert len(shown.stdout) < 20_000  # the 60,000-character expression is shortened


def test_a_deep_chain_jacobian_and_rows() -> None:
    text, value, slope = _chain(5_000)
    m = gradcli.jacobian(text, x=0.5)
    assert m.status.value == "agree"
    assert m.matrix[0][0] == pytest.approx(slope, rel=1e-9)
    rows = gradcli.grad_batch(text, {"x": [0.5, 0.25]})
    assert list(rows["status"]) == ["agree", "agree"]
    assert rows["value"][0] == pytest.approx(value, rel=1e-12)
    assert rows["d_x"][0] == pytest.approx(slope, rel=1e-9)


def test_drawing_a_long_chain_grows_linearly() -> None:
    text, _, _ = _chain(1_999)
    g = gradcli.graph(text, x=0.5)
    labels = [e.local for e in g.edges if e.local]
    assert len(labels) == 1_999
    # every local derivative names a long operand by its node id, so each edge stays short
    assert max(len(label) for label in labels) < 4 * LOCAL_OPERAND
    assert any("(n" in label for label in labels)
    done = run_cli("graph", text, "--x", "0.5", "--format", "dot", timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) < 1_000_000  # in full, the labels held about 20 MB


def test_short_operands_are_written_out() -> None:
    g = gradcli.graph("sin(x**2)", x=4)
    assert g.edges[-1].local == "cos(x**2)"
    big = "+".join(["x"] * (LOCAL_OPERAND // 2 + 1))
    assert len(big) > LOCAL_OPERAND
    g = gradcli.graph(f"sin({big})", x=1)
    assert g.edges[-1].local == f"cos(n{len(parse(big).nodes) - 1})"


def test_higher_derivatives_past_sympy_say_at_once_they_are_not_proven() -> None:
    text, _, _ = _chain(300)  # past SymPy's depth: only first derivatives are proven
    r = gradcli.grad(text, x=0.5, order=2, timeout=60)
    assert r.check.status.value == "inconclusive"
    assert "derivatives of order 2 are not checked" in " ".join(r.check.notes)
    h = gradcli.hessian(text, x=0.5, timeout=60)
    assert h.status.value == "inconclusive" and h.cells is None
    assert "300 operations deep" in " ".join(h.notes)
    shown = run_cli("grad", text, "--x", "0.5", "--order", "2", timeout=120)
    assert shown.returncode == 4, shown.stderr
    assert "? inconclusive" in shown.stdout and "Traceback" not in shown.stderr


def test_steps_past_the_time_limit_still_show_the_checked_backward_pass() -> None:
    # 90 levels: within SymPy's depth, but the derivation's text grows with the cube of the
    # depth and takes far longer than a second.
    text, _, slope = _chain(90)
    s = gradcli.steps(text, x=0.5, timeout=1)
    assert s.derivation_timed_out and s.derivations == {}
    assert s.notes == (
        "the derivation rule by rule did not finish within the 1 s it shared with the point's "
        "check: not written for x",
    )
    assert s.backward is not None and s.backward.gradients[0].agrees
    assert s.backward.gradients[0].total == pytest.approx(slope, rel=1e-9)
    assert s.check is not None and s.check.status.value == "agree"
    assert s.exit_code == 4
    with pytest.raises(TimeLimitError, match="did not finish within 1 s"):
        gradcli.steps(text, timeout=1)  # (no point: nothing else to show)
    shown = run_cli("steps", text, "--x", "0.5", "--timeout", "1", timeout=120)
    assert shown.returncode == 4 and "Traceback" not in shown.stderr
    assert "matches autograd" in shown.stdout
    assert "not written for x" in shown.stderr
    latex = run_cli("steps", text, "--x", "0.5", "--timeout", "1", "--latex", timeout=120)
    assert latex.returncode == 4 and latex.stdout == ""
    assert "raise the limit with --timeout" in latex.stderr


def test_every_verdict_has_a_mark() -> None:
    from gradcli.render.table import STYLE
    from gradcli.results import Status

    assert set(STYLE) == set(Status)
