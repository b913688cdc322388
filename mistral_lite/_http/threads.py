"""``AsyncClient(client=sync_client)``: a sync client's calls run on worker threads.

Wrapping a sync client means using *its* transport: its ``requests.Session``, adapters and
mounts (an in-process fake, ``responses`` mocks, a corporate proxy adapter). Each in-flight
call holds one of ``max_workers`` threads; a cancelled task stops waiting at once, but the
request already sent finishes on its thread. The native transport (``AsyncClient(api_key, ...)``)
has none of these limits and is the default.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from mistral_lite._core.concurrency import Executor
from mistral_lite._http.common import AsyncClosing
from mistral_lite._http.stream import Stream
from mistral_lite._methods.raw_response import RawResponse

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["ThreadedCalls", "ThreadedStream"]

_END: Any = object()


class ThreadedCalls:
    """The calls of one wrapped sync client, on a thread pool shared with its copies."""

    def __init__(self, client: Client, executor: Executor) -> None:
        self.client = client
        self.executor = executor

    def with_client(self, client: Client) -> ThreadedCalls:
        return ThreadedCalls(client, self.executor)

    async def call(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], raw: bool = False) -> Any:
        return await self.run(functools.partial(self.client._dispatch, operation, args, options, raw))

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``Client.request`` on a worker thread (the escape hatch of a wrapped sync client)."""
        return await self.run(functools.partial(self.client.request, method, path, **kwargs))

    async def run(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on a worker thread, in a copy of the caller's context (observers see the
        caller's contextvars, such as its current span); a Stream comes back as a ThreadedStream."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor.pool, contextvars.copy_context().run, fn)
        if isinstance(result, RawResponse) and isinstance(result.parse(), Stream):
            return result._with_result(ThreadedStream(result.parse(), self.executor))
        return ThreadedStream(result, self.executor) if isinstance(result, Stream) else result


class ThreadedStream(AsyncClosing):
    """An async iterator over a sync :class:`Stream`, each read on a worker thread."""

    def __init__(self, stream: Stream[Any], executor: Executor) -> None:
        self._stream = stream
        self._executor = executor
        self.operation = stream.operation
        self.kind = stream.kind
        self.request_id = stream.request_id
        self.response = stream.response
        self.headers = stream.headers
        self.rate_limit = stream.rate_limit
        self._context = contextvars.copy_context()  # the caller's, for the observers of each read

    def __aiter__(self) -> ThreadedStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        read = functools.partial(self._context.run, next, self._stream, _END)
        value = await loop.run_in_executor(self._executor.pool, read)
        if value is _END:
            raise StopAsyncIteration
        return cast("dict[str, Any]", value)

    async def aclose(self) -> None:
        self._stream.close()  # closes the socket first: safe from the loop while a thread reads
