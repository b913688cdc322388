"""What the conformance tests share: the case table's shape, the runner and the two checks.

``test_seed_conformance.py`` (the seed, against ``tests/data/openapi_extract.json``) and
``test_extra_operations.py`` (the rows beyond the seed, against
``tests/data/openapi_public_extract.json``) run the same machinery:

* a ``Case`` is one call through the real ``Client`` against ``responses``; ``run_case`` makes
  it and returns the one recorded request and the decoded result;
* ``check_request`` asserts the EXACT request (method, path, parsed query, JSON body or
  multipart parts, ``Authorization``/``Accept``/framing headers) and the result;
* ``check_against_spec`` asserts that the recorded request is one the extract's operation
  accepts (path template, declared and valid query parameters, required parameters, the JSON
  body valid against the request schema, multipart parts that are properties of the schema);
* ``expect_rejected`` proves the spec checker is not vacuous.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
from conftest import API_KEY, BASE
from jsonschema import Draft202012Validator

from mistral_lite import Client

_SAME = object()
BODY_LENGTH = "<the length of the body sent>"  # a header expectation: the length of the body sent

# --- cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TmpFile:
    """A file the runner writes under ``tmp_path`` and passes as a path."""

    name: str
    data: bytes


@dataclass
class Case:
    op: str
    label: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: str = ""  # the expected path, exactly as sent (percent-encoded)
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None  # the expected JSON body (None: no body at all)
    parts: dict[str, tuple[str | None, bytes]] | None = None  # multipart: name -> (filename, content)
    reply: Any = None  # JSON reply
    raw: bytes | None = None  # raw reply body (bytes, SSE), instead of ``reply``
    status: int = 200
    content_type: str = "application/json"
    result: Any = _SAME  # the expected decoded result (default: ``reply``)
    stream: bool = False
    headers: dict[str, str | None] = field(default_factory=dict)  # extra header expectations (None: absent)
    request_bug: str | None = None  # xfail reason for the exact-request test
    spec_bug: str | None = None  # xfail reason for the spec test

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}"

    @property
    def expected(self) -> Any:
        return self.reply if self.result is _SAME else self.result


def json_case(op: str, label: str, path: str, sent: dict[str, Any], **more: Any) -> Case:
    """A case whose keyword arguments are sent unchanged, and nothing else, as the JSON body.

    The expected body is a deep copy taken before the call, so a client that changed the
    caller's arguments in place could not change the expectation with them.
    """
    return Case(op, label, kwargs=sent, path=path, body=copy.deepcopy(sent), **more)


def case_params(cases: list[Case], check: str) -> list[Any]:
    """``pytest.param`` per case (id ``op-label``), strict xfail where the case names a bug."""
    assert check in ("request", "spec")
    out = []
    for case in cases:
        reason = case.request_bug if check == "request" else case.spec_bug
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


# --- running a case ------------------------------------------------------------------------


def _materialize(value: Any, tmp_path: Path) -> Any:
    if isinstance(value, TmpFile):
        target = tmp_path / value.name
        target.write_bytes(value.data)
        return target
    return value


def run_case(case: Case, method: str, client: Client, mock: responses.RequestsMock, tmp_path: Path) -> tuple[Any, Any]:
    """Call the operation through the client; return the recorded request and the result."""
    body = case.raw if case.raw is not None else json.dumps(case.reply).encode()
    mock.add(
        method, re.compile(re.escape(BASE) + r"/.*"), body=body, status=case.status, content_type=case.content_type
    )
    kwargs = {k: _materialize(v, tmp_path) for k, v in case.kwargs.items()}
    try:
        result = getattr(client, case.op)(*case.args, **kwargs)
        if case.stream:
            with result:
                result = list(result)
    except BaseException:
        mock.reset()  # nothing was (or will be) fired: keep the fixture's teardown quiet
        raise
    assert len(mock.calls) == 1, f"expected exactly one request, got {len(mock.calls)}"
    return mock.calls[0].request, result


def body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return b"".join(body)  # pragma: no cover - responses reads streamed bodies


def multipart(request: Any) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart request: name -> (filename, content); each name once."""
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body_bytes(request)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert name and name not in parts, f"duplicate or unnamed part {name!r}"
        parts[name] = (part.get_filename(), part.get_payload(decode=True))
    return parts


# --- 1. the exact request ------------------------------------------------------------------


def check_request(case: Case, method: str, request: Any, result: Any) -> None:
    """Fail unless ``request`` is exactly the one ``case`` expects and ``result`` its result."""
    url = urlsplit(request.url)
    assert request.method == method
    assert f"{url.scheme}://{url.netloc}" == BASE
    assert url.path == case.path
    assert parse_qs(url.query, keep_blank_values=True) == case.query
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Accept"] == ("text/event-stream" if case.stream else "application/json")
    if case.parts is not None:
        assert multipart(request) == case.parts
        assert request.headers["Content-Length"] == str(len(body_bytes(request)))
    elif case.body is None:
        assert body_bytes(request) == b""
        assert "Content-Type" not in request.headers
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(body_bytes(request)) == case.body
    for name, value in case.headers.items():
        if value == BODY_LENGTH:
            value = str(len(body_bytes(request)))
        assert request.headers.get(name) == value, f"header {name}"
    assert type(result) is type(case.expected)
    assert result == case.expected


