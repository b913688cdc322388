"""asyncio support: ``AsyncClient`` runs the synchronous client on worker threads.

No new dependency is needed. The limits: each in-flight call holds a worker thread
(``max_workers``, default 8); cancelling a task stops the waiting, but a request already sent
still completes on its thread; each stream chunk costs one thread hop. The generated async
methods have the same signatures and docstrings as the synchronous ones.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._concurrency import Executor
from ._operations import AsyncOperations
from ._streaming import Stream

if TYPE_CHECKING:
    from ._bulk import BulkProgress
    from .client import Client

__all__ = ["AsyncClient", "AsyncStream"]


class AsyncStream:
    """An async iterator over a :class:`Stream`, reading it on a worker thread."""

    def __init__(self, stream: Stream, executor: Executor) -> None:
        self._stream = stream
        self._executor = executor
        self.request_id = stream.request_id
        self.response = stream.response

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(self._executor.pool, next, self._stream, _END)
        if value is _END:
            raise StopAsyncIteration
        result: dict[str, Any] = value
        return result

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor.pool, self._stream.close)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


_END: Any = object()


class AsyncClient(AsyncOperations):
    """The asyncio face of :class:`Client`: ``await aclient.chat(...)``.

    Takes the same arguments as ``Client`` plus ``max_workers`` (threads, default 8), or an
    existing client as ``AsyncClient(client=...)``. Streams come back as :class:`AsyncStream`
    (``async for chunk in await aclient.chat(..., stream=True)``).
    """

    def __init__(self, *args: Any, client: Client | None = None, max_workers: int = 8, **kwargs: Any) -> None:
        self._owns_client = client is None
        if client is None:
            from .client import Client

            client = Client(*args, **kwargs)
        self.client = client
        self._executor = Executor(max_workers)

    async def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        call = functools.partial(self.client.call, operation, *args, **options)
        result = await loop.run_in_executor(self._executor.pool, call)
        if isinstance(result, Stream):
            return AsyncStream(result, self._executor)
        return result

    async def paginate(self, operation: str, /, *args: Any, **options: Any) -> AsyncIterator[Any]:
        """Items across pages, as ``Client.paginate`` (each page fetched on a worker thread)."""
        loop = asyncio.get_running_loop()
        pages = self.client.paginate(operation, *args, **options)
        while True:
            item = await loop.run_in_executor(self._executor.pool, next, pages, _END)
            if item is _END:
                return
            yield item

    async def wait(self, operation: str, /, *args: Any, **options: Any) -> Any:
        """Poll until a terminal state, as ``Client.wait``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor.pool, functools.partial(self.client.wait, operation, *args, **options)
        )

    async def run_jsonl(self, input: Any, output: Any, **options: Any) -> BulkProgress:
        """A JSONL file of requests into a JSONL file of results, as ``Client.run_jsonl``
        (the live engine on asyncio tasks; the batch engine's waiting on a worker thread)."""
        from ._bulk import run_jsonl_async

        return await run_jsonl_async(self, input, output, **options)

    async def run_tools(
        self,
        *,
        tools: Sequence[Any],
        max_turns: int = 10,
        raise_tool_errors: bool = False,
        on_message: Callable[[Any], None] | None = None,
        operation: str = "chat",
        **options: Any,
    ) -> Any:
        """The tool loop of ``Client.run_tools``: async functions are awaited, plain ones run on
        threads, the calls of one turn concurrently."""
        from ._tool_loop import arun_tools, make_loop

        loop = make_loop(self.client.operations, operation, tools, options, max_turns=max_turns,
                         raise_tool_errors=raise_tool_errors, on_message=on_message)
        return await arun_tools(self, loop)

    async def aclose(self) -> None:
        """Stop the worker threads without blocking the loop; close the client if it is ours."""
        self._executor.shutdown(wait=False)
        if self._owns_client:
            await asyncio.get_running_loop().run_in_executor(None, self.client.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<mistral_lite.AsyncClient base_url={self.client.base_url!r}>"
