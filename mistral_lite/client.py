"""The client: configuration, the connection pool, and the one dispatcher ``call``.

``Client`` holds the settings (API key, base URL, timeouts, retry policy, cache; see
:mod:`mistral_lite._core.settings`), owns a ``requests.Session`` unless one is passed in, and dispatches
every operation through the transport-free core (:mod:`mistral_lite._core.call`)::

    plan (row, binding, fill, cache lookup, validation, request) → the requests transport's
    retry loop (:mod:`mistral_lite._http.sync`) → invalidation → a Stream, a download, or the
    decoded result (stored in the cache)

The operation methods (``client.chat(...)`` and one for every other row) are generated from the table in
:mod:`mistral_lite._methods.operations`; they call the same dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from mistral_lite._core import call as _core
from mistral_lite._core import observe as _observe
from mistral_lite._core.concurrency import Executor
from mistral_lite._core.raw import decode_raw, plan_raw
from mistral_lite._core.settings import ClientBase
from mistral_lite._http.common import Closing, configure_debug_logging
from mistral_lite._http.sync import Transport, download, new_session, open_stream
from mistral_lite._methods.conversations import place_file, temporary_for, tool_files
from mistral_lite._methods.operations import Operations
from mistral_lite._methods.raw_response import RawResponse

if TYPE_CHECKING:
    import os
    from http.server import BaseHTTPRequestHandler
    from pathlib import Path

    import requests

    from mistral_lite._bulk.prepare import BulkProgress

__all__ = ["Client", "in_process_session"]


def in_process_session(handler: type[BaseHTTPRequestHandler], base_url: str) -> requests.Session:
    """A ``requests.Session`` whose requests to ``base_url`` are answered by ``handler`` in this
    process, without sockets (what ``FakeMistral.session()`` returns)."""
    # the in-process adapter loads only for a fake's session (import cost)
    from mistral_lite._http.inprocess import in_process_session as session

    return session(handler, base_url)

class Client(ClientBase, Operations, Closing):
    """A Mistral API client.

    Args:
        api_key: the API key; defaults to the ``MISTRAL_API_KEY`` environment variable.
        base_url: defaults to ``MISTRAL_BASE_URL``, then ``https://api.mistral.ai``.
        timeout: seconds, a number or ``(connect, read)``; default ``(10, 120)``.
        stream_timeout: seconds without a byte before a stream raises; default 30.
        headers: extra headers sent with every request.
        session: a ``requests.Session`` to use; it is never mutated or closed by the client.
        max_retries, retry, retry_delay, retry_log_level, max_retry_after: see the README's
            retry section; ``retry=False`` disables retries.
        cache: ``True`` for a private TTL cache, or a mutable mapping shared between clients.
        cache_ttl, cache_maxsize: the private cache's size and entry lifetime (seconds).
        allow_insecure_http: allow sending the key over plain http to a non-loopback host.
        hooks: ``{"request": [fn, ...], "response": [fn, ...]}`` observers of every attempt.
        max_response_size: the largest decoded body (bytes) read into memory; default 256 MiB.
        tracing, tracer_provider, meter_provider, trace_content: OpenTelemetry spans and metrics
            for every call (the ``otel`` extra; default: ``MISTRAL_LITE_TRACING``, else off); see
            the README's "Tracing (OpenTelemetry)" section.

    Tests inject time, randomness or another table with ``mistral_lite._dev.testing.make_client``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream_timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
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
        max_response_size: int | None = None,
        tracing: bool | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        trace_content: bool = False,
    ) -> None:
        injected = self._setup(api_key, locals(), {"hooks": hooks, "session": session})
        url = self._settings.base_url
        self._owns_session = session is None
        own = session if session is not None else new_session()
        self._transport = Transport.for_url(own, url, hooks, allow_insecure_http, owns_session=session is None)
        self.sleep = self._settings.policy.sleep
        self.clock = injected.clock
        self._executor = Executor(max_workers=10)
        self._owns_pool = True
        configure_debug_logging()

    @property
    def session(self) -> requests.Session:
        return self._transport.session

    def _borrowed(self) -> None:
        self._owns_session = False  # the original owns the connection pool and the threads
        self._owns_pool = False
        self._transport = self._transport.rebased(self._settings.base_url)  # proxies decided per base URL

    def _widen_pool(self, connections: int) -> None:
        """Keep ``connections`` pooled connections per host for a run that many threads wide
        (a session passed in is never changed)."""
        self._transport.ensure_pool(connections)

    # -- workflows from the table (paginate, wait, submit and map are Operations') -----------
    def run_batch(
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
        """Run requests through Mistral's batch API and return their results in input order.

        Each request is a request body, or ``{"custom_id": ..., "body": {...}}``; every body is
        checked against the schema of the operation serving ``endpoint`` before anything is
        uploaded (``BulkInputError`` lists the bad ones by number, from 1). The job is polled
        every ``interval`` seconds, or by default after 1 s, then 1.5 times longer each time up
        to 60 s (``[defaults.batch]``); ``on_progress(job)`` sees each poll. The JSONL is
        written to a temporary file, uploaded (purpose ``batch``), the job created (``endpoint``,
        ``model`` and any create_batch_job option such as ``metadata``), and, with ``wait=True``,
        polled until it ends; the output and error files are then downloaded and parsed.
        Returns a list of ``{"custom_id", "status_code", "body", "error"}`` (or, with
        ``wait=False``, the created job). With ``inline=True`` (at most 10,000 requests) the
        requests go inside the job (``requests``), nothing is uploaded, the job is polled with
        ``inline=true`` and the results come from its ``outputs``, in the same shape.
        """
        from mistral_lite._bulk.jobs import run_batch  # import cost: the bulk modules load when a batch runs

        with _observe.scope(self, "run_batch", endpoint=endpoint):  # a parent span for tracing
            return run_batch(
                self, requests, endpoint=endpoint, model=model, wait_for_results=wait, timeout=timeout,
                interval=interval, on_progress=on_progress, job_options=job_options, inline=inline,
            )

    def run_jsonl(
        self,
        input: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        operation: str = "chat",
        engine: str = "live",
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        resume: bool = True,
        skip_invalid: bool = False,
        on_progress: Callable[[BulkProgress], None] | None = None,
        model: str | None = None,
        timeout: float = 24 * 3600.0,
    ) -> BulkProgress:
        """Run a JSONL file of requests (``{"custom_id", "body"}`` a line) into a JSONL file of
        results (the batch API's output format), resumably; see the README's "Bulk runs".

        ``engine="live"`` calls ``operation`` for each line, ``concurrency`` at a time, paced
        within ``requests_per_minute`` / ``tokens_per_minute`` and slowing down on 429s;
        ``engine="batch"`` runs the same file through Mistral's batch API (``model`` is the
        job's model, ``timeout`` the seconds to wait for the jobs). Every body is checked
        against the operation's schema first: bad lines raise ``BulkInputError`` (nothing is
        sent) unless ``skip_invalid``, which writes their errors instead. Returns the counts.
        """
        from mistral_lite._bulk.run import run_jsonl  # import cost: the bulk modules load when a run starts

        with _observe.scope(self, "run_jsonl", operation=operation, engine=engine):  # a parent span for tracing
            return run_jsonl(
                self, input, output, operation=operation, engine=engine, concurrency=concurrency,
                requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                skip_invalid=skip_invalid, on_progress=on_progress, model=model, timeout=timeout,
            )

    def embed_many(
        self,
        texts: Iterable[str],
        *,
        model: str = "mistral-embed",
        batch_size: int | None = None,
        concurrency: int = 4,
        on_progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> list[list[float]]:
        """Embed many texts: one vector per text, in input order.

        Batches stay within the API's limits (the table's 512 inputs and 16,384 tokens a
        request; ``batch_size`` caps the inputs), ``concurrency`` of them at once on threads,
        each retried like any call; ``on_progress(done, total)`` runs on this thread after each
        batch. Other options (``output_dimension``, ...) go to every ``embed`` call.
        """
        from mistral_lite._methods.embed_many import embed_many  # only when used: a rarely used helper

        with _observe.scope(self, "embed_many", model=model):  # a parent span for tracing
            return embed_many(self, texts, model, batch_size, concurrency, on_progress, options)

    def download_outputs(
        self, result: Mapping[str, Any], directory: str | os.PathLike[str], *, overwrite: bool = False
    ) -> list[Path]:
        """Download the file of every ``tool_file`` chunk of a result into ``directory``; return the paths.

        Each file is named by its chunk's ``file_name`` (its ``file_id`` when that is null),
        made safe: the last path component only, no control characters, no dot names. An
        existing file is never replaced unless ``overwrite=True`` (checked for every file before
        the first download); each file is written through a temporary file renamed into place.
        """
        paths = []
        for file_id, target in tool_files(result, directory, overwrite=overwrite):
            tmp = temporary_for(target)
            try:
                self.call("download_file", file_id, to=tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            paths.append(place_file(tmp, target, overwrite))
        return paths

    def transcribe_realtime(
        self, audio: Any, *, model: str, audio_format: Mapping[str, Any] | None = None,
        target_streaming_delay_ms: int | None = None, stream_timeout: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Transcribe audio over the realtime WebSocket: an iterator of the server's events.

        ``audio`` is bytes, a path to raw PCM, or an iterable of byte chunks (sent as they
        come). Every server message is yielded as a dict, in order, from ``session.created`` to
        ``transcription.done``. ``audio_format`` (``{"encoding", "sample_rate"}``) and
        ``target_streaming_delay_ms``, when given, are sent in a ``session.update`` before the
        audio. Needs the ``async`` extra (aiohttp); runs on a private event loop in a thread.
        An ``error`` event raises ``StreamError``; leaving the loop early closes the socket.
        """
        from mistral_lite._http.realtime import sync_events  # the WebSocket client (asyncio, aiohttp): only when used

        return sync_events(self, audio, model=model, audio_format=audio_format,
                           target_streaming_delay_ms=target_streaming_delay_ms, stream_timeout=stream_timeout)

    def close(self) -> None:
        """Stop the worker threads, and close the connection pool if this client created it."""
        if self._owns_pool:
            self._executor.shutdown()
        if self._owns_session:
            self._transport.close()

    def __repr__(self) -> str:
        return f"<mistral_lite.Client base_url={self._settings.base_url!r}>"

    # -- the dispatcher: the shared core around the requests transport ------------------------
    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
        data: Any = None, files: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
        stream: bool = False, timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        """Call an endpoint the table has no row for yet: ``client.request("GET", "/v1/new/thing")``.

        Same transport as every operation (the key and headers, retries by the method's
        idempotency, typed errors with the request id, redaction). ``params`` become the query
        (lists as repeated keys), ``json`` the JSON body; ``data`` is a form (a mapping) or raw
        bytes, and with ``files`` (name -> path, bytes, file object or ``(filename, content)``)
        the fields of a multipart body. Returns the decoded JSON, the bytes of any other media, or
        None when the answer has no body; with ``stream=True``, a Stream of event dicts.
        """
        plan = plan_raw(self, method, path, params=params, json=json, data=data, files=files, headers=headers,
                        stream=stream, timeout=timeout)
        observers = self._observers.observers
        if observers:
            with _observe.Watch(_observe.start(plan, observers)) as watch:
                return watch.done(self._complete_raw(plan))
        return self._complete_raw(plan)

    def _complete_raw(self, plan: _core.Plan) -> Any:
        response = self._transport.send(plan)
        if plan.stream:
            return open_stream(plan, response)
        return decode_raw(response.content, response.headers.get("Content-Type", ""),
                          response.headers.get("x-request-id"))

    def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any], raw: bool = False) -> Any:
        plan = _core.plan(self, operation, args, options, not raw)
        if plan.hit is not _core.MISS:
            return plan.hit
        observers = self._observers.observers
        if observers or raw:
            call = _observe.start(plan, observers)
            with _observe.Watch(call) as watch:
                result = watch.done(self._complete(plan))
            return RawResponse(call, result) if raw else result
        return self._complete(plan)

    def _complete(self, plan: _core.Plan) -> Any:
        response = self._transport.send(plan)
        _core.invalidate(self, plan)
        if plan.stream:
            return _core.finish_stream(plan, open_stream(plan, response))
        if plan.to is not None:
            return _core.store(plan, download(plan, response))
        return _core.finish(plan, response.content, response.headers.get("x-request-id"),
                            status=response.status_code, content_type=response.headers.get("Content-Type"))

