"""Issue 9: streams against hostile or broken servers (items 5, 6, 7).

Each test failed before its fix: ``close()`` from another thread waited for the server's next
byte and the reader got an ``AttributeError``; a server chattering or silent after ``[DONE]``
held the iterator open; one large event took quadratic time with no cap.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

from mistral_lite import APIConnectionError, Client, MistralError, StreamError
from mistral_lite._core.sse import EventDecoder
from mistral_lite._http.stream import MAX_EVENT_SIZE, SSEParser

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_close_from_another_thread_returns_before_the_server_sends_again() -> None:
    release = threading.Event()
    sent_again = threading.Event()

    def stall(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"choices": []}\n\n')
        release.wait(30)
        sent_again.set()
        conn.chunk(b'data: {"choices": []}\n\n')

    with ScriptedServer() as server:
        server.script(stall)
        stream = Client(API_KEY, base_url=server.url, stream_timeout=30).chat(**CHAT, stream=True)
        assert next(stream) == {"choices": []}
        errors: list[BaseException] = []
        reading = threading.Event()

        def read() -> None:
            reading.set()
            try:
                next(stream)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        reading.wait(5)
        closer = threading.Thread(target=stream.close)
        closer.start()
        closer.join(10)
        reader.join(10)
        closed_first = not closer.is_alive() and not reader.is_alive() and not sent_again.is_set()
        release.set()
        closer.join(10)
        reader.join(10)
    assert closed_first, "close() waited for the server"
    assert len(errors) == 1
    assert isinstance(errors[0], APIConnectionError) and "closed" in str(errors[0])


def test_close_after_the_end_keeps_the_connection_for_the_next_call() -> None:
    def done(conn: Conn, req: Request) -> None:
        conn.sse_chunked([b'data: {"choices": []}\n\n', b"data: [DONE]\n\n"])

    with ScriptedServer() as server:
        server.script(done)
        client = Client(API_KEY, base_url=server.url)
        stream = client.chat(**CHAT, stream=True)
        assert list(stream) == [{"choices": []}]
        stream.close()
        assert list(client.chat(**CHAT, stream=True)) == [{"choices": []}]
    assert server.connections == 1


@pytest.mark.parametrize("shape", ["keep-alive comments", "silent close-delimited"])
def test_the_iterator_ends_soon_after_done(shape: str) -> None:
    script_over = threading.Event()

    def chatty(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"choices": []}\n\ndata: [DONE]\n\n')
        try:
            for _ in range(400):  # 20 s of keep-alives
                conn.chunk(b": keep-alive\n\n")
                conn.pause(0.05)
        except OSError:
            return  # the client hung up: what the fix does
        script_over.set()

    def silent(conn: Conn, req: Request) -> None:
        conn.sse_close_delimited([b'data: {"choices": []}\n\ndata: [DONE]\n\n'], close=False)
        conn.pause(20)
        script_over.set()

    with ScriptedServer() as server:
        server.script(chatty if shape.startswith("keep") else silent)
        stream = Client(API_KEY, base_url=server.url, stream_timeout=15).chat(**CHAT, stream=True)
        assert list(stream) == [{"choices": []}]
        ended_first = not script_over.is_set()
    assert ended_first, "the iterator waited for the server after [DONE]"


def test_one_large_event_is_parsed_in_linear_time() -> None:
    parser = SSEParser()
    payload = b"x" * (1 << 22)  # 4 MiB in 1 KiB reads
    piece = 1024
    assert parser.feed(b'data: {"a": "') == []
    for start in range(0, len(payload), piece):
        assert parser.feed(payload[start:start + piece]) == []
        # the unterminated event is held as pieces, never re-joined per read
        assert len(parser._parts) == 2 + start // piece
    events = parser.feed(b'"}\n\n')
    assert events == [(None, b'{"a": "' + payload + b'"}')]
    assert parser.idle


def test_an_event_larger_than_the_cap_is_a_stream_error() -> None:
    parser = SSEParser(max_event_size=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(StreamError, match="larger than the limit of 1000 bytes"):
        parser.feed(b"y" * 200)
    assert SSEParser().max_event_size == MAX_EVENT_SIZE == 16 << 20


def test_an_oversized_event_in_one_read_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        SSEParser(max_event_size=100).feed(b"data: " + b"x" * 200 + b"\n\n")


def test_the_cap_through_a_live_stream() -> None:
    def huge(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"a": "')
        for _ in range(40):
            conn.chunk(b"x" * 65536)
        conn.last_chunk()

    with ScriptedServer() as server:
        server.script(huge)
        stream = Client(API_KEY, base_url=server.url).chat(**CHAT, stream=True)
        stream._events = stream._reader.iterate(EventDecoder("completion", "chat", json.loads, max_event_size=1 << 20))
        with pytest.raises(StreamError, match="chat: one server-sent event is larger") as info:
            next(stream)
    assert isinstance(info.value, MistralError)


def test_split_boundaries_still_parse() -> None:
    data = b'data: {"a": 1}\r\n\r\n: c\n\nevent: e\ndata: 2\n\ndata: 3\r\r'
    for size in range(1, 8):
        parser = SSEParser()
        got: list[Any] = []
        for i in range(0, len(data), size):
            got.extend(parser.feed(data[i:i + size]))
        assert got == [(None, b'{"a": 1}'), ("e", b"2"), (None, b"3")], size
