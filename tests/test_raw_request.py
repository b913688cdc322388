"""``client.request(...)``: the escape hatch to an endpoint the table has no row for, on the same transport."""

from __future__ import annotations

import asyncio
import json
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

import pytest
import responses

from mistral_lite import AsyncClient, Client, NotFoundError, RateLimitError, ValidationError
from mistral_lite._dev.testing import make_client
from mistral_lite.exceptions import InternalServerError, StreamError
from mistral_lite.fake import FakeMistral

BASE = "https://api.mistral.ai"
KEY = "sk-raw-request-key"


@pytest.fixture
def client() -> Client:
    return make_client(KEY, sleep=lambda _: None, rand=lambda: 0.0)


@responses.activate
def test_get_with_params_returns_the_decoded_json_with_the_client_s_headers(client: Client) -> None:
    responses.add(responses.GET, f"{BASE}/v1/new/things", json={"data": [1, 2]})
    result = client.request("get", "/v1/new/things", params={"tag": ["a", "b"], "deep": True, "skip": None})
    assert result == {"data": [1, 2]}
    sent = responses.calls[0].request
    assert sent.url == f"{BASE}/v1/new/things?tag=a&tag=b&deep=true"
    assert sent.headers["Authorization"] == f"Bearer {KEY}" and sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("mistral-lite/") and sent.body is None


@responses.activate
def test_json_body_and_answers_by_media_type(client: Client) -> None:
    responses.add(responses.POST, f"{BASE}/v1/new/speak", body=b"RIFF-audio", content_type="audio/wav")
    assert client.request("POST", "/v1/new/speak", json=[{"text": "hi"}], headers={"X-Trace": "1"}) == b"RIFF-audio"
    sent = responses.calls[0].request
    assert json.loads(sent.body) == [{"text": "hi"}] and sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Trace"] == "1"
    responses.add(responses.DELETE, f"{BASE}/v1/new/speak/1", status=204)
    assert client.request("DELETE", f"{BASE}/v1/new/speak/1") is None  # a full URL below the base URL works


@responses.activate
def test_files_and_fields_make_a_multipart_body(client: Client) -> None:
    responses.add(responses.POST, f"{BASE}/v1/new/upload", json={"id": "f1"})
    assert client.request("POST", "/v1/new/upload", data={"purpose": "ocr"},
                          files={"file": ("notes.txt", b"hello")}) == {"id": "f1"}
    sent = responses.calls[0].request
    body = sent.body if isinstance(sent.body, bytes) else sent.body.read()
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + sent.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert parts["purpose"].get_content() == "ocr"
    assert parts["file"].get_filename() == "notes.txt" and parts["file"].get_content() == b"hello"


@responses.activate
def test_errors_are_typed_carry_the_request_id_and_never_the_key(client: Client) -> None:
    responses.add(responses.GET, f"{BASE}/v1/new/missing", status=404, headers={"x-request-id": "req-9"},
                  json={"message": f"no such thing for Bearer {KEY}"})
    with pytest.raises(NotFoundError) as info:
        client.request("GET", "/v1/new/missing")
    assert info.value.request_id == "req-9" and info.value.operation == "request"
    assert KEY not in str(info.value) and KEY not in json.dumps(info.value.body)


@responses.activate
def test_retries_follow_the_method_s_idempotency(client: Client) -> None:
    responses.add(responses.GET, f"{BASE}/v1/new/flaky", status=503)
    responses.add(responses.GET, f"{BASE}/v1/new/flaky", json={"ok": True})
    assert client.request("GET", "/v1/new/flaky") == {"ok": True} and len(responses.calls) == 2
    responses.add(responses.POST, f"{BASE}/v1/new/create", status=500)
    with pytest.raises(InternalServerError):
        client.request("POST", "/v1/new/create", json={})
    assert len(responses.calls) == 3  # a POST that reached the server is not sent twice
    responses.add(responses.PATCH, f"{BASE}/v1/new/create", status=429, headers={"Retry-After": "0"})
    responses.add(responses.PATCH, f"{BASE}/v1/new/create", json={"id": 1})
    assert client.request("PATCH", "/v1/new/create", json={}) == {"id": 1}  # 429: never processed, retried


