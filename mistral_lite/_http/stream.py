"""The stream object of the requests transport.

:class:`Stream` reads a streamed ``requests`` response and hands its bytes to the shared,
I/O-free :class:`~mistral_lite._core.sse.EventDecoder` (the asyncio twin is
``mistral_lite._http.aio_stream.AsyncStream``). A stream never ends silently: a stall longer than the
stream timeout raises :class:`APITimeoutError`, a cut before the end raises
:class:`APIConnectionError`, and a malformed event raises :class:`StreamError` showing the raw
data. Reading to the end returns the connection to the pool; ``close()`` releases it early.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

from mistral_lite._core.headers import ResponseInfo, request_id
from mistral_lite._core.observe import CallRecord, ended, observed
from mistral_lite._core.sse import MAX_EVENT_SIZE, EventDecoder, SSEParser, iter_sse
from mistral_lite._http.common import DRAIN_LIMIT, DRAIN_TIMEOUT, Closing, stream_error
from mistral_lite.exceptions import APIConnectionError, MistralError

__all__ = ["MAX_EVENT_SIZE", "SSEParser", "Stream", "iter_sse", "socket_of"]


_ItemT = TypeVar("_ItemT")


class Stream(ResponseInfo, Closing, Iterator[_ItemT]):
    """The events of a streamed response: an iterator and a context manager.

    Type checkers see ``Stream[ChatCompletionChunk]``-like types (the row's item type from
    :mod:`mistral_lite.types`); at run time every item is a plain dict.

    ``response`` is the underlying HTTP response (status, headers); ``request_id`` its
    ``x-request-id``. Iterate to the end, or call ``close()`` (or leave the ``with`` block) to
    release the connection early.
    """

    def __init__(
        self,
        response: Any,
        *,
        kind: str,
        operation: str,
        loads: Callable[[bytes], Any],
        end_event: str | None = None,
        error_event: str | None = None,
        chunk_size: int = 65536,
        max_event_size: int = MAX_EVENT_SIZE,
        secret: str | None = None,
        call: CallRecord | None = None,
    ) -> None:
        self.response = response
        self.operation = operation
        self.kind = kind
        self.request_id: str | None = request_id(response.headers)
        self._secret = secret
        # The generators hold the reader, never the Stream: no reference cycle, so a stream left
        # by ``break`` (and dropped) is closed at once, not by the cyclic garbage collector.
        self._reader = _Reader(response, operation, chunk_size)
        self._events: Generator[Any, None, None] = self._reader.iterate(
            EventDecoder(kind, operation, loads, end_event, error_event, max_event_size, secret))
        self._call = call
        if call is not None:
            self._events = observed(call, self._events)

    def __iter__(self) -> Iterator[_ItemT]:
        return self._events  # iterating the generator itself: no extra call per event

    def __next__(self) -> _ItemT:
        return next(self._events)  # type: ignore[no-any-return]

    def text(self) -> Iterator[str]:
        """The text deltas as they arrive (chat, agent, conversation or transcription; thinking
        skipped); joined, they are the final text. Consumes the stream."""
        # the result helpers load on first use, not with Client (import cost)
        from mistral_lite._methods.conversations import text_delta

        for event in self._events:
            piece = text_delta(event)
            if piece:
                yield piece

    def close(self) -> None:
        """Stop reading and release the connection (safe and prompt from another thread mid-read)."""
        if self._call is not None:
            ended(self._call, None, None)
        reader = self._reader
        if not reader.finished:
            reader.closed = True
            # a reader blocked in recv() holds the buffered reader's lock, so closing the
            # response would wait for the server's next byte: shut the socket down first
            sock = socket_of(self.response)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        # ValueError: the generator is running in another thread; it ends on the closed socket
        with contextlib.suppress(ValueError):
            self._events.close()


class _Reader:
    """What a :class:`Stream`'s generators read and note: the response and whether it was closed or finished."""

    __slots__ = ("chunk_size", "closed", "finished", "operation", "response")

    def __init__(self, response: Any, operation: str, chunk_size: int) -> None:
        self.response = response
        self.operation = operation
        self.chunk_size = chunk_size
        self.closed = False  # close() was called before the end
        self.finished = False  # the body was read to its end (the connection may be reused)

    def chunks(self) -> Iterator[bytes]:
        raw = self.response.raw
        size = self.chunk_size
        read1 = getattr(raw, "read1", None)
        try:
            if read1 is None:  # a non-urllib3 body (tests, adapters): iterate what it gives
                yield from self.response.iter_content(size)
            elif getattr(raw, "chunked", False) and raw.supports_chunked_reads():
                # one generator for the whole body: each HTTP chunk as soon as it arrives
                fp = getattr(raw._fp, "fp", None)
                if fp is not None and "content-encoding" not in self.response.headers and raw.chunk_left is None:
                    yield from _dechunk(raw, fp, size)
                else:  # compressed: urllib3 decodes
                    yield from raw.read_chunked(size, decode_content=True)
            else:
                while True:
                    data = read1(size, decode_content=True)
                    if not data:
                        break
                    yield data
            self.finished = True
        except Exception as exc:  # urllib3/http.client/socket errors: the one translation point
            if self.closed:
                raise APIConnectionError(f"{self.operation}: the stream was closed while it was being read",
                                         operation=self.operation) from None
            raise stream_error(exc, self.operation) from None

    def iterate(self, decoder: EventDecoder) -> Generator[dict[str, Any], None, None]:
        """The stream's events: chunks through the decoder, then the drain after its end."""
        feed = decoder.feed
        chunks = self.chunks()
        try:
            for chunk in chunks:
                events = feed(chunk)
                if events:
                    yield from events
                if decoder.done:
                    if decoder.failure is not None:
                        raise decoder.failure
                    self.drain(chunks)
                    return
            yield from decoder.close()
            if decoder.failure is not None:
                raise decoder.failure
        finally:
            if not decoder.ended:
                self.response.close()

    def drain(self, chunks: Iterator[bytes]) -> None:
        """Read what follows the end so the connection can go back to the pool.

        A server that stalls, chatters (keep-alive comments) or breaks after the end does not
        turn a complete stream into an error or keep it open: after ``DRAIN_TIMEOUT`` seconds
        or ``DRAIN_LIMIT`` bytes the connection is dropped instead.
        """
        sock = socket_of(self.response)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        budget = DRAIN_LIMIT
        try:
            if sock is not None:
                sock.settimeout(min(DRAIN_TIMEOUT, sock.gettimeout() or DRAIN_TIMEOUT))
            for chunk in chunks:
                budget -= len(chunk)
                left = deadline - time.monotonic()
                if budget < 0 or left <= 0:
                    break
                if sock is not None:
                    sock.settimeout(left)
            else:
                return
        except (MistralError, OSError):
            pass
        self.response.close()


