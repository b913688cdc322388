"""Call events (mistral_lite._core.observe): the exact sequence observers see, sync and async."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Mapping
from typing import Any

import pytest
from _loopback import run_async, sync_client
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

from mistral_lite import APIConnectionError, AsyncClient, Client, NotFoundError
from mistral_lite._core.observe import CallRecord, Observer, scope
from mistral_lite._dev.testing import make_client

CHAT = {"id": "c1", "object": "chat.completion", "model": "mistral-small-2503",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
MESSAGES = [{"role": "user", "content": "Hi"}]
CHUNKS = [
    {"id": "c1", "model": "mistral-small-2503",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "h"}}]},
    {"id": "c1", "model": "mistral-small-2503", "choices": [{"index": 0, "delta": {"content": "i"},
                                                              "finish_reason": "stop"}],
     "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
]
SSE = [f"data: {json.dumps(c)}\n\n".encode() for c in CHUNKS] + [b"data: [DONE]\n\n"]
trace_id: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="none")


class Recorder(Observer):
    """Records every event as a tuple; sends ``x-attempt: <n>`` and ``x-trace`` on each attempt."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.calls: list[CallRecord] = []

    def call_started(self, call: CallRecord) -> None:
        self.calls.append(call)
        self.events.append(("started", call.operation, call.method, call.model, call.stream, trace_id.get()))

    def attempt_headers(self, call: CallRecord, attempt: int) -> Mapping[str, str]:
        self.events.append(("attempt", attempt))
        return {"x-attempt": str(attempt), "x-trace": trace_id.get()}

    def retrying(self, call: CallRecord, attempt: int, reason: str) -> None:
        self.events.append(("retrying", attempt, reason))

    def response(self, call: CallRecord, status: int, headers: Mapping[str, str]) -> None:
        self.events.append(("response", status, headers.get("X-Request-Id")))

    def chunk(self, call: CallRecord, item: Any) -> None:
        self.events.append(("chunk", item["choices"][0]["delta"]["content"]))

    def call_ended(self, call: CallRecord, result: Any, error: BaseException | None) -> None:
        self.events.append(("ended", result, type(error).__name__ if error is not None else None, trace_id.get()))


def reply(obj: Any, status: int = 200, rid: str = "r1") -> Any:
    return lambda conn, req: conn.json(obj, status, {"x-request-id": rid})


def sse(conn: Conn, req: Request) -> None:
    conn.sse_chunked(SSE)


# -- sync -----------------------------------------------------------------------------------
def test_a_retried_chat_fires_every_event_in_order_and_sends_the_attempt_headers() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply({"message": "slow down"}, 429, "r-429"), reply(CHAT, rid="r-ok"))
        recorder = Recorder()
        client._observe(recorder)
        result = client.chat(model="mistral-small-latest", messages=MESSAGES)
    assert result == CHAT
    assert recorder.events == [
        ("started", "chat", "POST", "mistral-small-latest", False, "none"),
        ("attempt", 1), ("response", 429, "r-429"), ("retrying", 1, "HTTP 429"),
        ("attempt", 2), ("response", 200, "r-ok"),
        ("ended", CHAT, None, "none"),
    ]
    assert [r.headers["x-attempt"] for r in server.requests] == ["1", "2"]
    call = recorder.calls[0]
    assert (call.attempts, call.status, call.url, call.server_address, call.server_port) == (
        2, 200, server.url + "/v1/chat/completions", "127.0.0.1", server.port)
    assert call.body == {"model": "mistral-small-latest", "messages": MESSAGES}
    assert call.ended


def test_a_503_then_200_on_a_read_and_a_connection_failure_name_their_reason() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(lambda conn, req: conn.reset(), reply({"detail": "busy"}, 503, "r-503"),
                      reply({"object": "list", "data": []}))
        recorder = Recorder()
        client._observe(recorder)
        assert client.list_models() == {"object": "list", "data": []}
    assert recorder.events == [
        ("started", "list_models", "GET", None, False, "none"),
        ("attempt", 1), ("retrying", 1, "APIConnectionError"),
        ("attempt", 2), ("response", 503, "r-503"), ("retrying", 2, "HTTP 503"),
        ("attempt", 3), ("response", 200, "r1"),
        ("ended", {"object": "list", "data": []}, None, "none"),
    ]


def test_an_error_ends_the_call_once_with_the_error_raised() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply({"message": "no such model"}, 404, "r-404"))
        recorder = Recorder()
        client._observe(recorder)
        with pytest.raises(NotFoundError):
            client.chat(model="nope", messages=MESSAGES)
    assert recorder.events == [
        ("started", "chat", "POST", "nope", False, "none"),
        ("attempt", 1), ("response", 404, "r-404"), ("ended", None, "NotFoundError", "none"),
    ]