# --- 2. the same request against an OpenAPI extract ----------------------------------------


class Extract:
    """An extract of an OpenAPI spec (``tools/extract_openapi.py``), with schema validation."""

    def __init__(self, path: Path) -> None:
        self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.defs: dict[str, Any] = self.data["$defs"]
        self.operations: dict[str, Any] = self.data["operations"]
        self._validators: dict[str, Draft202012Validator] = {}

    def errors(self, schema: Any, value: Any) -> list[str]:
        """Why ``value`` is not valid against ``schema`` (Draft 2020-12, the extract's $defs)."""
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = Draft202012Validator({"$defs": self.defs, **json.loads(key)})
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(value)
        ]

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.defs[schema["$ref"].rsplit("/", 1)[1]]
        return schema


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{([^{}]+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template))
    return re.compile(pattern + "$")


def _integer(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ValueError(text)
    return int(text)


_CONVERTERS = (str, _integer, float, lambda s: {"true": True, "false": False}[s], json.loads)


def _readings(values: list[str]) -> Iterator[Any]:
    """Typed readings of a raw parameter's values (one reading per JSON type)."""
    for convert in _CONVERTERS:
        try:
            typed = [convert(v) for v in values]
        except (ValueError, KeyError):
            continue
        yield typed  # an exploded array
        if len(typed) == 1:
            yield typed[0]


def _check_value(extract: Extract, where: str, schema: Any, values: list[str]) -> None:
    readings = list(_readings(values))
    if any(not extract.errors(schema, reading) for reading in readings):
        return
    problems = {repr(r): extract.errors(schema, r) for r in readings}
    pytest.fail(f"{where}={values!r} does not validate against {json.dumps(schema)}: {problems}")


def check_against_spec(extract: Extract, operation: str, request: Any, *, stream: bool = False) -> None:
    """Fail unless the recorded ``request`` is one the extract's ``operation`` accepts."""
    op = extract.operations[operation]
    url = urlsplit(request.url)
    assert request.method == op["method"]
    match = _template_regex(op["path"]).match(url.path)
    assert match, f"{url.path} does not match the spec's template {op['path']}"
    declared = {(p["in"], p["name"]): p for p in op["parameters"]}
    for name, raw in match.groupdict().items():
        param = declared.get(("path", name))
        assert param, f"path parameter {name} is not declared in the spec"
        _check_value(extract, f"path {name}", param["schema"], [unquote(raw)])
    query = parse_qs(url.query, keep_blank_values=True)
    for name, values in query.items():
        param = declared.get(("query", name))
        assert param, f"query parameter {name!r} is not declared by {op['operationId']}"
        _check_value(extract, f"query {name}", param["schema"], values)
    for (where, name), param in declared.items():
        if param["required"]:
            present = name in match.groupdict() if where == "path" else name in query
            assert present, f"required {where} parameter {name!r} is missing"
    spec_body = op["request_body"]
    if stream and op.get("stream_request_body"):
        spec_body = op["stream_request_body"]
    sent = body_bytes(request)
    if not sent:
        assert spec_body is None or not spec_body["required"], "the spec requires a request body"
        return
    assert spec_body is not None, f"{op['operationId']} takes no request body, but one was sent: {sent[:200]!r}"
    if spec_body["content_type"] == "multipart/form-data":
        parts = multipart(request)
        schema = extract.resolve(spec_body["schema"])
        props = schema.get("properties", {})
        for name, (filename, content) in parts.items():
            assert name in props, f"multipart part {name!r} is not in the spec's schema ({sorted(props)})"
            prop = props[name]
            if filename is None:
                _check_value(extract, f"part {name}", prop, [content.decode("utf-8")])
            else:
                options = [extract.resolve(p) for p in prop.get("anyOf", [prop])]
                assert any(o.get("format") == "binary" for o in options), f"part {name!r} is not a file: {prop}"
        required = [*op["required"]["body"], *schema.get("required", [])]
        missing = sorted({n for n in required if n not in parts})
        assert not missing, f"required parts missing: {missing}"
        return
    assert spec_body["content_type"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    errors = extract.errors(spec_body["schema"], json.loads(sent))
    assert not errors, "\n".join(errors)


def expect_rejected(
    extract: Extract,
    operation: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
    client: Client,
    mock: responses.RequestsMock,
) -> None:
    """Send a request the spec rejects (through ``extra_body``/``extra_query``); the checker must fail it."""
    mock.add(method, re.compile(re.escape(BASE) + r"/.*"), json={})
    getattr(client, operation)(*args, **kwargs)
    with pytest.raises((AssertionError, pytest.fail.Exception), match=message):
        check_against_spec(extract, operation, mock.calls[0].request)
