"""Shared fixtures: the corpus in tests/data and a way to run the real CLI."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"

# No test is served by a warm server of the user's, nor leaves one where the user's would be:
# the tests of the server (test_server.py) start their own, in this private directory.
os.environ["GRADCLI_SERVER"] = "off"
RUNTIME_DIR = tempfile.mkdtemp(prefix="gradcli-tests-")  # (mode 0700)
os.environ["XDG_RUNTIME_DIR"] = RUNTIME_DIR
atexit.register(shutil.rmtree, RUNTIME_DIR, ignore_errors=True)
# The compiled batch screens the tests make are kept here, not in the user's cache.
CACHE_DIR = tempfile.mkdtemp(prefix="gradcli-cache-")
os.environ["XDG_CACHE_HOME"] = CACHE_DIR
atexit.register(shutil.rmtree, CACHE_DIR, ignore_errors=True)


def load_jsonl(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_bad_inputs() -> list[tuple[str, str]]:
    """(expression, expected behaviour) for every case of the hostile corpus."""
    cases = []
    with open(DATA / "bad_inputs_public.txt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            literal, expected = line.rstrip("\n").split("\t", 1)
            cases.append((json.loads(literal), expected))
    return cases


def run_cli(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gradcli`` as a real process."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gradcli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty working directory for runs that must leave nothing behind."""
    return tmp_path


def nested_within_limit(expression: str, expected: str) -> bool:
    """A case written for a nesting limit lower than gradcli's (Python's own is 200
    parentheses): ``x`` inside signs and parentheses only, no deeper than
    :data:`~gradcli.limits.MAX_DEPTH`, is an expression like any other now."""
    # (here, not at the top: the limits are the package's)
    from gradcli.limits import MAX_DEPTH, MAX_LENGTH

    about_nesting = any(w in expected for w in ("nested", "RecursionError", "too complex"))
    plain = set(expression) <= set("()- x") and expression.count("x") == 1
    depth = expression.count("(") + expression.count("-")
    return about_nesting and plain and depth <= MAX_DEPTH and len(expression) <= MAX_LENGTH


def nested_output(expression: str) -> str:
    """What ``--plain`` prints for such a case at x = 3: the value and the derivative, each
    negated once per sign."""
    sign = -1 if expression.count("-") % 2 else 1
    return f"{3.0 * sign}\n{1.0 * sign}\n".replace(".0\n", "\n")


def command_for(expression: str, expected: str, scratch: Path) -> list[str]:
    """The arguments that exercise a case: valid expressions get values for their variables,
    and text no command-line argument can hold (a NUL, or over 128 KiB) goes in a file."""
    if len(expression.encode()) > 100_000 or "\x00" in expression:
        path = scratch.parent / f"expr-{len(expression)}.txt"
        path.write_text(expression, encoding="utf-8")
        return ["grad", "--file", str(path)]
    if expected.startswith("VALID") or nested_within_limit(expression, expected):
        return ["grad", expression, "--x", "3", "--plain"]
    if expression.startswith("x @ y"):
        return ["grad", expression, "--x", "1", "--y", "2"]
    return ["grad", expression]


@pytest.fixture(scope="session")
def hostile_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompletedProcess[str]]:
    """Every case of the hostile corpus run once (cold), a few at a time, in one scratch
    directory; ``__scratch__`` names it. (test_hostile judges them; test_server compares the
    warm server's runs with them.)"""
    scratch = tmp_path_factory.mktemp("hostile")

    cases = load_bad_inputs()

    def run(case: tuple[str, str]) -> CompletedProcess[str]:
        # A generous bound: a hang fails the test instead of stalling the suite.
        return run_cli(*command_for(*case, scratch), cwd=scratch, timeout=30)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip((c[0] for c in cases), pool.map(run, cases), strict=True))
    results["__scratch__"] = CompletedProcess([], 0, str(scratch), "")
    return results
