"""``--json``: one JSON document (schema ``gradcli/1``)."""

from __future__ import annotations

import json
from typing import Any

from ..models import GradResult


def render(result: GradResult) -> str:
    """The result's ``to_dict()`` as indented JSON; non-finite numbers are already ``null``."""
    return dumps(result.to_dict())


def dumps(doc: dict[str, Any]) -> str:
    """Indented JSON text; refuses NaN and infinity, which are not JSON."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
