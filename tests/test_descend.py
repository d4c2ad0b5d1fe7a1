"""The autograd lab: descend (the tutorials' traces, stop rules, the stability bound, data,
mini-batches, accumulation without zero_grad), --const, --code scripts run for real, and the
check of hand-derived answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gradcli
from gradcli.cli.app import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def xy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "xy.csv"
    path.write_text("X,Y\n1,3\n2,5\n3,7\n4,9\n")
    return path


# ---- the tutorials' printed traces, at their float32 and to the digits they print -------------


def test_trace_of_w_minus_3_squared() -> None:
    code, out, _ = run(
        "descend", "(w-3)**2", "--w", "0", "--lr", "0.01", "--steps", "10", "--dtype", "float32",
        "--json",
    )  # fmt: skip
    assert code == 0
    steps = json.loads(out)["runs"][0]["steps"]
    printed = [
        f"step={s['step']:02d} w={s['parameters']['w']:.4f} loss={s['loss']:.4f}" for s in steps
    ]
    assert printed[0] == "step=00 w=0.0600 loss=9.0000"
    assert printed[-1] == "step=09 w=0.5488 loss=6.2562"
    assert len(printed) == 10


def test_linear_regression_from_a_csv(xy_csv: Path) -> None:
    code, out, _ = run(
        "descend", "mean((w*X + b - Y)**2)", "--data", str(xy_csv), "--w", "0", "--b", "0",
        "--lr", "0.1", "--steps", "100", "--dtype", "float32", "--json",
    )  # fmt: skip
    doc = json.loads(out)
    run0 = doc["runs"][0]
    first, twenty = run0["steps"][0], run0["steps"][20]
    assert f"{first['loss']:.4f}" == "41.0000"
    assert f"{first['parameters']['w']:.3f}" == "3.500"
    assert f"{first['parameters']['b']:.3f}" == "1.200"
    assert f"{twenty['loss']:.4f}" == "0.0041"
    assert f"{twenty['parameters']['w']:.3f}" == "2.052"
    assert f"{twenty['parameters']['b']:.3f}" == "0.849"
    final = run0["final"]["parameters"]
    assert (f"{final['w']:.3f}", f"{final['b']:.3f}") == ("2.005", "0.986")
    assert doc["data"] == {"X": 4, "Y": 4}
    assert code in (0, 1)  # (float32 may lose digits at the final point: the check says so)
    assert run0["final"]["check"]["check"]["status"] in ("agree", "precision_loss")


def test_one_sgd_step_on_weights_and_zero_grad() -> None:
    r = gradcli.descend("sum(weights*3)", weights=[1, 1, 1, 1], lr=0.01, steps=1, dtype="float32")
    run0 = r.runs[0]
    assert [round(w, 6) for w in run0.final["weights"].tolist()] == [0.97] * 4
    assert run0.steps[0].gradient == {f"weights[{k}]": 3.0 for k in range(4)}
    assert run0.after_zero_grad["weights"].tolist() == [0.0] * 4
    code, out, _ = run("descend", "sum(weights*3)", "--weights", "1,1,1,1", "--lr", "0.01",
                       "--steps", "1", "--dtype", "float32")  # fmt: skip
    assert code == 0
    assert "weights.grad = [0, 0, 0, 0]" in out


def test_w_reaches_two_at_epoch_seven(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n2,4\n3,6\n")
    _, out, _ = run(
        "descend", "mean((w*x - y)**2)", "--data", str(data), "--w", "0", "--lr", "0.1",
        "--steps", "10", "--dtype", "float32", "--json",
    )  # fmt: skip
    steps = json.loads(out)["runs"][0]["steps"]
    reached = [s["epoch"] + 1 for s in steps if s["parameters"]["w"] == 2.0]
    assert reached[0] == 7  # (epochs counted from 1, as the tutorial prints them)
    assert steps[5]["parameters"]["w"] != 2.0


# ---- stop rules and the stability bound -----------------------------------------------------


@pytest.mark.parametrize(
    ("lr", "reason"),
    [(1.1, "diverged"), (1.0, "oscillating"), (0.99, "steps"), (0.9, "steps"), (0.5, "steps")],
)
def test_stop_rules_on_a_quadratic(lr: float, reason: str) -> None:
    # (at 0.99 each step overshoots, |grad| shrinks by 0.98 a step down to rounding level:
    # converged, not oscillating)
    r = gradcli.descend("(w-3)**2", w=0, lr=lr, steps=2000, check=False)
    assert r.runs[0].stop.reason == reason
    assert int(r.exit_code) == (5 if reason in ("diverged", "oscillating") else 0)


def test_stability_bound_warns_above_two_over_lambda() -> None:
    r = gradcli.descend("(x-1)**2 + 10*(y-2)**2", x=0, y=0, lr=0.11, steps=5, check=False)
    stability = r.runs[0].stability
    assert stability.lambda_max == pytest.approx(20.0)
    assert stability.bound == pytest.approx(0.1)
    assert any("stability bound" in n and "λ_max = 20" in n for n in r.notes)
    quiet = gradcli.descend("(x-1)**2 + 10*(y-2)**2", x=0, y=0, lr=0.09, steps=5, check=False)
    assert quiet.notes == ()


def test_divergence_to_nan_and_unbounded_loss() -> None:
    r = gradcli.descend("-x**2", x=1, lr=0.5, steps=5000, check=False)
    assert r.runs[0].stop.reason == "diverged"
    assert "no lower bound" in r.runs[0].stop.message
    r = gradcli.descend("log(x)", x=1, lr=2, steps=50, check=False)
    assert r.runs[0].stop.reason == "diverged"
    code, _, err = run("descend", "log(x)", "--x", "1", "--lr", "2", "--steps", "50")
    assert code == 5
    assert "diverged" in err


def test_tolerances_stop_early() -> None:
    r = gradcli.descend("(w-3)**2", w=0, lr=0.1, steps=1000, tol=1e-6, check=False)
    assert r.runs[0].stop.reason == "converged"
    assert r.runs[0].stop.steps < 100
    assert abs(r.runs[0].steps[-1].gradient_norm) <= 1e-6
    r = gradcli.descend("(w-3)**2", w=0, lr=0.1, steps=1000, loss_tol=1e-12, check=False)
    assert r.runs[0].stop.reason == "converged"


def test_final_point_is_checked_exactly() -> None:
    r = gradcli.descend("(w-3)**2 + exp(w)", w=0, lr=0.05, steps=20)
    check = r.runs[0].check
    assert check is not None and check.check.status.value == "agree"
    assert check.point["w"] == r.runs[0].final["w"]


# ---- optimizers, data, mini-batches, accumulation -------------------------------------------


def test_compare_runs_every_optimizer_from_the_same_start() -> None:
    r = gradcli.descend(
        "(x-1)**2 + 10*(y-2)**2", x=0, y=0, lr=0.05, steps=30, compare=["sgd", "momentum", "adam"],
        check=False,
    )  # fmt: skip
    assert [run.settings.torch_class for run in r.runs] == ["SGD", "SGD", "Adam"]
    assert [run.settings.momentum for run in r.runs] == [0.0, 0.9, 0.0]
    assert all(run.steps[0].loss == r.runs[0].steps[0].loss for run in r.runs)
    assert len({run.final["x"] for run in r.runs}) == 3
    code, out, _ = run("descend", "(x-1)**2 + 10*(y-2)**2", "--x", "0", "--y", "0", "--lr", "0.05",
                       "--steps", "30", "--compare", "sgd,momentum,adam", "--no-check")  # fmt: skip
    assert code == 0
    assert "sgd loss" in out and "adam loss" in out and "torch.optim.Adam(" in out


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"])
def test_each_optimizer_matches_torch_itself(name: str) -> None:
    import torch

    r = gradcli.descend("(w-3)**2 + w**4/10", w=0.5, lr=0.05, steps=25, optimizer=name, check=False)
    settings = r.runs[0].settings
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, settings.torch_class)([w], **settings.torch_arguments())
    for _ in range(25):
        opt.zero_grad()
        loss = (w - 3) ** 2 + w**4 / 10
        loss.backward()
        opt.step()
    assert r.runs[0].final["w"] == w.detach().item()


def test_mini_batches_are_seeded_and_cover_every_row(tmp_path: Path) -> None:
    columns = {"X": [float(k) for k in range(10)], "Y": [2.0 * k + 1 for k in range(10)]}
    a = gradcli.descend("mean((w*X + b - Y)**2)", w=0, b=0, data=columns, batch_size=3,
                        lr=0.01, steps=8, seed=7, check=False)  # fmt: skip
    b = gradcli.descend("mean((w*X + b - Y)**2)", w=0, b=0, data=columns, batch_size=3,
                        lr=0.01, steps=8, seed=7, check=False)  # fmt: skip
    c = gradcli.descend("mean((w*X + b - Y)**2)", w=0, b=0, data=columns, batch_size=3,
                        lr=0.01, steps=8, seed=8, check=False)  # fmt: skip
    assert a.runs[0].final == b.runs[0].final != c.runs[0].final
    assert [s.epoch for s in a.runs[0].steps] == [0, 0, 0, 0, 1, 1, 1, 1]  # (4 batches an epoch)


def test_without_zero_grad_the_gradients_accumulate() -> None:
    r = gradcli.descend("(w-3)**2", w=0, lr=0.01, steps=5, no_zero_grad=True, check=False)
    correct, summed = r.runs[0].steps, r.accumulated.steps
    assert summed[0].gradient == correct[0].gradient
    # .grad without zeroing: the sum of this step's gradient and every one before it
    for k in range(1, 5):
        here = 2 * (summed[k - 1].after["w"] - 3)
        assert summed[k].gradient["w"] == pytest.approx(summed[k - 1].gradient["w"] + here)
    code, out, _ = run("descend", "(w-3)**2", "--w", "0", "--steps", "5", "--no-zero-grad")
    assert code == 0 and "no zero_grad" in out and "adds its gradient" in out


def test_trace_output_files(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    code, _, _ = run("descend", "(w-3)**2", "--w", "0", "--steps", "30", "--every", "50",
                     "--output", str(trace), "--no-check")  # fmt: skip
    assert code == 0
    lines = trace.read_text().splitlines()
    assert lines[0] == "optimizer,zero_grad,step,epoch,loss,w,d_w,grad_norm"
    assert lines[1].startswith("sgd,true,0,0,9.0,0.06,-6.0,6.0")
    assert len(lines) == 3  # (step 0 and the last, every 50th)
    jsonl = tmp_path / "trace.jsonl"
    run("descend", "(w-3)**2", "--w", "0", "--steps", "3", "-o", str(jsonl), "--no-check")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2] and rows[0]["zero_grad"] is True


def test_picture_output(tmp_path: Path) -> None:
    picture = tmp_path / "run.svg"
    code, _, err = run("descend", "(x-1)**2 + 3*(y+1)**2", "--x", "0", "--y", "0", "--steps",
                       "20", "--lr", "0.1", "-o", str(picture), "--no-check")  # fmt: skip
    assert code == 0, err
    assert picture.read_text().lstrip().startswith("<?xml") and "<svg" in picture.read_text()


def test_plot_text_has_curves_and_contour() -> None:
    code, out, _ = run("descend", "(x-1)**2 + 3*(y+1)**2", "--x", "0", "--y", "0", "--steps",
                       "20", "--lr", "0.1", "--plot", "--no-check")  # fmt: skip
    assert code == 0
    assert "loss (log scale)" in out and "contour of the loss" in out
    assert "○" in out and "●" in out
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in out)  # the curve's Braille dots


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["(w-3)**2", "--w", "0", "--lr", "0"], "lr must be more than 0"),
        (["(w-3)**2", "--w", "0", "--compare", "sgd,foo"], "'foo' is not one of"),
        (["w*X", "--w", "0", "--X", "1,2"], "needs a scalar loss"),
        (["(w-3)**2", "--w", "0", "--const", "w"], "nothing to descend on"),
        (["(w-3)**2", "--w", "0", "--batch-size", "2"], "give --data too"),
        (["(w-3)**2", "--w", "0", "-o", "run.gif"], "cannot tell what to write"),
        (
            ["(w-3)**2", "--w", "0", "--optimizer", "momentum", "--momentum", "1.5"],
            "momentum must be from 0",
        ),
        (
            ["(w-3)**2", "--w", "0", "--compare", "sgd,adam", "--no-zero-grad"],
            "leave out --compare",
        ),
    ],
)
def test_descend_usage_errors(args: list[str], message: str) -> None:
    code, out, err = run("descend", *args)
    assert code == 2
    assert message in err
    assert out == "" and "Traceback" not in err


def test_data_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("X,Z\n1,2\n")
    code, _, err = run("descend", "mean((w*X - Y)**2)", "--w", "0", "--data", str(bad))
    assert code == 2 and "Y" in err
    text = tmp_path / "text.csv"
    text.write_text("X,Y\n1,a\n")
    code, _, err = run("descend", "mean((w*X - Y)**2)", "--w", "0", "--data", str(text))
    assert code == 2 and "line 2" in err


def test_descend_to_dict_is_the_json() -> None:
    r = gradcli.descend("(w-3)**2", w=0, lr=0.1, steps=4)
    code, out, _ = run("descend", "(w-3)**2", "--w", "0", "--lr", "0.1", "--steps", "4", "--json")
    assert code == 0
    assert json.loads(out) == json.loads(json.dumps(r.to_dict()))


# ---- --const -------------------------------------------------------------------------------


def test_const_has_no_gradient_everywhere() -> None:
    r = gradcli.grad("x**2*y", x=2, y=3, const=["y"])
    assert r.gradient == {"x": 12.0}
    assert r.to_dict()["gradient"] == {"x": 12.0, "y": None}
    assert r.to_dict()["constants"] == {"y": ".grad is None (requires_grad=False)"}
    assert list(r.check.gradient) == ["x"] and r.check.status.value == "agree"
    code, out, _ = run("grad", "x**2*y", "--x", "2", "--y", "3", "--const", "y")
    assert code == 0 and "requires_grad=False" in out and "None" in out
    # a derivative that does not exist is no failure for a constant
    assert gradcli.grad("x*sqrt(y)", x=2, y=0, const="y").check.status.value == "agree"
    assert gradcli.grad("x*sqrt(y)", x=2, y=0).check.status.value == "undefined"
    code, _, err = run("grad", "x**2*y", "--x", "2", "--y", "3", "--const", "z")
    assert code == 2 and "--const z" in err


def test_const_in_descend_is_not_updated() -> None:
    r = gradcli.descend("(w - c)**2", w=0, c=5, const=["c"], lr=0.1, steps=30, check=False)
    assert r.constants == {"c": 5.0} and "c" not in r.runs[0].final
    assert r.runs[0].final["w"] == pytest.approx(5.0, rel=1e-2)


# ---- --code: every script runs and prints gradcli's numbers -----------------------------------


def _numbers(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+e[-+]?\d+", text)]


def _script_output(tmp_path: Path, args: list[str]) -> str:
    code, script, err = run(*args, "--code")
    assert code == 0, err
    compile(script, "script.py", "exec")
    path = tmp_path / "script.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("x**2*y", ["--x", "2", "--y", "3"]),
        (
            "sin(x)*pi + detach(y)*x + step(x) + max(x, y) + softplus(-x)",
            ["--x", "0.7", "--y", "3"],
        ),
        ("sum(W@v) + mean(v**2)", ["--W", "[[1, 2], [3, 4]]", "--v", "1,2"]),
        ("1 - x/(2**x) + abs(x - 1)", ["--x", "1.5"]),
    ],
)
def test_grad_code_prints_the_same_numbers(
    tmp_path: Path, expression: str, values: list[str]
) -> None:
    out = _script_output(tmp_path, ["grad", expression, *values])
    r = gradcli.grad(expression, {k[2:]: v for k, v in zip(values[::2], values[1::2], strict=True)})
    expected = [float(r.value)]
    for g in r.gradient.values():
        expected += [float(v) for v in (g.data if hasattr(g, "data") else [g])]
    assert _numbers(out) == expected


def test_grad_code_with_a_constant(tmp_path: Path) -> None:
    out = _script_output(tmp_path, ["grad", "x**2*y", "--x", "2", "--y", "3", "--const", "y"])
    assert "y.grad = None" in out and "df/dx = 12.0" in out


def test_deep_expressions_are_written_one_operation_a_line(tmp_path: Path) -> None:
    expression = "sin(" * 80 + "x" + ")" * 80
    out = _script_output(tmp_path, ["grad", expression, "--x", "0.5"])
    r = gradcli.grad(expression, x=0.5, check=False)
    assert _numbers(out) == [r.value, r.gradient["x"]]


def test_graph_code_prints_each_node(tmp_path: Path) -> None:
    out = _script_output(tmp_path, ["graph", "sin(x**2)*y", "--x", "4", "--y", "2"])
    g = gradcli.graph("sin(x**2)*y", x=4, y=2)
    for node in g.nodes:
        if node.kind == "op":
            assert f"n{node.id} value = {node.value!r}" in out
            assert f"n{node.id} grad_fn = {node.grad_fn}" in out
            assert f"n{node.id} grad = {node.grad!r}" in out


def test_jacobian_and_hessian_code(tmp_path: Path) -> None:
    out = _script_output(tmp_path, ["jacobian", "x*y, x+sin(y)", "--x", "2", "--y", "3"])
    j = gradcli.jacobian("x*y, x+sin(y)", x=2, y=3)
    assert _numbers(out) == [v for row in j.matrix for v in row]
    out = _script_output(tmp_path, ["hessian", "x**2*y + exp(x*y)", "--x", "0.5", "--y", "0.3"])
    h = gradcli.hessian("x**2*y + exp(x*y)", x=0.5, y=0.3)
    assert _numbers(out) == pytest.approx([v for row in h.matrix for v in row], rel=1e-15)


@pytest.mark.parametrize(
    "extra", [[], ["--batch-size", "3", "--seed", "4"], ["--optimizer", "adam"]]
)
def test_descend_code_prints_the_same_trace(tmp_path: Path, extra: list[str]) -> None:
    data = tmp_path / "xy.csv"
    data.write_text("X,Y\n" + "".join(f"{k},{2 * k + 1}\n" for k in range(7)))
    args = ["descend", "mean((w*X + b - Y)**2)", "--data", str(data), "--w", "0", "--b", "0",
            "--lr", "0.02", "--steps", "6", *extra]  # fmt: skip
    out = _script_output(tmp_path, args)
    _, doc, _ = run(*args, "--json", "--no-check")
    steps = json.loads(doc)["runs"][0]["steps"]
    losses = [float(x) for x in re.findall(r"^step=\d+ loss=(\S+)", out, re.M)]
    ws = [float(x) for x in re.findall(r"^after step=\d+ w=(\S+)", out, re.M)]
    assert losses == [s["loss"] for s in steps]
    assert ws == [s["parameters"]["w"] for s in steps]


def test_variable_named_like_a_script_name(tmp_path: Path) -> None:
    out = _script_output(tmp_path, ["grad", "torch*dtype + f", "torch=2", "dtype=3", "f=1"])
    assert _numbers(out) == [7.0, 3.0, 2.0, 1.0]


# ---- check: hand-derived answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "answer", "wrt", "status"),
    [
        ("x**2*y", "2*x*y", "x", "correct"),
        ("x**2*y", "2*x", "x", "wrong"),
        ("sqrt(x**2)", "1", "x", "wrong"),  # (sign(x): wrong for x < 0)
        ("x**2", "2*x**2/x", "x", "wrong"),  # (undefined at 0, where the derivative is 0)
        ("exp(x)*sin(x)", "exp(x)*(sin(x) + cos(x))", "x", "correct"),
        ("log(x)", "1/abs(x)", "x", "agrees_at_points"),  # (equal where log is defined)
        ("x*y", "x", "y", "correct"),
    ],
)
def test_check_answer(expression: str, answer: str, wrt: str, status: str) -> None:
    r = gradcli.check_answer(expression, answer, wrt)
    assert r.status == status
    if status == "wrong":
        c = r.counterexample
        assert c is not None and not c.equal
        assert c.derivative != c.answer


def test_check_command_exit_codes_and_json() -> None:
    code, out, _ = run("check", "x**2*y", "--wrt", "x", "--answer", "2*x*y")
    assert code == 0 and "correct" in out
    code, out, _ = run("check", "sqrt(x**2)", "--answer", "1", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["status"] == "wrong"
    assert doc["counterexample"]["point"]["x"] < 0
    code, _, err = run("check", "x*y", "--answer", "y")
    assert code == 2 and "which variable" in err
    code, out, err = run("check", "x", "--answer", "__import__('os')", "--json")
    assert code == 1 and json.loads(out)["status"] == "invalid_answer" and "Traceback" not in err
    code, out, _ = run("check", "x**2", "--wrt", "x", "--answer", "2*x +", "--json")
    assert code == 1 and "at column 5" in json.loads(out)["proof"]


@pytest.mark.parametrize(
    ("expression", "answer", "wrt", "status"),
    [
        ("exp(x)", "exp(x) + exp(-50)", "x", "wrong"),  # (beyond the first 33 digits)
        ("exp(x)", "exp(x)*(1 + exp(-60))", "x", "wrong"),
        ("x**2", "2*x + 0*z", "x", "correct"),  # (a variable the expression lacks)
        ("x**2", "2*x + z", "x", "wrong"),
        ("5", "0", "x", "correct"),  # (the derivative along a variable f does not use)
        ("5", "1", "x", "wrong"),
    ],
)
def test_check_answer_fine_differences_and_other_variables(
    expression: str, answer: str, wrt: str, status: str
) -> None:
    r = gradcli.check_answer(expression, answer, wrt)
    assert r.status == status
    if status == "wrong" and expression == "exp(x)":
        assert r.counterexample is not None and r.counterexample.difference_text != "0"


def test_huge_negative_exponents_do_not_crash_the_check() -> None:
    r = gradcli.grad("exp(w)", w=-1e20)
    assert r.check.status.value == "agree" and r.value == 0.0
    code, _, err = run("descend", "exp(w)", "--w", "50", "--steps", "3", "--lr", "1")
    assert code == 5 and "internal error" not in err


def test_trace_output_keeps_the_table_short(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    _, out, _ = run(
        "descend", "(w-3)**2", "--w", "0", "--steps", "50", "-o", str(trace), "--no-check"
    )
    table_rows = [line for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(table_rows) == 11  # (every 5th step and the last: about ten)
    assert len(trace.read_text().splitlines()) == 51  # (every step)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hessian", "x**2*y", "--x", "2", "--y", "3", "--const", "y"], "has no option --const"),
        (["check", "x**2", "--answer", "2*x", "--code"], "has no option --code"),
        (["descend", "(w-3)**2", "--w", "0", "--plain"], "has no option --plain"),
        (
            ["descend", "(w-3)**2", "--w", "0", "--momentum", "0.5"],
            "--momentum is not a setting of sgd",
        ),
        (["descend", "(w-3)**2", "--w", "0", "--beta1", "0.5"], "not a setting of sgd"),
        (["descend", "(w-3)**2", "--w", "0", "--compare", "sgd,sgd"], "names sgd twice"),
        (["descend", "(w-3)**2", "--w", "0", "--compare", ""], "names no optimizer"),
        (["descend", "(w-3)**2", "--w", "0", "--compare", "sgd,,adam"], "an empty name"),
        (["descend", "mean(w*X)", "--w", "0", "--batch-size", "4"], "give --data too"),
    ],
)
def test_options_that_do_not_apply_are_errors(args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2 and message in err


def test_data_cell_errors_say_how_to_fix_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("X,Y\n1,a\n")
    code, _, err = run("descend", "mean((w*X - Y)**2)", "--w", "0", "--data", str(bad))
    assert code == 2 and "--on-bad-row" not in err and "finite number" in err


def test_no_zero_grad_shows_both_final_points() -> None:
    code, out, _ = run("descend", "(w-3)**2", "--w", "0", "--lr", "1.1", "--steps", "100",
                       "--no-zero-grad", "--no-check")  # fmt: skip
    assert code == 5
    assert "without zero_grad()" in out and out.count("final") == 2


def test_code_edge_cases(tmp_path: Path) -> None:
    out = _script_output(tmp_path, ["grad", "x**2*y", "--x", "2", "--y", "3", "--const", "x,y"])
    assert "x.grad = None" in out and "y.grad = None" in out
    out = _script_output(tmp_path, ["graph", "sin(n2*x)", "--n2", "2", "--x", "3"])
    assert "n0 n2 value = 2.0" in out
    data = tmp_path / "d.csv"
    data.write_text("X,Y\n" + "".join(f"{k},{2 * k + 1}\n" for k in range(10)))
    for extra in (["--tol", "0.5"], ["--batch-size", "3", "--loss-tol", "0.01"]):
        args = ["descend", "mean((start*X + X_batch - Y)**2)", "--data", str(data), "--start",
                "0", "--X_batch", "0", "--lr", "0.01", "--steps", "500", *extra]  # fmt: skip
        out = _script_output(tmp_path, args)
        _, doc, _ = run(*args, "--json", "--no-check")
        taken = json.loads(doc)["runs"][0]["stop"]["steps"]
        assert len(re.findall(r"^step=", out, re.M)) == taken < 500


def test_picture_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    picture = tmp_path / "run.png"
    code, out, err = run("descend", "(w-3)**2", "--w", "0", "-o", str(picture))
    assert code == 2 and out == ""
    assert "needs matplotlib" in err and "pip install matplotlib" in err
    assert not picture.exists()


@pytest.mark.parametrize(
    ("expression", "answer"),
    [("e**x", "e**x"), ("exp(x)", "e**x"), ("sin(x)", "sin(x + pi/2)"), ("x/10", "0.1"),
     ("x*0.1", "1/10"), ("x", "1 + sin(pi)")],
)  # fmt: skip
def test_check_reads_constants_and_decimals_as_mathematics(expression: str, answer: str) -> None:
    assert gradcli.check_answer(expression, answer, "x").status == "correct"


def test_check_does_not_say_exactly_at_the_precision_cap() -> None:
    r = gradcli.check_answer("x**2", "2*x*(1 + exp(-12000))", "x")
    assert r.status == "agrees_at_points" and "not exactly" in r.proof


def test_check_of_a_deep_expression_finishes() -> None:
    deep = "sin(" * 140 + "x" + ")" * 140
    code, _, err = run("check", deep, "--wrt", "x", "--answer", "cos(x)")
    assert code == 1 and "internal error" not in err


def test_descend_to_an_infinite_parameter_keeps_the_run() -> None:
    code, out, err = run("descend", "exp(x)", "--x", "1", "--lr", "1e308", "--steps", "3")
    assert code == 5 and "diverged" in err and "final" in out
