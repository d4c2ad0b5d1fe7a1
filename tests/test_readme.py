"""The README tells the truth: its generated tables match the code, its commands are the
ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradcli import limits
from gradcli._dev.readme_tables import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(SECTIONS))
def test_generated_tables_are_current(name: str) -> None:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README, re.S)
    assert match, f"README lacks the {name} section"
    assert match.group(1) == SECTIONS[name](), "run: python -m gradcli._dev.readme_tables"


def test_limits_table_matches_the_code() -> None:
    for value in (limits.MAX_LENGTH, limits.MAX_NODES, limits.MAX_EXPONENT):
        assert f"{value:,}" in README
    assert f"| {limits.MAX_DEPTH:,} |" in README
    assert f"| {limits.MAX_NUMBER_LENGTH} |" in README
    assert f"| {limits.MAX_POWER_TOWER} levels |" in README


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"<!-- test-command -->\n```bash\n(.*?)\n```", README, re.S)
    assert command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "test-command" in ci  # CI extracts the command from the README, not a copy
    assert "pytest" in command.group(1)
