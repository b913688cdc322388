"""The asyncio client: the shared core (:mod:`mistral_lite._core.call`) over aiohttp.

``AsyncClient`` plans and finishes every call exactly as ``Client`` does (same table,
validation, retry classes, ``Retry-After``, typed errors, cache); only this module's loop
differs: it sends with aiohttp, asks the retry policy, and sleeps with ``asyncio.sleep``.

* **Connections.** One ``aiohttp.TCPConnector`` per client (shared by its ``with_options``
  copies), at most ``max_connections`` (default 1,000) open at once. HTTP/1.1 carries one
  request per connection, so this caps concurrency: beyond it, calls queue for a connection.
* **Cancellation.** Cancelling a task that awaits a call, or closing a stream early, closes
  its connection at once (the server sees the hang-up); a cancelled call is never retried and
  the pool stays usable.
* **Streams.** :class:`~mistral_lite._http.aio_stream.AsyncStream` (its own module) feeds aiohttp's
  reads to the same :class:`~mistral_lite._core.sse.EventDecoder` the sync ``Stream`` uses; the
  stream timeout is aiohttp's per-read timeout.
* **Files.** Uploads are read from their files on worker threads, and downloads written on
  worker threads to a temporary file renamed into place at the end: the loop never blocks on disk.

aiohttp is the ``async`` extra (``pip install "mistral-lite[async]"``); ``import mistral_lite``
does not import this module, and this module never loads the requests transport
(:mod:`mistral_lite._http.sync`): what both transports share is in :mod:`mistral_lite._http.common`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any
from urllib.request import getproxies

from mistral_lite._core import call as _core
from mistral_lite._core import observe as _observe
from mistral_lite._core.concurrency import Executor
from mistral_lite._core.credentials import drop_credentials, same_origin
from mistral_lite._core.extras import needs
from mistral_lite._core.files import Download, MultipartBody
from mistral_lite._core.inputs import client_problems
from mistral_lite._core.raw import decode_raw, plan_raw
from mistral_lite._core.request import all_proxy
from mistral_lite._core.settings import INJECTED, SHARED_ARGUMENTS, ClientBase
from mistral_lite._core.workflows import Waiter
from mistral_lite._http.aio_stream import AsyncStream, asave_stream, open_stream
from mistral_lite._http.common import (
    AsyncClosing,
    check_redirect,
    configure_debug_logging,
    connection_failure,
    describe,
    http_logger,
    log_request,
    log_response,
    read_error,
    unsendable,
)
from mistral_lite._http.threads import ThreadedCalls
from mistral_lite._methods.conversations import place_file, temporary_for, tool_files
from mistral_lite._methods.operations import AsyncOperations
from mistral_lite._methods.raw_response import RawResponse
from mistral_lite.exceptions import APIConnectionError, MistralError, ValidationError

if TYPE_CHECKING:  # the checkers see the modules (an "ignore" keeps them quiet when aiohttp is not installed)
    import aiohttp  # type: ignore[import-not-found, unused-ignore]
    from yarl import URL  # type: ignore[import-not-found, unused-ignore]
else:
    try:
        import aiohttp
        from yarl import URL
    except ImportError:  # pragma: no cover - exercised by a test that hides aiohttp
        aiohttp = None

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from mistral_lite._bulk.prepare import BulkProgress
    from mistral_lite.client import Client

__all__ = ["AsyncClient", "AsyncStream", "DEFAULT_MAX_CONNECTIONS"]

#: Open connections per client (openai-python's default); beyond it calls wait for one.
DEFAULT_MAX_CONNECTIONS = 1000
_BLOCK = 1 << 16


class _Attempt:
    """What request hooks see of an attempt: ``method``, ``url``, ``headers``, ``body``."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Mapping[str, str], body: Any) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body


