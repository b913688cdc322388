"""Issue 9 through the native AsyncClient: the shared core's guarantees hold on aiohttp too.

Size caps, redaction, unfollowed 3xx, redirects to plain http and body read timeouts, as in
``test_hardening_transport.py``; ``AsyncStream.aclose()`` after a cancel returns promptly.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

from mistral_lite import APIStatusError, APITimeoutError, InternalServerError, MistralError, StreamError

pytest.importorskip("aiohttp")
from mistral_lite import AsyncClient

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def run(server: ScriptedServer, call: Any, **settings: Any) -> Any:
    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=server.url, retry=False, **settings) as client:
            return await call(client)

    return asyncio.run(main())


def test_a_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"0" * (16 << 20), 9)

    def gzipped(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                        "Content-Length": str(len(bomb))})
        conn.send(bomb)

    with ScriptedServer() as server:
        server.script(gzipped)
        with pytest.raises(MistralError, match="larger than max_response_size=1048576"):
            run(server, lambda c: c.list_models(), max_response_size=1 << 20)


def test_a_huge_error_body_is_cut_to_the_cap() -> None:
    def huge(conn: Conn, req: Request) -> None:
        body = b"x" * (3 << 20)
        conn.head(500, {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        conn.send(body)

    with ScriptedServer() as server:
        server.script(huge)
        with pytest.raises(InternalServerError) as info:
            run(server, lambda c: c.list_models())
    assert isinstance(info.value.body, str) and len(info.value.body) == 1 << 20


def test_an_echoed_key_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    def echo(conn: Conn, req: Request) -> None:
        conn.json({"message": f"bad key {API_KEY}"}, status=400, headers={"X-Echo": f"sent {API_KEY}"})

    def echo_in_stream(conn: Conn, req: Request) -> None:
        conn.sse_chunked([f"data: not json {API_KEY}\n\n".encode()])

    async def stream(client: AsyncClient) -> list[Any]:
        return [event async for event in await client.chat(**CHAT, stream=True)]

    with ScriptedServer() as server:
        server.script(echo, echo_in_stream)
        with caplog.at_level(logging.DEBUG, logger="mistral_lite.http"), pytest.raises(APIStatusError) as info:
            run(server, lambda c: c.get_model("x"))
        assert API_KEY not in json.dumps(info.value.headers) + json.dumps(info.value.body) + caplog.text
        with pytest.raises(StreamError) as stream_info:
            run(server, stream)
    assert API_KEY not in str(stream_info.value)


@pytest.mark.parametrize("status", [304, 300])
def test_a_3xx_not_followed_is_an_error(status: int) -> None:
    def not_modified(conn: Conn, req: Request) -> None:
        conn.head(status, {"Content-Length": "0"})

    with ScriptedServer() as server:
        server.script(not_modified)
        with pytest.raises(APIStatusError, match=f"HTTP {status}"):
            run(server, lambda c: c.list_models())


def test_an_interim_1xx_is_followed_by_the_real_response() -> None:
    def early_hints(conn: Conn, req: Request) -> None:
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
        conn.json({"id": "real"})

    with ScriptedServer() as server:
        server.script(early_hints)
        assert run(server, lambda c: c.get_model("x")) == {"id": "real"}


def test_a_redirect_to_plain_http_elsewhere_is_refused() -> None:
    def redirect(conn: Conn, req: Request) -> None:
        conn.head(307, {"Location": "http://api.example.com/v1/models", "Content-Length": "0"})

    with ScriptedServer() as server:
        server.script(redirect)
        with pytest.raises(MistralError, match="refusing to follow a 307 redirect to plain http"):
            run(server, lambda c: c.list_models())
        assert len(server.requests) == 1


def test_a_timeout_reading_a_body_is_a_timeout() -> None:
    def stall(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "application/json", "Content-Length": "100"})
        conn.send(b'{"data": [')
        conn.pause(10)

    with ScriptedServer() as server:
        server.script(stall)
        with pytest.raises(APITimeoutError):
            run(server, lambda c: c.list_models(), timeout=(2, 0.3))


def test_aclose_after_a_cancel_returns_promptly() -> None:
    def stall(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"choices": []}\n\n')
        conn.pause(30)

    async def main(server: ScriptedServer) -> bool:
        async with AsyncClient(API_KEY, base_url=server.url, retry=False) as client:
            stream = await client.chat(**CHAT, stream=True)
            assert await stream.__anext__() == {"choices": []}
            reader = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.05)
            reader.cancel()
            await asyncio.wait_for(stream.aclose(), 5)  # a bounded wait, not a timing assertion
            return reader.cancelled() or reader.done()

    with ScriptedServer() as server:
        server.script(stall)
        assert asyncio.run(main(server))
