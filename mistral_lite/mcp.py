"""MCP servers as tool sources for ``run_tools`` (the ``[mcp]`` extra: the ``mcp`` package).

``mcp.stdio(command, args=(), env=None)`` starts a server as a subprocess and speaks MCP over
its stdin/stdout; ``mcp.http(url, headers=None)`` reaches one over streamable HTTP (``headers``
on every request). Put either in any ``tools=`` list of ``run_tools``, next to plain functions:
when the loop starts, each server's session opens and its tools are listed and sent as
``{"type": "function", "function": {"name", "description", "parameters": <input schema>}}``;
a call to one goes through the server's ``call_tool`` (text content back exactly, an error
result as ``"Error: ..."``); the sessions close when the loop ends.

The ``mcp`` package is imported only when a loop with a server starts (neither
``import mistral_lite`` nor this module imports it). Both its major versions work: 2.x
(``MCPServer``, ``streamable_http_client`` with an ``httpx2`` client, snake_case fields) and
1.x (``FastMCP``, ``streamablehttp_client``, camelCase fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from mistral_lite._core.extras import needs
from mistral_lite._core.jsoncodec import dumps
from mistral_lite.exceptions import MistralError, ValidationError

__all__ = ["MCPServer", "http", "stdio"]

MCP_EXTRA = needs("MCP servers need the mcp package", "mcp")
#: Seconds to wait for the sessions to close when the loop ends.
CLOSE_TIMEOUT = 5.0
#: Seconds a server has to start, answer ``initialize`` and list its tools.
OPEN_TIMEOUT = 30.0


class MCPServer:
    """An MCP server to use as a tool source (make one with :func:`stdio` or :func:`http`)."""

    _mistral_lite_tool_source = True

    def __init__(self, kind: str, target: str, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.kind, self.target = kind, target
        self.args, self.env = list(args), dict(env) if env is not None else None
        self.headers = dict(headers or {})

    def __repr__(self) -> str:  # no header values, no environment: they may hold secrets
        if self.kind == "stdio":
            return f"mcp.stdio({self.target!r}, args={self.args!r})"
        return f"mcp.http({self.target!r})"

    async def _connect(self, stack: contextlib.AsyncExitStack) -> Any:
        """Open the session (within ``stack``) and initialise it."""
        mcp = _module("mcp")
        if self.kind == "stdio":
            params = mcp.StdioServerParameters(command=self.target, args=self.args, env=self.env)
            streams = await stack.enter_async_context(_module("mcp.client.stdio").stdio_client(params))
        else:
            streams = await stack.enter_async_context(_http_client(self.target, self.headers))
        session = await stack.enter_async_context(mcp.ClientSession(streams[0], streams[1]))
        await session.initialize()
        return session


@contextlib.asynccontextmanager
async def _http_client(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    transport = _module("mcp.client.streamable_http")
    if not hasattr(transport, "streamable_http_client"):  # mcp 1.x before 1.24: headers given to the transport
        async with transport.streamablehttp_client(url, headers=headers) as streams:
            yield streams
        return
    # mcp 2.x (and late 1.x): the transport takes an HTTP client, which carries the headers
    make_client = _module("mcp.shared._httpx_utils").create_mcp_http_client
    async with make_client(headers=headers) as client, \
            transport.streamable_http_client(url, http_client=client) as streams:
        yield streams


def _module(name: str) -> Any:
    """An ``mcp`` module, imported now (the optional extra; by name, so type checkers need not
    have it installed)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MistralError(MCP_EXTRA) from None


def stdio(command: str, args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> MCPServer:
    """An MCP server run as ``command *args`` (``env`` added to its environment), over stdio."""
    _check("stdio", command=command, args=args, env=env)
    return MCPServer("stdio", command, args=args, env=env)


def http(url: str, headers: Mapping[str, str] | None = None) -> MCPServer:
    """An MCP server at ``url`` over streamable HTTP (``headers`` sent with every request)."""
    _check("http", url=url, headers=headers)
    return MCPServer("http", url, headers=headers)


def _check(where: str, **values: Any) -> None:
    problems: list[tuple[str, str]] = []
    for name, value in values.items():
        if name in ("command", "url"):
            ok = isinstance(value, str) and bool(value)
            hint = "a non-empty string"
        elif name == "args":
            ok = isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value)
            hint = "a list of strings"
        else:
            ok = value is None or (isinstance(value, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()))
            hint = "a dict of strings"
        if not ok:
            problems.append((name, f"must be {hint}, got {type(value).__name__}"))
    if problems:
        raise ValidationError(f"mcp.{where}", problems)


# --- the sessions of one loop --------------------------------------------------------------


def _tool_dict(tool: Any) -> dict[str, Any]:
    schema = getattr(tool, "input_schema", None)
    if schema is None:
        schema = getattr(tool, "inputSchema", None)
    return {"type": "function", "function": {"name": tool.name, "description": tool.description or "",
                                             "parameters": schema if schema is not None else {"type": "object"}}}


def _result_text(result: Any) -> tuple[str, bool]:
    """The text of a ``call_tool`` result (text parts joined by newlines) and its error flag."""
    is_error = getattr(result, "is_error", None)
    if is_error is None:
        is_error = getattr(result, "isError", False)
    parts: list[str] = []
    for item in getattr(result, "content", None) or ():
        text = getattr(item, "text", None)
        if getattr(item, "type", None) == "text" and isinstance(text, str):
            parts.append(text)
        else:
            dump = getattr(item, "model_dump", None)
            parts.append(dumps(dump(mode="json", exclude_none=True) if callable(dump) else str(item)).decode())
    return "\n".join(parts), bool(is_error)


