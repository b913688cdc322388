"""The fake serves every row of the installed table, end to end through ``client.call``.

Parametrized over the table itself, so a new row is covered the moment it lands: for each
operation a valid call (``tests/_every_row.prepare``: options from the row's option schema,
items its path names created first) goes through the real client to a ``FakeMistral``, must
succeed, must reach the fake as that operation, and its result must be valid for the row's
response schema in ``schemas/_responses.json`` (jsonschema). Rows that stream are also called
with ``stream=True`` and every event is checked against the row's event schema.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from _every_row import prepare
from conftest import API_KEY
from jsonschema import Draft202012Validator

from mistral_lite import Client
from mistral_lite._table import load_spec
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral

SPEC = load_spec()
RESPONSES: Any = SPEC.schemas["_responses.json"]
ROWS = sorted(SPEC.endpoints)
STREAMING = sorted(name for name, ep in SPEC.endpoints.items()
                   if ep.stream != "none" and ep.options.get("stream", {}).get("type") == "boolean")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(batch_step=0) as served:
        yield served


@pytest.fixture
def api(fake: FakeMistral) -> Iterator[Client]:
    """A client of the fake, reset to its seed first."""
    fake.reset()
    with make_client(API_KEY, base_url=fake.url, max_retries=0) as client:
        yield client


@functools.cache
def _validator(operation: str, part: str) -> Draft202012Validator:
    schema = RESPONSES["operations"][operation][part]
    return Draft202012Validator({**schema, "$defs": RESPONSES["$defs"]})


def problems(operation: str, value: Any, part: str = "schema") -> list[str]:
    """What makes ``value`` invalid for the operation's response (or, ``part="events"``, event) schema.

    When the spec describes a stream's events as the SSE envelope (``event``, ``data``, ``id``),
    the client yields the ``data`` payloads: they are checked against ``data``'s schema.
    """
    schema = RESPONSES["operations"][operation][part]
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if part == "events" and "event" in props and "data" in props:
        check = Draft202012Validator({**props["data"], "$defs": RESPONSES["$defs"]})
    else:
        check = _validator(operation, part)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in check.iter_errors(value)]


def call(api: Client, operation: str, options: dict[str, Any]) -> Any:
    """``api.call``, expecting the DeprecationWarning of a deprecated row."""
    if not getattr(SPEC.endpoints[operation], "deprecated", None):
        return api.call(operation, **options)
    with pytest.warns(DeprecationWarning, match=operation):
        return api.call(operation, **options)


def test_every_row_has_a_response_entry() -> None:
    missing = [name for name in ROWS if name not in RESPONSES["operations"]]
    assert missing == [], "regenerate schemas/_responses.json (python -m mistral_lite._dev.responses)"


@pytest.mark.parametrize("operation", ROWS)
def test_every_row_end_to_end(operation: str, api: Client, fake: FakeMistral) -> None:
    ep = SPEC.endpoints[operation]
    entry = RESPONSES["operations"][operation]
    options = prepare(api, fake, operation)
    before = len(fake.requests)
    result = call(api, operation, options)
    if ep.stream != "none" and not isinstance(result, (dict, list, str, bytes)):
        result = list(result)  # a row that always streams
    sent = fake.requests[before:]
    assert [r.operation for r in sent] == [operation]
    assert (sent[0].method, sent[0].path) == (ep.method, _path(ep.path, options))
    if ep.response == "bytes":
        assert isinstance(result, bytes) and result
    elif ep.response == "empty" or entry["media"] is None:
        assert result == {}
    elif isinstance(result, list) and entry["media"] == "text/event-stream":
        assert result
        assert [p for e in result for p in problems(operation, e, "events")] == []
    elif entry["schema"] is None:  # JSON the spec does not describe
        assert result == {}
    else:
        assert problems(operation, result) == []


@pytest.mark.parametrize("operation", STREAMING)
def test_every_streaming_row_streams_valid_events(operation: str, api: Client, fake: FakeMistral) -> None:
    entry = RESPONSES["operations"][operation]
    options = prepare(api, fake, operation)
    events = list(call(api, operation, {**options, "stream": True}))
    assert events
    if entry["events"] is not None:
        assert [p for e in events for p in problems(operation, e, "events")] == []


def _path(template: str, options: dict[str, Any]) -> str:
    for name, value in options.items():
        template = template.replace("{" + name + "}", str(value))
    return template
