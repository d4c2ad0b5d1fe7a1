"""Hostile and malformed input, through the real command line; nothing may ever run user text."""

from __future__ import annotations

import re
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from .conftest import load_bad_inputs, nested_output, nested_within_limit

CASES = load_bad_inputs()
PACKAGE = Path(__file__).resolve().parent.parent / "gradcli"


@pytest.fixture(scope="module")
def outcomes(
    hostile_outcomes: dict[str, CompletedProcess[str]],
) -> dict[str, CompletedProcess[str]]:
    return hostile_outcomes


@pytest.mark.parametrize(
    ("expression", "expected"), CASES, ids=[f"{i}:{c[0][:20]!r}" for i, c in enumerate(CASES)]
)
def test_bad_input(
    outcomes: dict[str, CompletedProcess[str]], expression: str, expected: str
) -> None:
    proc = outcomes[expression]
    assert "Traceback" not in proc.stderr
    assert "\x1b" not in proc.stderr and "\x00" not in proc.stderr  # nothing raw echoed
    assert "49" not in proc.stdout  # {{7*7}} and friends are never evaluated
    if expected.startswith("VALID"):
        assert (proc.returncode, proc.stdout) == (0, "9\n6\n")
    elif nested_within_limit(expression, expected):  # (deep nesting is no error any more)
        assert (proc.returncode, proc.stdout) == (0, nested_output(expression)), proc.stderr
    elif expected.startswith("parses;"):
        assert proc.returncode == 3, proc.stderr
        assert "warning:" in proc.stderr
    elif expression == "--help":
        assert proc.returncode == 0 and "Usage:" in proc.stdout
    elif expression.startswith("x @ y"):
        assert proc.returncode == 2
        assert "of shape () by 'y' of shape ()" in proc.stderr
    else:
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert proc.stdout == ""
        first = proc.stderr.splitlines()[0]
        assert first.startswith("gradcli: error: ")
        assert proc.stderr.isascii()


def test_nothing_was_executed(outcomes: dict[str, CompletedProcess[str]]) -> None:
    scratch = Path(outcomes["__scratch__"].stdout)
    assert list(scratch.iterdir()) == []


def test_errors_name_the_column_when_the_text_is_at_fault(
    outcomes: dict[str, CompletedProcess[str]],
) -> None:
    for expression, _ in CASES:
        proc = outcomes[expression]
        if proc.returncode == 2 and expression.strip(" "):
            assert re.match(r"gradcli: error: column \d+: ", proc.stderr), proc.stderr


# Builtins that run text, and SymPy's entry points that parse strings (S("...") sympifies).
FORBIDDEN = re.compile(
    r"(?<![.\w])(eval|exec|compile|__import__)\s*\(|\b(sympify|parse_expr|lambdify)\s*\(|\bS\("
)


def test_package_never_calls_eval_like_functions() -> None:
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if FORBIDDEN.search(code):
                hits.append(f"{path.name}:{number}: {line.strip()}")
    assert hits == []