def test_a_stream_reports_each_chunk_then_ends_once_when_exhausted() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(sse)
        recorder = Recorder()
        client._observe(recorder)
        stream = client.chat(model="m", messages=MESSAGES, stream=True)
        assert recorder.events[-1] == ("response", 200, None)
        items = list(stream)
        stream.close()
    assert items == CHUNKS
    assert recorder.events == [
        ("started", "chat", "POST", "m", True, "none"), ("attempt", 1), ("response", 200, None),
        ("chunk", "h"), ("chunk", "i"), ("ended", None, None, "none"),
    ]


@pytest.mark.parametrize("read", [0, 1])
def test_a_stream_closed_early_ends_once_without_an_error(read: int) -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(sse)
        recorder = Recorder()
        client._observe(recorder)
        with client.chat(model="m", messages=MESSAGES, stream=True) as stream:
            for _ in range(read):
                next(stream)
        stream.close()
    assert recorder.events[3:] == [("chunk", "h")] * read + [("ended", None, None, "none")]


def test_a_stream_cut_short_ends_with_the_error() -> None:
    def cut(conn: Conn, req: Request) -> None:
        conn.sse_close_delimited(SSE[:1])

    with ScriptedServer() as server, sync_client(server) as client:
        server.script(cut)
        recorder = Recorder()
        client._observe(recorder)
        stream = client.chat(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(APIConnectionError):
            list(stream)
        stream.close()
    assert recorder.events[3:] == [("chunk", "h"), ("ended", None, "APIConnectionError", "none")]


def test_no_observer_means_no_record_and_removing_one_stops_its_events() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply(CHAT))
        recorder = Recorder()
        remove = client._observe(recorder)
        client.chat(model="m", messages=MESSAGES)
        remove()
        assert client._observers.observers == ()
        client.chat(model="m", messages=MESSAGES)
        with client._observe(Recorder()) as scoped:
            assert client._observers.observers == (scoped,)
        assert client._observers.observers == ()
    assert [e[0] for e in recorder.events].count("started") == 1
    assert "x-attempt" not in server.requests[1].headers


def test_copies_share_observers_other_clients_do_not_and_cache_hits_fire_nothing() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply({"object": "list", "data": []}))
        recorder = Recorder()
        client._observe(recorder)
        other = Client(API_KEY, base_url=server.url)
        other.list_models()
        client.with_options(timeout=5).list_models()
        cached = Client(API_KEY, base_url=server.url, cache=True)
        cached._observe(recorder)
        cached.list_models()
        cached.list_models()  # from the cache
    assert [e[1] for e in recorder.events if e[0] == "started"] == ["list_models", "list_models"]
    assert len(server.requests) == 3


def test_a_failing_observer_is_logged_and_never_changes_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Observer):
        def call_started(self, call: CallRecord) -> None:
            raise RuntimeError("observer bug")

    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply(CHAT))
        recorder = Recorder()
        client._observe(Broken())
        client._observe(recorder)
        assert client.chat(model="m", messages=MESSAGES) == CHAT
    assert recorder.events[-1] == ("ended", CHAT, None, "none")
    assert "observer bug" in caplog.text


def test_client_request_is_observed_too() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply({"ok": True}))
        recorder = Recorder()
        client._observe(recorder)
        assert client.request("GET", "/v1/new/thing") == {"ok": True}
    assert recorder.events == [("started", "request", "GET", None, False, "none"), ("attempt", 1),
                               ("response", 200, "r1"), ("ended", {"ok": True}, None, "none")]


def test_scope_reports_start_and_end_to_each_observer() -> None:
    seen: list[Any] = []

    class Scoped(Observer):
        def scope_started(self, name: str, attrs: Mapping[str, Any]) -> Any:
            seen.append(("start", name, dict(attrs)))
            return name + "-token"

        def scope_ended(self, token: Any, error: BaseException | None) -> None:
            seen.append(("end", token, type(error).__name__ if error else None))

    client = Client(API_KEY)
    with scope(client, "nobody"):  # no observer: nothing happens
        pass
    client._observe(Scoped())
    with scope(client, "bulk", size=3):
        pass
    with pytest.raises(KeyError), scope(client, "tools"):
        raise KeyError("x")
    assert seen == [("start", "bulk", {"size": 3}), ("end", "bulk-token", None),
                    ("start", "tools", {}), ("end", "tools-token", "KeyError")]


# -- async ----------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [False, True], ids=["native", "threads"])
def test_async_retried_chat_fires_the_same_events(threads: bool) -> None:
    recorder = Recorder()

    async def body(aclient: AsyncClient) -> Any:
        trace_id.set("caller")
        aclient._observe(recorder)
        return await aclient.chat(model="mistral-small-latest", messages=MESSAGES)

    with ScriptedServer() as server:
        server.script(reply({"message": "slow down"}, 429, "r-429"), reply(CHAT, rid="r-ok"))
        assert run_async(server, body, threads) == CHAT
    assert recorder.events == [
        ("started", "chat", "POST", "mistral-small-latest", False, "caller"),
        ("attempt", 1), ("response", 429, "r-429"), ("retrying", 1, "HTTP 429"),
        ("attempt", 2), ("response", 200, "r-ok"),
        ("ended", CHAT, None, "caller"),
    ]
    assert [(r.headers["x-attempt"], r.headers["x-trace"]) for r in server.requests] == [
        ("1", "caller"), ("2", "caller")]


