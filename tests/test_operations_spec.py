"""Every operation of the newest public spec, called through the client and checked against the spec.

The cases are derived, not written by hand: for each operation of ``tests/data/openapi_compact.json``
(an extract of ``openapi-public-doc.yaml`` made by ``python -m mistral_lite.spec extract``), the row
is found by method and path through ``client.operations``, a valid call is built from the row's
option schema (its required options; then every option the value maker can fill) and sent with
``client.call`` to a recording ``responses`` mock. The recorded request is checked against the
spec: method, path (each placeholder's value in its place), query parameters (names the spec
declares, required ones present, values valid for their schemas), content type and body (JSON
valid for the request body schema; multipart parts the spec declares).

The table vocabulary the import tool added is tested at the end: a JSON array body
(``body_option``), wire names (``from_`` sent as ``from``), endpoints that always stream,
deprecated rows, offset paging.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import referencing
import referencing.jsonschema
import requests
import responses
from _values import NoValue, ValueMaker
from jsonschema import Draft202012Validator

from mistral_lite import Client, MistralError
from mistral_lite._table import Endpoint
from mistral_lite._dev.openapi import SpecOp as _SpecOp
from mistral_lite._dev.openapi import norm_path as _norm_path
from mistral_lite._dev.openapi import spec_operations as _spec_operations
from mistral_lite._dev.spec import load_allowlist

COMPACT = Path(__file__).resolve().parent / "data" / "openapi_compact.json"
DOC: dict[str, Any] = json.loads(COMPACT.read_text(encoding="utf-8"))
OPS, _ = _spec_operations(DOC)
SPEC_URI = "urn:openapi"
REGISTRY: referencing.Registry[Any] = referencing.Registry().with_resource(
    SPEC_URI, referencing.Resource.from_contents(DOC, default_specification=referencing.jsonschema.DRAFT202012)
)
ALLOWED = load_allowlist()  # differences kept on purpose (a table-only option is not sent)
BASE = "https://api.mistral.ai"
KEY = "sk-test-operations"


def _deref(node: Any) -> Any:
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        target: Any = DOC
        for token in node["$ref"].lstrip("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _anchored(schema: Any) -> Any:
    """``schema`` with its ``#/components/...`` refs pointing into the spec document of the registry."""
    if isinstance(schema, list):
        return [_anchored(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    return {k: (SPEC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _anchored(v))
            for k, v in schema.items()}


def _spec_problems(value: Any, schema: Any) -> list[str]:
    """Problems of ``value`` against a schema of the spec."""
    validator = Draft202012Validator(_anchored(schema), registry=REGISTRY)
    return [f"{list(e.absolute_path)}: {e.message}"[:300] for e in validator.iter_errors(value)]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client(KEY, retry=False) as c:
        yield c


def _row(client: Client, sop: _SpecOp) -> Endpoint:
    key = (sop.method, _norm_path(sop.path))
    found = [ep for ep in client.operations.values() if (ep.method, _norm_path(ep.path)) == key]
    assert len(found) == 1, f"{sop.method} {sop.path}: rows {found}"
    return found[0]


def _spec_required_body(sop: _SpecOp) -> set[str]:
    """The body fields the spec requires (a name it requires without declaring it included)."""
    body = _deref(sop.op.get("requestBody")) or {}
    schema = _deref(next(iter((body.get("content") or {}).values()), {}).get("schema", {}))
    return set(schema.get("required") or ()) if isinstance(schema, Mapping) else set()


def _options(client: Client, ep: Endpoint, sop: _SpecOp, full: bool) -> dict[str, Any]:
    """A valid call: the required options (and those the spec's body requires), or every option we can fill."""
    maker = ValueMaker(client._spec.schemas)
    wire = {ep.wire.get(n, n): n for n in ep.options}
    required = set(ep.required) | {wire[n] for n in _spec_required_body(sop) if n in wire}
    properties = dict(ep.options)
    variants = ep.schema.get("anyOf") or []
    if variants:  # several body shapes: build the first one
        required |= set(variants[0].get("required") or ())
        properties.update(variants[0].get("properties") or {})
    kept = {e["field"] for e in ALLOWED if e["operation"] == ep.name and e["kind"] == "table_only"}
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in ep.client or (name in kept and name not in required) or not (full or name in required):
            continue
        if isinstance(sub, Mapping) and sub.get("x-file"):
            out[name] = ("sample.txt", b"hello")
            continue
        try:
            value = maker.value(sub, ep.schema_name, full=full)
        except NoValue:
            assert name not in required, f"{ep.name}: no valid value for the required option {name}"
            continue
        if not maker.valid(value, sub, ep.schema_name):
            assert name not in required, f"{ep.name}: the made value {value!r} of {name} is invalid"
            continue
        out[name] = value
    return out


def _sse(ep: Endpoint) -> bytes:
    if ep.stream == "completion":
        return b'data: {"id": "x", "choices": []}\n\ndata: [DONE]\n\n'
    end = ep.stream_end or "message"
    return f'event: {end}\ndata: {{"type": "{end}"}}\n\n'.encode()


def _reply(ep: Endpoint, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.headers.get("Accept") == "text/event-stream":
        return 200, {"Content-Type": "text/event-stream"}, _sse(ep)
    if ep.response == "bytes":
        return 200, {"Content-Type": "application/octet-stream"}, b"\x00\x01bytes"
    if ep.response == "empty":
        return 204, {}, b""
    return 200, {"Content-Type": "application/json"}, b"{}"


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        return bytes(body.read())
    return b"".join(bytes(chunk) for chunk in body)


def _parameters(sop: _SpecOp) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for raw in [*(sop.item.get("parameters") or ()), *(sop.op.get("parameters") or ())]:
        param = _deref(raw)
        out[(param["name"], param["in"])] = param
    return out


def _query_value(raw: list[str], schema: Mapping[str, Any]) -> Any:
    """A query string value back as JSON data, by the parameter schema's type."""
    kinds = _types(schema)
    if "array" in kinds:
        items = _types(_deref(schema.get("items", {})) if isinstance(schema.get("items"), Mapping) else {})
        return [_scalar(v, items) for v in raw]
    return _scalar(raw[-1], kinds)


def _types(schema: Any) -> set[str]:
    schema = _deref(schema)
    if not isinstance(schema, Mapping):
        return set()
    kinds = schema.get("type")
    out = {kinds} if isinstance(kinds, str) else set(kinds or ())
    for key in ("anyOf", "oneOf", "allOf"):
        for alt in schema.get(key) or ():
            out |= _types(alt)
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        out |= {"string" if isinstance(v, str) else "integer" if isinstance(v, int) else "x" for v in values}
    return out


def _scalar(text: str, kinds: set[str]) -> Any:
    if "object" in kinds and text.startswith("{"):
        return json.loads(text)
    if "boolean" in kinds and text in ("true", "false"):
        return text == "true"
    if "integer" in kinds and re.fullmatch(r"-?\d+", text):
        return int(text)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    return text


def check_request(sop: _SpecOp, ep: Endpoint, options: Mapping[str, Any], request: requests.PreparedRequest) -> None:
    """Everything the spec says about the request ``request`` (sent for ``options``)."""
    where = f"{ep.name} ({sop.method} {sop.path})"
    assert request.method == sop.method, where
    url = urlsplit(request.url or "")
    assert f"{url.scheme}://{url.netloc}" == BASE
    template = sop.path.split("#")[0]
    pattern = re.sub(r"\\\{([^{}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    match = re.fullmatch(pattern, url.path)
    assert match, f"{where}: path {url.path} does not match the spec's {template}"
    for name, value in match.groupdict().items():
        assert unquote(value) == str(options[name]), f"{where}: {{{name}}}"
    params = _parameters(sop)
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    declared = {name for name, where_ in params if where_ == "query"}
    assert set(query) <= declared, f"{where}: query parameters the spec lacks: {set(query) - declared}"
    for (name, location), param in params.items():
        if location != "query":
            continue
        if param.get("required"):
            assert name in query, f"{where}: required query parameter {name} missing"
        if name in query:
            schema = param.get("schema") or next(iter((param.get("content") or {}).values()), {}).get("schema", {})
            problems = _spec_problems(_query_value(query[name], schema), schema)
            assert not problems, f"{where}: query {name}={query[name]}: {problems}"
    body = _deref(sop.op.get("requestBody"))
    content = (body or {}).get("content") or {}
    sent = _body_bytes(request.body)
    if not content:
        assert sent == b"", f"{where}: the spec has no request body, the client sent {sent[:80]!r}"
        return
    ctype = request.headers.get("Content-Type", "")
    media = next((c for c in content if ctype.startswith(c)), None)
    assert media is not None, f"{where}: content type {ctype!r}, the spec has {list(content)}"
    if body.get("required"):
        assert sent, f"{where}: the spec requires a body"
    if media == "application/json":
        data = json.loads(sent)
        schema = content[media]["schema"]
        if isinstance(data, dict) and data.get("stream") is True and sop.stream is not None:
            schema = _deref(sop.stream.op["requestBody"])["content"][media]["schema"]
        problems = _spec_problems(data, schema)
        assert not problems, f"{where}: body {json.dumps(data)[:300]}: {problems}"
    elif media == "multipart/form-data":
        message = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + sent)
        names = [part.get_param("name", header="content-disposition") for part in message.iter_parts()]
        schema = _deref(content[media]["schema"])
        assert set(names) <= set(schema.get("properties") or {}), f"{where}: parts {names}"
        assert set(schema.get("required") or ()) <= set(names), f"{where}: parts {names}"


def _call(client: Client, sop: _SpecOp, full: bool) -> None:
    ep = _row(client, sop)
    options = _options(client, ep, sop, full)
    seen: list[requests.PreparedRequest] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        seen.append(request)
        return _reply(ep, request)

    with responses.RequestsMock() as mock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        mock.add_callback(sop.method, re.compile(re.escape(BASE) + r"/.*"), callback=callback)
        result = client.call(ep.name, **dict(options))
        if hasattr(result, "__iter__") and not isinstance(result, (dict, list, bytes, str)):
            events = list(result)  # a stream: read to its end
            assert events, f"{ep.name}: the stream yielded nothing"
        elif ep.response == "bytes":
            assert result == b"\x00\x01bytes"
        else:
            assert result == {}
    assert len(seen) == 1
    check_request(sop, ep, options, seen[0])


CASES = sorted(OPS, key=lambda k: (k[1], k[0]))


@pytest.mark.parametrize("key", CASES, ids=[f"{m} {p}" for m, p in CASES])
def test_a_call_with_the_required_options_is_what_the_spec_describes(client: Client, key: tuple[str, str]) -> None:
    _call(client, OPS[key], full=False)


@pytest.mark.parametrize("key", CASES, ids=[f"{m} {p}" for m, p in CASES])
def test_a_call_with_every_option_is_what_the_spec_describes(client: Client, key: tuple[str, str]) -> None:
    _call(client, OPS[key], full=True)


def test_the_cases_cover_the_whole_spec() -> None:
    assert len(OPS) == 284


# --- the vocabulary the import added -----------------------------------------------------------


@responses.activate
def test_a_json_array_body_is_the_body_option_s_value(client: Client) -> None:
    responses.add(responses.POST, f"{BASE}/v1/admin/users", json=[{"id": "u1"}])
    users = [{"email": "a@example.com", "first_name": "A", "last_name": "B", "role_names": ["member"]},
             {"email": "b@example.com", "first_name": "C", "last_name": "D"}]
    assert client.create_users(users=users) == [{"id": "u1"}]
    sent = responses.calls[0].request
    assert json.loads(sent.body) == users and sent.headers["Content-Type"] == "application/json"
    with pytest.raises(MistralError) as info:
        client.create_users(users={"email": "a@example.com"})
    assert "users" in str(info.value) and len(responses.calls) == 1  # refused before any I/O


@responses.activate
def test_a_wire_name_carries_an_option_python_cannot_spell(client: Client) -> None:
    responses.add(responses.POST, re.compile(f"{BASE}/v1/observability/traces/search.*"), json={})
    client.search_traces(from_="2026-01-01T00:00:00Z", page_size=10)
    query = dict(parse_qsl(urlsplit(responses.calls[0].request.url).query))
    assert query["from"] == "2026-01-01T00:00:00Z" and "from_" not in query
    client.call("search_traces", **{"from": "2026-02-01T00:00:00Z"})  # the API's own name works too
    assert dict(parse_qsl(urlsplit(responses.calls[1].request.url).query)) == {"from": "2026-02-01T00:00:00Z"}
    with pytest.raises(TypeError, match="the same option twice"):
        client.call("search_traces", **{"from": "x", "from_": "y"})
    responses.add(responses.GET, re.compile(f"{BASE}/v2/prompts.*"), json={"data": []})
    client.list_prompts(sort_field="list_sort_field_name", sort_direction_="list_sort_direction_asc",
                        sort_direction="desc")
    query = dict(parse_qsl(urlsplit(responses.calls[2].request.url).query))
    assert query == {"sort.field": "list_sort_field_name", "sort.direction": "list_sort_direction_asc",
                     "sort_direction": "desc"}


@responses.activate
def test_an_endpoint_that_only_streams_returns_a_stream_that_ends_when_the_server_closes(client: Client) -> None:
    body = b'event: log\ndata: {"message": "one"}\n\nevent: log\ndata: {"message": "two"}\n\n'
    responses.add(responses.GET, f"{BASE}/v1/workflows/deployments/web/logs/stream", body=body,
                  content_type="text/event-stream")
    events = list(client.stream_deployment_logs("web"))
    assert events == [{"message": "one", "type": "log"}, {"message": "two", "type": "log"}]
    assert responses.calls[0].request.headers["Accept"] == "text/event-stream"
    responses.add(responses.GET, f"{BASE}/v1/workflows/deployments/web/logs/stream",
                  body=b'event: error\ndata: {"message": "boom"}\n\n', content_type="text/event-stream")
    with pytest.raises(MistralError, match="boom"):
        list(client.stream_deployment_logs("web"))


def test_a_deprecated_operation_warns_at_the_caller_and_names_its_replacement(client: Client) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}/v1/agents", json=[])
        expected = "list_agents is deprecated by the API; use list_agents_pages"
        with pytest.warns(DeprecationWarning, match=expected) as got:
            assert client.list_agents() == []
        assert got[0].filename == __file__
        mock.add(responses.PUT, f"{BASE}/v1/libraries/lib1", json={"id": "lib1"})
        with pytest.warns(DeprecationWarning, match="replace_library is deprecated by the API; use update_library"):
            client.call("replace_library", "lib1", name="n")
    assert "Deprecated by the API: use ``update_library_document`` instead" in client.replace_library_document.__doc__


@responses.activate
def test_offset_pages_move_by_the_items_received(client: Client) -> None:
    pages = [{"workspaces": [{"id": 1}, {"id": 2}]}, {"workspaces": [{"id": 3}]}]
    responses.add(responses.GET, re.compile(f"{BASE}/v1/users/me/workspaces.*"), json=pages[0])
    responses.add(responses.GET, re.compile(f"{BASE}/v1/users/me/workspaces.*"), json=pages[1])
    assert [w["id"] for w in client.paginate("list_my_workspaces", limit=2)] == [1, 2, 3]
    offsets = [dict(parse_qsl(urlsplit(c.request.url).query)).get("offset") for c in responses.calls]
    assert offsets == ["0", "2"]
