"""Helpers of the structured-output and tool suites: the spec's ``ResponseFormat`` / ``Tool``
definitions to check what was sent (the fake and its client are fixtures in ``conftest.py``:
``fake_server``, ``fake``, ``fake_client``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC = json.loads((Path(__file__).parent / "data" / "spec_response_format_tool.json").read_text())
MODEL = "mistral-small-latest"


def spec_check(definition: str, value: Any) -> None:
    """Validate ``value`` against one of the spec's definitions (``ResponseFormat``, ``Tool``, ...)."""
    jsonschema.validate(value, {"$ref": f"#/$defs/{definition}", "$defs": SPEC["$defs"]})
