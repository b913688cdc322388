"""The requests transport's own reader of chunked stream bodies (``mistral_lite._http.stream._dechunk``).

A stream's chunked body is read straight from the connection's buffer (issue 18, "nothing
slower"): these tests hold that reader to what urllib3's ``read_chunked`` guaranteed: every
event in order, chunk extensions and trailers accepted, a large chunk read in bounded pieces,
the connection back in the pool after a complete body, and broken framing a typed error that
keeps the events before it, never a raw exception.
"""

from __future__ import annotations

import gzip

import pytest
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

from mistral_lite import APIConnectionError, Client
from mistral_lite._http.stream import _dechunk

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'
ITEM = {"choices": [{"index": 0, "delta": {"content": "x"}}]}


def _stream_with(raw_body: bytes) -> list[object]:
    def handler(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.send(raw_body)

    with ScriptedServer() as server:
        server.script(handler)
        with Client(API_KEY, base_url=server.url, max_retries=0, stream_timeout=5) as client:
            return list(client.chat(**CHAT, stream=True))


def test_extensions_and_trailers_are_accepted() -> None:
    body = b"%x;name=value\r\n%s\r\n" % (len(EVENT), EVENT) + b"e\r\ndata: [DONE]\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert _stream_with(body) == [ITEM]


def test_one_event_split_over_chunks_and_several_events_in_one_chunk() -> None:
    two = EVENT + EVENT
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (EVENT[:10], EVENT[10:], two, b"data: [DONE]\n\n"))
    assert _stream_with(body + b"0\r\n\r\n") == [ITEM, ITEM, ITEM]


@pytest.mark.parametrize(("tail", "why"), [
    (b"zz\r\n", "invalid chunk size"),
    (b"-5\r\n", "invalid chunk size"),
    (b"5\r\nab", "ended inside a chunk"),
    (b"2\r\nabXY", "does not end with CRLF"),
    (b"1" * 2000 + b"\r\n", "too long"),
    (b"", "ended early"),
])
def test_broken_framing_is_a_connection_error_after_the_events_before_it(tail: bytes, why: str) -> None:
    got: list[object] = []

    def handler(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(EVENT)
        conn.send(tail)
        conn.close()

    with ScriptedServer() as server:
        server.script(handler)
        with Client(API_KEY, base_url=server.url, max_retries=0, stream_timeout=5) as client:
            stream = client.chat(**CHAT, stream=True)
            with pytest.raises(APIConnectionError) as info:
                for item in stream:
                    got.append(item)
    assert got == [ITEM]
    assert why in str(info.value)


def test_a_complete_stream_gives_its_connection_back_for_the_next_call() -> None:
    def handler(conn: Conn, req: Request) -> None:
        conn.sse_chunked([EVENT, b"data: [DONE]\n\n"])

    with ScriptedServer() as server:
        server.script(handler)
        with Client(API_KEY, base_url=server.url, max_retries=0) as client:
            for _ in range(3):
                assert list(client.chat(**CHAT, stream=True)) == [ITEM]
        assert server.connections == 1


def test_a_compressed_chunked_stream_is_still_decoded() -> None:
    def handler(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked",
                        "Content-Encoding": "gzip"})
        conn.chunk(gzip.compress(EVENT + b"data: [DONE]\n\n"))
        conn.last_chunk()

    with ScriptedServer() as server:
        server.script(handler)
        with Client(API_KEY, base_url=server.url, max_retries=0) as client:
            assert list(client.chat(**CHAT, stream=True)) == [ITEM]


class _Buffer:
    """A buffered reader over fixed bytes that records the sizes asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[int] = []

    def readline(self, limit: int) -> bytes:
        end = self.data.find(b"\n")
        end = len(self.data) if end < 0 else min(end + 1, limit)
        line, self.data = self.data[:end], self.data[end:]
        return line

    def read(self, size: int) -> bytes:
        self.asked.append(size)
        piece, self.data = self.data[:size], self.data[size:]
        return piece


class _Raw:
    def __init__(self) -> None:
        self._original_response = None
        self.released = False

    def release_conn(self) -> None:
        self.released = True


def test_a_huge_chunk_is_read_in_bounded_pieces() -> None:
    payload = b"a" * 10_000
    fp = _Buffer(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
    raw = _Raw()
    pieces = list(_dechunk(raw, fp, 4096))
    assert b"".join(pieces) == payload
    assert max(fp.asked) == 4096 and [len(p) for p in pieces] == [4096, 4096, 1808]
    assert raw.released
