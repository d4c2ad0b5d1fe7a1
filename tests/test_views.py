"""What a learner sees at 60, 80 and 120 columns: no line wider than the terminal, and no
number cut, folded or split across lines (every number of the JSON document appears whole)."""

from __future__ import annotations

import json
import re

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from gradcli._dev import examples
from gradcli.cli.app import app
from gradcli.render.numbers import fmt

BCE = "-(y*log(sigmoid(w*x+b)) + (1-y)*log(1-sigmoid(w*x+b)))"
EXAMPLES = [
    ["grad", "x**2*y", "--x", "2", "--y", "3"],
    ["grad", "sin(x**2)*y", "--x", "4", "--y", "2"],
    ["grad", BCE, "--x", "6.7", "--y", "0", "--w", "1", "--b", "0"],
    ["grad", "mean((w*X + b - Y)**2)", "--X", "1,2,3,4", "--Y", "3,5,7,9", "--w", "0", "--b", "0"],
    ["grad", "sum(sin(x))", "--x", "1,2,3,4"],
    ["grad", "sum(sin(x)*exp(-x))", "--x", "1,2,3,4,5,6,7,8"],
    ["grad", "sum(W**2)*0.5", "--W", "[[1.5, -2.25], [3.125, 4e-7]]"],
    ["jacobian", "x*y, x+y, sin(x)*y", "--x", "2", "--y", "3"],
    ["jacobian", "W@x", "--W", "[[1, 2], [3, 4]]", "--x", "0.1,0.2"],
    ["hessian", "sin(x)*cos(y)*z", "--x", "1", "--y", "2", "--z", "3"],
    ["hessian", "x**2 - y**2", "--x", "0", "--y", "0"],
]
WIDTHS = [60, 80, 120]


def run(args: list[str], width: int) -> tuple[int, str, str]:
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(width)})
    r = runner.invoke(app, args)
    return r.exit_code, r.stdout, r.stderr


def numbers_of(doc: dict[str, object], kind: str) -> list[float]:
    """Torch's numbers in a result document (what the table shows in full)."""
    found: list[float] = []

    def walk(x: object) -> None:
        if isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            found.append(float(x))

    if kind == "grad":
        walk(doc["value"])
        walk(doc["gradient"])
    else:
        walk(doc[kind])
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", EXAMPLES, ids=lambda a: f"{a[0]} {a[1]}")
def test_every_number_whole_and_no_line_too_wide(args: list[str], width: int) -> None:
    code, out, err = run(args, width)
    assert code == 0, err
    for line in out.splitlines():
        assert line == line.rstrip(), f"blanks at the end of {line!r}"  # (piped: no padding)
        assert cell_len(line) <= width, f"{cell_len(line)} columns: {line!r}"
    _, doc_text, _ = run([*args, "--json"], width)
    doc = json.loads(doc_text)
    tokens = set(re.findall(r"[^\s(),\[\]]+", out))
    for number in numbers_of(doc, args[0]):
        assert fmt(number) in tokens, f"{fmt(number)} is not shown whole at {width} columns"


DRAWN = [
    ["graph", "sin(x**2)", "--x", "4"],
    ["graph", "x*y + sin(x)", "--x", "2", "--y", "3"],
    ["graph", "detach(x**2)*x", "--x", "3"],
    ["graph", BCE, "--x", "6.7", "--y", "0", "--w", "1", "--b", "0"],
    ["steps", "sin(x**2)", "--x", "4"],
    ["steps", BCE, "--x", "6.7", "--y", "0", "--w", "1", "--b", "0"],
]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", DRAWN, ids=lambda a: f"{a[0]} {a[1]}")
def test_graph_and_steps_fit_and_keep_every_number_whole(args: list[str], width: int) -> None:
    from gradcli.render.tree import num

    code, out, err = run(args, width)
    assert code == 0, err
    for line in out.splitlines():
        assert line == line.rstrip(), f"blanks at the end of {line!r}"  # (piped: no padding)
        assert cell_len(line) <= width, f"{cell_len(line)} columns: {line!r}"
    tokens = set(re.findall(r"[^\s(),\[\]]+", out))
    if args[0] == "graph":
        _, doc_text, _ = run([*args, "--format", "json"], width)
        nodes = json.loads(doc_text)["nodes"]
        shown = [n["value"] for n in nodes] + [n["grad"] for n in nodes if n["grad"] is not None]
    else:
        _, doc_text, _ = run([*args, "--json"], width)
        edges = [e for s in json.loads(doc_text)["backward"]["steps"] for e in s["edges"]]
        shown = [e["contribution"] for e in edges if e["contribution"] is not None]
    for number in shown:
        assert num(number) in tokens, f"{num(number)} is not shown whole at {width} columns"
    assert "-0 " not in out and not re.search(r"(?<![\w.])-0(?![.\w])", out)  # 0, never -0


