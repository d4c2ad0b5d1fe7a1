"""The command line, through Typer's CliRunner (stdout, stderr and exit codes apart) and as a
real process."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import gradcli
from gradcli.cli.app import app
from gradcli.render import table

from .conftest import run_cli

runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "80"})


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_grad_table() -> None:
    r = invoke("grad", "x**2*y", "--x", "2", "--y", "3")
    assert r.exit_code == 0
    assert r.stderr == ""
    lines = [line.rstrip() for line in r.stdout.splitlines()]
    assert lines[:2] == ["f = x**2*y", "at  x = 2, y = 3  (float64)"]
    assert "∂f/∂x = 2*x*y" in lines
    assert "∂f/∂y = x**2" in lines


def test_grad_json_equals_to_dict() -> None:
    r = invoke("grad", "x**2*y", "--x=2", "--y=3", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc == gradcli.grad("x**2*y", x=2, y=3).to_dict()
    assert doc["schema"] == "gradcli/1"
    assert doc["gradient"] == {"x": 12.0, "y": 4.0}
    assert doc["check"]["gradient"]["x"]["status"] == "agree"


def test_grad_plain() -> None:
    r = invoke("grad", "sin(x^2)", "x=4", "--plain")
    assert r.exit_code == 0
    assert r.stdout == "-0.2879033166650653\n-7.661275842587077\n"


def test_plain_numbers_read_back_exactly() -> None:
    r = invoke("grad", "x/3", "--x", "1", "--plain")
    value, grad = (float(line) for line in r.stdout.split())
    assert value == 1 / 3 and grad == 1 / 3


def test_expression_starting_with_minus() -> None:
    for args in (
        ["grad", "--x", "1", "--plain", "--", "-x**2"],
        ["grad", "-x**2", "--x", "1", "--plain"],
    ):
        r = invoke(*args)
        assert (r.exit_code, r.stdout) == (0, "-1\n-2\n")


BCE = "-(y*log(sigmoid(w*x+b)) + (1-y)*log(1-sigmoid(w*x+b)))"


@pytest.mark.parametrize(
    ("args", "plain"),
    [
        (["grad", BCE, "--x", "6.7", "--y", "0", "--w", "1", "--b", "0"], None),
        (["grad", "-sin(x)", "--x", "0", "--plain"], "0\n-1\n"),  # (not -s -i 'n(x)')
        (["grad", "-x*foo", "--x", "1", "--foo", "2", "--plain"], "-2\n-2\n-1\n"),  # (not -f)
        (["grad", "--x", "-2", "x**2", "--plain"], "4\n-4\n"),  # a value that starts with '-'
        (["grad", "-i*f*o", "--i", "1", "--f", "2", "--o", "3", "--plain"], "-6\n-6\n-3\n-2\n"),
        (["steps", "-sin(x)", "--x", "1", "--json"], None),
        (["graph", "-sin(x)", "--x", "1", "--format", "json"], None),
    ],
)
def test_an_expression_that_starts_with_minus_is_never_short_options(
    args: list[str], plain: str | None
) -> None:
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    if plain is not None:
        assert r.stdout == plain


def test_short_options_still_work_beside_such_an_expression(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    r = invoke("grad", "-x", "--x", "0:1:3", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_text().splitlines()[1:] == ["0.0,-0.0,-1.0", "0.5,-0.5,-1.0", "1.0,-1.0,-1.0"]
    src = tmp_path / "in.csv"
    src.write_text("x\n2\n")
    r = invoke("grad", "-x**2", "-i", str(src))
    assert r.exit_code == 0 and r.stdout.splitlines()[1] == "2.0,-4.0,-4.0"


@pytest.mark.parametrize(
    ("args", "said", "meant"),
    [
        (["grad", "x", "--x", "1", "--jsn"], "--jsn is not an option of 'gradcli grad'", "--json"),
        (["grad", "x**3", "--x", "1", "--orde", "2"], "--orde is not an option", "--order"),
        (["grad", "x", "--x", "1", "-j"], "-j is not an option of 'gradcli grad'", "--json"),
        (["hessian", "x*y", "--x", "1", "--y", "1", "-json"], "-json is not an option", "--json"),
        (
            ["steps", "x", "--x", "1", "--wrtt", "x"],
            "--wrtt is not an option of 'gradcli steps'",
            "--wrt",
        ),
    ],
)
def test_a_mistyped_option_gets_did_you_mean(args: list[str], said: str, meant: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2
    assert said in r.stderr and f"did you mean {meant}?" in r.stderr


def test_a_variable_that_looks_like_an_option_is_a_variable() -> None:
    r = invoke("grad", "orde*2", "--orde", "3", "--plain")  # in the expression: a variable
    assert (r.exit_code, r.stdout) == (0, "6\n2\n")
    r = invoke("hessian", "x*x+2", "--x", "2,3")  # the hint names what hessian has
    assert r.exit_code == 2 and "--vjp" not in r.stderr and "gradcli jacobian" in r.stderr


def test_option_after_double_dash_is_explained() -> None:
    r = invoke("grad", "--x", "1", "--", "-x**2", "--plain")
    assert r.exit_code == 2
    assert "--plain came after '--'" in r.stderr


def test_no_check() -> None:
    r = invoke("grad", "x**2", "--x", "3", "--no-check", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["check"]["status"] == "unchecked"


@pytest.mark.parametrize("width", ["40", "80"])
def test_the_vjp_table_shows_v_dot_f(width: str) -> None:
    """With --vjp the value is a vector: the table's f row is v·f, the number the check
    compares (it was an internal error)."""
    args = ["grad", "sin(x)*y", "--x", "1,2,3", "--y", "2", "--vjp", "0.5,1,-1"]
    r = CliRunner(env={"NO_COLOR": "1", "COLUMNS": width}).invoke(app, args)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(invoke(*args, "--json").stdout)
    dot = doc["check"]["value"]["autograd"]
    assert dot == pytest.approx(0.5 * 2 * math.sin(1) + 2 * math.sin(2) - 2 * math.sin(3))
    assert "v·f =" in r.stdout and repr(dot) in r.stdout.replace("\n", "").replace(" ", "")
    r = invoke(*args, "--no-check")  # (nothing checked: f itself)
    assert r.exit_code == 0, r.stderr
    assert "v·f" not in r.stdout.split("vector-Jacobian")[1]


def test_dtype_float32() -> None:
    r = invoke("grad", "x*y", "--x", "0.1", "--y", "3", "--dtype", "float32", "--json")
    doc = json.loads(r.stdout)
    assert doc["dtype"] == "float32"
    assert doc["point"]["x"] == 0.1
    assert doc["gradient"]["y"] == pytest.approx(0.1, rel=1e-7)


@pytest.mark.parametrize(
    ("number", "trouble"),
    [
        ("1e39", "is beyond float32's range (3.4028235e+38)"),
        ("1e-50", "is too small for float32: it rounds to 0"),
    ],
)
def test_a_number_written_that_float32_cannot_hold_is_an_input_error(
    number: str, trouble: str
) -> None:
    """Not an internal error, nor a column of infinities or of zeros: 1e39 and 1e-50 are no
    float32 (torch would compute with inf and 0), wherever they are written."""
    for args in (
        ["grad", f"2*x + {number}*y", "--x", "1", "--y", "1"],
        ["grad", f"2*x + {number}*y", "--x", "0:1:3", "--y", "1"],
        ["graph", f"2*x + {number}*y", "--x", "1", "--y", "1"],
        ["hessian", f"2*x + {number}*y", "--x", "1", "--y", "1"],
        ["jacobian", f"x, 2*x + {number}*y", "--x", "1", "--y", "1"],
    ):
        r = invoke(*args, "--dtype", "float32")
        assert r.exit_code == 2, (args, r.stderr)
        lines = r.stderr.splitlines()
        column = args[1].index(number) + 1
        assert lines[0] == f"gradcli: error: column {column}: the number {number} {trouble}"
        assert lines[2].index("^" * len(number)) == column + 1  # (under it, past the indent)
        assert invoke(*args).exit_code == 0  # (float64 holds it)
    with pytest.raises(gradcli.GradcliError, match=f"{number} {re.escape(trouble)}"):
        gradcli.grad_batch(f"{number}*x", {"x": [1.0]}, dtype="float32")


def test_float32s_largest_and_smallest_are_numbers() -> None:
    # float32's largest, as printed, rounds to it: a number, not beyond the range
    assert invoke("grad", "3.4028235e38*x", "--x", "1", "--dtype", "float32").exit_code == 0
    assert invoke("grad", "x", "--x", "3.4028235e38", "--dtype", "float32").exit_code == 0
    assert invoke("grad", "x", "--x", "3.4028236e38", "--dtype", "float32").exit_code == 2
    assert invoke("grad", "1.4e-45*x", "--x", "1", "--dtype", "float32").exit_code == 0


def test_a_value_or_row_float32_cannot_hold_is_an_input_error(tmp_path: Path) -> None:
    """A value, a grid's point or a batch row that float32 holds as 0 or inf is refused (a
    row by the bad-row policy); a subnormal (1e-40) and 0 are numbers."""
    for args, message in (
        (["--x", "1e-50"], "the value of x, 1e-50, is too small for float32 (it rounds to 0)"),
        (["--x", "1e39"], "the value of x, 1e+39, is beyond float32's range (3.4028235e+38)"),
        (["--x", "0:1e-44:100"], "the grid of x has the point 1.010101e-46, which is too small"),
        (["--x", "0:1e39:3"], "the grid of x has the point 5e+38, which is beyond float32's"),
        (["--x", "0:1:3", "--y", "1e-50"], "the value of y, 1e-50, is too small for float32"),
    ):
        r = invoke("grad", "x*y" if "--y" in args else "2*x", *args, "--dtype", "float32")
        assert r.exit_code == 2, (args, r.stdout)
        assert r.stderr.startswith(f"gradcli: error: {message}"), r.stderr
        assert "hint: compute in float64 (--dtype float64)" in r.stderr
        assert r.stdout == ""
    for value in ("1e-40", "0", "-3.4028235e38"):  # (held: a subnormal, zero, the largest)
        r = invoke("grad", "x/2", "--x", value, "--dtype", "float32", "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["gradient"]["x"] == 0.5
    # batch rows from a file: a bad row like any other, named by its line
    points = tmp_path / "points.csv"
    points.write_text("x\n2\n1e-50\n1e39\n3\n")
    r = invoke("grad", "2*x", "--input", str(points), "--dtype", "float32")
    assert r.exit_code == 2
    assert r.stderr.startswith(
        "gradcli: error: line 3: field x is too small for float32 (it rounds to 0): '1e-50'"
    ), r.stderr
    r = invoke("grad", "2*x", "--input", str(points), "--dtype", "float32", "--on-bad-row", "skip")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["x,value,d_x", "2.0,4.0,2.0", "3.0,6.0,2.0"]
    r = invoke("grad", "2*x", "--input", str(points))  # (float64: every row is a number)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[2:4] == ["1e-50,2e-50,2.0", "1e+39,2e+39,2.0"]
    import polars as pl  # (a typed format: the same rule, rows numbered from 1)

    pl.DataFrame({"x": [2.0, 1e39]}).write_parquet(tmp_path / "points.parquet")
    r = invoke("grad", "2*x", "--input", str(tmp_path / "points.parquet"), "--dtype", "float32")
    assert r.exit_code == 2
    assert r.stderr.startswith("gradcli: error: row 2: field x is beyond float32's range"), r.stderr
    for columns in ({"x": [1.0, 1e-50]}, {"x": [1.0, 1e39]}):
        with pytest.raises(gradcli.GradcliError, match="column x, row 1: 1e"):
            gradcli.grad_batch("2*x", columns, dtype="float32")
    assert list(gradcli.grad_batch("2*x", {"x": [1e-40]}, dtype="float32")["status"]) == ["agree"]


def test_vjp_data_and_step_sizes_float32_cannot_hold_are_input_errors(tmp_path: Path) -> None:
    """The same rule for --vjp's vector, descend's data and its step sizes: torch would
    compute with 0 or inf (lr=1e39 was an internal error; 1e-50 a step of 0)."""
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n2,1e39\n")
    for args, message in (
        (
            ["grad", "x**2", "--x", "1,2", "--vjp", "1e-50,1"],
            "an element of --vjp, 1e-50, is too small for float32",
        ),
        (
            ["grad", "x**2", "--x", "1,2", "--vjp", "1e39,1"],
            "an element of --vjp, 1e+39, is beyond float32's range",
        ),
        (
            ["descend", "mean((w*a-b)**2)", "--w", "1", "--data", str(data)],
            "column b, row 1: 1e+39 is beyond float32's range",
        ),
        (["descend", "x**2", "--x", "1", "--lr", "1e39"], "--lr, 1e+39, is beyond"),
        (["descend", "x**2", "--x", "1", "--lr", "1e-50"], "--lr, 1e-50, is too small"),
        (
            ["descend", "x**2", "--x", "1", "--optimizer", "adam", "--eps", "1e-50"],
            "--eps, 1e-50, is too small",
        ),
        (
            ["descend", "x**2", "--x", "1", "--weight-decay", "1e39"],
            "--weight-decay, 1e+39, is beyond",
        ),
    ):
        r = invoke(*args, "--dtype", "float32")
        assert r.exit_code == 2, (args, r.stderr)
        assert r.stderr.startswith(f"gradcli: error: {message}"), r.stderr
        assert "hint: compute in float64 (--dtype float64)" in r.stderr
    assert (
        invoke("grad", "x**2", "--x", "1,2", "--vjp", "1e-40,1", "--dtype", "float32").exit_code
        == 0
    )
    assert invoke("descend", "x**2", "--x", "1", "--lr", "1e-50", "--steps", "2").exit_code == 0


def test_a_value_for_a_column_of_the_input_is_an_error_not_an_overwrite(tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text("x,y\n1,2\n0.5,3\n")
    out = tmp_path / "out.csv"
    r = invoke("grad", "x**2*y", "--x", "1", "--input", str(points), "--output", str(out))
    assert r.exit_code == 2
    assert r.stderr.startswith(
        "gradcli: error: x is a column of the input and has a value (--x) too"
    )
    assert not out.exists()
    points.write_text("y\n2\n3\n")  # (a variable that is no column takes the value)
    r = invoke("grad", "x**2*y", "--x", "1", "--input", str(points))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "y,x,value,d_x,d_y",
        "2.0,1.0,2.0,4.0,1.0",
        "3.0,1.0,3.0,6.0,1.0",
    ]


@pytest.mark.parametrize(
    ("args", "code", "stderr_start"),
    [
        (["grad", "x**"], 2, "gradcli: error: column 2: expression is incomplete after '**'"),
        (["grad", "x*y", "--x", "1"], 2, "gradcli: error: no value for y"),
        (
            ["grad", "x", "--x", "1", "--y", "2"],
            2,
            "gradcli: error: value given for y, but the expression uses x",
        ),
        (["grad", "x", "--x", "nan"], 2, "gradcli: error: value for x is not a number: 'nan'"),
        (
            ["grad", "x", "--x", "1", "--json", "--plain"],
            2,
            "gradcli: error: --json and --plain cannot be used together",
        ),
        (["grad"], 2, "gradcli: error: missing expression"),
        (
            ["grad", "x @ y", "--x", "1", "--y", "2"],
            2,
            "gradcli: error: column 1: '@' cannot multiply 'x' of shape () by 'y' of shape ()",
        ),
        (
            ["grad", "sqrt(x)", "--x", "-1"],
            3,
            "gradcli: warning: the function itself is undefined here: sqrt at column 1 is not "
            "real (sqrt of a negative number)",
        ),
        (
            ["grad", "exp(x)", "--x", "710"],
            3,
            "gradcli: warning: exp at column 1 overflows float64 at 710",
        ),
        (["grad", "(1-cos(x))/x**2", "--x", "1e-7"], 1, "gradcli: warning: torch's value is off"),
        (["grad", "abs(x)", "--x", "0"], 0, "gradcli: warning: abs at column 1 is at its kink (0)"),
    ],
)
def test_exit_codes_and_messages(args: list[str], code: int, stderr_start: str) -> None:
    r = invoke(*args)
    assert r.exit_code == code
    assert r.stderr.startswith(stderr_start), r.stderr
    assert "Traceback" not in r.stderr
    if code == 2:
        assert r.stdout == ""


def test_failed_check_still_prints_both_numbers() -> None:
    r = invoke("grad", "(1-cos(x))/x**2", "--x", "1e-7", "--json")
    assert r.exit_code == 1
    g = json.loads(r.stdout)["check"]["gradient"]["x"]
    assert g["status"] == "precision_loss"
    assert g["autograd"] == pytest.approx(7992.778373572975)
    assert g["exact"] == pytest.approx(-8.333333333333327e-09)


def test_markup_in_expression_is_not_interpreted() -> None:
    r = invoke("grad", "x [/]", "--x", "1")
    assert r.exit_code == 2
    assert "x [/]" in r.stderr


def test_table_golden_text_at_80_columns() -> None:
    out = io.StringIO()
    console = Console(
        file=out, width=80, color_system=None, highlight=False, markup=False, emoji=False
    )
    console.print(table.render(gradcli.grad("sin(x**2)*y", x=4, y=2)))
    assert [line.rstrip() for line in out.getvalue().splitlines()] == [
        "f = sin(x**2)*y",
        "at  x = 4, y = 2  (float64)",
        "",
        "                   autograd         exact (SymPy)   check",
        "─" * 59,
        "f       -0.5758066333301306   -0.5758066333301306   ✓ agree",
        "∂f/∂x   -15.322551685174155   -15.322551685174155   ✓ agree",
        "∂f/∂y   -0.2879033166650653   -0.2879033166650653   ✓ agree",
        "",
        "∂f/∂x = 2*x*y*cos(x**2)",
        "∂f/∂y = sin(x**2)",
    ]


# ---- real processes ---------------------------------------------------------------------------

HEAVY_PROBE = (
    "import os, sys, runpy; sys.argv = ['gradcli'] + sys.argv[1:]\n"
    # gradcli leaves with os._exit once torch is loaded (it skips the teardown); stay to look.
    "def stay(code):\n    raise SystemExit(code)\n"
    "os._exit = stay\n"
    "try:\n    runpy.run_module('gradcli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = sorted(m for m in ('torch', 'sympy', 'numpy', 'mpmath') if m in sys.modules)\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["grad", "--help"],
        ["grad", "2x", "--x", "1"],
        ["grad", "x", "--x", "nan"],
    ],
)
def test_fast_paths_import_neither_torch_nor_sympy(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HEAVY_PROBE, *args], capture_output=True, text=True, timeout=60
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["grad", "--help"]])
def test_help_and_version_load_only_the_declarations(args: list[str]) -> None:
    # --help costs Typer and the option declarations, not the parser, the API or a renderer
    probe = HEAVY_PROBE.replace(
        "('torch', 'sympy', 'numpy', 'mpmath')",
        "('gradcli.api', 'gradcli.cli.commands', 'gradcli.language.parser', 'rich')",
    )
    assert probe != HEAVY_PROBE
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stderr, proc.stderr


def test_no_check_does_not_import_sympy() -> None:
    probe = HEAVY_PROBE.replace("'torch', ", "").replace("'numpy', ", "")  # torch brings numpy
    proc = subprocess.run(
        [sys.executable, "-c", probe, "grad", "x", "--x", "1", "--no-check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr


def test_real_process_json() -> None:
    proc = run_cli("grad", "x**2*y", "--x", "2", "--y", "3", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["value"] == 12.0
    assert proc.stderr == ""


def test_version_and_help() -> None:
    proc = run_cli("--version")
    assert (proc.returncode, proc.stdout) == (0, f"gradcli {gradcli.__version__}\n")
    proc = run_cli()
    assert proc.returncode == 0 and "Usage: gradcli" in proc.stdout
    proc = run_cli("grad", "--help")
    assert proc.returncode == 0 and "EXPRESSION" in proc.stdout


def test_closed_pipe_is_quiet() -> None:
    head = subprocess.Popen(["head", "-c1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    proc = subprocess.run(
        [sys.executable, "-m", "gradcli", "grad", "x**2*y", "--x", "2", "--y", "3", "--json"],
        stdout=head.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert head.stdin is not None
    head.stdin.close()
    head.wait()
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 141)


def test_ctrl_c_exits_130_without_traceback() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, gradcli.cli.app as c; from gradcli.cli.report import reporting\n"
            "@c.app.command('sleep')\ndef sleep() -> None:\n"
            "    with reporting():\n        print('ready', flush=True); time.sleep(30)\n"
            "c.main(['sleep'])",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == "gradcli: interrupted"


# ---- graph and steps ---------------------------------------------------------------------------


def test_graph_tree_and_grad_with_graph() -> None:
    r = invoke("graph", "sin(x**2)", "--x", "4")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[:2] == [
        "n3  sin(x**2)  sin  SinBackward0  saves self",
        "= -0.287903  grad 1",
    ]
    r = invoke("grad", "x*y + sin(x)", "--x", "2", "--y", "3", "--graph")
    assert r.exit_code == 0
    assert "x  leaf, requires_grad, 2 uses\n│   │   = 2  grad 2.58385 (accumulated)" in r.stdout
    r = invoke("grad", "x", "--x", "2", "--graph", "--json")
    assert r.exit_code == 2 and "--graph goes with the table" in r.stderr


def test_graph_formats(tmp_path: Path) -> None:
    r = invoke("graph", "x*y", "--x", "2", "--y", "3", "--format", "json")
    assert json.loads(r.stdout)["kind"] == "graph"
    r = invoke("graph", "x*y", "--format", "mermaid")
    assert r.stdout.startswith("flowchart LR\n")
    target = tmp_path / "g.dot"
    r = invoke("graph", "x*y", "--x", "2", "--y", "3", "--output", str(target))
    assert r.exit_code == 0 and r.stdout == ""
    assert target.read_text().startswith("digraph gradcli {")
    assert [p.name for p in tmp_path.iterdir()] == ["g.dot"]  # no temporary file left
    r = invoke("graph", "x*y", "--torch", "--x", "2", "--y", "3", "--format", "json")
    assert [t["name"] for t in json.loads(r.stdout)["torch"]] == [
        "MulBackward0",
        "AccumulateGrad",
        "AccumulateGrad",
    ]


def test_graph_picture_needs_graphviz(tmp_path: Path) -> None:
    target = tmp_path / "g.svg"
    r = invoke("graph", "x*y", "--x", "2", "--y", "3", "--output", str(target))
    if shutil.which("dot"):
        assert r.exit_code == 0
        assert "<svg" in target.read_text()
    else:
        assert r.exit_code == 2
        assert "needs Graphviz's 'dot'" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["graph", "x", "--output", "/no/such/dir/g.dot"], "no such directory"),
        (["graph", "x", "--output", "g.xyz"], "cannot tell the format"),
        (["graph", "x*y", "--torch"], "--torch needs a value for every variable (x, y)"),
        (["graph", "x*y", "--x", "1"], "no value for y"),
        (["steps", "x*y", "--wrt", "z"], "--wrt z: the expression does not use z (it uses x, y)"),
        (["steps", "x", "--json", "--latex"], "--json and --latex cannot be used together"),
    ],
)
def test_graph_and_steps_errors(args: list[str], message: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stdout == ""


def test_bad_output_fails_before_any_work() -> None:
    # The destination is checked first: even an expression that would not parse is not read.
    r = invoke("graph", "x**", "--output", "/no/such/dir/g.dot")
    assert r.exit_code == 2
    assert "no such directory" in r.stderr


def test_steps_json_and_latex() -> None:
    r = invoke("steps", "x*y + sin(x)", "--x", "2", "--y", "3", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["kind"] == "steps"
    assert doc["backward"]["gradients"]["x"]["agrees"] is True
    assert len(doc["backward"]["gradients"]["x"]["contributions"]) == 2
    assert doc["derivations"]["x"]["verified"] is True
    r = invoke("steps", "sin(x**2)", "--latex", "--wrt", "x")
    assert r.stdout.startswith("\\begin{align*}")


def test_graph_without_values_does_not_import_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", HEAVY_PROBE, "graph", "x**2*y"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr
    assert "local ∂parent/∂this = 2*x" in proc.stdout


def test_a_huge_expression_does_not_flood_the_table() -> None:
    text = "+".join(f"sin({i}*x)" for i in range(1, 2_501))  # node by node: over 2,000 nodes
    r = invoke("grad", text, "--x", "0.5")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert len(lines) < 15
    assert any(line.endswith(f"… ({len(text):,} characters)") for line in lines)
    assert "exact (node by node)" in r.stdout
    assert "too many for SymPy's derivative: checked node by node" in r.stderr


def test_help_beside_an_expression_that_starts_with_minus() -> None:
    r = invoke("grad", "--help", "-x")
    assert r.exit_code == 0 and r.stdout.startswith("Usage: gradcli grad")
    r = invoke("grad", "-(o)", "--o", "1", "--plain")  # (-o alone is the option)
    assert (r.exit_code, r.stdout) == (0, "-1\n-1\n")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["grad", "order*2", "--order", "2"],
            "order is a variable of the expression and also an option",
        ),
        (["grad", "x", "--", "-o", "2"], "-o came after '--', where nothing is read as an option"),
        (["grad", "α**2", "--α", "2"], "variable names are ASCII letters, digits and '_'"),
    ],
)
def test_names_that_clash_with_options_or_are_not_ascii(args: list[str], said: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2 and said in r.stderr
    r = invoke("grad", "order*2", "order=2", "--plain")  # the spelling that works
    assert (r.exit_code, r.stdout) == (0, "4\n2\n")
