"""Special points (tests/data/special_public.jsonl: minima, roots, poles, domain edges, kinks,
exact cancellations, with their exact values computed independently): every case through
``grad --json``, a one-row batch and the API, with the verdict, its exit code and the numbers,
and the same verdict from all three."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from typer.testing import CliRunner

import gradcli
from gradcli.cli.app import app
from gradcli.results import Status

from .conftest import load_jsonl

SPECIAL = load_jsonl("special_public.jsonl")
runner = CliRunner()


def _same_number(expected: Any, verdict: dict[str, Any]) -> bool:
    """``expected`` is a number (the exact value, rounded), "inf"/"-inf" (the exact text), or
    None (no finite value to compare)."""
    if expected is None:
        return True
    if isinstance(expected, str):
        return bool(verdict["exact_text"] == expected)
    if verdict["exact"] is None:
        return False
    return math.isclose(verdict["exact"], expected, rel_tol=1e-12, abs_tol=1e-300)


def _labels(name: str, value: Any) -> list[str]:
    if isinstance(value, list):
        return [f"{name}[{i}]" for i in range(len(value))]
    return [name]


def _expected(case: dict[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for name, g in case["grad"].items():
        values = g if isinstance(g, list) else [g]
        out += list(zip(_labels(name, g), values, strict=True))
    return out


def _args(case: dict[str, Any]) -> list[str]:
    args = []
    for name, value in case["point"].items():
        text = ",".join(repr(float(v)) for v in value) if isinstance(value, list) else repr(value)
        args += [f"--{name}", text]
    return args


@pytest.mark.parametrize("case", SPECIAL, ids=[f"{c['expr']}@{c['point']}" for c in SPECIAL])
def test_special_point(case: dict[str, Any]) -> None:
    # the API
    r = gradcli.grad(case["expr"], case["point"])
    doc = r.to_dict()
    status = doc["check"]["status"]
    assert status in case["status"], (case, doc["check"]["notes"])
    assert _same_number(case["value"], doc["check"]["value"]), doc["check"]["value"]
    for label, expected in _expected(case):
        assert _same_number(expected, doc["check"]["gradient"][label]), (
            label,
            doc["check"]["gradient"][label],
        )
    assert int(r.exit_code) == int(Status(status).exit_code)

    # the command line, as JSON
    cli = runner.invoke(app, ["grad", case["expr"], *_args(case), "--json"])
    assert cli.exit_code == int(r.exit_code), cli.stderr
    assert json.loads(cli.stdout)["check"] == doc["check"]

    # one row of a batch (scalar points: a batch row holds numbers)
    if any(isinstance(v, list) for v in case["point"].values()):
        return
    names = list(case["point"])
    stdin = ",".join(names) + "\n" + ",".join(repr(float(case["point"][n])) for n in names) + "\n"
    batch = runner.invoke(
        app, ["grad", case["expr"], "--input", "-", "--format", "jsonl"], input=stdin
    )
    row = json.loads(batch.stdout.splitlines()[0])
    assert row.get("status", "agree") == status, (row, batch.stderr)
    assert batch.exit_code == int(r.exit_code), batch.stderr


def test_the_corpus_has_every_kind_of_special_point() -> None:
    kinds = {s for c in SPECIAL for s in c["status"]}
    assert {"agree", "undefined", "nondifferentiable", "precision_loss"} <= kinds
    assert len(SPECIAL) >= 36


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # all exact zeros: agree, cell by cell
        (["hessian", "(x-1)**2*y**2 + x", "--x", "1", "--y", "0"], "agree"),
        (["jacobian", "(x-1)**2, x*y - 6", "--x", "1", "--y", "6"], "agree"),
        (["grad", "(x-1)**3", "--x", "1", "--order", "2"], "agree"),
        # a pole and a kink reach the cells too
        (["jacobian", "1/(x-1), abs(y)", "--x", "1", "--y", "0"], "undefined"),
        (["hessian", "abs(x)*y", "--x", "0", "--y", "1"], "nondifferentiable"),
        (["grad", "log(x)", "--x", "0", "--order", "2"], "undefined"),
    ],
)
def test_matrix_and_order_cells_at_special_points(command: list[str], expected: str) -> None:
    r = runner.invoke(app, [*command, "--json"])
    doc = json.loads(r.stdout)
    assert doc["check"]["status"] == expected, doc["check"]
    assert r.exit_code == int(Status(expected).exit_code)


def test_hessian_classification_does_not_scale_with_the_value() -> None:
    # 1e20 + x**2 at 1000: the gradient is 2000, not zero, however large f is
    h = gradcli.hessian("1e20 + x**2", x=1000)
    assert h.classification is None
    assert gradcli.hessian("1e20 + (x-1000)**2", x=1000).classification == "minimum"


@pytest.mark.parametrize(
    ("expression", "point", "status"),
    [
        # no internal error from any expression the parser accepts
        ("exp(exp(exp(1000)))", {}, "overflow"),
        ("x**x**x**x**x**x**x**x**x**x", {"x": 2}, "overflow"),
        ("sinh(sinh(x))", {"x": 1e16}, "overflow"),
        ("x**(0/0)", {"x": 2}, "undefined"),
        ("tan(1e-10/(x-x))", {"x": 1}, "undefined"),
        ("relu(log(x))", {"x": -1}, "undefined"),
        ("max(log(x), 0)", {"x": -1}, "undefined"),
        # the verdicts of the issue that asked for proofs
        ("tanh(log10(x))", {"x": 1e-300}, "precision_loss"),
        ("log(sigmoid(x))", {"x": 400}, "precision_loss"),
        ("log(tanh(x))", {"x": 200}, "precision_loss"),
        ("y + relu((x + 1) - 1)", {"x": 1e-17, "y": 1}, "precision_loss"),
        ("x**y", {"x": 0, "y": 2}, "agree"),
        ("1e300*y + exp((x+1e16)-1e16)", {"x": 1, "y": 1}, "precision_loss"),
        ("x*abs(x)", {"x": 0}, "agree"),
        ("relu(x)**2", {"x": 0}, "agree"),
        ("relu(x) - relu(-x)", {"x": 0}, "mismatch"),  # differentiable; torch's 0 is wrong
    ],
)
def test_verdicts_that_need_a_proof(expression: str, point: dict[str, float], status: str) -> None:
    r = gradcli.grad(expression, point)
    assert r.check.status.value == status, r.check.notes


def test_steps_give_the_same_verdict_as_grad() -> None:
    r = runner.invoke(app, ["steps", "max(x,y)", "--x", "1", "--y", "1"])
    assert r.exit_code == 0, r.stderr
    assert "is at its kink" in r.stderr
    assert gradcli.steps("max(x,y)", x=1, y=1).check.status is Status.NONDIFFERENTIABLE  # type: ignore[union-attr]


def test_batch_rows_get_grads_verdicts() -> None:
    xs = [100.0, 150.0, 200.0, 250.0]
    r = runner.invoke(
        app,
        ["grad", "log(tanh(x))", "--input", "-", "--format", "jsonl"],
        input="x\n" + "\n".join(map(str, xs)) + "\n",
    )
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    for x, row in zip(xs, rows, strict=True):
        assert row.get("status", "agree") == gradcli.grad("log(tanh(x))", x=x).check.status.value
