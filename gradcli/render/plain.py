"""``--plain``: bare numbers, one per line, for ``$(...)`` in shell scripts."""

from __future__ import annotations

from ..models import GradResult
from .numbers import fmt


def render(result: GradResult) -> str:
    """The value, then one gradient component per line in the expression's variable order."""
    lines = [fmt(result.value), *(fmt(g) for g in result.gradient.values())]
    return "\n".join(lines) + "\n"
