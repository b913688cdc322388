"""Server-sent events without I/O: bytes in, events out, shared by both stream objects.

:class:`SSEParser` follows the SSE format: an event ends at a blank line; lines end with CRLF,
CR or LF; several ``data:`` lines are joined with ``\\n``; ``event:`` names the event; ``:``
comments and ``id:``/``retry:`` fields are ignored; a leading BOM is dropped; an event may be
split across network reads at any byte. Parsing is linear in the bytes, and one event larger
than ``MAX_EVENT_SIZE`` (16 MiB) ends the stream with a :class:`StreamError`.

:class:`EventDecoder` adds the table's two stream kinds on top of it:

* ``completion`` (chat, fim, agent_completion): data-only events, ending at ``data: [DONE]``;
* ``events`` (the conversation posts): ``event:`` + ``data:`` pairs whose dicts carry ``type``
  (taken from ``event:`` when the data lacks it); the stream ends after the row's
  ``stream_end`` event, and its ``stream_error`` event is an error.

The decoder never raises from ``feed``: it returns the events decoded so far and, when the
stream is over (its end, a server error event, malformed data, or a cut found by ``close``),
sets ``done`` and ``failure``; the stream object yields the events, then raises the failure.
So every event before a failure reaches the caller, on both transports alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mistral_lite._core.credentials import redact
from mistral_lite.exceptions import APIConnectionError, MistralError, StreamError

__all__ = ["MAX_EVENT_SIZE", "EventDecoder", "SSEParser", "iter_sse"]

_BOM = b"\xef\xbb\xbf"
#: Largest single event (bytes) a stream accepts; a larger one raises StreamError.
MAX_EVENT_SIZE = 16 << 20


class SSEParser:
    """Incremental SSE parser: ``feed(bytes)`` returns the completed ``(event, data)`` pairs.

    Linear in the input: an event split over many reads is kept as a list of pieces and joined
    once, when its blank line arrives. One event larger than ``max_event_size`` bytes raises
    :class:`StreamError` instead of growing the buffer without bound.
    """

    __slots__ = ("_buf", "_cr", "_parts", "_size", "_started", "idle", "max_event_size", "operation")

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE, operation: str | None = None) -> None:
        self._buf = b""  # only before the BOM check: up to 2 bytes
        self._parts: list[bytes] = []  # the unterminated event, in pieces
        self._size = 0
        self._cr = False
        self._started = False
        #: Between events: nothing buffered, past the BOM, no pending CR (kept by ``feed``).
        self.idle = False
        self.max_event_size = max_event_size
        self.operation = operation

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """The events that ``chunk`` completes, in order."""
        out = self._feed(chunk)
        self.idle = self._started and not self._parts and not self._cr
        return out

    def _feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        if not self._started:
            if len(self._buf) + len(chunk) < 3 and _BOM.startswith(self._buf + chunk):
                self._buf += chunk
                return []
            chunk = self._buf + chunk
            self._buf = b""
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._cr = False
        parts = self._parts
        if parts:
            # only the new bytes are searched (plus the one boundary the join could form)
            if b"\n\n" not in chunk and not (chunk[:1] == b"\n" and parts[-1][-1:] == b"\n"):
                if chunk:
                    parts.append(chunk)
                    self._size += len(chunk)
                    if self._size > self.max_event_size:
                        self._too_large()
                return []
            parts.append(chunk)
            buf = b"".join(parts)
            parts.clear()
            self._size = 0
        else:
            buf = chunk
            if b"\n\n" not in buf:
                if buf:
                    parts.append(buf)
                    self._size = len(buf)
                    if self._size > self.max_event_size:
                        self._too_large()
                return []
        blocks = buf.split(b"\n\n")
        rest = blocks.pop()
        if rest:
            parts.append(rest)
            self._size = len(rest)
        out: list[tuple[str | None, bytes]] = []
        limit = self.max_event_size
        for block in blocks:
            if len(block) > limit:
                self._too_large()
            if block[:6] == b"data: " and b"\n" not in block:
                out.append((None, block[6:]))  # the common case: one data line
                continue
            event = _parse_block(block)
            if event is not None:
                out.append(event)
        if self._size > limit:
            self._too_large()
        return out

    def _too_large(self) -> None:
        self._parts.clear()
        self._size = 0
        where = f"{self.operation}: " if self.operation else ""
        raise StreamError(f"{where}one server-sent event is larger than the limit of {self.max_event_size} bytes "
                          "(SSEParser.max_event_size)", operation=self.operation)

    def flush(self) -> tuple[str | None, bytes] | None:
        """The event left unterminated at the end of the stream, if any."""
        rest = b"".join(self._parts) if self._parts else self._buf
        self._parts.clear()
        self._size = 0
        self._buf = b""
        return _parse_block(rest.rstrip(b"\n")) if rest.strip() else None


def _parse_block(block: bytes) -> tuple[str | None, bytes] | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
        # id, retry and unknown fields are ignored
    if not data:
        return None
    return name, b"\n".join(data)


def iter_sse(chunks: Iterable[bytes]) -> Iterator[tuple[str | None, bytes]]:
    """Parse an iterable of byte chunks into ``(event, data)`` pairs."""
    parser = SSEParser()
    for chunk in chunks:
        if chunk:
            yield from parser.feed(chunk)
    last = parser.flush()
    if last is not None:
        yield last


class EventDecoder:
    """One stream's events from its bytes: ``feed(chunk)`` per read, ``close()`` at the end."""

    __slots__ = ("_end_event", "_error_event", "_loads", "_parser", "_secret", "_typed", "done", "ended", "failure",
                 "operation")

    def __init__(
        self, kind: str, operation: str, loads: Callable[[bytes], Any],
        end_event: str | None = None, error_event: str | None = None, max_event_size: int = MAX_EVENT_SIZE,
        secret: str | None = None,
    ) -> None:
        self.operation = operation
        self._secret = secret  # redacted from error messages, should the server echo it
        self._typed = kind == "events"
        self._loads = loads
        self._end_event = end_event
        self._error_event = error_event
        self._parser = SSEParser(max_event_size, operation)
        self.ended = False  #: the stream's end arrived: the rest of the body may be drained
        self.done = False  #: nothing more will be decoded: ended, or ``failure`` is set
        self.failure: MistralError | None = None

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The events completed by ``chunk`` (after ``done``, nothing)."""
        if self.done:
            return []
        try:
            if self._typed:
                return self._typed_events(self._parser.feed(chunk))
            if (chunk.startswith(b"data: ") and self._parser.idle and chunk.find(b"\n") == len(chunk) - 2
                    and chunk.endswith(b"\n\n") and b"\r" not in chunk):
                # one whole data-only event, as the API sends them: no buffering, no list
                data = chunk[6:-2]
                if data == b"[DONE]":
                    self.ended = self.done = True
                    return []
                try:
                    value = self._loads(data)
                except ValueError:
                    value = None
                if type(value) is not dict:
                    self._fail(self._malformed(data))
                    return []
                return [value]
            pairs = self._parser.feed(chunk)
        except StreamError as exc:  # one event over the size cap
            self._fail(exc)
            return []
        loads = self._loads
        out: list[dict[str, Any]] = []
        for _name, data in pairs:
            if data == b"[DONE]":
                self.ended = self.done = True
                return out
            try:
                value = loads(data)
            except ValueError:
                value = None
            if type(value) is not dict:
                self._fail(self._malformed(data))
                return out
            out.append(value)
        return out

    def close(self) -> list[dict[str, Any]]:
        """The body ended: the last unterminated event, and a cut error when the end never came."""
        if self.done:
            return []
        out: list[dict[str, Any]] = []
        last = self._parser.flush()
        if last is not None:
            if not self._typed and last[1] == b"[DONE]":
                self.ended = self.done = True
                return out
            out = self._typed_events((last,)) if self._typed else self._plain(last[1])
        if not self.done and self._typed and self._end_event is None:  # no end event: the close ends it
            self.ended = self.done = True
        if not self.done:
            end = self._end_event if self._typed else "[DONE]"
            self._fail(APIConnectionError(
                f"{self.operation}: the stream was cut before its end ({end} never came)", operation=self.operation,
            ))
        return out

    def _plain(self, data: bytes) -> list[dict[str, Any]]:
        value = self._decode(data)
        return [] if value is None else [value]

    def _typed_events(self, pairs: Iterable[tuple[str | None, bytes]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, data in pairs:
            if data == b"[DONE]" and self._end_event is None:  # a data-only sentinel ends a stream without end event
                self.ended = self.done = True
                return out
            event = self._decode(data)
            if event is None:
                return out
            if "type" not in event and name:
                event["type"] = name
            kind = event.get("type")
            if kind is not None and kind == self._error_event:
                event = redact(event, self._secret)
                self._fail(StreamError(
                    f"{self.operation}: the server reported an error in the stream: {event.get('message', event)}",
                    operation=self.operation, event=event,
                ))
                return out
            out.append(event)
            if kind is not None and kind == self._end_event:
                self.ended = self.done = True
                return out
        return out

    def _decode(self, data: bytes) -> dict[str, Any] | None:
        try:
            value = self._loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            self._fail(self._malformed(data))
            return None
        return value

    def _fail(self, error: MistralError) -> None:
        self.failure = error
        self.done = True

    def _malformed(self, data: bytes) -> StreamError:
        data = redact(data, self._secret)
        raw = data[:300].decode("utf-8", "replace")
        return StreamError(f"{self.operation}: malformed event data: {raw!r}", operation=self.operation, event=data)
