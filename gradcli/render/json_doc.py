"""``--json``: one JSON document (schema ``gradcli/1``) for any result's ``to_dict()``."""

from __future__ import annotations

import json
from typing import Any


def dumps(doc: dict[str, Any]) -> str:
    """Indented JSON text; refuses NaN and infinity, which are not JSON."""
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