class Hub:
    """The open sessions of one loop's servers. :meth:`serve` runs as one task (MCP's
    transports must be entered and left by the same task) until :meth:`stop`."""

    def __init__(self, servers: Sequence[MCPServer]) -> None:
        self.servers = list(servers)
        self.sessions: list[Any] = []
        self.tools: list[tuple[int, dict[str, Any]]] = []
        self._stop: asyncio.Event | None = None

    async def serve(self, ready: Any) -> None:
        """Open every session and list its tools, report through ``ready(error)``, wait for stop."""
        self._stop = asyncio.Event()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for index, server in enumerate(self.servers):
                    session = await server._connect(stack)
                    self.sessions.append(session)
                    for tool in await _list_tools(session):
                        self.tools.append((index, _tool_dict(tool)))
                ready(None)
                await self._stop.wait()
        except BaseException as exc:
            ready(exc)
            if not isinstance(exc, Exception):
                raise

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def call(self, server: int, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        result = await self.sessions[server].call_tool(name, arguments)
        return _result_text(result)


async def _list_tools(session: Any) -> list[Any]:
    result = await session.list_tools()
    tools = list(result.tools)
    cursor = getattr(result, "next_cursor", getattr(result, "nextCursor", None))
    while cursor:
        try:
            params = _module("mcp.types").PaginatedRequestParams(cursor=cursor)
            result = await session.list_tools(params=params)
        except (AttributeError, TypeError, MistralError):  # mcp 1.x
            result = await session.list_tools(cursor=cursor)
        tools.extend(result.tools)
        cursor = getattr(result, "next_cursor", getattr(result, "nextCursor", None))
    return tools


def _failure(exc: BaseException, servers: Sequence[MCPServer]) -> MistralError:
    if isinstance(exc, MistralError):
        return exc
    names = ", ".join(repr(s) for s in servers)
    causes = "; ".join(f"{type(e).__name__}: {e}" for e in _leaves(exc))
    return MistralError(f"run_tools: could not open the MCP server(s) {names}: {causes}")


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc`` (mcp's task groups wrap the real cause in ExceptionGroups)."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return [leaf for sub in inner for leaf in _leaves(sub)]
    return [exc]


def _late(servers: Sequence[MCPServer]) -> MistralError:
    names = ", ".join(repr(s) for s in servers)
    return MistralError(f"run_tools: the MCP server(s) {names} did not start and list their tools "
                        f"within {OPEN_TIMEOUT:g} s")


def _register(loop: Any, hub: Hub, handle: Any) -> None:
    for index, server in enumerate(hub.servers):
        loop.add_remote(server, (handle, index), [tool for i, tool in hub.tools if i == index])


class SyncHub:
    """A :class:`Hub` on a private event loop in a daemon thread, for the synchronous client."""

    def __init__(self, servers: Sequence[MCPServer]) -> None:
        self.hub = Hub(servers)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mistral-lite-mcp", daemon=True)
        self.thread.start()
        opened = threading.Event()
        errors: list[BaseException | None] = []

        def ready(error: BaseException | None) -> None:
            if not opened.is_set():
                errors.append(error)
                opened.set()

        self.task = asyncio.run_coroutine_threadsafe(self.hub.serve(ready), self.loop)
        self.opened = False
        try:
            deadline = time.monotonic() + OPEN_TIMEOUT
            while not opened.wait(0.05):  # in slices: Ctrl-C reaches the calling thread at once
                if time.monotonic() >= deadline:
                    raise _late(servers)
        except BaseException:
            self.close()
            raise
        if errors[0] is not None:
            self.close()
            raise _failure(errors[0], servers)
        self.opened = True

    def call_sync(self, server: int, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        return asyncio.run_coroutine_threadsafe(self.hub.call(server, name, arguments), self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self.opened:
            self.loop.call_soon_threadsafe(self.hub.stop)
        else:  # still opening: cancel it (the task leaves its transports itself)
            self.task.cancel()
        with contextlib.suppress(Exception):
            self.task.result(CLOSE_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(CLOSE_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


class AsyncHub:
    """A :class:`Hub` as a task on the caller's event loop, for the async client."""

    def __init__(self, hub: Hub, task: asyncio.Task[None]) -> None:
        self.hub, self.task = hub, task
        self.opened = False

    async def call(self, server: int, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        return await self.hub.call(server, name, arguments)

    async def aclose(self) -> None:
        if self.opened:
            self.hub.stop()
        else:  # still opening: cancel it (the task leaves its transports itself)
            self.task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, CLOSE_TIMEOUT)


def open_sync(loop: Any) -> SyncHub:
    """Open the loop's MCP servers for a synchronous client; their tools join the loop's."""
    handle = SyncHub(loop.sources)
    try:
        _register(loop, handle.hub, handle)
    except BaseException:
        handle.close()
        raise
    return handle


async def open_async(loop: Any) -> AsyncHub:
    """Open the loop's MCP servers on the running event loop; their tools join the loop's."""
    hub = Hub(loop.sources)
    opened: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def ready(error: BaseException | None) -> None:
        if not opened.done():
            opened.set_result(error)

    handle = AsyncHub(hub, asyncio.ensure_future(hub.serve(ready)))
    try:
        try:
            error = await asyncio.wait_for(asyncio.shield(opened), OPEN_TIMEOUT)
        except asyncio.TimeoutError:
            raise _late(loop.sources) from None
        if error is not None:
            raise _failure(error, loop.sources)
        handle.opened = True
        _register(loop, hub, handle)
    except BaseException:
        await handle.aclose()
        raise
    return handle