class _Pool:
    """The aiohttp session of a client and its copies, created on first use inside a loop."""

    def __init__(self, max_connections: int, session: aiohttp.ClientSession | None) -> None:
        self.max_connections = max_connections
        self.session = session
        self.owned = session is None
        self.closed = False  # by aclose(): for good, a closed client opens no new session
        self._proxies: dict[str, str | None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    def all_proxy(self, url: str) -> str | None:
        """``ALL_PROXY`` for ``url``'s base, as requests honours it (aiohttp reads only ``HTTP(S)_PROXY``)."""
        base = url[:url.find("/", url.find("//") + 2) + 1 or None]
        if base not in self._proxies:
            self._proxies[base] = all_proxy(base)
        return self._proxies[base]

    def check_open(self) -> None:
        if self.closed:
            raise MistralError("this AsyncClient is closed (aclose() or the end of its `async with`); "
                               "create a new client")

    def get(self) -> aiohttp.ClientSession:
        self.check_open()
        loop = asyncio.get_running_loop()
        if self.session is not None and (not self.owned or self._loop is loop):
            return self.session
        if self.session is not None and self._loop is not None and not self._loop.is_closed():
            raise MistralError("this AsyncClient's connections belong to another event loop; "
                               "create one client per loop")
        # first use, or the loop the pool was made on is gone (a second asyncio.run): a fresh pool
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0)
        guard = aiohttp.TraceConfig()
        guard.on_request_redirect.append(_check_redirect)
        # proxies from the environment, as requests does; without any, trust_env stays off:
        # it costs two worker-thread hops per request (proxy and ~/.netrc lookups)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=bool(getproxies()),
                                             trace_configs=[guard], response_class=_response_class())
        if hasattr(self.session, "_retry_connection"):
            # aiohttp resends an idempotent request once on a dropped connection, unseen; the
            # retry policy decides instead (with its count, its classes and its logging)
            self.session._retry_connection = False
        self._loop = loop
        # started here, up to its yield: the loop knows it now, and closes it as it ends
        self._guard = _close_at_loop_end(self, self.session)
        with contextlib.suppress(StopIteration):
            self._guard.__anext__().send(None)
        return self.session

    async def close(self) -> None:
        self.closed = True
        if self.owned and self.session is not None:
            session, self.session = self.session, None
            await session.close()