@pytest.mark.parametrize("threads", [False, True], ids=["native", "threads"])
def test_async_errors_and_streams_end_once(threads: bool) -> None:
    recorder = Recorder()

    async def body(aclient: AsyncClient) -> Any:
        trace_id.set("caller")
        aclient._observe(recorder)
        with pytest.raises(NotFoundError):
            await aclient.chat(model="nope", messages=MESSAGES)
        items = [item async for item in await aclient.chat(model="m", messages=MESSAGES, stream=True)]
        async with await aclient.chat(model="m", messages=MESSAGES, stream=True) as early:
            await early.__anext__()
        return items

    with ScriptedServer() as server:
        server.script(reply({"message": "no"}, 404, "r-404"), sse)
        assert run_async(server, body, threads) == CHUNKS
    assert recorder.events == [
        ("started", "chat", "POST", "nope", False, "caller"), ("attempt", 1), ("response", 404, "r-404"),
        ("ended", None, "NotFoundError", "caller"),
        ("started", "chat", "POST", "m", True, "caller"), ("attempt", 1), ("response", 200, None),
        ("chunk", "h"), ("chunk", "i"), ("ended", None, None, "caller"),
        ("started", "chat", "POST", "m", True, "caller"), ("attempt", 1), ("response", 200, None),
        ("chunk", "h"), ("ended", None, None, "caller"),
    ]


def test_async_stream_cut_short_ends_with_the_error() -> None:
    recorder = Recorder()

    def cut(conn: Conn, req: Request) -> None:
        conn.sse_close_delimited(SSE[:1])

    async def body(aclient: AsyncClient) -> None:
        trace_id.set("caller")
        aclient._observe(recorder)
        stream = await aclient.chat(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(APIConnectionError):
            async for _ in stream:
                pass
        await stream.aclose()

    with ScriptedServer() as server:
        server.script(cut)
        run_async(server, body)
    assert recorder.events[3:] == [("chunk", "h"), ("ended", None, "APIConnectionError", "caller")]


# -- hooks, as the README documents them -------------------------------------------------------
def test_sync_hooks_get_the_prepared_request_and_the_response_of_every_attempt() -> None:
    import requests

    seen: list[Any] = []
    with ScriptedServer() as server:
        client = make_client(API_KEY, base_url=server.url, sleep=lambda s: None, rand=lambda: 0.5,
                             hooks={"request": [seen.append], "response": [seen.append]})
        client._observe(Recorder())
        server.script(reply({"message": "wait"}, 429, "r-429"), reply(CHAT, rid="r-ok"))
        client.chat(model="m", messages=MESSAGES)
        client.close()
    assert [type(x) for x in seen] == [requests.PreparedRequest, requests.Response] * 2
    assert [x.headers.get("x-attempt") for x in seen[::2]] == ["1", "2"]  # observers' headers included
    assert [(x.status_code, x.headers["x-request-id"]) for x in seen[1::2]] == [(429, "r-429"), (200, "r-ok")]
    assert json.loads(seen[3].content) == CHAT  # a 2xx body is read before the hook


def test_async_hooks_get_the_attempt_whose_header_changes_are_sent_and_the_aiohttp_response() -> None:
    seen: list[Any] = []

    def on_request(attempt: Any) -> None:
        seen.append((attempt.method, attempt.url, type(attempt.body).__name__))
        attempt.headers["X-Hooked"] = "yes"

    def on_response(response: Any) -> None:
        import aiohttp

        seen.append((isinstance(response, aiohttp.ClientResponse), response.status))

    async def main() -> Any:
        async with make_client(API_KEY, cls=AsyncClient, base_url=server.url, sleep=lambda s: None,
                               rand=lambda: 0.5, hooks={"request": [on_request], "response": [on_response]}) as ac:
            return await ac.chat(model="m", messages=MESSAGES)

    with ScriptedServer() as server:
        server.script(reply(CHAT))
        assert asyncio.run(main()) == CHAT
    assert seen == [("POST", server.url + "/v1/chat/completions", "bytes"), (True, 200)]
    assert server.requests[0].headers["x-hooked"] == "yes"


def test_a_hook_that_raises_propagates_unchanged() -> None:
    def boom(request: Any) -> None:
        raise LookupError("hook failed")

    with ScriptedServer() as server:
        client = Client(API_KEY, base_url=server.url, hooks={"request": [boom]})
        with pytest.raises(LookupError, match="hook failed"):
            client.list_models()
        client.close()
    assert server.requests == []
