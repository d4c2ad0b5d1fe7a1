"""Shared fixtures: the corpus in tests/data and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


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
