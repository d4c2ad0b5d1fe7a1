"""``--json``: one JSON document (schema ``gradcli/1``)."""

from __future__ import annotations

import json

from ..models import GradResult


def render(result: GradResult) -> str:
    """The result's ``to_dict()`` as indented JSON; non-finite numbers are already ``null``."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
