"""Issue 18, items 10-21 (transport side): both clients against loopback servers.

Each test failed on the code before its fix. ``both`` runs a call through ``Client`` and through
the native ``AsyncClient`` (aiohttp) with the same settings, so one rule is checked on both
transports.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

from mistral_lite import APIConnectionError, APIStatusError, APITimeoutError, Client, MistralError, ValidationError
from mistral_lite._core import call as _core

pytest.importorskip("aiohttp")
from mistral_lite import AsyncClient

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
KINDS = ["sync", "async"]
pytest_plugins = ["test_hardening_inputs"]  # its orjson / json ``backend`` fixture


def call(kind: str, url: str, fn: Callable[[Any], Any], **settings: Any) -> Any:
    """``fn(client)`` on a Client or (awaited) on an AsyncClient, with retries off unless given."""
    settings.setdefault("retry", False)
    if kind == "sync":
        with Client(API_KEY, base_url=url, **settings) as client:
            return fn(client)

    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=url, **settings) as client:
            return await fn(client)

    return asyncio.run(main())


# -- item 19: non-string object keys ----------------------------------------------------------------
@pytest.mark.usefixtures("backend")  # orjson and json
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("options", "where"), [
    ({"metadata": {1: "a"}}, "metadata.1"),
    ({"messages": [{"role": "user", "content": "hi", 1: "x"}]}, "messages[0].1"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", 2: "y"}]}]}, "messages[0].content[0].2"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {(1, 2): 3}}}},
     "response_format.json_schema.schema.(1, 2)"),
])
def test_a_non_string_key_is_a_validation_error(kind: str, options: dict[str, Any], where: str) -> None:
    with ScriptedServer() as server:
        with pytest.raises(ValidationError) as info:
            call(kind, server.url, lambda c: c.chat(**{**CHAT, **options}))
        assert server.requests == []
    assert dict(info.value.errors)[where].startswith("object keys must be strings, got ")


# -- item 21: map's items and max_connections -------------------------------------------------------
def test_map_names_each_item_that_is_not_a_mapping() -> None:
    with ScriptedServer() as server, Client(API_KEY, base_url=server.url) as client:
        with pytest.raises(ValidationError) as info:
            client.map("chat", [CHAT, 1, "x"])  # type: ignore[list-item]
        assert server.requests == []
    assert dict(info.value.errors) == {
        "items[1]": "expected a mapping of options such as {'model': ...}, got int",
        "items[2]": "expected a mapping of options such as {'model': ...}, got str",
    }


@pytest.mark.parametrize("value", [True, 0, 1.5, "8"])
def test_max_connections_must_be_a_count(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncClient(API_KEY, max_connections=value)
    assert list(dict(info.value.errors)) == ["max_connections"]


# -- item 11: the drain after [DONE] is capped in bytes ---------------------------------------------
def test_async_reading_after_done_is_capped_in_bytes() -> None:
    sent = []

    def chatter_after_done(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"id": "1", "choices": []}\n\ndata: [DONE]\n\n')
        try:  # 8 MiB of keep-alive comments after the end, sent at once, then a proper end
            for _ in range(128):
                conn.chunk(b": ping\n" * 9362)
                sent.append(1)
            conn.last_chunk()
        except OSError:
            pass

    async def twice(client: AsyncClient) -> list[Any]:
        first = [e async for e in await client.chat(**CHAT, stream=True)]
        return [first, await client.list_models()]

    with ScriptedServer() as server:
        server.script(chatter_after_done, lambda conn, req: conn.json({"data": []}))
        first, models = call("async", server.url, twice)
        assert first == [{"id": "1", "choices": []}] and models == {"data": []}
        assert server.connections == 2  # the chattering connection was dropped, not drained and reused
        assert server.conns[0].peer_closed.wait(2) or server.conns[0].wait_peer_close(2)
    assert len(sent) < 128


# -- item 12: a cancel while reading an error body ---------------------------------------------------
def test_async_cancel_during_an_error_body_hangs_up() -> None:
    def slow_error(conn: Conn, req: Request) -> None:
        conn.head(500, {"Content-Type": "application/json", "Content-Length": "1000"})
        conn.send(b'{"message": "')
        conn.wait_peer_close(10)

    async def main(url: str) -> Any:
        async with AsyncClient(API_KEY, base_url=url, retry=False, max_connections=1) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.list_models(), 0.5)
            return await asyncio.wait_for(client.list_models(), 5)  # the one pool slot is free again

    with ScriptedServer() as server:
        server.script(slow_error, lambda conn, req: conn.json({"data": []}))
        started = time.monotonic()
        assert asyncio.run(main(server.url)) == {"data": []}
        assert server.conns[0].peer_closed.is_set()  # the server saw the hang-up at the cancel
        assert time.monotonic() - started < 5


# -- item 13: aclose() with calls in flight, and calls after it ------------------------------------
def test_aclose_fails_calls_in_flight_and_later_calls_open_nothing() -> None:
    def stall(conn: Conn, req: Request) -> None:
        conn.wait_peer_close(10)

    async def main(url: str) -> tuple[list[Any], Any]:
        client = AsyncClient(API_KEY, base_url=url, max_retries=3)  # retries on: still not retried
        copy = client.with_options(timeout=5)
        calls = [asyncio.ensure_future(client.list_models()), asyncio.ensure_future(copy.get_model("m"))]
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        await client.aclose()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        later = []
        for c in (client, copy):
            for later_call in (c.list_models(), c.request("GET", "/v1/models")):
                with pytest.raises(MistralError, match="AsyncClient is closed") as info:
                    await asyncio.wait_for(later_call, 5)
                later.append(info.value)
        return results, (later, client.session)

    with ScriptedServer() as server:
        server.script(stall)
        results, (later, session) = asyncio.run(main(server.url))
        assert [type(r) for r in results] == [APIConnectionError, APIConnectionError]
        assert all("closed while the call was in flight" in str(r) for r in results)
        assert len(server.requests) == 2 and server.connections == 2  # nothing sent after aclose()
    assert session is None  # no new session opened
    assert not any(isinstance(e, APIConnectionError) for e in later)


# -- item 14: a 1xx not followed by a final response ------------------------------------------------
def _early_hints_then_close(conn: Conn, req: Request) -> None:
    conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
    conn.close()


def _switching_protocols(conn: Conn, req: Request) -> None:
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
    conn.wait_peer_close(5)


def _endless_interim(conn: Conn, req: Request) -> None:
    conn.send(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 40)
    conn.wait_peer_close(5)


def _interim_then_stall(conn: Conn, req: Request) -> None:
    conn.send(b"HTTP/1.1 102 Processing\r\n\r\n")
    conn.wait_peer_close(5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("handler", "status"), [
    (_early_hints_then_close, 103), (_switching_protocols, 101), (_endless_interim, 103), (_interim_then_stall, 102),
])
def test_a_1xx_without_a_final_response_is_a_status_error(kind: str, handler: Any, status: int) -> None:
    with ScriptedServer() as server:
        server.script(handler)
        with pytest.raises(APIStatusError) as info:
            call(kind, server.url, lambda c: c.list_models(), timeout=(2, 0.5), max_retries=2, retry=True)
        assert len(server.requests) == 1  # never retried
    assert info.value.status_code == status
    assert "an interim 1xx not followed by a final response" in str(info.value)


# -- item 15: a redirect loop, and ALL_PROXY ---------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_loop_is_one_error_never_retried(kind: str) -> None:
    def loop(conn: Conn, req: Request) -> None:
        conn.head(302, {"Location": "/v1/models", "Content-Length": "0"})

    with ScriptedServer() as server:
        server.script(loop)
        with pytest.raises(MistralError) as info:
            call(kind, server.url, lambda c: c.list_models(), retry=True, max_retries=3, timeout=5)
        assert len(server.requests) == _core.MAX_REDIRECTS  # the limit, not (retries + 1) x the limit
    assert type(info.value) is MistralError
    assert f"stopped after {_core.MAX_REDIRECTS} redirects" in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_all_proxy_is_honoured(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedServer() as proxy:
        proxy.script(lambda conn, req: conn.json({"data": []}))
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        assert call(kind, "http://api.example.test", lambda c: c.list_models(), allow_insecure_http=True) == \
            {"data": []}
        assert proxy.requests[0].target == "http://api.example.test/v1/models"  # sent through the proxy


# -- item 17: every credential header is dropped on a cross-origin redirect --------------------------
CREDENTIALS = {"X-Api-Key": "xk-123456", "Api-Key": "ak-123456", "Cookie": "session=abc"}


@pytest.mark.parametrize("kind", KINDS)
def test_credential_headers_are_dropped_on_a_redirect_to_another_origin(kind: str) -> None:
    with ScriptedServer() as origin, ScriptedServer() as other:
        origin.script(lambda conn, req: conn.head(307, {"Location": "/v1/moved", "Content-Length": "0"}),
                      lambda conn, req: conn.head(307, {"Location": f"{other.url}/v1/models",
                                                        "Content-Length": "0"}))
        other.script(lambda conn, req: conn.json({"data": []}))
        assert call(kind, origin.url, lambda c: c.list_models(), headers=CREDENTIALS) == {"data": []}
        first, same_origin_hop = origin.requests
        (elsewhere,) = other.requests
    assert first.headers["cookie"] == "session=abc"  # (requests drops a given Cookie on any redirect)
    for request in (first, same_origin_hop):  # kept within the origin
        assert (request.headers["x-api-key"], request.headers["api-key"]) == ("xk-123456", "ak-123456")
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert not {"x-api-key", "api-key", "cookie", "authorization"} & set(elsewhere.headers)


# -- item 18: client.request's path ------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/v1/%2e%2e/admin", "/v1/%2E%2e/admin", "/v1/.%2E/x", "/v1/..%2Fadmin",
                                  "/v1/x\r\nX-Injected: 1", "/v1/a\nb", "/v1/a\tb", "/v1/a\rb", "/v1/\ud800"])
def test_request_refuses_dot_segments_and_control_characters(kind: str, path: str) -> None:
    with ScriptedServer() as server:
        with pytest.raises(ValidationError):
            call(kind, server.url, lambda c: c.request("GET", path))
        assert server.requests == [] and server.connections == 0


@pytest.mark.parametrize("kind", KINDS)
def test_request_percent_encodes_spaces_and_non_ascii_the_same_way(kind: str) -> None:
    with ScriptedServer() as server:
        server.script(lambda conn, req: conn.json({}))
        for path in ("/v1/a b", "/v1/é", "/v1/a%20b", "/v1/%C3%A9", "/v1/100%"):
            call(kind, server.url, lambda c, path=path: c.request("GET", path))
        assert [r.target for r in server.requests] == ["/v1/a%20b", "/v1/%C3%A9", "/v1/a%20b", "/v1/%C3%A9",
                                                       "/v1/100%25"]


# -- item 20: reading a capped body costs about the cap ----------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_reading_a_body_over_the_cap_holds_it_about_once(kind: str) -> None:
    cap = 8 << 20
    block = b"x" * (1 << 20)

    def chunked(conn: Conn, req: Request) -> None:
        conn.chunked_head(content_type="application/octet-stream")
        try:
            for _ in range(12):
                conn.chunk(block)
            conn.last_chunk()
        except OSError:
            pass

    with ScriptedServer() as server:
        server.script(chunked)
        tracemalloc.start()
        try:
            with pytest.raises(MistralError, match=f"larger than max_response_size={cap}"):
                call(kind, server.url, lambda c: c.request("GET", "/v1/blob"), max_response_size=cap)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < cap * 1.5  # the chunks list and its join held it twice


# -- item 10: sending a body has a timeout -----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_an_upload_to_a_server_that_never_reads_times_out(kind: str) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_never_read() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_never_read, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    try:
        with pytest.raises(APITimeoutError):  # Client raised APIConnectionError; AsyncClient hung for ever
            call(kind, url, lambda c: c.request("POST", "/v1/files", data=b"x" * (64 << 20)), timeout=(1, 1))
    finally:
        stop.set()
        thread.join(2)
        for sock in held:
            sock.close()
        listener.close()
    assert time.monotonic() - started < 10
