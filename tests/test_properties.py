"""Property tests (hypothesis): arbitrary input has only the documented outcomes.

* Any values for any options of any operation: a ``ValidationError`` listing at least one
  problem, or exactly one request whose options jsonschema accepts and whose JSON body is
  those options. Nothing else escapes (no ``TypeError``, ``ValueError``, ``UnicodeError``...).
* Arbitrary bytes, split anywhere, to a stream of either kind: events or a ``MistralError``.
* Arbitrary bytes as an error body: an ``APIStatusError`` that renders.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import requests
import responses
from conftest import API_KEY, BASE
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mistral_lite import APIStatusError, MistralError, ValidationError
from mistral_lite._core import call as _core
from mistral_lite._core.jsoncodec import decoder
from mistral_lite._http.stream import Stream
from mistral_lite._table import load_spec
from mistral_lite._dev.testing import make_client
from mistral_lite._core.validate import _jsonschema_validator

SPEC = load_spec()
#: Rows whose options are files or local paths are left out: arbitrary strings there would be
#: paths on this machine (reads, or writes for a download's ``to``).
OPERATIONS = sorted(
    name for name, ep in SPEC.endpoints.items()
    if ep.body != "multipart" and not ep.client
)

_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "system", "tool", "mistral-small-latest", "\ud800", "", "a/../b"])
)
_weird = st.sampled_from([object(), ("tuple", 1), b"bytes", {1, 2}, math.nan])
_values = st.recursive(
    _scalars | _weird,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["role", "content", "type", "text"]), inner, max_size=3),
    max_leaves=8,
)


def _resolve(ref: str, current: str) -> tuple[Any, str]:
    file, _, pointer = ref.partition("#")
    file = file or current
    target: Any = SPEC.schemas[file]
    for part in [p for p in pointer.split("/") if p]:
        target = target[part]
    return target, file


def _from_schema(schema: Any, current: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped by a schema (mostly valid, often at the edges), arbitrary past depth 4."""
    if not isinstance(schema, dict) or depth > 4:
        return _values
    if "$ref" in schema:
        target, file = _resolve(schema["$ref"], current)
        return _from_schema(target, file, depth + 1)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_from_schema(sub, current, depth + 1) for sub in schema[key]])
    if "allOf" in schema:
        return _from_schema(schema["allOf"][0], current, depth + 1)
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if not names:
        return _values
    out: list[st.SearchStrategy[Any]] = []
    for name in names:
        if name == "string":
            out.append(st.text(max_size=8) | st.sampled_from(["m", "\ud800", "a/b", ""]))
        elif name == "integer":
            out.append(st.integers(min_value=-3, max_value=2**65))
        elif name == "number":
            out.append(st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1))
        elif name == "boolean":
            out.append(st.booleans())
        elif name == "null":
            out.append(st.none())
        elif name == "array":
            out.append(st.lists(_from_schema(schema.get("items", {}), current, depth + 1), max_size=2))
        elif name == "object":
            props = schema.get("properties", {})
            required = [k for k in schema.get("required", ()) if k in props]
            optional = {k: _from_schema(v, current, depth + 1) for k, v in props.items() if k not in required}
            if props:
                out.append(st.fixed_dictionaries({k: _from_schema(props[k], current, depth + 1) for k in required},
                                                 optional=optional))
            else:
                out.append(st.dictionaries(st.text(max_size=5), _values, max_size=2))
    return st.one_of(out)


@st.composite
def _calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(OPERATIONS))
    endpoint = SPEC.endpoints[name]
    schema = SPEC.schemas[endpoint.schema_name]
    properties = schema.get("properties", {})
    known = sorted(endpoint.options)
    chosen = set(draw(st.lists(st.sampled_from(known), unique=True, max_size=len(known))) if known else [])
    shaped = draw(st.booleans())  # half the calls are shaped by the schema, the rest arbitrary
    if shaped:
        chosen.update(schema.get("required", ()))
    options = {}
    for key in sorted(chosen):
        strategy = _from_schema(properties.get(key), endpoint.schema_name) if shaped else _values
        options[key] = draw(strategy)
    if draw(st.integers(0, 9)) == 0:
        options[draw(st.text(alphabet="abcxyz_", min_size=1, max_size=5))] = draw(_values)
    return name, options