@responses.activate
def test_rate_limit_without_retries_is_typed(client: Client) -> None:
    responses.add(responses.GET, f"{BASE}/v1/new/limited", status=429)
    with pytest.raises(RateLimitError):
        client.with_options(retry=False).request("GET", "/v1/new/limited")


@responses.activate
def test_stream_true_parses_server_sent_events(client: Client) -> None:
    body = b'event: log\ndata: {"n": 1}\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
    responses.add(responses.GET, f"{BASE}/v1/new/events", body=body, content_type="text/event-stream")
    events = list(client.request("GET", "/v1/new/events", stream=True))
    assert events == [{"n": 1, "type": "log"}, {"n": 2}]
    assert responses.calls[0].request.headers["Accept"] == "text/event-stream"
    responses.add(responses.GET, f"{BASE}/v1/new/events", body=b'data: {"n": 3}\n\n', content_type="text/event-stream")
    assert list(client.request("GET", "/v1/new/events", stream=True)) == [{"n": 3}]  # the close ends it
    responses.add(responses.GET, f"{BASE}/v1/new/events", json={"n": 4})
    with pytest.raises(StreamError, match="not text/event-stream"):
        client.request("GET", "/v1/new/events", stream=True)


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        (("FETCH", "/v1/x"), {}, "method must be one of"),
        (("GET", "v1/x"), {}, "path must start with '/'"),
        (("GET", "/v1/x?a=1"), {}, "use params="),
        (("GET", "/v1/../admin"), {}, "'.' or '..'"),
        (("GET", "https://elsewhere.example/v1/x"), {}, "not below the client's base URL"),
        (("POST", "/v1/x"), {"json": {}, "data": b"x"}, "not both"),
        (("POST", "/v1/x"), {"files": {"file": 3}}, "each files= value"),
        (("POST", "/v1/x"), {"data": 3}, "data must be bytes, str or a mapping"),
        (("GET", "/v1/x"), {"headers": {"X": "a\nb"}}, "header 'X'"),
        (("GET", "/v1/x"), {"timeout": -1}, "greater than 0"),
        (("POST", "/v1/x"), {"json": {"t": float("nan")}}, "json.t: nan is not a JSON number"),
        (("POST", "/v1/x"), {"json": [object()]}, "json[0]: a object is not a JSON value"),
    ],
)
def test_bad_input_is_refused_before_any_io(client: Client, args: tuple[str, str], kwargs: dict[str, object],
                                            problem: str) -> None:
    with responses.RequestsMock() as mock, pytest.raises(ValidationError) as info:
        client.request(*args, **kwargs)  # type: ignore[arg-type]
    assert problem in str(info.value) and len(mock.calls) == 0


def test_the_async_client_has_the_same_escape_hatch() -> None:
    """Natively on aiohttp (against the fake), and through a wrapped sync client (on threads)."""
    messages = [{"role": "user", "content": "hello"}]

    async def native(url: str) -> tuple[Any, list[Any]]:
        async with AsyncClient(KEY, base_url=url) as aclient:
            models = await aclient.request("GET", "/v1/models")
            body = {"model": "mistral-small-latest", "messages": messages, "stream": True}
            stream = await aclient.request("POST", "/v1/chat/completions", json=body, stream=True)
            return models, [event async for event in stream]

    with FakeMistral() as fake:
        models, events = asyncio.run(native(fake.url))
        sent = fake.requests[-1]
    assert models["object"] == "list" and models["data"]
    assert events and "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == "Echo: hello"
    assert sent.headers["accept"] == "text/event-stream" and sent.json["stream"] is True
    assert sent.headers["authorization"] == f"Bearer {KEY}"

    async def threaded() -> tuple[Any, list[Any]]:
        async with AsyncClient(client=Client(KEY)) as aclient:
            got = await aclient.request("GET", "/v1/new/things", params={"a": 1})
            stream = await aclient.request("GET", "/v1/new/events", stream=True)
            return got, [event async for event in stream]

    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}/v1/new/things", json={"ok": 1})
        mock.add(responses.GET, f"{BASE}/v1/new/events", body=b'data: {"n": 1}\n\n', content_type="text/event-stream")
        assert asyncio.run(threaded()) == ({"ok": 1}, [{"n": 1}])
        assert mock.calls[0].request.url == f"{BASE}/v1/new/things?a=1"
