"""Issue 9: the transport against forks, tenants and hostile servers (items 1-3, 8, 10, 13-16).

Each test failed before its fix: a forked child read the parent's responses; a lower-case
``authorization`` header was sent but the cache and redaction followed the first key; a 1xx or
3xx became ``{}``; a gzip bomb or a huge error body was read whole; a read timeout on a body was
an ``APIConnectionError``; an echoed key showed in logs, ``exc.headers`` and stream errors; a
307 to plain http was followed; ``with_options(base_url=...)`` kept the first URL's proxy; 32
threads shared a pool of 10.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import responses
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY, BASE

from mistral_lite import (
    APIStatusError,
    APITimeoutError,
    Client,
    InternalServerError,
    MistralError,
    StreamError,
    ValidationError,
)

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
KEY_B = "sk-tenant-b-0123456789abcdef"
KEY_C = "sk-tenant-c-0123456789abcdef"


def echo_model(conn: Conn, req: Request) -> None:
    conn.json({"id": req.path.rsplit("/", 1)[-1], "object": "model"})


# -- 1: fork ----------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_a_forked_child_opens_its_own_connections() -> None:
    with ScriptedServer() as server:
        server.script(echo_model)
        client = Client(API_KEY, base_url=server.url, retry=False)
        assert client.get_model("parent-0")["id"] == "parent-0"  # a pooled connection now exists
        pid = os.fork()
        if pid == 0:  # the child: any exception or a wrong answer is a non-zero exit
            code = 1
            try:
                answers = [client.get_model(f"child-{i}")["id"] for i in range(5)]
                code = 0 if answers == [f"child-{i}" for i in range(5)] else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        child_connections = {r.connection for r in server.requests if r.path.endswith(tuple("01234"))
                             and "child" in r.path}
        assert 1 not in child_connections, "the child used the parent's pooled connection"
        assert client.get_model("parent-1")["id"] == "parent-1"
        assert server.requests[-1].connection == 1  # the parent keeps its own
        client.close()


# -- 2: tenant isolation ------------------------------------------------------------------------------
def _auth_headers(request: Any) -> list[str]:
    return [v for k, v in request.headers.items() if k.lower() == "authorization"]


@pytest.mark.parametrize("spelling", ["authorization", "AUTHORIZATION", "Authorization"])
def test_with_options_any_case_key_is_sent_cached_and_redacted_as_its_own(
        mock: responses.RequestsMock, spelling: str) -> None:
    mock.post(f"{BASE}/v1/embeddings", json={"data": [{"embedding": [1.0]}]})
    tenant_a = Client(API_KEY, cache=True)
    tenant_b = tenant_a.with_options(headers={spelling: f"Bearer {KEY_B}"})
    tenant_a.embed(model="m", input=["x"])
    tenant_b.embed(model="m", input=["x"])
    assert len(mock.calls) == 2, "tenant B was served tenant A's cached result"
    assert _auth_headers(mock.calls[1].request) == [f"Bearer {KEY_B}"]
    assert tenant_b._settings.secret == KEY_B


def test_constructor_headers_in_any_case_replace_the_key() -> None:
    client = Client(API_KEY, headers={"authorization": f"Bearer {KEY_B}"})
    assert client._settings.headers["Authorization"] == f"Bearer {KEY_B}"
    assert [k for k in client._settings.headers if k.lower() == "authorization"] == ["Authorization"]
    assert client._settings.secret == KEY_B


def test_an_echoed_second_key_is_redacted(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models/x", status=401, json={"message": f"bad key {KEY_B}"},
             headers={"X-Echo": f"Bearer {KEY_B}"})
    client = Client(API_KEY, retry=False).with_options(headers={"authorization": f"Bearer {KEY_B}"})
    with pytest.raises(APIStatusError) as info:
        client.get_model("x")
    assert KEY_B not in json.dumps(info.value.body) and KEY_B not in json.dumps(info.value.headers)
    assert KEY_B not in str(info.value)


def test_a_per_call_key_is_fingerprinted_never_stored_in_the_cache_key(mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/embeddings", json={"data": [{"embedding": [1.0]}]})
    client = Client(API_KEY, cache=True)
    client.embed(model="m", input=["x"])
    client.embed(model="m", input=["x"], extra_headers={"authorization": f"Bearer {KEY_C}"})
    client.embed(model="m", input=["x"], extra_headers={"Authorization": f"Bearer {KEY_C}"})
    assert len(mock.calls) == 2  # C's own entry, hit the second time whatever the spelling
    assert _auth_headers(mock.calls[1].request) == [f"Bearer {KEY_C}"]
    assert client.cache is not None
    assert KEY_C not in repr(list(client.cache.store.keys()))


# -- 3: 1xx and 3xx -------------------------------------------------------------------------------------
def test_an_interim_1xx_is_followed_by_the_real_response() -> None:
    def early_hints(conn: Conn, req: Request) -> None:
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
                  b"HTTP/1.1 102 Processing\r\n\r\n")
        echo_model(conn, req)

    with ScriptedServer() as server:
        server.script(early_hints, echo_model)
        client = Client(API_KEY, base_url=server.url, retry=False)
        assert client.get_model("first")["id"] == "first"
        assert client.get_model("second")["id"] == "second"
        assert server.connections == 1  # the connection stayed in step


@pytest.mark.parametrize(("status", "headers"), [(304, {}), (300, {}), (302, {}), (399, {"Location": "/x"})])
def test_a_3xx_not_followed_is_an_error_naming_it(mock: responses.RequestsMock, status: int,
                                                   headers: dict[str, str]) -> None:
    mock.post(f"{BASE}/v1/embeddings", status=status, headers=headers, body=b"")
    client = Client(API_KEY, cache=True, retry=False)
    for _ in range(2):
        with pytest.raises(APIStatusError, match=f"HTTP {status}") as info:
            client.embed(model="m", input=["x"])
        assert info.value.status_code == status
    assert len(mock.calls) == 2 and client.cache is not None and client.cache.stats["size"] == 0


# -- 8: size caps -------------------------------------------------------------------------------------------
def test_a_gzip_bomb_is_refused_with_bounded_memory() -> None:
    bomb = gzip.compress(b"0" * (64 << 20), 9)

    def gzipped(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                        "Content-Length": str(len(bomb))})
        conn.send(bomb)

    with ScriptedServer() as server:
        server.script(gzipped)
        client = Client(API_KEY, base_url=server.url, retry=False, max_response_size=1 << 20)
        tracemalloc.start()
        try:
            with pytest.raises(MistralError, match="larger than max_response_size=1048576"):
                client.list_models()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 << 20


def test_a_declared_oversized_body_is_refused_before_reading(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models", body=b"[" + b"1," * 600 + b"1]")
    with pytest.raises(MistralError, match="max_response_size=1000"):
        Client(API_KEY, max_response_size=1000).list_models()


def test_a_huge_error_body_is_cut_to_the_cap(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models", status=500, body=b"x" * (3 << 20))
    with pytest.raises(InternalServerError) as info:
        Client(API_KEY, retry=False).list_models()
    assert isinstance(info.value.body, str) and len(info.value.body) == 1 << 20


def test_the_size_cap_is_checked(mock: responses.RequestsMock) -> None:
    with pytest.raises(ValidationError, match="max_response_size"):
        Client(API_KEY, max_response_size=0)


# -- 10: timeouts while reading a body ---------------------------------------------------------------------
def _stall_in_body(conn: Conn, req: Request) -> None:
    conn.head(200, {"Content-Type": "application/json", "Content-Length": "100"})
    conn.send(b'{"data": [')
    conn.pause(10)


def test_a_timeout_reading_a_json_body_is_a_timeout() -> None:
    with ScriptedServer() as server:
        server.script(_stall_in_body)
        with pytest.raises(APITimeoutError):
            Client(API_KEY, base_url=server.url, retry=False, timeout=(2, 0.3)).list_models()


def test_a_timeout_reading_a_download_is_a_timeout(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        server.script(_stall_in_body)
        with pytest.raises(APITimeoutError):
            Client(API_KEY, base_url=server.url, retry=False, timeout=(2, 0.3)).download_file(
                "file-1", to=tmp_path / "out.bin")
    assert os.listdir(tmp_path) == []


# -- 13: redaction ---------------------------------------------------------------------------------------
def test_an_echoed_key_is_redacted_from_headers_and_the_debug_log(
        mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mock.get(f"{BASE}/v1/models/x", status=400, json={"message": "no"},
             headers={"X-Echo": f"you sent {API_KEY}", "x-request-id": API_KEY})
    with caplog.at_level(logging.DEBUG, logger="mistral_lite.http"), pytest.raises(APIStatusError) as info:
        Client(API_KEY, retry=False).get_model("x")
    assert API_KEY not in json.dumps(info.value.headers)
    assert info.value.headers["X-Echo"] == "you sent [redacted]"
    assert caplog.records and API_KEY not in caplog.text


def test_an_echoed_key_is_redacted_from_stream_errors() -> None:
    def echo_in_stream(conn: Conn, req: Request) -> None:
        conn.sse_chunked([b'data: {"ok": 1}\n\n', f"data: not json {API_KEY}\n\n".encode()])

    def echo_in_error_event(conn: Conn, req: Request) -> None:
        conn.sse_chunked([f'event: conversation.response.error\ndata: {{"message": "bad {API_KEY}"}}\n\n'
                          .encode()])

    with ScriptedServer() as server:
        server.script(echo_in_stream, echo_in_error_event)
        client = Client(API_KEY, base_url=server.url, retry=False)
        with pytest.raises(StreamError) as info:
            list(client.chat(**CHAT, stream=True))
        assert API_KEY not in str(info.value) and API_KEY.encode() not in info.value.event
        with pytest.raises(StreamError) as info:
            list(client.create_conversation(inputs="hi", stream=True, model="m"))
        assert API_KEY not in str(info.value) and API_KEY not in json.dumps(info.value.event)


@pytest.mark.parametrize("name", ["X-Api-Key", "proxy-authorization", "Authorization"])
def test_invalid_credential_headers_are_not_echoed_in_validation_errors(client: Client, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.with_options(headers={name: "sk-secret-value\n"})
    assert "sk-secret-value" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        client.chat(**CHAT, extra_headers={name: "sk-secret-value\r\n"})
    assert "sk-secret-value" not in str(info.value)


def test_the_key_is_not_in_traceback_locals(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models/x", status=400, json={"message": "no"})
    with pytest.raises(APIStatusError) as info:
        Client(API_KEY, retry=False).get_model("x")
    tb = info.value.__traceback__
    shown = []
    while tb is not None:
        if "mistral_lite" in tb.tb_frame.f_code.co_filename:
            shown.extend(repr(v) for v in tb.tb_frame.f_locals.values())
        tb = tb.tb_next
    assert shown and not [text for text in shown if API_KEY in text]
    assert API_KEY not in repr(Client(API_KEY)._settings.headers)


# -- 14: redirects to plain http --------------------------------------------------------------------------
def test_a_redirect_to_plain_http_elsewhere_is_refused() -> None:
    def redirect(conn: Conn, req: Request) -> None:
        conn.head(307, {"Location": "http://api.example.com/v1/chat/completions", "Content-Length": "0"})

    with ScriptedServer() as server:
        server.script(redirect)
        with pytest.raises(MistralError, match=r"refusing to follow a 307 redirect to plain http on api\.example\.com"):
            Client(API_KEY, base_url=server.url, retry=False).chat(**CHAT)
        assert len(server.requests) == 1


def test_a_redirect_to_loopback_is_followed() -> None:
    with ScriptedServer() as server:
        def redirect(conn: Conn, req: Request) -> None:
            conn.head(308, {"Location": f"{server.url}/v1/models/moved", "Content-Length": "0"})

        server.script(redirect, echo_model)
        assert Client(API_KEY, base_url=server.url, retry=False).get_model("x")["id"] == "moved"


# -- 15: proxies per base URL ---------------------------------------------------------------------------------
def test_with_options_base_url_decides_the_proxy_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    client = Client(API_KEY)
    assert client._transport.send_kwargs["proxies"].get("https") == "http://proxy.example:3128"
    inside = client.with_options(base_url="https://api.internal.example")
    assert "https" not in inside._transport.send_kwargs["proxies"]
    assert inside.session is client.session
    back = inside.with_options(base_url="https://api.mistral.ai")
    assert back._transport.send_kwargs["proxies"].get("https") == "http://proxy.example:3128"


# -- 16: the pool is as large as the client's own concurrency ---------------------------------------------------
def test_map_with_32_workers_keeps_32_connections(caplog: pytest.LogCaptureFixture) -> None:
    barrier = threading.Barrier(32, timeout=10)

    def together(conn: Conn, req: Request) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()  # the first 32 requests are all in flight at once
        echo_model(conn, req)

    with ScriptedServer() as server:
        server.script(together)
        client = Client(API_KEY, base_url=server.url, retry=False)
        items = [{"model_id": f"m{i}"} for i in range(32)]
        with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
            first = client.map("get_model", items, max_workers=32)
            barrier.reset()
            second = client.map("get_model", items, max_workers=32)
        assert [r["id"] for r in first] == [r["id"] for r in second] == [f"m{i}" for i in range(32)]
        assert "Connection pool is full" not in caplog.text
        assert server.connections == 32  # the second run reused every connection
        client.close()


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX sockets and fork")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() here")
def test_submit_works_in_a_forked_child() -> None:
    with ScriptedServer() as server:
        server.script(echo_model)
        client = Client(API_KEY, base_url=server.url, retry=False)
        assert client.submit("get_model", "before").result(10)["id"] == "before"  # worker threads exist
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if client.submit("get_model", "child").result(10)["id"] == "child" else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        client.close()


def test_a_session_passed_in_keeps_its_pool_size() -> None:
    import requests

    session = requests.Session()
    adapter = session.get_adapter("https://api.mistral.ai")
    client = Client(API_KEY, session=session)
    client._transport.ensure_pool(32)
    assert adapter._pool_maxsize == 10  # type: ignore[attr-defined]
    own = Client(API_KEY)
    own._transport.ensure_pool(32)
    assert own.session.get_adapter("https://api.mistral.ai")._pool_maxsize == 32  # type: ignore[attr-defined]


def test_a_redirect_to_another_host_is_followed_without_the_key(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models/x", status=307, headers={"Location": "https://mirror.example/v1/models/y"})
    mock.get("https://mirror.example/v1/models/y", json={"id": "y"})
    assert Client(API_KEY, retry=False).get_model("x") == {"id": "y"}
    assert "Authorization" in mock.calls[0].request.headers
    assert "Authorization" not in mock.calls[1].request.headers


def test_a_303_after_a_post_is_followed_with_a_get(mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", status=303, headers={"Location": "/v1/result/1"})
    mock.get(f"{BASE}/v1/result/1", json={"id": "r"})
    assert Client(API_KEY, retry=False).chat(**CHAT) == {"id": "r"}
    assert mock.calls[1].request.method == "GET" and mock.calls[1].request.body is None
    assert mock.calls[1].request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_a_redirect_loop_is_an_error(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models/x", status=302, headers={"Location": f"{BASE}/v1/models/x"})
    with pytest.raises(MistralError, match="stopped after 30 redirects"):
        Client(API_KEY, retry=False).get_model("x")
