"""The generated operation methods: one per table row, attached once at import.

``Operations`` is the mixin ``Client`` inherits, with ``paginate``, ``wait``, ``submit``, ``map``
and ``run_tools`` (the workflows keyed by an operation name, so the stub can type them per row;
``AsyncOperations`` has ``paginate``, ``wait`` and ``run_tools``). For each
row it gets a method named after the operation (an :class:`OperationMethod`), whose signature and docstring come from
:mod:`mistral_lite._methods.signatures` (path parameters positional-or-keyword in path order, options
keyword-only) and whose body calls the one dispatcher. Type checkers read the committed stub
``operations.pyi`` beside this module instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from types import MethodType
from typing import TYPE_CHECKING, Any, cast

from mistral_lite._core import observe as _observe
from mistral_lite._core.concurrency import run_map
from mistral_lite._core.workflows import Pager, Waiter, paginate, wait
from mistral_lite._methods.raw_response import AsyncRawOperations, RawOperations
from mistral_lite._table import Spec, load_spec

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mistral_lite._http.aio import AsyncClient
    from mistral_lite.client import Client

__all__ = ["AsyncOperations", "Operations"]


class OperationMethod:
    """A generated method: calls the dispatcher; signature and docstring are built on first use.

    It is a method descriptor like a function (``client.chat`` is a bound method), so
    ``help()``, ``inspect.signature`` and ``pydoc`` see a routine with a real signature. Building
    the signatures and docstrings of every row (nearly 300) lazily keeps ``import mistral_lite`` cheap.
    """

    def __init__(self, name: str, spec: Spec, owner: str) -> None:
        self.__name__ = name
        self.__qualname__ = f"{owner}.{name}"
        self.__module__ = __name__
        self._spec = spec
        self._built: tuple[Any, str] | None = None

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return MethodType(self, instance)

    def __call__(self, instance: Any, /, *args: Any, **options: Any) -> Any:
        return instance._dispatch(self.__name__, args, options)

    def _build(self) -> tuple[Any, str]:
        if self._built is None:
            # signatures are built when first inspected, not at import (import cost)
            from mistral_lite._methods.signatures import docstring, signature

            endpoint = self._spec.endpoints[self.__name__]
            self._built = (signature(endpoint, self._spec), docstring(endpoint, self._spec))
        return self._built

    @property
    def __signature__(self) -> Any:
        return self._build()[0]

    @property  # type: ignore[misc]
    def __doc__(self) -> str:  # pyright: ignore[reportIncompatibleVariableOverride]
        return self._build()[1]

    def __repr__(self) -> str:
        return f"<operation method {self.__qualname__}>"


class Operations:
    """Generated methods, one per operation of the table (see ``endpoints.toml``)."""

    @property
    def with_raw_response(self) -> RawOperations:
        """Every operation answering a :class:`~mistral_lite.RawResponse` (status, headers, request
        id, rate limit, elapsed, attempts; ``parse()`` gives the plain result)."""
        return RawOperations(self)

    def call(self, operation: str, /, *args: Any, **options: Any) -> Any:
        """Run any operation by name: ``client.call("chat", model=..., messages=...)``.

        Path parameters may be positional (in path order) or keywords; options are keywords.
        """
        return self._dispatch(operation, args, options)

    # -- workflows keyed by operation (typed per row in the stub) ----------------------------
    def paginate(self, operation: str, /, *args: Any, **options: Any) -> Iterator[Any]:
        """Yield the items of a list operation across all its pages.

        ``client.paginate("list_files", page_size=100, purpose="batch")``. Works for every row
        that declares ``paginate`` (page/page_size or a cursor), bare arrays included, and stops
        on an empty page, a short page, the reported total, or a missing cursor. A row that
        does not page yields the items of its single answer (its ``data`` list, for instance).
        """
        return paginate(cast("Client", self), operation, args, options)

    def wait(
        self,
        operation: str,
        /,
        *args: Any,
        timeout: float = 3600.0,
        interval: float = 5.0,
        on_progress: Callable[[Any], None] | None = None,
        **options: Any,
    ) -> Any:
        """Poll a job (a row that declares ``wait``) until a terminal state; return its last state.

        ``client.wait("get_batch_job", job_id=..., timeout=600, interval=5)``. Polls bypass the
        cache. ``on_progress(state)`` sees every poll. Raises ``WaitTimeout`` (with ``.last``)
        when ``timeout`` seconds pass first.
        """
        client = cast("Client", self)
        return wait(client, operation, args, options, timeout=timeout, interval=interval, on_progress=on_progress)

    def submit(self, operation: str, /, *args: Any, **options: Any) -> Future[Any]:
        """Run one call on the client's worker pool; returns a ``concurrent.futures.Future``."""
        return cast("Client", self)._executor.submit(self.call, operation, *args, **options)

    def map(
        self,
        operation: str,
        items: Iterable[Mapping[str, Any]],
        *,
        max_workers: int = 8,
        return_exceptions: bool = True,
    ) -> list[Any]:
        """Run ``operation`` once per options mapping, at most ``max_workers`` at a time.

        Results come back in input order. A failed item holds its exception instead of a
        result (``return_exceptions=False`` raises the first failure instead).
        """
        return run_map(cast("Client", self), operation, items, max_workers, return_exceptions)

    def run_tools(
        self,
        *,
        tools: Sequence[Any],
        max_turns: int = 10,
        raise_tool_errors: bool = False,
        on_message: Callable[[Any], None] | None = None,
        operation: str = "chat",
        tool_timeout: float | None = None,
        approvals: Mapping[str, bool] | None = None,
        **options: Any,
    ) -> Any:
        """Call the model, run the Python functions it asks for, send the results back, repeat.

        ``client.run_tools(model=..., messages=[...], tools=[get_weather, ...])`` returns the
        final result, with the whole transcript under ``"messages"`` (conversations:
        ``operation="create_conversation"``, ``inputs=...``; transcript under ``"entries"``).
        ``stream=True`` returns an iterator of events (``text``, ``tool_call``, ``tool_result``,
        then ``done`` with that result); ``tool_timeout`` bounds each tool's run; a call to a
        ``function_tool(fn, confirm=True)`` stops the loop with ``result["pending_tool_calls"]``,
        answered by a second call with ``approvals={call_id: True | False}``; MCP servers
        (``mistral_lite.mcp``) are tools too. See the README's "Tool loop" sections.
        """
        # the tool loop's module loads on first use (import cost)
        from mistral_lite._methods.tool_loop import make_loop, run_tools

        client = cast("Client", self)
        loop = make_loop(client._endpoints, operation, tools, options, max_turns=max_turns,
                         raise_tool_errors=raise_tool_errors, on_message=on_message, tool_timeout=tool_timeout,
                         approvals=approvals)
        return run_tools(client, loop, lambda: _observe.scope(client, "run_tools", operation=operation))

    def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], raw: bool = False) -> Any:
        raise NotImplementedError


