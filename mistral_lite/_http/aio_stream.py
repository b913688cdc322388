"""The stream object of the aiohttp transport: :class:`AsyncStream`, twin of the sync ``Stream``.

:class:`AsyncStream` feeds aiohttp's reads to the same I/O-free
:class:`~mistral_lite._core.sse.EventDecoder` the sync :class:`~mistral_lite._http.stream.Stream`
uses; the stream timeout is aiohttp's per-read timeout. A stall raises :class:`APITimeoutError`, a
cut :class:`APIConnectionError`, a malformed event :class:`StreamError`; reading to the end returns
the connection to the pool, ``aclose()`` (or a cancel) hangs up at once.

Like :mod:`mistral_lite._http.aio`, this module never loads the requests transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mistral_lite._core import call as _core
from mistral_lite._core import observe as _observe
from mistral_lite._core.files import AtomicFile
from mistral_lite._core.headers import ResponseInfo, request_id
from mistral_lite._core.jsoncodec import decoder
from mistral_lite._core.speech import cut, piece
from mistral_lite._core.sse import EventDecoder
from mistral_lite._http.common import DRAIN_LIMIT, DRAIN_TIMEOUT, AsyncClosing, stream_error
from mistral_lite._methods.conversations import text_delta

if TYPE_CHECKING:  # the checkers see the module (an "ignore" keeps them quiet when aiohttp is not installed)
    import aiohttp  # type: ignore[import-not-found, unused-ignore]
else:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - AsyncClient refuses to start without it
        aiohttp = None

__all__ = ["AsyncStream", "asave_stream", "open_stream"]


def open_stream(plan: _core.Plan, response: aiohttp.ClientResponse) -> AsyncStream[Any]:
    """The answer of a streaming call as an AsyncStream of the row's kind (a JSON answer is a StreamError)."""
    _core.check_stream_media(plan, response.headers.get("Content-Type", ""))
    endpoint = plan.endpoint
    return AsyncStream(response, kind=endpoint.stream, operation=plan.operation, loads=decoder(),
                       end_event=endpoint.stream_end, error_event=endpoint.stream_error, secret=plan.secret,
                       call=plan.call)


_ItemT = TypeVar("_ItemT")


class AsyncStream(ResponseInfo, AsyncClosing, Generic[_ItemT]):
    """The events of a streamed response: an async iterator and an async context manager.

    Type checkers see ``AsyncStream[ChatCompletionChunk]``-like types (the row's item type from
    :mod:`mistral_lite.types`); at run time every item is a plain dict.

    ``response`` is the ``aiohttp.ClientResponse``; ``request_id`` its ``x-request-id``. Read to
    the end, or ``await stream.aclose()`` (or leave the ``async with`` block) to hang up early.
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        kind: str,
        operation: str,
        loads: Callable[[bytes], Any],
        end_event: str | None = None,
        error_event: str | None = None,
        secret: str | None = None,
        call: _observe.CallRecord | None = None,
    ) -> None:
        self.response = response
        self.operation = operation
        self.kind = kind
        self.request_id: str | None = request_id(response.headers)
        self._call = call
        self._decoder = EventDecoder(kind, operation, loads, end_event, error_event, secret=secret)
        self._events: list[Any] = []
        self._next = 0
        self._over = False  # nothing more to read
        self._finished = False  # the connection is settled (released, or closed)

    def __new__(cls, *args: Any, call: _observe.CallRecord | None = None, **kwargs: Any) -> AsyncStream[_ItemT]:
        # an observed stream is an _ObservedStream: its events cost nothing when nobody observes
        return object.__new__(cls if call is None or cls is not AsyncStream else _ObservedStream)

    def __aiter__(self) -> AsyncStream[_ItemT]:
        return self

    async def __anext__(self) -> _ItemT:
        while True:
            if self._next < len(self._events):
                event: _ItemT = self._events[self._next]
                self._next += 1
                return event
            decoder = self._decoder
            if decoder.done or self._over:
                await self._finish()
                raise StopAsyncIteration
            try:
                chunk = await self.response.content.readany()
            except BaseException as exc:
                self._over = True
                self.response.close()
                if isinstance(exc, Exception):
                    raise stream_error(exc, self.operation) from None
                raise  # a cancel: the connection is already closed
            self._events = decoder.feed(chunk) if chunk else decoder.close()
            self._next = 0
            if not chunk:
                self._over = True

    async def _finish(self) -> None:
        """Past the last event: raise the stream's failure, or let the connection go back to the pool."""
        if self._finished:
            return
        self._finished = self._over = True
        if self._decoder.failure is not None or not self._decoder.ended:
            self.response.close()
            if self._decoder.failure is not None:
                raise self._decoder.failure
            return
        try:  # read what follows the end so the connection can be reused; bounded in time and bytes
            drained = await asyncio.wait_for(self._drain(), DRAIN_TIMEOUT)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            drained = False
        if drained:
            self.response.release()
        else:
            self.response.close()

    async def _drain(self) -> bool:
        """Read to the end of the body; False past ``DRAIN_LIMIT`` bytes (as the sync ``Stream``)."""
        budget, content = DRAIN_LIMIT, self.response.content
        while True:
            chunk = await content.readany()
            if not chunk:
                return True
            budget -= len(chunk)
            if budget < 0:
                return False

    async def text(self) -> AsyncIterator[str]:
        """The text deltas as they arrive (an async iterator; see ``Stream.text``). Consumes the stream."""
        async for event in self:
            piece = text_delta(event)  # type: ignore[arg-type]
            if piece:
                yield piece

    async def aclose(self) -> None:
        """Stop reading and hang up (returns at once; safe after a cancel)."""
        self._over = True
        self._events, self._next = [], 0
        if not self._finished:
            self._finished = True
            self.response.close()

    def __repr__(self) -> str:
        return f"<mistral_lite.AsyncStream {self.operation} request_id={self.request_id!r}>"


class _ObservedStream(AsyncStream[_ItemT]):
    """An AsyncStream whose items and end are reported to the call's observers."""

    _call: _observe.CallRecord

    async def __anext__(self) -> _ItemT:
        try:
            item = await super().__anext__()
        except StopAsyncIteration:
            _observe.ended(self._call, None, None)
            raise
        except BaseException as exc:
            _observe.ended(self._call, None, exc)
            raise
        _observe.chunk(self._call, item)
        return item

    async def aclose(self) -> None:
        _observe.ended(self._call, None, None)
        await super().aclose()


async def asave_stream(stream: Any, field: str, target: str | PathLike[str], operation: str,
                       end: str | None = None) -> Path:
    """:func:`mistral_lite._core.speech.save_stream` for an async stream (a ``to_field`` row's
    ``to=``); the file calls run on worker threads."""
    loop = asyncio.get_running_loop()
    out = await loop.run_in_executor(None, AtomicFile, target)
    try:
        ended = False
        try:
            async for event in stream:
                data = piece(event, field, operation)
                if data is not None:
                    await loop.run_in_executor(None, out.write, data)
                elif isinstance(event, Mapping) and (end is None or event.get("type") == end):
                    ended = True
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if not ended:
            raise cut(end, operation)
        return await loop.run_in_executor(None, out.commit)
    except BaseException:
        out.abort()
        raise
