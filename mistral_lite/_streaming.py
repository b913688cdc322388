"""Server-sent events: a buffered parser, and the stream objects the client returns.

The parser follows the SSE format: an event ends at a blank line; lines end with CRLF, CR or
LF; several ``data:`` lines are joined with ``\\n``; ``event:`` names the event; ``:`` comments
and ``id:``/``retry:`` fields are ignored; a leading BOM is dropped; an event may be split
across network reads at any byte. It works on bytes and decodes JSON straight from them.

Two kinds of stream come from the table's ``stream`` field:

* ``completion`` (chat, fim, agent_completion): data-only events, ending at ``data: [DONE]``;
* ``events`` (the conversation posts): ``event:`` + ``data:`` pairs whose dicts carry ``type``
  (taken from ``event:`` when the data lacks it); the stream ends when the server closes after
  the row's ``stream_end`` event, and its ``stream_error`` event raises.

A stream never ends silently: a stall longer than the stream timeout raises
:class:`APITimeoutError`, a cut before the end raises :class:`APIConnectionError`, and a
malformed event raises :class:`StreamError` showing the raw data. Reading to the end returns
the connection to the pool; ``close()`` releases it early.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import Any

from .exceptions import APIConnectionError, APITimeoutError, MistralError, StreamError

__all__ = ["SSEParser", "Stream", "collect_completion", "iter_sse"]

_BOM = b"\xef\xbb\xbf"
#: Seconds to wait for the rest of the body after a stream's end event.
DRAIN_TIMEOUT = 1.0


class SSEParser:
    """Incremental SSE parser: ``feed(bytes)`` returns the completed ``(event, data)`` pairs."""

    __slots__ = ("_buf", "_cr", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._cr = False
        self._started = False

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
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
        buf = self._buf + chunk if self._buf else chunk
        if b"\n\n" not in buf:
            self._buf = buf
            return []
        blocks = buf.split(b"\n\n")
        self._buf = blocks.pop()
        out: list[tuple[str | None, bytes]] = []
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:
                out.append((None, block[6:]))  # the common case: one data line
                continue
            event = _parse_block(block)
            if event is not None:
                out.append(event)
        return out

    @property
    def idle(self) -> bool:
        """Between events: nothing buffered, past the BOM, no pending CR."""
        return self._started and not self._buf and not self._cr

    def flush(self) -> tuple[str | None, bytes] | None:
        """The event left unterminated at the end of the stream, if any."""
        rest, self._buf = self._buf, b""
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


class Stream(Iterator[dict[str, Any]]):
    """The events of a streamed response: an iterator and a context manager.

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
    ) -> None:
        self.response = response
        self.operation = operation
        self.kind = kind
        self.request_id: str | None = response.headers.get("x-request-id")
        self._loads = loads
        self._end_event = end_event
        self._error_event = error_event
        self._chunk_size = chunk_size
        self._events: Generator[dict[str, Any], None, None] = self._iterate()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._events  # iterating the generator itself: no extra call per event

    def __next__(self) -> dict[str, Any]:
        return next(self._events)

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection (safe from another thread mid-read)."""
        self.response.close()  # first: unblocks a reader waiting on the socket
        # ValueError: the generator is running in another thread; it ends on the closed socket
        with contextlib.suppress(ValueError):
            self._events.close()

    def _chunks(self) -> Iterator[bytes]:
        raw = self.response.raw
        size = self._chunk_size
        read1 = getattr(raw, "read1", None)
        try:
            if read1 is None:  # a non-urllib3 body (tests, adapters): iterate what it gives
                yield from self.response.iter_content(size)
                return
            if getattr(raw, "chunked", False) and raw.supports_chunked_reads():
                # one generator for the whole body: each HTTP chunk as soon as it arrives
                yield from raw.read_chunked(size, decode_content=True)
                return
            while True:
                data = read1(size, decode_content=True)
                if not data:
                    return
                yield data
        except Exception as exc:  # urllib3/http.client/socket errors: the one translation point
            raise _transport_error(exc, self.operation) from None

    def _iterate(self) -> Generator[dict[str, Any], None, None]:
        ended = False
        loads = self._loads
        typed = self.kind == "events"
        chunks = self._chunks()
        parser = SSEParser()
        feed = parser.feed
        try:
            for chunk in chunks:
                if (not typed and chunk[:6] == b"data: " and chunk[-2:] == b"\n\n" and parser.idle
                        and chunk.find(b"\n") == len(chunk) - 2 and b"\r" not in chunk):
                    events: Iterable[tuple[str | None, bytes]] = ((None, chunk[6:-2]),)  # one whole event
                else:
                    events = feed(chunk)
                for name, data in events:
                    if not typed:  # the hot path: one data line per event
                        if data == b"[DONE]":
                            ended = True
                            self._drain(chunks)
                            return
                        try:
                            value = loads(data)
                        except ValueError:
                            value = None
                        if type(value) is not dict:
                            raise self._malformed(data)
                        yield value
                        continue
                    event = self._decode(data, loads)
                    if "type" not in event and name:
                        event["type"] = name
                    kind = event.get("type")
                    if kind is not None and kind == self._error_event:
                        raise StreamError(
                            f"{self.operation}: the server reported an error in the stream: "
                            f"{event.get('message', event)}",
                            operation=self.operation, event=event,
                        )
                    if kind is not None and kind == self._end_event:
                        ended = True
                    yield event
                    if ended:
                        self._drain(chunks)
                        return
            last = parser.flush()
            if last is not None and not typed and last[1] == b"[DONE]":
                ended = True
                return
            if last is not None:
                event = self._decode(last[1], loads)
                if typed and "type" not in event and last[0]:
                    event["type"] = last[0]
                if typed and event.get("type") == self._end_event:
                    ended = True
                yield event
                if ended:
                    return
            end = self._end_event if typed else "[DONE]"
            raise APIConnectionError(
                f"{self.operation}: the stream was cut before its end ({end} never came)",
                operation=self.operation,
            )
        finally:
            if not ended:
                self.response.close()

    def _drain(self, chunks: Iterator[bytes]) -> None:
        """Read what follows the end so the connection can go back to the pool.

        A server that stalls or breaks after the end does not turn a complete stream into an
        error: the wait is bounded by ``DRAIN_TIMEOUT`` and the connection is then dropped.
        """
        sock = getattr(getattr(self.response.raw, "_connection", None), "sock", None)
        try:
            if sock is not None:
                sock.settimeout(min(DRAIN_TIMEOUT, sock.gettimeout() or DRAIN_TIMEOUT))
            for _ in chunks:
                pass
        except MistralError:
            self.response.close()

    def _decode(self, data: bytes, loads: Callable[[bytes], Any]) -> dict[str, Any]:
        try:
            value = loads(data)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise self._malformed(data)
        return value

    def _malformed(self, data: bytes) -> StreamError:
        raw = data[:300].decode("utf-8", "replace")
        return StreamError(f"{self.operation}: malformed event data: {raw!r}", operation=self.operation, event=data)


def _transport_error(exc: BaseException, operation: str) -> APIConnectionError:
    name = type(exc).__name__
    text = str(exc)
    if "timeout" in name.lower() or "timed out" in text.lower():
        return APITimeoutError(
            f"{operation}: no data arrived within the stream timeout ({name})", operation=operation
        )
    return APIConnectionError(f"{operation}: the stream was cut: {name}: {text}", operation=operation)


def collect_completion(chunks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Turn completion chunks into the equivalent non-streamed response.

    Content is joined per choice, tool calls merged by index (arguments concatenated), and
    the finish reason, usage, id, model and created time kept.
    """
    result: dict[str, Any] = {"object": "chat.completion"}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for key in ("id", "model", "created"):
            if key in chunk and key not in result:
                result[key] = chunk[key]
        if chunk.get("usage"):
            result["usage"] = chunk["usage"]
        for delta_choice in chunk.get("choices", ()):
            index = delta_choice.get("index", 0)
            choice = choices.setdefault(
                index, {"index": index, "message": {"role": "assistant", "content": ""}, "finish_reason": None}
            )
            delta = delta_choice.get("delta") or {}
            message = choice["message"]
            if delta.get("role"):
                message["role"] = delta["role"]
            content = delta.get("content")
            if isinstance(content, str):
                message["content"] += content
            elif isinstance(content, list):
                message["content"] += "".join(
                    part.get("text", "") for part in content if isinstance(part, dict)
                )
            for call in delta.get("tool_calls") or ():
                calls = message.setdefault("tool_calls", [])
                slot = call.get("index", len(calls))
                while len(calls) <= slot:
                    calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                merged = calls[slot]
                if call.get("id"):
                    merged["id"] = call["id"]
                fn = call.get("function") or {}
                if fn.get("name"):
                    merged["function"]["name"] = fn["name"]
                args = fn.get("arguments")
                if isinstance(args, str):
                    merged["function"]["arguments"] += args
                elif args is not None:
                    merged["function"]["arguments"] = args
            if delta_choice.get("finish_reason"):
                choice["finish_reason"] = delta_choice["finish_reason"]
    result["choices"] = [choices[i] for i in sorted(choices)]
    return result