LONG_POINT = ["theta", "1.5123456789", "rho", "0.25123456789", "omega", "0.125123456789"]


@pytest.mark.parametrize("width", [40, 50, 60])
@pytest.mark.parametrize("command", ["grad", "steps", "hessian", "descend"])
def test_the_point_wraps_between_its_values_under_the_first(command: str, width: int) -> None:
    """``at  theta = 1.51..., rho = ...``: a long point breaks after a comma, never inside
    ``name = value``, and continues under the first name (descend: ``from  ``)."""
    expression = "sin(theta**2)*exp(-rho) + tanh(omega*theta)"
    args = [command, expression, *(f"--{v}" if k % 2 == 0 else v for k, v in enumerate(LONG_POINT))]
    code, out, err = run([*args, "--steps", "2"] if command == "descend" else args, width)
    assert code == 0, err
    label = "from  " if command == "descend" else "at  "
    lines = out.splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith(label))
    block = [lines[first]]
    for line in lines[first + 1 :]:
        if not line.startswith(" " * len(label)) or line.startswith(" " * (len(label) + 1)):
            break
        block.append(line)
    text = " ".join(line[len(label) :] for line in block)
    for name, value in zip(LONG_POINT[::2], LONG_POINT[1::2], strict=True):
        assert f"{name} = {value}" in text  # (whole, on one line)
    assert len(block) > 1  # (at these widths it does not fit on one line)
    assert all(cell_len(line) <= width for line in block)
    assert all(line.rstrip().endswith(",") for line in block[:-1] if "(" not in line)


@pytest.mark.parametrize("width", range(8, 70, 3))
def test_expressions_wrap_only_between_tokens(width: int) -> None:
    from gradcli.render.layout import tokens_of, wrap_expression

    texts = [
        BCE,
        "sigmoid(b + w*x)*(1 - sigmoid(b + w*x)) = 0.00122789",
        "+".join(f"sin({k}*x)*1.25e-7" for k in range(12)),
        "x**-2.5 - (-3.75)*y",
    ]
    for text in texts:
        lines = wrap_expression(text, width)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        tokens = {t for t in tokens_of(text) if not t.isspace()}
        for line in lines:
            assert len(line) <= max(width, 8) or line in tokens  # (a longer token: alone)
            assert not line.startswith(" ")
            for piece in tokens_of(line):  # every token of a line is a token of the text
                assert piece.isspace() or any(piece in t for t in tokens), (piece, line)


@pytest.mark.parametrize("name", sorted(examples.golden_names()))
def test_golden_views(name: str) -> None:
    """Every command on the canonical examples at 60, 80 and 120 columns, as committed in
    tests/golden (regenerate with: python -m gradcli._dev.examples --write)."""
    args, width = examples.golden_case(name)
    assert examples.run(args, width) == (examples.GOLDEN / name).read_text(encoding="utf-8")


def test_readme_console_examples_are_current() -> None:
    text = examples.README.read_text(encoding="utf-8")
    assert examples.readme(text) == text, "run: python -m gradcli._dev.examples --write"


def _on_a_terminal(args: list[str], columns: int) -> str:
    """What ``gradcli ARGS`` shows on a terminal of ``columns`` (stdout and stderr both)."""
    import fcntl
    import os
    import struct
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *args], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # (the terminal closed: the process ended)
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_messages_on_a_terminal_wrap_between_words() -> None:
    shown = _on_a_terminal(["grad", "(1-cos(x))/x**2", "--x", "1e-7"], 60)
    warnings = shown[shown.index("gradcli: warning") :].splitlines()
    assert all(cell_len(line) <= 60 for line in warnings), warnings
    assert "9.6e+11)" in shown and "(relative 0.0008)" in shown  # numbers whole
    assert any(line.startswith("  ") for line in warnings)  # continued, indented


def test_no_progress_line_when_the_rows_go_to_the_same_terminal() -> None:
    shown = _on_a_terminal(["grad", "x*y", "--x", "0:1:3", "--y", "0:1:2", "--format", "csv"], 80)
    assert shown.startswith("x,y,value,d_x,d_y\n"), shown[:200]
    assert "rows/s" not in shown
