"""The code stays lint-clean, formatted and type-checked (mypy --strict), as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "gradcli", "tests"],
        ["ruff", "format", "--check", "gradcli", "tests"],
        ["mypy", "gradcli"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_quality_tool_passes(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
