"""One table of scenarios through both transports (requests and aiohttp), same loopback server.

Each scenario scripts the server, makes one call (a plain call, or a stream read to its end)
and states the outcome it expects: the result or the error (type, status, attempts,
``retry_after``, request id), the events received before any failure, the retry sleeps and what
the server saw. Both clients must produce exactly that outcome. Scenarios only one transport
can express (cancelling a task) come after the table and say why.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer

from mistral_lite import AsyncClient, MistralError
from mistral_lite._dev.testing import make_client

API_KEY = "sk-live-0123456789abcdef"
CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
AGENT = {"model": "m", "name": "n"}
CONVERSE = {"inputs": "hi", "model": "mistral-small-latest"}
Handler = Callable[[Conn, Request], None]


# -- server scripts ----------------------------------------------------------------------------
def reply(obj: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.json({"id": "model-a"} if obj is None else obj, status=status, headers=headers)
    return handler


def raw(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.head(status, {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})})
        conn.send(body)
    return handler


def event(i: int) -> bytes:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
COMPLETION = b"".join(event(i) for i in range(3)) + DONE


def conversation(error: bool = False, done: bool = True) -> bytes:
    events = [("conversation.response.started", {"conversation_id": "conv_1"}),
              ("message.output.delta", {"type": "message.output.delta", "content": "Hel"})]
    if error:
        events.append(("conversation.response.error", {"message": "boom", "code": 3}))
    if done:
        events.append(("conversation.response.done", {"type": "conversation.response.done", "usage": {}}))
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


def sse(body: bytes, piece: int = 0, pause: float = 0.0, end: bool = True, headers: dict[str, str] | None = None,
        ) -> Handler:
    """A chunked SSE answer, cut in ``piece``-byte chunks (0: one chunk per event)."""
    def handler(conn: Conn, req: Request) -> None:
        if piece:
            pieces = [body[i:i + piece] for i in range(0, len(body), piece)]
        else:
            pieces = [p + b"\n\n" for p in body.split(b"\n\n") if p]
        conn.head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked", "x-request-id": "req-s",
                        **(headers or {})})
        for p in pieces:
            conn.chunk(p)
            if pause:
                conn.pause(pause)
        if end:
            conn.last_chunk()
        else:
            conn.close()
    return handler


def close_delimited(body: bytes) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.sse_close_delimited([body[i:i + 7] for i in range(0, len(body), 7)])
    return handler


def stall_after(body: bytes) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(body)
        conn.pause(3.0)  # interrupted when the server closes
    return handler


def slow(seconds: float, then: Handler) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.pause(seconds)
        then(conn, req)
    return handler


def reset(conn: Conn, req: Request) -> None:
    conn.reset()


def cut_mid_chunk(conn: Conn, req: Request) -> None:
    conn.chunked_head()
    conn.chunk(event(0))
    conn.send(b"40\r\ndata: {\"id\"")  # a chunk announced longer than what is sent
    conn.close()


def gzipped(conn: Conn, req: Request) -> None:
    body = gzip.compress(COMPLETION)
    conn.head(200, {"Content-Type": "text/event-stream", "Content-Encoding": "gzip", "Transfer-Encoding": "chunked"})
    for i in range(0, len(body), 16):
        conn.chunk(body[i:i + 16])
    conn.last_chunk()


# -- the two clients behind one face -------------------------------------------------------------
@dataclass
class Outcome:
    result: Any = None
    events: list[Any] = field(default_factory=list)
    error: tuple[Any, ...] | None = None


def _error(exc: BaseException) -> tuple[Any, ...]:
    return (type(exc).__name__, getattr(exc, "status_code", None), getattr(exc, "attempts", None),
            getattr(exc, "retry_after", None), getattr(exc, "request_id", None))


class SyncRunner:
    name = "requests"

    def __init__(self, url: str, sleeps: list[float], **options: Any) -> None:
        self.client = make_client(API_KEY, base_url=url, sleep=sleeps.append, rand=lambda: 0.5, **options)

    def run(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], stream: bool) -> Outcome:
        out = Outcome()
        try:
            if stream:
                with self.client.call(operation, *args, **options) as events:
                    for e in events:
                        out.events.append(e)
            else:
                out.result = self.client.call(operation, *args, **options)
        except MistralError as exc:
            out.error = _error(exc)
        return out

    def close(self) -> None:
        self.client.close()


class AsyncRunner:
    name = "aiohttp"

    def __init__(self, url: str, sleeps: list[float], **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.client: AsyncClient = make_client(API_KEY, cls=AsyncClient, base_url=url, sleep=sleeps.append,
                                               rand=lambda: 0.5, **options)

    def run(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], stream: bool) -> Outcome:
        async def go() -> Outcome:
            out = Outcome()
            try:
                if stream:
                    async with await self.client.call(operation, *args, **options) as events:
                        async for e in events:
                            out.events.append(e)
                else:
                    out.result = await self.client.call(operation, *args, **options)
            except MistralError as exc:
                out.error = _error(exc)
            return out
        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


RUNNERS = [SyncRunner, AsyncRunner]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv
    assert not srv.errors, srv.errors


# -- the table -----------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    handlers: list[Handler]
    operation: str
    options: dict[str, Any]
    expect: Outcome
    sleeps: list[float] = field(default_factory=list)
    requests: int = 1
    stream: bool = False
    args: tuple[Any, ...] = ()
    client: dict[str, Any] = field(default_factory=dict)


def texts(n: int) -> list[Any]:
    return [{"id": "c1", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]} for i in range(n)]


CONVERSATION_EVENTS = [{"conversation_id": "conv_1", "type": "conversation.response.started"},
                       {"type": "message.output.delta", "content": "Hel"}]
BIG = {"data": [{"id": f"model-{i}", "pad": "x" * 200} for i in range(10_000)]}  # about 2.4 MB
PAST = "Wed, 21 Oct 2015 07:28:00 GMT"

SCENARIOS = [
    Scenario("json", [reply()], "get_model", {"model_id": "model-a"}, Outcome({"id": "model-a"})),
    Scenario("503 twice then 200 (idempotent)", [reply({}, 503), reply({}, 503), reply()], "get_model",
             {"model_id": "model-a"}, Outcome({"id": "model-a"}), sleeps=[0.5, 1.0], requests=3),
    Scenario("Retry-After seconds", [reply({}, 429, {"Retry-After": "2"}), reply()], "get_model",
             {"model_id": "model-a"}, Outcome({"id": "model-a"}), sleeps=[2.0], requests=2),
    Scenario("retry-after-ms", [reply({}, 429, {"retry-after-ms": "1500"}), reply()], "get_model",
             {"model_id": "model-a"}, Outcome({"id": "model-a"}), sleeps=[1.5], requests=2),
    Scenario("Retry-After date in the past", [reply({}, 503, {"Retry-After": PAST}), reply()], "get_model",
             {"model_id": "model-a"}, Outcome({"id": "model-a"}), sleeps=[0.0], requests=2),
    Scenario("Retry-After beyond max_retry_after", [reply({"message": "later"}, 429, {"Retry-After": "120",
             "x-request-id": "req-9"})], "get_model", {"model_id": "model-a"},
             Outcome(error=("RateLimitError", 429, 1, 120.0, "req-9"))),
    Scenario("retries run out", [reply({}, 502)], "get_model", {"model_id": "model-a"},
             Outcome(error=("InternalServerError", 502, 3, None, None)), sleeps=[0.5, 1.0], requests=3,
             client={"max_retries": 2}),
    Scenario("create class: 500 not retried", [reply({"message": "x"}, 500)], "create_agent", AGENT,
             Outcome(error=("InternalServerError", 500, 1, None, None))),
    Scenario("create class: 429 retried", [reply({}, 429), reply({"ok": 1})], "create_agent", AGENT,
             Outcome({"ok": 1}),
             sleeps=[0.5], requests=2),
    Scenario("404 with request id", [reply({"message": "no"}, 404, {"x-request-id": "req-1"})], "get_model",
             {"model_id": "m"}, Outcome(error=("NotFoundError", 404, 1, None, "req-1"))),
    Scenario("reset retried (idempotent)", [reset, reply()], "get_model", {"model_id": "model-a"},
             Outcome({"id": "model-a"}), sleeps=[0.5], requests=2),
    Scenario("reset not retried (create)", [reset, reply()], "create_agent", AGENT,
             Outcome(error=("APIConnectionError", None, 1, None, None))),
    Scenario("read timeout retried (idempotent)", [slow(3.0, reply()), reply()], "get_model",
             {"model_id": "model-a"}, Outcome({"id": "model-a"}), sleeps=[0.5], requests=2,
             client={"timeout": (2.0, 1.0)}),
    Scenario("read timeout not retried (create)", [slow(2.0, reply())], "create_agent", AGENT,
             Outcome(error=("APITimeoutError", None, 1, None, None)), client={"timeout": (2.0, 0.3)}),
    Scenario("a body that is not JSON", [raw(200, b"<html>oops</html>", "text/html", {"x-request-id": "r2"})],
             "get_model", {"model_id": "m"}, Outcome(error=("MistralError", None, None, None, None))),
    Scenario("an error body that is not JSON", [raw(400, b"bad thing", "text/plain")], "get_model",
             {"model_id": "m"}, Outcome(error=("BadRequestError", 400, 1, None, None))),
    Scenario("a large body", [reply(BIG)], "list_models", {}, Outcome(BIG)),
    Scenario("empty 2xx body", [raw(200, b"", "application/json")], "delete_model", {"model_id": "m"}, Outcome({})),
    # streams
    Scenario("stream: one chunk per event", [sse(COMPLETION)], "chat", {**CHAT, "stream": True},
             Outcome(events=texts(3)), stream=True),
    Scenario("stream: events split across reads", [sse(COMPLETION, piece=5)], "chat", {**CHAT, "stream": True},
             Outcome(events=texts(3)), stream=True),
    Scenario("stream: CRLF line ends", [sse(COMPLETION.replace(b"\n", b"\r\n"), piece=7)], "chat",
             {**CHAT, "stream": True}, Outcome(events=texts(3)), stream=True),
    Scenario("stream: close-delimited", [close_delimited(COMPLETION)], "chat", {**CHAT, "stream": True},
             Outcome(events=texts(3)), stream=True),
    Scenario("stream: gzip-encoded", [gzipped], "chat", {**CHAT, "stream": True}, Outcome(events=texts(3)),
             stream=True),
    Scenario("stream: cut before [DONE] (chunked)", [sse(COMPLETION[:-len(DONE)], end=False)], "chat",
             {**CHAT, "stream": True}, Outcome(events=texts(3), error=("APIConnectionError", None, 1, None, None)),
             stream=True),
    Scenario("stream: cut mid-chunk", [cut_mid_chunk], "chat", {**CHAT, "stream": True},
             Outcome(events=texts(1), error=("APIConnectionError", None, 1, None, None)), stream=True),
    Scenario("stream: close-delimited cut", [close_delimited(COMPLETION[:-len(DONE)])], "chat",
             {**CHAT, "stream": True}, Outcome(events=texts(3), error=("APIConnectionError", None, 1, None, None)),
             stream=True),
    Scenario("stream: stall", [stall_after(event(0))], "chat", {**CHAT, "stream": True, "stream_timeout": 0.3},
             Outcome(events=texts(1), error=("APITimeoutError", None, 1, None, None)), stream=True),
    Scenario("stream: stall after [DONE] still ends cleanly", [stall_after(COMPLETION)], "chat",
             {**CHAT, "stream": True}, Outcome(events=texts(3)), stream=True),
    Scenario("stream: malformed event", [sse(event(0) + b"data: {nope\n\n" + DONE)], "chat", {**CHAT, "stream": True},
             Outcome(events=texts(1), error=("StreamError", None, None, None, None)), stream=True),
    Scenario("stream: 503 before it starts is retried", [reply({}, 503), sse(COMPLETION)], "chat",
             {**CHAT, "stream": True}, Outcome(events=texts(3)), stream=True, sleeps=[0.5], requests=2),
    Scenario("stream: error status at call time", [reply({"message": "bad"}, 400)], "chat", {**CHAT, "stream": True},
             Outcome(error=("BadRequestError", 400, 1, None, None)), stream=True),
    Scenario("stream: JSON answer", [reply({"id": "x"})], "chat", {**CHAT, "stream": True},
             Outcome(error=("StreamError", None, None, None, None)), stream=True),
    Scenario("events: ends after done", [sse(conversation(), piece=9)], "create_conversation",
             {**CONVERSE, "stream": True},
             Outcome(events=[*CONVERSATION_EVENTS, {"type": "conversation.response.done", "usage": {}}]), stream=True),
    Scenario("events: error event", [sse(conversation(error=True))], "create_conversation",
             {**CONVERSE, "stream": True}, Outcome(events=CONVERSATION_EVENTS,
                                                   error=("StreamError", None, None, None, None)), stream=True),
    Scenario("events: cut before done", [sse(conversation(done=False), end=False)], "create_conversation",
             {**CONVERSE, "stream": True}, Outcome(events=CONVERSATION_EVENTS,
                                                   error=("APIConnectionError", None, 1, None, None)), stream=True),
]


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(server: ScriptedServer, scenario: Scenario, runner: type[SyncRunner | AsyncRunner]) -> None:
    server.script(*scenario.handlers)
    sleeps: list[float] = []
    options = {"timeout": (2.0, 5.0), "stream_timeout": 5.0, **scenario.client}
    client = runner(server.url, sleeps, **options)
    try:
        outcome = client.run(scenario.operation, scenario.args, dict(scenario.options), scenario.stream)
    finally:
        client.close()
    assert outcome == scenario.expect
    assert sleeps == scenario.sleeps
    assert len(server.requests) == scenario.requests
    first = server.requests[0]
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert first.headers["accept"] == ("text/event-stream" if scenario.options.get("stream") else "application/json")
    if scenario.options and scenario.operation in ("chat", "create_agent", "create_conversation"):
        sent = {k: v for k, v in scenario.options.items() if k not in ("stream_timeout",)}
        assert first.json() == sent


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_same_request_on_the_wire(server: ScriptedServer, runner: type[SyncRunner | AsyncRunner]) -> None:
    server.script(reply({"data": []}))
    client = runner(server.url, [])
    try:
        client.run("list_files", (), {"purpose": "batch", "page_size": 5}, False)
        client.run("get_file", ("a/../b",), {}, False)
    finally:
        client.close()
    assert [(r.method, r.target) for r in server.requests] == [
        ("GET", "/v1/files?purpose=batch&page_size=5"), ("GET", "/v1/files/a%2F..%2Fb")]
    assert server.requests[0].headers["user-agent"].startswith("mistral-lite/")


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_upload_retried_resends_the_whole_body(server: ScriptedServer, runner: type[SyncRunner | AsyncRunner],
                                               tmp_path: Any) -> None:
    server.script(reply({"message": "slow down"}, 429), reply({"id": "file-1"}))
    data = b'{"a": 1}\n' * 20_000  # 180 kB: several blocks
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    sleeps: list[float] = []
    client = runner(server.url, sleeps)
    try:
        assert client.run("upload_file", (), {"file": path}, False) == Outcome({"id": "file-1"})
    finally:
        client.close()
    for req in server.requests:
        assert data in req.body and b'filename="train.jsonl"' in req.body
        assert int(req.headers["content-length"]) == len(req.body)
        assert "transfer-encoding" not in req.headers
    assert sleeps == [0.5]


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_download_is_atomic(server: ScriptedServer, runner: type[SyncRunner | AsyncRunner], tmp_path: Any) -> None:
    payload = bytes(range(256)) * 1000

    def partial(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "application/octet-stream", "Content-Length": str(len(payload))})
        conn.send(payload[:1000])
        conn.close()

    server.script(raw(200, payload, "application/octet-stream"), partial)
    target = tmp_path / "out.bin"
    progress: list[tuple[int, int | None]] = []
    client = runner(server.url, [])
    try:
        options = {"to": target, "on_progress": lambda d, t: progress.append((d, t))}
        done = client.run("download_file", ("file-1",), options, False)
        assert done == Outcome(target) and target.read_bytes() == payload
        assert progress[0] == (0, len(payload)) and progress[-1] == (len(payload), len(payload))
        failed = client.run("download_file", ("file-1",), {"to": tmp_path / "cut.bin"}, False)
    finally:
        client.close()
    assert failed.error is not None and failed.error[0] == "APIConnectionError"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # nothing left of the cut one


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_connections_are_reused_after_streams_and_errors(server: ScriptedServer,
                                                         runner: type[SyncRunner | AsyncRunner]) -> None:
    server.script(sse(COMPLETION), reply({}, 404), reply(), sse(conversation()), reply())
    client = runner(server.url, [])
    try:
        assert client.run("chat", (), {**CHAT, "stream": True}, True).events == texts(3)
        assert client.run("get_model", ("m",), {}, False).error == ("NotFoundError", 404, 1, None, None)
        assert client.run("get_model", ("m",), {}, False).result == {"id": "model-a"}
        assert len(client.run("create_conversation", (), {**CONVERSE, "stream": True}, True).events) == 3
        assert client.run("get_model", ("m",), {}, False).result == {"id": "model-a"}
    finally:
        client.close()
    assert server.connections == 1


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_abandoned_stream_hangs_up(server: ScriptedServer, runner: type[SyncRunner | AsyncRunner]) -> None:
    hung_up = threading.Event()

    def long_stream(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(event(0))
        if conn.wait_peer_close(5.0):
            hung_up.set()

    server.script(long_stream, reply())
    client = runner(server.url, [])
    try:
        if isinstance(client, SyncRunner):
            stream = client.client.chat(**CHAT, stream=True)
            assert next(stream) == texts(1)[0]
            stream.close()
        else:
            async def abandon() -> None:
                stream = await client.client.chat(**CHAT, stream=True)
                assert await stream.__anext__() == texts(1)[0]
                await stream.aclose()
            client.loop.run_until_complete(abandon())
        assert hung_up.wait(5.0)
        assert client.run("get_model", ("m",), {}, False).result == {"id": "model-a"}
    finally:
        client.close()
    assert len(server.requests) == 2


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda r: r.name)
def test_key_redacted_from_error_bodies(server: ScriptedServer, runner: type[SyncRunner | AsyncRunner]) -> None:
    server.script(reply({"message": f"bad key {API_KEY}"}, 401))
    client = runner(server.url, [])
    try:
        if isinstance(client, SyncRunner):
            with pytest.raises(MistralError) as info:
                client.client.get_model("m")
        else:
            with pytest.raises(MistralError) as info:
                client.loop.run_until_complete(client.client.get_model("m"))
    finally:
        client.close()
    assert API_KEY not in str(info.value.body) and "[redacted]" in str(info.value.body)  # type: ignore[attr-defined]