#: Longest chunk-size or trailer line accepted (urllib3 takes the same).
_MAX_CHUNK_LINE = 1024


def _dechunk(raw: Any, fp: Any, size: int) -> Iterator[bytes]:
    """The chunks of an uncompressed chunked body, read straight from the connection's buffer.

    What urllib3's ``read_chunked`` does for an identity-encoded body, without its decoder and
    per-chunk bookkeeping (a third of a stream's CPU): each chunk-size line, then the chunk in
    pieces of at most ``size`` bytes as they arrive, then the trailers; at the end the
    connection goes back to the pool, as urllib3 would put it. Broken framing is a ``ValueError``,
    which :meth:`_Reader.chunks` reports as a cut stream (:class:`APIConnectionError`).
    """
    readline, read = fp.readline, fp.read
    while True:
        line = readline(_MAX_CHUNK_LINE + 1)
        if len(line) > _MAX_CHUNK_LINE:
            raise ValueError("a chunk-size line is too long")
        try:
            left = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise ValueError(f"invalid chunk size {line[:40]!r}" if line.strip() else "the body ended early") from None
        if left <= 0:
            if left < 0:
                raise ValueError(f"invalid chunk size {line[:40]!r}")
            break
        while left > 0:
            data = read(left if left <= size else size)
            if not data:
                raise ValueError("the body ended inside a chunk")
            left -= len(data)
            yield data
        if read(2) != b"\r\n":
            raise ValueError("a chunk does not end with CRLF")
    while True:  # trailers, up to the blank line
        line = readline(_MAX_CHUNK_LINE + 1)
        if len(line) > _MAX_CHUNK_LINE:
            raise ValueError("a trailer line is too long")
        if not line or line == b"\r\n" or line == b"\n":  # a bare LF too, as http.client takes it
            break
    original = raw._original_response
    if original is not None:
        original.close()
    raw.release_conn()


def socket_of(response: Any) -> socket.socket | None:
    """The socket under a requests/urllib3 response, or None (test doubles, closed bodies)."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # urllib3 drops _connection for close-delimited bodies: ask http.client
        fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(fp, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
