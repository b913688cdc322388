"""The real Client against a scripted loopback HTTP/1.1 server: pooling, streams, timeouts, cuts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer

from mistral_lite import Client
from mistral_lite._dev.testing import make_client
from mistral_lite.exceptions import APIConnectionError, APITimeoutError, StreamError

API_KEY = "sk-live-0123456789abcdef"
CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv
    assert not srv.errors, srv.errors


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def live(server: ScriptedServer, sleeps: Sleeps) -> Iterator[Client]:
    with make_client(API_KEY, base_url=server.url, sleep=sleeps, rand=lambda: 0.5, stream_timeout=5.0,
                timeout=(2.0, 5.0)) as c:
        yield c


def chunk_event(i: int) -> bytes:
    return b"data: " + json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def completion_pieces(n: int = 3) -> list[bytes]:
    return [chunk_event(i) for i in range(n)] + [DONE]


def conversation_pieces(done: bool = True) -> list[bytes]:
    events = [
        ("conversation.response.started", {"type": "conversation.response.started", "conversation_id": "conv_1"}),
        ("message.output.delta", {"type": "message.output.delta", "content": "Hel"}),
        ("message.output.delta", {"type": "message.output.delta", "content": "lo"}),
    ]
    if done:
        events.append(("conversation.response.done", {"type": "conversation.response.done", "usage": {}}))
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def texts(events: list[dict[str, Any]]) -> str:
    return "".join(e["choices"][0]["delta"]["content"] for e in events)


def reply_json(obj: Any = None, status: int = 200) -> Any:
    def handler(conn: Conn, req: Request) -> None:
        conn.json({"id": "model-a", "object": "model"} if obj is None else obj, status=status)
    return handler


def reply_sse(pieces: list[bytes], pause: float = 0.0) -> Any:
    def handler(conn: Conn, req: Request) -> None:
        conn.sse_chunked(pieces, pause=pause)
    return handler


def idle_slots_full(client: Client, url: str) -> bool:
    """Every connection the pool handed out is back (or discarded): nothing is checked out."""
    pool = client.session.get_adapter(url).poolmanager.connection_from_url(url)
    return pool.pool.qsize() == pool.pool.maxsize


# -- connection reuse ----------------------------------------------------------------------


def test_json_calls_reuse_one_connection(server: ScriptedServer, live: Client) -> None:
    server.script(reply_json())
    for _ in range(4):
        assert live.get_model("model-a")["id"] == "model-a"
    assert len(server.requests) == 4
    assert server.connections == 1


def test_consumed_stream_returns_connection_to_pool(server: ScriptedServer, live: Client) -> None:
    server.script(reply_sse(completion_pieces()), reply_json(), reply_sse(completion_pieces(2)), reply_json())
    with live.chat(**CHAT, stream=True) as stream:
        assert texts(list(stream)) == "t0t1t2"
    assert idle_slots_full(live, server.url)
    assert live.get_model("model-a")["id"] == "model-a"
    assert texts(list(live.chat(**CHAT, stream=True))) == "t0t1"  # iterated to the end, no with
    assert live.get_model("model-a")["id"] == "model-a"
    assert len(server.requests) == 4
    assert server.connections == 1
    assert [r.headers["accept"] for r in server.requests] == [
        "text/event-stream", "application/json", "text/event-stream", "application/json"]


def _settled(observed: list[bool], limit: float = 5.0) -> list[bool]:
    """The server thread's observation, once it has made it (bounded wait, no timing asserted)."""
    deadline = time.monotonic() + limit
    while not observed and time.monotonic() < deadline:
        time.sleep(0.01)
    return observed