async def _close_at_loop_end(pool: _Pool, session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Closes ``session`` when its loop ends: ``asyncio.run`` closes the async generators still
    open before it closes the loop, so a client used in two ``asyncio.run()`` leaves nothing open."""
    try:
        yield
    finally:
        if pool.session is session:
            pool.session = None
        if not session.closed:
            await session.close()


def _sleeper(injected: Callable[[float], Any] | None) -> Callable[[float], Awaitable[None]]:
    """``asyncio.sleep``, or a test's sleep (a coroutine function, or a plain one plus a yield)."""
    if injected is None:
        return asyncio.sleep
    if inspect.iscoroutinefunction(injected):
        return injected

    async def sleep(seconds: float) -> None:
        injected(seconds)
        await asyncio.sleep(0)

    return sleep



def _wrapping_problems(client: Any, api_key: str | None, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with ``AsyncClient(client=...)``: not a sync Client, or a setting given beside it
    (the wrapped Client's settings apply, so one given here would be silently ignored)."""
    if not isinstance(client, ClientBase) or isinstance(client, AsyncClient) or not hasattr(client, "_transport"):
        return [("client", f"expected a mistral_lite.Client to wrap, got {type(client).__name__}")]
    defaults = AsyncClient.__init__.__kwdefaults__ or {}
    given = ["api_key"] if api_key is not None else []
    given += [name for name in SHARED_ARGUMENTS if arguments[name] is not defaults[name]
              and arguments[name] != defaults[name]]
    return [(name, "not used with client=: the wrapped Client's settings apply (set it there, or use "
                   "with_options)") for name in given]

class AsyncClient(ClientBase, AsyncOperations, AsyncClosing):
    """The asyncio client: ``await aclient.chat(...)``; the same table and behaviour as ``Client``.

    Takes ``Client``'s arguments, except that ``session`` is an ``aiohttp.ClientSession``
    (used as given, never closed), plus ``max_connections`` (default 1,000: calls beyond it wait
    for a free connection). ``AsyncClient(client=client)`` instead runs a sync client's calls,
    through its own session and adapters, on ``max_workers`` threads (the client is left open;
    see :mod:`mistral_lite._http.threads` for what that mode cannot do). Streams come back as :class:`AsyncStream`
    (``async for chunk in await aclient.chat(..., stream=True)``). Request hooks receive an
    object with ``method``, ``url``, ``headers`` and ``body``; response hooks receive the
    ``aiohttp.ClientResponse``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream_timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_retries: int | None = None,
        retry: bool = True,
        retry_delay: Callable[[int], float] | None = None,
        retry_log_level: int | bool = logging.WARNING,
        max_retry_after: float | None = None,
        cache: bool | MutableMapping[Any, Any] = False,
        cache_ttl: float | None = None,
        cache_maxsize: int | None = None,
        allow_insecure_http: bool = False,
        hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        client: Client | None = None,
        max_workers: int = 8,
        max_response_size: int | None = None,
        tracing: bool | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        trace_content: bool = False,
    ) -> None:
        if aiohttp is None:
            raise MistralError(needs("AsyncClient needs aiohttp", "async"))
        own = {"hooks": hooks, "max_connections": max_connections, "max_workers": max_workers}
        self._threads: ThreadedCalls | None = None
        if client is not None:  # its settings, cache and transport; calls on threads
            problems = client_problems(own)  # max_connections=True is not a count
            problems += _wrapping_problems(client, api_key, locals())
            if problems:
                raise ValidationError("AsyncClient", problems)
            injected_sleep = getattr(INJECTED.__dict__.pop("value", None), "sleep", None)
            self.__dict__.update({k: v for k, v in client.__dict__.items() if k in _SHARED_STATE})
            self.clock = client.clock
            self._threads = ThreadedCalls(client, Executor(max_workers))
            client._transport.ensure_pool(max_workers)  # a pooled connection per worker thread
        else:
            injected = self._setup(api_key, locals(), own)
            injected_sleep, self.clock = injected.sleep, injected.clock
        self.sleep = _sleeper(injected_sleep)
        self._pool = _Pool(max_connections, session)
        self._owns_pool = True
        self._hooks = {k: list(v) for k, v in (hooks or {}).items()}
        configure_debug_logging()

    @property
    def max_connections(self) -> int:
        return self._pool.max_connections

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The aiohttp session (None until the first call creates it)."""
        return self._pool.session

    @property
    def client(self) -> Client | None:
        """The sync client this one wraps (``AsyncClient(client=...)``), or None."""
        return self._threads.client if self._threads is not None else None

    def with_options(self, **changes: Any) -> AsyncClient:
        """A copy with some settings changed (as ``Client.with_options``), sharing the connections."""
        clone = super().with_options(**changes)
        if self._threads is not None:
            clone._threads = self._threads.with_client(self._threads.client.with_options(**changes))
        return clone

    def _borrowed(self) -> None:
        self._owns_pool = False

    # -- the dispatcher: the shared core around the aiohttp transport --------------------------
    async def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any],
                        raw: bool = False) -> Any:
        self._pool.check_open()
        if self._threads is not None:
            return await self._threads.call(operation, args, options, raw)
        plan = _core.plan(self, operation, args, options, not raw)
        if plan.hit is not _core.MISS:
            return plan.hit
        observers = self._observers.observers
        if observers or raw:
            call = _observe.start(plan, observers)
            with _observe.Watch(call) as watch:
                result = watch.done(await self._complete(plan))
            return RawResponse(call, result) if raw else result
        return await self._complete(plan)

    async def _complete(self, plan: _core.Plan) -> Any:
        response = await self._send(plan)
        try:
            _core.invalidate(self, plan)
            if plan.stream:
                stream = _core.finish_stream(plan, open_stream(plan, response), asave_stream)
                return await stream if plan.save_to is not None else stream
            if plan.to is not None:
                return _core.store(plan, await _download(plan, response))
            content = await _read(response, plan)
        except BaseException:
            response.close()  # a cancel or an error mid-body: hang up rather than reuse
            raise
        return _core.finish(plan, content, response.headers.get("x-request-id"), status=response.status,
                            content_type=response.headers.get("Content-Type"))

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
        data: Any = None, files: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        stream: bool = False, timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        """``await aclient.request("GET", "/v1/new/thing")``: :meth:`Client.request` on this transport."""
        self._pool.check_open()
        if self._threads is not None:
            return await self._threads.request(method, path, params=params, json=json, data=data, files=files,
                                               headers=headers, stream=stream, timeout=timeout)
        plan = plan_raw(self, method, path, params=params, json=json, data=data, files=files, headers=headers,
                        stream=stream, timeout=timeout)
        observers = self._observers.observers
        if observers:
            with _observe.Watch(_observe.start(plan, observers)) as watch:
                return watch.done(await self._complete_raw(plan))
        return await self._complete_raw(plan)

    async def _complete_raw(self, plan: _core.Plan) -> Any:
        response = await self._send(plan)
        try:
            if plan.stream:
                return open_stream(plan, response)
            content = await _read(response, plan)
        except BaseException:
            response.close()
            raise
        return decode_raw(content, response.headers.get("Content-Type", ""), response.headers.get("x-request-id"))

    async def _send(self, plan: _core.Plan) -> aiohttp.ClientResponse:
        """Send with retries; return a 2xx response or raise a mistral_lite exception."""
        session = self._pool.get()
        policy, operation, retry, built = plan.policy, plan.operation, 0, plan.built
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=plan.timeout[0], sock_read=plan.timeout[1])
        hooks, hub, call = self._hooks, plan.hub, plan.call
        while True:
            if self._pool.closed:  # aclose() while this call waited to retry
                raise _closed_in_flight(plan, retry)
            headers = dict(plan.headers)
            headers.update(built.headers)
            if call is not None:
                _observe.attempt_headers(call, retry + 1, headers)
            body = built.body
            watch = _WriteWatch.for_body(body, plan.timeout[1], headers)
            data: Any = watch.blocks(body) if watch is not None else body
            if http_logger.isEnabledFor(logging.DEBUG):
                log_request(built.method, built.url, headers, plan.secret)
            for hook in hooks.get("request", ()):
                hook(_Attempt(built.method, built.url, headers, body))
            try:
                response = await session.request(
                    built.method, URL(built.url, encoded=True), headers=headers, data=data, timeout=timeout,
                    trace_request_ctx=self._allow_insecure_http, max_redirects=_core.MAX_REDIRECTS,
                    proxy=self._pool.all_proxy(built.url),
                )
            except asyncio.CancelledError:
                if watch is None or not watch.fired:
                    raise
                exc = watch.timed_out()  # one block of the body did not go out within the read timeout
                wait = policy.decide(plan.retry_class, retry, reached_server=True)
                if wait is None:
                    raise _failure(exc, plan, retry) from None
                policy.log(operation, retry, describe(exc), wait)
            except aiohttp.TooManyRedirects:  # a loop: one error, never retried
                raise _core.too_many_redirects(plan, _core.MAX_REDIRECTS) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if isinstance(exc, aiohttp.ClientResponseError) and 100 <= exc.status < 200:
                    # 1xx, then no final response (see _interim): as the sync transport says
                    raise _core.unexpected_status(plan, exc.status, exc.headers or {}) from None
                if isinstance(exc, aiohttp.InvalidURL):
                    raise unsendable(exc, operation, plan.secret) from None
                if self._pool.closed:  # aclose() cut this call's connection: not retried
                    raise _closed_in_flight(plan, retry) from None
                wait = policy.decide(plan.retry_class, retry, reached_server=_reached_server(exc))
                if wait is None:
                    raise _failure(exc, plan, retry) from None
                policy.log(operation, retry, describe(exc), wait)
                if call is not None:
                    _observe.retrying(call, retry + 1, _failure_name(exc))
            except (ValueError, UnicodeError) as exc:  # a header or URL aiohttp cannot send
                raise unsendable(exc, operation, plan.secret) from None
            else:
                if watch is not None:  # answered: the rest of the body (if any) goes out untimed
                    watch.task = None
                    watch.disarm()
                status = response.status
                hub.headers = response.headers
                if http_logger.isEnabledFor(logging.DEBUG):
                    log_response(operation, status, 0.0, response.headers, plan.secret)
                if call is not None:
                    _observe.response(call, status, response.headers)
                for hook in hooks.get("response", ()):
                    hook(response)
                if 200 <= status < 300:
                    return response
                if status < 400:  # aiohttp follows redirects and skips 1xx but 101: this one was not followed
                    response.close()
                    raise _core.unexpected_status(plan, status, response.headers)
                retry_after = policy.retry_after_for(status, response.headers)
                wait = policy.decide(plan.retry_class, retry, status=status, retry_after=retry_after)
                try:
                    content, complete = await _read_up_to(response, _core.MAX_ERROR_BODY)
                except (aiohttp.ClientError, asyncio.TimeoutError):  # the error body broke off: keep the status
                    content, complete = b"", False
                except BaseException:  # a cancel mid-body: hang up now, the pool slot is free again
                    response.close()
                    raise
                if complete:
                    response.release()
                else:
                    response.close()
                if wait is None:
                    raise _core.status_error(plan, status, response.headers, content, retry + 1, retry_after)
                policy.log(operation, retry, f"HTTP {status}", wait)
                if call is not None:
                    _observe.retrying(call, retry + 1, f"HTTP {status}")
            await self.sleep(wait)
            retry += 1
            built = plan.next_attempt()

    # -- workflows from the table ------------------------------------------------------------
    async def _poll(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], waiter: Waiter,
                    on_progress: Callable[[Any], None] | None) -> Any:
        poller = self.with_options(cache=False)
        while True:
            result = await poller.call(operation, *args, **options)
            if on_progress is not None:
                on_progress(result)
            pause = waiter.step(result)
            if pause is None:
                return result
            await self.sleep(pause)

    async def run_batch(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        endpoint: str = "/v1/chat/completions",
        model: str | None = None,
        wait: bool = True,
        timeout: float = 24 * 3600.0,
        interval: float | None = None,
        on_progress: Callable[[Any], None] | None = None,
        inline: bool = False,
        **job_options: Any,
    ) -> Any:
        """Run requests through the batch API, as ``Client.run_batch`` (``inline=True``: inside
        the job, nothing uploaded)."""
        # import cost: the bulk modules load when a batch runs (here, on the loop: CPython < 3.11.8
        # can fail compiling in two threads at once, and batch_inputs runs on a worker thread)
        from mistral_lite._bulk.jobs import batch_inputs, batch_polling, batch_results, result_files

        with _observe.scope(self, "run_batch", endpoint=endpoint):  # a parent span for tracing
            ids, inputs = await asyncio.get_running_loop().run_in_executor(
                None, batch_inputs, self, requests, endpoint, model, on_progress, inline)
            if inline:
                job = await self.call("create_batch_job", requests=inputs, endpoint=endpoint, model=model,
                                      **job_options)
            else:
                with inputs:
                    uploaded = await self.call("upload_file", file=("batch.jsonl", inputs), purpose="batch")
                job = await self.call("create_batch_job", input_files=[uploaded["id"]], endpoint=endpoint, model=model,
                                      **job_options)
            if not wait:
                return job
            first, most = batch_polling(self, interval)
            waiter = Waiter(self, "get_batch_job", timeout=timeout, interval=first, clock=self.clock,
                            on_progress=on_progress, max_interval=most)
            query = {"job_id": job["id"], **({"inline": True} if inline else {})}
            job = await self._poll("get_batch_job", (), query, waiter, on_progress)
            contents = [await self.call("download_file", file_id) for file_id in result_files(job)]
            return batch_results(ids, job, contents)

    async def run_jsonl(self, input: Any, output: Any, **options: Any) -> BulkProgress:
        """A JSONL file of requests into a JSONL file of results, as ``Client.run_jsonl``
        (the live engine on asyncio tasks; the batch engine's waiting on a worker thread)."""
        from mistral_lite._bulk.aio import run_jsonl_async  # import cost: the bulk modules load when a run starts

        with _observe.scope(self, "run_jsonl", operation=options.get("operation", "chat"),
                            engine=options.get("engine", "live")):  # a parent span for tracing
            return await run_jsonl_async(self, input, output, **options)

    async def embed_many(
        self,
        texts: Iterable[str],
        *,
        model: str = "mistral-embed",
        batch_size: int | None = None,
        concurrency: int = 4,
        on_progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> list[list[float]]:
        """``Client.embed_many`` on tasks: ``await aclient.embed_many(texts)``."""
        from mistral_lite._methods.embed_many import embed_many_async  # only when used: a rarely used helper

        with _observe.scope(self, "embed_many", model=model):  # a parent span for tracing
            return await embed_many_async(self, texts, model, batch_size, concurrency, on_progress, options)

    async def download_outputs(self, result: Mapping[str, Any], directory: str | os.PathLike[str], *,
                               overwrite: bool = False) -> list[Path]:
        """``Client.download_outputs``: the ``tool_file`` chunks' files, named safely, written atomically."""
        loop = asyncio.get_running_loop()
        planned = await loop.run_in_executor(None, lambda: tool_files(result, directory, overwrite=overwrite))
        paths = []
        for file_id, target in planned:
            tmp = temporary_for(target)
            try:
                await self.call("download_file", file_id, to=tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            paths.append(await loop.run_in_executor(None, place_file, tmp, target, overwrite))
        return paths

    def transcribe_realtime(
        self, audio: Any, *, model: str, audio_format: Mapping[str, Any] | None = None,
        target_streaming_delay_ms: int | None = None, stream_timeout: float | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """``Client.transcribe_realtime`` natively: ``async for event in aclient.transcribe_realtime(...)``
        (no ``await``); ``audio`` may also be an async iterable of byte chunks, sent as they arrive."""
        from mistral_lite._http.realtime import events  # the WebSocket client: only when used

        return events(self, audio, model=model, audio_format=audio_format,
                      target_streaming_delay_ms=target_streaming_delay_ms, stream_timeout=stream_timeout)

    # -- lifecycle -----------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connections, if this client opened them (not a copy's, not a given session)."""
        if self._owns_pool:
            if self._threads is not None:
                self._threads.executor.shutdown(wait=False)
            await self._pool.close()  # calls in flight get APIConnectionError; later calls a MistralError

    def __repr__(self) -> str:
        return f"<mistral_lite.AsyncClient base_url={self._settings.base_url!r}>"


#: What ``AsyncClient(client=...)`` takes over from a sync client: settings, table, cache.
_SHARED_STATE = frozenset({"_settings", "_spec", "_endpoints", "_cache", "_fingerprint", "_allow_insecure_http",
                           "_observers"})


# -- helpers -----------------------------------------------------------------------------------
async def _read(response: aiohttp.ClientResponse, plan: _core.Plan) -> bytes:
    """A 2xx body, refusing one over ``plan.max_body`` decoded bytes (the shared cap)."""
    too_large = _core.declared_too_large(plan, response.headers)
    if too_large is not None:
        raise too_large  # the caller closes the response
    try:
        content, complete = await _read_up_to(response, plan.max_body)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _read_error(exc, plan.operation) from None
    if not complete:
        raise _core.body_too_large(plan, plan.max_body)
    return content


async def _read_up_to(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` decoded bytes of the body, and whether that was all of it."""
    kept = _core.Capped(limit)
    async for chunk in response.content.iter_chunked(_BLOCK):
        if not kept.add(chunk):
            return kept.content(), False
    return kept.content(), True


class _WriteWatch:
    """A write timeout aiohttp lacks: the read timeout bounds each block of a large body.

    aiohttp starts its read timeout only once the body is sent, so an upload to a server that
    stops reading waited forever. The body goes out block by block; a timer armed while each block
    is written cancels the sending task when it fires, and the transport reports a timeout.
    """

    __slots__ = ("fired", "handle", "seconds", "task")

    def __init__(self, seconds: float) -> None:
        self.seconds, self.fired = seconds, False
        self.task = asyncio.current_task()
        self.handle: asyncio.TimerHandle | None = None

    @classmethod
    def for_body(cls, body: Any, seconds: float, headers: dict[str, str]) -> _WriteWatch | None:
        """A watch for a body that may not fit the socket buffers (None for small ones: sent at once)."""
        if isinstance(body, MultipartBody):
            return cls(seconds)
        if isinstance(body, (bytes, bytearray)) and len(body) > _BLOCK:
            headers.setdefault("Content-Length", str(len(body)))  # sent as is, not chunked
            return cls(seconds)
        return None

    def _fire(self) -> None:
        self.fired = True
        if self.task is not None:
            self.task.cancel()

    def disarm(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def timed_out(self) -> aiohttp.ServerTimeoutError:
        task = self.task
        if task is not None and hasattr(task, "uncancel"):  # Python 3.11+: this cancel was ours
            task.uncancel()
        return aiohttp.ServerTimeoutError(f"no progress writing the request body for {self.seconds:g} s")

    async def blocks(self, body: Any) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        view = None if isinstance(body, MultipartBody) else memoryview(body)
        try:
            while True:  # reading a block is not timed; writing it is
                if view is None:
                    block = await loop.run_in_executor(None, body.read, _BLOCK)
                else:
                    block, view = bytes(view[:_BLOCK]), view[_BLOCK:]
                if not block:
                    return
                self.handle = loop.call_later(self.seconds, self._fire)
                yield block
                self.disarm()
        finally:
            self.disarm()


#: Interim responses read before a final one; more is an error (the sync transport's limit).
MAX_INTERIM = 16
_RESPONSE_CLASS: type[Any] | None = None


def _response_class() -> type[Any]:
    """aiohttp's response, told apart when 1xx came before the connection failed (aiohttp skips them)."""
    global _RESPONSE_CLASS
    if _RESPONSE_CLASS is not None:
        return _RESPONSE_CLASS

    class Response(aiohttp.ClientResponse):  # type: ignore[misc, unused-ignore]  # Any without aiohttp
        async def start(self, connection: Any) -> Any:
            protocol = connection.protocol
            if protocol is None:
                return await super().start(connection)
            read, interim = protocol.read, []

            async def counted() -> Any:
                message, payload = await read()
                if 100 <= message.code < 200 and message.code != 101:
                    interim.append(message)
                    if len(interim) > MAX_INTERIM:
                        raise _interim(self, message)
                    protocol.start_timeout()  # aiohttp stops the read timeout at a body-less message
                return message, payload

            protocol.read = counted
            try:
                return await super().start(connection)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                if interim:
                    raise _interim(self, interim[-1]) from exc
                raise
            finally:
                del protocol.read

    _RESPONSE_CLASS = Response
    return Response


def _interim(response: Any, message: Any) -> aiohttp.ClientResponseError:
    """Interim 1xx responses came, then no final one (the connection closed, broke or stalled): aiohttp's
    response error with the last 1xx status, which the send loop reports as the sync transport does."""
    return aiohttp.ClientResponseError(response.request_info, (), status=message.code, message="no final response",
                                       headers=message.headers)


async def _check_redirect(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    """Before aiohttp follows a redirect: refuse plain http on a non-loopback host, as the sync transport
    does, and drop every credential header when the target is another origin (aiohttp drops only
    ``Authorization``; ``params.headers`` are the headers it sends on)."""
    response = params.response
    allow_insecure_http = getattr(context, "trace_request_ctx", None) is True
    try:
        target = check_redirect(response.status, str(response.url), response.headers.get("Location", ""),
                                allow_insecure_http)
    except MistralError:
        response.close()
        raise
    if not same_origin(str(response.url), target):
        drop_credentials(params.headers)


async def _download(plan: _core.Plan, response: aiohttp.ClientResponse) -> Any:
    """Write the body to ``plan.to`` atomically, the file calls on worker threads."""
    loop = asyncio.get_running_loop()
    out = await loop.run_in_executor(None, Download, plan.to, _core.content_length(response.headers),
                                     plan.on_progress)
    try:
        out.received(0)  # progress is told on the loop
        async for chunk in response.content.iter_chunked(_BLOCK):
            await loop.run_in_executor(None, out.write, chunk)
            out.received(len(chunk))
        return await loop.run_in_executor(None, out.commit)
    except BaseException as exc:
        out.abort()  # two quick syscalls: fine on the loop, and possible even after a cancel
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            raise _read_error(exc, plan.operation) from None
        raise


def _reached_server(exc: BaseException) -> bool:
    """False only when the request provably never reached the server (connecting failed)."""
    return not isinstance(exc, (aiohttp.ClientConnectorError, getattr(aiohttp, "ConnectionTimeoutError", ())))


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError))


def _failure_name(exc: BaseException) -> str:
    """The class name of the error a failed attempt would raise (what observers see of a retry)."""
    return "APITimeoutError" if _is_timeout(exc) else "APIConnectionError"


def _failure(exc: BaseException, plan: _core.Plan, retry: int) -> MistralError:
    return connection_failure(exc, plan.operation, plan.built, retry, timed_out=_is_timeout(exc))


def _closed_in_flight(plan: _core.Plan, retry: int) -> APIConnectionError:
    built = plan.built
    return APIConnectionError(f"{plan.operation} ({built.method} {built.path}): the AsyncClient was closed "
                              "while the call was in flight", operation=plan.operation, attempts=retry + 1)


def _read_error(exc: BaseException, operation: str) -> MistralError:
    return read_error(exc, operation, _is_timeout(exc))
