"""``--plain``: bare numbers, one per line, for ``$(...)`` in shell scripts."""

from __future__ import annotations

from typing import Any

from ..language.values import Array
from ..results import GradResult
from .numbers import fmt


def render(result: GradResult) -> str:
    """The value, then one gradient component per line in the expression's variable order;
    vectors and matrices element by element, in row-major order."""
    numbers = [*_flat(result.value)]
    for g in result.gradient.values():
        numbers += _flat(g)
    return "\n".join(fmt(x) for x in numbers) + "\n"


def _flat(value: Any) -> tuple[float, ...]:
    return value.data if isinstance(value, Array) else (value,)