def test_early_close_releases_the_connection(server: ScriptedServer, live: Client) -> None:
    seen_close: list[bool] = []

    def endless(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(chunk_event(0))
        conn.chunk(chunk_event(1))
        seen_close.append(conn.wait_peer_close(3.0))

    server.script(endless, reply_json())
    stream = live.chat(**CHAT, stream=True)
    assert next(stream)["choices"][0]["delta"]["content"] == "t0"
    stream.close()
    assert idle_slots_full(live, server.url)
    assert live.get_model("model-a")["id"] == "model-a"  # the pool still works
    assert _settled(seen_close) == [True]  # the half-read connection was closed, not left dangling
    assert server.connections == 2
    with pytest.raises(StopIteration):
        next(stream)


def test_leaving_with_block_early_releases_the_connection(server: ScriptedServer, live: Client) -> None:
    seen_close: list[bool] = []

    def endless(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(chunk_event(0))
        seen_close.append(conn.wait_peer_close(3.0))

    server.script(endless, reply_json())
    with live.chat(**CHAT, stream=True) as stream:
        for _event in stream:
            break
    assert idle_slots_full(live, server.url)
    assert live.get_model("model-a")["id"] == "model-a"
    assert _settled(seen_close) == [True]


# -- stalls and timeouts -------------------------------------------------------------------


def stall_after_first_event(conn: Conn, req: Request) -> None:
    conn.chunked_head()
    conn.chunk(chunk_event(0))
    conn.pause(3.0)  # interrupted when the test's server closes


def test_stream_stall_raises_timeout_client_setting(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.script(stall_after_first_event)
    with make_client(API_KEY, base_url=server.url, sleep=sleeps, stream_timeout=0.3) as c:
        stream = c.chat(**CHAT, stream=True)
        assert next(stream)["choices"][0]["delta"]["content"] == "t0"
        with pytest.raises(APITimeoutError) as info:
            next(stream)
    assert info.value.operation == "chat"
    assert "chat" in str(info.value)
    assert len(server.requests) == 1 and sleeps == []  # a started stream is never retried


def test_stream_stall_raises_timeout_per_call(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(stall_after_first_event)
    with pytest.raises(APITimeoutError, match="chat"), live.chat(**CHAT, stream=True, stream_timeout=0.3) as stream:
        list(stream)
    assert len(server.requests) == 1 and sleeps == []


def test_stream_stall_raises_timeout_with_options(server: ScriptedServer, live: Client) -> None:
    server.script(stall_after_first_event)
    with pytest.raises(APITimeoutError):
        list(live.with_options(stream_timeout=0.3).chat(**CHAT, stream=True))
    assert len(server.requests) == 1


def test_stream_not_started_is_retried(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    def slow_head(conn: Conn, req: Request) -> None:
        conn.pause(2.0)

    server.script(slow_head, reply_sse(completion_pieces()))
    stream = live.chat(**CHAT, stream=True, stream_timeout=0.3)
    assert texts(list(stream)) == "t0t1t2"
    assert len(server.requests) == 2
    assert sleeps == [0.5]


def slow_json(conn: Conn, req: Request) -> None:
    conn.pause(2.0)
    conn.json({"id": "late"})


def test_read_timeout_on_slow_json_per_call(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(slow_json)
    with pytest.raises(APITimeoutError) as info:
        live.with_options(retry=False).get_model("model-a", timeout=0.3)
    assert info.value.operation == "get_model"
    assert "get_model" in str(info.value)
    assert len(server.requests) == 1 and sleeps == []


def test_read_timeout_client_setting_is_retried_for_idempotent(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.script(slow_json, reply_json())
    with make_client(API_KEY, base_url=server.url, sleep=sleeps, rand=lambda: 0.5, timeout=(2.0, 0.3)) as c:
        assert c.get_model("model-a")["id"] == "model-a"
    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_read_timeout_is_not_retried_for_create(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(slow_json)
    with pytest.raises(APITimeoutError, match="create_agent"):
        live.with_options(timeout=(2.0, 0.3)).create_agent(model="m", name="n")
    assert len(server.requests) == 1
    assert sleeps == []


# -- resets --------------------------------------------------------------------------------


def reset(conn: Conn, req: Request) -> None:
    conn.reset()


def test_reset_is_retried_for_idempotent(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(reset, reply_json())
    assert live.get_model("model-a")["id"] == "model-a"
    assert len(server.requests) == 2
    assert server.connections == 2
    assert sleeps == [0.5]


def test_reset_is_retried_for_idempotent_post(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(reset, reply_json({"data": [{"embedding": [0.1]}]}))
    assert live.embed(input=["x"]) == {"data": [{"embedding": [0.1]}]}
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body
    assert sleeps == [0.5]


def test_reset_is_not_retried_for_create(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(reset, reply_json())
    with pytest.raises(APIConnectionError) as info:
        live.create_agent(model="m", name="n")
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.attempts == 1
    assert len(server.requests) == 1
    assert sleeps == []


def test_refused_connection_is_retried_for_create(sleeps: Sleeps) -> None:
    with ScriptedServer() as srv:
        url = srv.url
    # the port is closed now: connecting is refused, so the request never reached a server
    with make_client(API_KEY, base_url=url, sleep=sleeps, rand=lambda: 0.5, max_retries=2) as c:
        with pytest.raises(APIConnectionError) as info:
            c.create_agent(model="m", name="n")
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)
    assert sleeps == [0.5, 1.0]
    assert API_KEY not in str(info.value)


# -- cuts ----------------------------------------------------------------------------------


def test_cut_mid_chunk_raises_connection_error(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    def cut(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(chunk_event(0))
        conn.send(b"40\r\ndata: {\"id\"")  # a chunk announced longer than what is sent
        conn.close()

    server.script(cut)
    stream = live.chat(**CHAT, stream=True)
    got = []
    with pytest.raises(APIConnectionError) as info:
        for event in stream:
            got.append(event)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.operation == "chat"
    assert texts(got) == "t0"
    assert len(server.requests) == 1 and sleeps == []


def test_cut_between_chunks_before_done_raises(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    def cut(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        for piece in completion_pieces()[:-1]:
            conn.chunk(piece)
        conn.close()

    server.script(cut)
    with pytest.raises(APIConnectionError) as info:
        list(live.chat(**CHAT, stream=True))
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 1 and sleeps == []


def test_close_delimited_cut_before_done_raises(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(lambda conn, req: conn.sse_close_delimited(completion_pieces()[:-1]))
    with pytest.raises(APIConnectionError, match=r"\[DONE\]") as info:
        list(live.chat(**CHAT, stream=True))
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 1 and sleeps == []


def test_close_delimited_complete_stream_ends_cleanly(server: ScriptedServer, live: Client) -> None:
    server.script(lambda conn, req: conn.sse_close_delimited(completion_pieces()))
    assert texts(list(live.chat(**CHAT, stream=True))) == "t0t1t2"


def test_reset_mid_stream_raises_connection_error(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    def cut(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(chunk_event(0))
        conn.pause(0.05)
        conn.reset()

    server.script(cut)
    with pytest.raises(APIConnectionError) as info:
        list(live.chat(**CHAT, stream=True))
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 1 and sleeps == []


# -- split reads ---------------------------------------------------------------------------


def split_at(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7])
def test_events_split_across_reads_chunked(server: ScriptedServer, live: Client, size: int) -> None:
    payload = b"".join(completion_pieces()).replace(b"\n", b"\r\n")  # CRLF: splits fall between \r and \n
    payload = payload.replace(b"t1", "é€".encode())  # multi-byte characters split too
    pieces = split_at(payload, size)
    server.script(reply_sse(pieces, pause=0.001 if size == 1 else 0.005), reply_json())
    assert texts(list(live.chat(**CHAT, stream=True))) == "t0é€t2"
    assert live.get_model("model-a")["id"] == "model-a"
    assert server.connections == 1


def test_events_split_across_reads_close_delimited(server: ScriptedServer, live: Client) -> None:
    payload = b"".join(conversation_pieces())
    cuts = [1, 5, 6, 7, 40, 41, len(payload) // 2, len(payload) - 3, len(payload) - 1]
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
    server.script(lambda conn, req: conn.sse_close_delimited(pieces, pause=0.01))
    events = list(live.create_conversation(inputs="hi", stream=True))
    assert [e["type"] for e in events] == [
        "conversation.response.started", "message.output.delta", "message.output.delta",
        "conversation.response.done"]


# -- conversation streams ------------------------------------------------------------------


def test_conversation_stream_ends_when_server_closes_after_done(server: ScriptedServer, live: Client) -> None:
    server.script(lambda conn, req: conn.sse_close_delimited(conversation_pieces(), pause=0.01))
    with live.create_conversation(inputs="hi", stream=True) as stream:
        events = list(stream)
    assert events[-1]["type"] == "conversation.response.done"
    assert "".join(e.get("content", "") for e in events) == "Hello"
    assert server.requests[0].json()["stream"] is True


def test_conversation_stream_chunked_reuses_connection(server: ScriptedServer, live: Client) -> None:
    server.script(reply_sse(conversation_pieces()), reply_json())
    events = list(live.append_conversation("conv_1", inputs="more", stream=True))
    assert events[-1]["type"] == "conversation.response.done"
    assert server.requests[0].path == "/v1/conversations/conv_1"
    assert live.get_model("model-a")["id"] == "model-a"
    assert server.connections == 1


def test_conversation_cut_before_done_raises(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(lambda conn, req: conn.sse_close_delimited(conversation_pieces(done=False)))
    with pytest.raises(APIConnectionError, match="conversation.response.done") as info:
        list(live.create_conversation(inputs="hi", stream=True))
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 1 and sleeps == []


def test_conversation_error_event_raises_stream_error(server: ScriptedServer, live: Client) -> None:
    pieces = conversation_pieces(done=False)[:1] + [
        b'event: conversation.response.error\ndata: {"type": "conversation.response.error", "message": "boom"}\n\n']
    server.script(lambda conn, req: conn.sse_close_delimited(pieces))
    with pytest.raises(StreamError, match="boom"):
        list(live.create_conversation(inputs="hi", stream=True))


# -- status errors on streams --------------------------------------------------------------


def test_stream_error_status_raises_at_call_time(server: ScriptedServer, live: Client) -> None:
    from mistral_lite.exceptions import BadRequestError

    server.script(reply_json({"message": "bad model"}, status=400), reply_json())
    with pytest.raises(BadRequestError, match="bad model"):
        live.chat(**CHAT, stream=True)  # raised before any iteration
    assert live.get_model("model-a")["id"] == "model-a"
    assert server.connections == 1  # the error body was read and the connection reused


def test_stream_retried_on_503_before_start(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(reply_json({"message": "busy"}, status=503), reply_sse(completion_pieces()))
    assert texts(list(live.chat(**CHAT, stream=True))) == "t0t1t2"
    assert len(server.requests) == 2
    assert sleeps == [0.5]


# -- multipart bodies are re-sent whole on a retry -----------------------------------------


def test_upload_retried_on_429_resends_the_whole_body(server: ScriptedServer, live: Client, sleeps: Sleeps) -> None:
    server.script(reply_json({"message": "slow down"}, status=429), reply_json({"id": "file-1"}))
    data = b'{"a": 1}\n' * 1000
    assert live.upload_file(file=("train.jsonl", data)) == {"id": "file-1"}
    first, second = server.requests
    for req in (first, second):  # each attempt builds a fresh body (new boundary), complete
        assert data in req.body
        assert int(req.headers["content-length"]) == len(req.body)
    assert len(first.body) == len(second.body)
    assert sleeps == [0.5]


# -- regressions: gzip-encoded streams, a stall after [DONE] ------------------------------


def test_gzip_encoded_stream_is_decoded(server: ScriptedServer, live: Client) -> None:
    import gzip

    def gzipped(conn: Conn, req: Request) -> None:
        assert "gzip" in req.headers.get("accept-encoding", "")
        body = gzip.compress(b"".join(completion_pieces()))
        conn.head(200, {"Content-Type": "text/event-stream", "Content-Encoding": "gzip",
                        "Transfer-Encoding": "chunked"})
        for i in range(0, len(body), 16):
            conn.chunk(body[i:i + 16])
        conn.last_chunk()

    server.script(gzipped)
    assert texts(list(live.chat(**CHAT, stream=True))) == "t0t1t2"


def test_completion_stream_ends_at_done_even_if_server_stalls(server: ScriptedServer, live: Client) -> None:
    def done_then_stall(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        for piece in completion_pieces():
            conn.chunk(piece)
        conn.pause(2.0)

    server.script(done_then_stall)
    assert texts(list(live.chat(**CHAT, stream=True, stream_timeout=0.3))) == "t0t1t2"