class AsyncOperations:
    """The same generated methods for asyncio: each returns an awaitable of the result."""

    @property
    def with_raw_response(self) -> AsyncRawOperations:
        """``raw = await aclient.with_raw_response.chat(...)``: see ``Client.with_raw_response``."""
        return AsyncRawOperations(self)

    def call(self, operation: str, /, *args: Any, **options: Any) -> Any:
        """``await aclient.call("chat", model=..., messages=...)``."""
        return self._dispatch(operation, args, options)

    # -- workflows keyed by operation (typed per row in the stub) ----------------------------
    async def paginate(self, operation: str, /, *args: Any, **options: Any) -> AsyncIterator[Any]:
        """Items across pages, as ``Client.paginate``: ``async for item in aclient.paginate(...)``."""
        client = cast("AsyncClient", self)
        pager = Pager(client, operation, options)
        page: dict[str, Any] | None = pager.first()
        while page is not None:
            items, page = pager.step(await client.call(operation, *args, **page))
            for item in items:
                yield item

    async def wait(
        self,
        operation: str,
        /,
        *args: Any,
        timeout: float = 3600.0,
        interval: float = 5.0,
        on_progress: Callable[[Any], None] | None = None,
        **options: Any,
    ) -> Any:
        """Poll a job until a terminal state, as ``Client.wait`` (sleeping with ``asyncio.sleep``)."""
        client = cast("AsyncClient", self)
        waiter = Waiter(client, operation, timeout=timeout, interval=interval, clock=client.clock,
                        on_progress=on_progress)
        return await client._poll(operation, args, options, waiter, on_progress)

    async def run_tools(
        self,
        *,
        tools: Sequence[Any],
        max_turns: int = 10,
        raise_tool_errors: bool = False,
        on_message: Callable[[Any], None] | None = None,
        operation: str = "chat",
        tool_timeout: float | None = None,
        approvals: Mapping[str, bool] | None = None,
        **options: Any,
    ) -> Any:
        """The tool loop of ``Client.run_tools``: async functions are awaited, plain ones run on
        threads, the calls of one turn concurrently; with ``stream=True`` it returns an async
        iterator of the events."""
        # the tool loop's module loads on first use (import cost)
        from mistral_lite._methods.tool_loop import arun_tools, make_loop

        client = cast("AsyncClient", self)
        loop = make_loop(client.operations, operation, tools, options, max_turns=max_turns,
                         raise_tool_errors=raise_tool_errors, on_message=on_message, tool_timeout=tool_timeout,
                         approvals=approvals)
        return await arun_tools(client, loop, lambda: _observe.scope(client, "run_tools", operation=operation))

    def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], raw: bool = False) -> Any:
        raise NotImplementedError


def _attach(spec: Spec) -> None:
    for owner in (Operations, AsyncOperations):
        for name in spec.endpoints:  # names only: each row is built when first used
            if hasattr(owner, name):
                raise AttributeError(f"operation {name!r} clashes with an {owner.__name__} attribute")
            setattr(owner, name, OperationMethod(name, spec, owner.__name__))


_attach(load_spec())