def _reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.headers.get("Accept") == "text/event-stream":
        return 200, {"Content-Type": "text/event-stream"}, b"data: [DONE]\n\n"
    return 200, {"Content-Type": "application/json"}, b"{}"


def _mocked() -> responses.RequestsMock:
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        mock.add_callback(method, re.compile(re.escape(BASE) + ".*"), callback=_reply)
    return mock


def _plain(value: Any) -> Any:
    """The options as the JSON data they stand for (what jsonschema judges)."""
    return json.loads(json.dumps(value, allow_nan=False))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_calls())
def test_any_options_give_a_validation_error_or_a_valid_request(call: tuple[str, dict[str, Any]]) -> None:
    name, options = call
    endpoint = SPEC.endpoints[name]
    client = make_client(API_KEY, retry=False, sleep=lambda s: None)
    with _mocked() as mock:
        try:
            result = client.call(name, **options)
            if isinstance(result, Stream):
                list(result)
        except ValidationError as exc:
            assert exc.errors, "a ValidationError must list its problems"
            assert all(isinstance(p, str) and isinstance(m, str) and m for p, m in exc.errors)
            assert len(mock.calls) == 0, "nothing is sent when the input is at fault"
            event("refused")
            return
        except MistralError as exc:  # e.g. a JSON reply to a stream: allowed, but it was sent
            assert len(mock.calls) == 1, exc
        else:
            assert len(mock.calls) == 1
        sent = mock.calls[0].request
        event("sent")
    # it was sent: the options must be valid JSON data that the schema accepts
    data = _plain(options)
    api_names = {api: option for option, api in endpoint.wire.items()}  # `from` is the option `from_`
    data = {api_names.get(k, k): v for k, v in data.items()}
    validator: Draft202012Validator = _jsonschema_validator(SPEC, endpoint.schema_name)
    assert not list(validator.iter_errors({k: v for k, v in data.items() if v is not None})), options
    if endpoint.body == "json" and endpoint.body_option is not None:  # the body is that option's value
        assert json.loads(sent.body) == data[endpoint.body_option]
    elif endpoint.body == "json":
        body = {k: v for k, v in data.items()
                if v is not None and k not in endpoint.path_params and k not in endpoint.query}
        for key, value in endpoint.fill.items():
            body.setdefault(key, value)
        if body.get("stream") is False and "stream" not in options:
            body.pop("stream")
        assert json.loads(sent.body) == {**body, **({"stream": True} if options.get("stream") is True else {})}


class _Body:
    """A response whose body arrives in the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.headers: dict[str, str] = {}
        self.raw = None

    def iter_content(self, size: int) -> Iterator[bytes]:
        yield from self.pieces

    def close(self) -> None:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.sampled_from([b"data: ", b"\n\n", b"\r", b"{}", b"[DONE]",
                                                          b"event: x\n", b'data: {"type": "done"}\n\n']),
                max_size=12),
       st.sampled_from(["completion", "events"]))
def test_arbitrary_stream_bytes_give_events_or_a_mistral_error(pieces: list[bytes], kind: str) -> None:
    stream = Stream(_Body(pieces), kind=kind, operation="op", loads=decoder(), end_event="done",
                    error_event="error")
    try:
        for event in stream:
            assert isinstance(event, dict)
    except MistralError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=100).map(str.encode)
       | st.sampled_from([f'{{"message": "bad key {API_KEY}"}}'.encode(), f"key={API_KEY}".encode()])
       | st.recursive(st.none() | st.text(max_size=5) | st.integers(),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                          ["message", "detail", "error", "type", "code", "loc", "msg"]), c, max_size=3),
                      max_leaves=6).map(lambda v: json.dumps(v).encode()),
       st.integers(400, 599))
@example(b'{"detail": [{"loc": null}]}', 400)
def test_arbitrary_error_bodies_give_a_typed_error(body: bytes, status: int) -> None:
    plan = _core.plan(_CLIENT, "list_models", (), {})
    error = _core.status_error(plan, status, {"x-request-id": "r-1"}, body, 1)
    assert isinstance(error, APIStatusError) and error.status_code == status
    assert str(error).startswith(f"HTTP {status} from list_models")
    assert API_KEY not in str(error) and API_KEY not in repr(error.body)


_CLIENT = make_client(API_KEY)
