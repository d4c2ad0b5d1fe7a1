"""``gradcli repl``: values set once, commands run against them with the commands' own output,
session commands, errors that do not end the session; on a terminal, prompt_toolkit with
history and completion."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from gradcli.cli import repl

from .conftest import run_cli


def session(text: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gradcli", "repl", *options],
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80"},
        timeout=120,
    )


def test_commands_run_against_the_values_with_the_commands_output() -> None:
    got = session("x = 2\ny = 3\ngrad x**2*y\ngraph sin(x**2)\nsteps sin(x)*y\n")
    expected = "".join(
        run_cli(*args).stdout
        for args in (
            ["grad", "x**2*y", "--x=2", "--y=3"],
            ["graph", "sin(x**2)", "--x=2"],
            ["steps", "sin(x)*y", "--x=2", "--y=3"],
        )
    )
    assert (got.returncode, got.stdout, got.stderr) == (0, expected, "")


def test_options_follow_the_expression_and_win_over_the_session() -> None:
    got = session("w = 0\ndescend (w-3)**2 --lr 0.1 --steps 20\ngrad x**2 --x 5 --plain\n")
    expected = run_cli("descend", "(w-3)**2", "--w=0", "--lr", "0.1", "--steps", "20").stdout
    assert got.stdout == expected + "25\n10\n"
    assert got.returncode == 0


def test_json_code_vars_and_del() -> None:
    got = session("x = 1.5\ngrad x**3 --plain\n:json\n:vars\n:del x\n:vars\n:code grad x*x --x 2\n")
    json_doc = run_cli("grad", "x**3", "--x=1.5", "--json")
    code = run_cli("grad", "x*x", "--x", "2", "--code").stdout
    assert got.stdout == (
        "3.375\n6.75\n" + json_doc.stdout + "x = 1.5\n" + "(no variables yet: x = 2)\n" + code
    )
    assert json_doc.returncode == 0 and got.returncode == 0


def test_json_mode_for_the_whole_session() -> None:
    got = session("x = 2\nhessian x**2*y --y 1\n", "--json")
    assert got.stdout == run_cli("hessian", "x**2*y", "--x=2", "--y", "1", "--json").stdout


def test_a_bad_line_is_reported_and_the_session_goes_on() -> None:
    got = session("x = [1, 2\nx = 2\nfoo bar\n:nope\n:json\ngrad x+\ngrad x**2 --plain\n")
    lines = got.stderr.splitlines()
    assert lines[0] == "gradcli: error: value for x: missing ']'"
    assert any("is neither an assignment" in line for line in lines)
    assert any("unknown session command ':nope'" in line for line in lines)
    assert any("nothing to show yet" in line for line in lines)
    assert any("expression is incomplete after '+'" in line for line in lines)
    assert got.stdout == "4\n4\n"  # (the last line still ran)
    assert got.returncode == 2  # (the last failure's code)
    assert "Traceback" not in got.stderr


def test_names_that_cannot_be_variables_are_refused() -> None:
    got = session("sin = 2\npi = 3\n:vars\n")
    assert "'sin' is a function name" in got.stderr
    assert "'pi' is a constant" in got.stderr
    assert got.stdout == "(no variables yet: x = 2)\n"


def test_help_and_quit() -> None:
    got = session(":help\n:quit\ngrad x --x 1\n")
    assert got.stdout.startswith("Set values, then run commands against them:")
    assert ":code" in got.stdout and "grad" not in got.stdout.split("\n")[-2]
    assert max(len(line) for line in got.stdout.splitlines()) <= 60  # (a 60-column terminal)
    assert got.returncode == 0


def test_completion_offers_commands_functions_options_and_variables() -> None:
    words = repl._words(state := repl.Session())
    state.values["alpha"] = "2"

    def offered(text: str) -> list[str]:
        return [c.text for c in words.get_completions(Document(text), CompleteEvent())]

    assert offered("gr") == ["grad", "graph"]
    assert offered(":j") == [":json"]
    assert offered("al") == ["alpha"]
    assert "sinh" in offered("grad si") and "sin" in offered("grad si")
    assert offered("grad al") == ["alpha"]
    assert "--lr" in offered("descend (w-3)**2 --l")
    assert offered("grad x --pl") == ["--plain"]


def _read_until(fd: int, wanted: bytes, limit: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + limit
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_on_a_terminal_with_history(tmp_path: Path) -> None:
    """The prompt, a command's output, the history file, and Ctrl-D to leave."""
    pid, fd = pty.fork()
    if pid == 0:  # (the child: the session on a terminal)
        os.environ.update(XDG_STATE_HOME=str(tmp_path), TERM="xterm", NO_COLOR="1")
        os.execv(sys.executable, [sys.executable, "-m", "gradcli", "repl"])
    assert b"gradcli>" in _read_until(fd, b"gradcli>")
    os.write(fd, b"x = 3\r")
    _read_until(fd, b"gradcli>")
    os.write(fd, b"grad x**2 --plain\r")
    shown = _read_until(fd, b"6\r\n")
    assert b"9\r\n6\r\n" in shown
    _read_until(fd, b"gradcli>")
    os.write(fd, b"\x04")  # (Ctrl-D)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    history_file = tmp_path / "gradcli" / "repl_history"
    assert history_file.stat().st_mode & 0o777 == 0o600
    history = history_file.read_text()
    assert "+x = 3" in history and "+grad x**2 --plain" in history


def test_jacobian_outputs_options_named_like_variables_and_minus_o() -> None:
    got = session(
        "x = 2\ny = 3\njacobian x*y, x+y --plain\norder = 2\ngrad order**2 --plain\n"
        "o = 1\ngrad x -o --plain\n"
    )
    assert got.stdout == "3 2\n1 1\n" + "4\n4\n" + "1\n1\n-1\n"
    assert (got.returncode, got.stderr) == (0, "")


def test_command_names_and_stdin_are_refused_clearly() -> None:
    got = session("grad = 3\ngrad --file -\nx**3\n")
    assert "'grad' is a command of the session, not a variable name" in got.stderr
    assert "standard input is the session's own" in got.stderr
    assert "is neither an assignment" in got.stderr  # (x**3 stayed a line of the session)
    assert got.stdout == "" and got.returncode == 2


def test_code_says_which_commands_have_a_script() -> None:
    got = session("x = 4\nsteps sin(x**2)\n:code\n")
    assert (
        "gradcli: error: :code is for grad, graph, jacobian, hessian, descend; steps has no script"
        in got.stderr
    )
    assert got.returncode == 2


def test_ordinals_in_the_descend_summary() -> None:
    from gradcli.render.descent import _ordinal

    assert [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "101st",
        "111th",
        "112th",
    ]
