"""The client: configuration, the connection pool, and the one dispatcher ``call``.

``Client`` holds the settings (API key, base URL, timeouts, retry policy, cache), owns a
``requests.Session`` unless one is passed in, and dispatches every operation the same way::

    look up the row → bind path arguments → fill required defaults → validate (all problems at
    once, before any I/O) → build the request → cache lookup → send with retries → typed error
    or decoded result → cache store / invalidation

The operation methods (``client.chat(...)`` and the 47 others) are generated from the table in
:mod:`mistral_lite._operations`; they call the same dispatcher.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from . import __version__
from ._cache import MISS, ResponseCache, key_fingerprint
from ._concurrency import Executor, run_map
from ._files import remember_positions, save_atomically
from ._json import decoder, loads
from ._operations import Operations
from ._request import Built, build_request
from ._retry import RetryPolicy
from ._streaming import Stream
from ._table import CALL_KEYWORDS, Endpoint, Spec, load_spec
from ._transport import Transport, configure_debug_logging, wrap_read_error
from ._validate import validate
from ._workflows import paginate, run_batch, wait
from .exceptions import MistralError, StreamError, UnknownOperationError, ValidationError

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["Client"]

USER_AGENT = f"mistral-lite/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
_NOT_SET: Any = object()


class _Settings:
    """What ``with_options`` may change; shared read-only by a client and its copies."""

    __slots__ = ("base_url", "headers", "policy", "stream_timeout", "timeout", "use_cache")

    def __init__(
        self, *, base_url: str, headers: Mapping[str, str], timeout: tuple[float, float], stream_timeout: float,
        policy: RetryPolicy, use_cache: bool,
    ) -> None:
        self.base_url, self.headers, self.timeout = base_url, headers, timeout
        self.stream_timeout, self.policy, self.use_cache = stream_timeout, policy, use_cache


#: Latin-1 text without control characters: what an HTTP header value can carry.
_SAFE_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\xa0-\xff]*")


def _check_base_url(url: str, allow_insecure_http: bool) -> str:
    """The base URL without a trailing slash or ``/v1``; plain http only to loopback hosts."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MistralError(f"base_url must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise MistralError(
            f"refusing to send the API key over plain http to {parts.hostname}; use https "
            "or pass allow_insecure_http=True"
        )
    return url


def _check_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Header values as strings an HTTP message can carry; a bad one is a ValueError (no I/O)."""
    out = {}
    for name, value in headers.items():
        if not isinstance(value, str) or not _SAFE_HEADER_VALUE.fullmatch(value) or not name.isascii():
            shown = "[redacted]" if name.lower() == "authorization" else repr(value)[:60]
            raise MistralError(f"header {name!r} must be a string of printable Latin-1 characters, got {shown}")
        out[name] = value
    return out


def _authorization(headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if name.lower() == "authorization":
            return value
    return ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _timeout(value: Any) -> tuple[float, float]:
    connect, read = value if isinstance(value, (tuple, list)) else (value, value)
    pair = float(connect), float(read)
    if not (pair[0] > 0 and pair[1] > 0):
        raise MistralError(f"timeouts are seconds greater than 0, got {value!r}")
    return pair


class _Injected:
    """Test hooks (time, randomness, another table), set only by ``mistral_lite._testing``."""

    __slots__ = ("clock", "rand", "sleep", "spec")

    def __init__(
        self, sleep: Callable[[float], None] | None = None, rand: Callable[[], float] | None = None,
        clock: Callable[[], float] | None = None, spec: Spec | None = None,
    ) -> None:
        self.sleep = time.sleep if sleep is None else sleep
        self.rand = random.random if rand is None else rand
        self.clock = time.monotonic if clock is None else clock
        self.spec = spec


#: Per-thread slot through which ``_testing.make_client`` hands hooks to the next constructor.
_INJECTED = threading.local()


class Client(Operations):
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

    Tests inject time, randomness or another table with ``mistral_lite._testing.make_client``.
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
    ) -> None:
        injected: _Injected = _INJECTED.__dict__.pop("value", None) or _Injected()
        sleep, rand, clock = injected.sleep, injected.rand, injected.clock
        self._spec = injected.spec or load_spec()
        defaults = self._spec.defaults
        key = (api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY", "")).strip()
        if not key:
            raise MistralError(
                "no API key: pass Client(api_key=...) or set the MISTRAL_API_KEY environment variable"
            )
        if not _SAFE_HEADER_VALUE.fullmatch(key) or " " in key:
            raise MistralError("the API key has characters an HTTP header cannot carry (spaces, control "
                               "or non-Latin-1 characters); check how it was read")
        url = _check_base_url(base_url or os.environ.get("MISTRAL_BASE_URL") or defaults["base_url"],
                              allow_insecure_http)
        retry_defaults = defaults.get("retry", {})
        policy = RetryPolicy(
            enabled=retry,
            max_retries=retry_defaults.get("max_retries", 3) if max_retries is None else max_retries,
            base_delay=float(retry_defaults.get("base_delay", 1.0)),
            max_delay=float(retry_defaults.get("max_delay", 60.0)),
            max_retry_after=float(
                retry_defaults.get("max_retry_after", 60.0) if max_retry_after is None else max_retry_after
            ),
            idempotent_statuses=frozenset(retry_defaults.get("idempotent_statuses", (408, 429, 500, 502, 503, 504))),
            create_statuses=frozenset(retry_defaults.get("create_statuses", (429,))),
            retry_after_statuses=frozenset(retry_defaults.get("retry_after_statuses", (429, 503))),
            retry_delay=retry_delay,
            log_level=retry_log_level,
            sleep=sleep,
            rand=rand,
        )
        base_headers = {"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT}
        base_headers.update(_check_headers(headers or {}))
        self._settings = _Settings(
            base_url=url,
            headers=base_headers,
            timeout=_timeout(timeout) if timeout is not None else (
                float(defaults.get("connect_timeout", 10.0)), float(defaults.get("read_timeout", 120.0))
            ),
            stream_timeout=float(
                stream_timeout if stream_timeout is not None else defaults.get("stream_timeout", 30.0)
            ),
            policy=policy,
            use_cache=True,
        )
        self._owns_session = session is None
        own = session if session is not None else requests.Session()
        send_kwargs: dict[str, Any] = dict(own.merge_environment_settings(url, {}, None, None, None))
        send_kwargs.pop("stream", None)
        self._transport = Transport(own, send_kwargs, hooks)
        self._fingerprint = key_fingerprint(_authorization(base_headers))
        self._allow_insecure_http = allow_insecure_http
        cache_defaults = defaults.get("cache", {})
        self._cache: ResponseCache | None = None
        if cache is True:
            self._cache = ResponseCache(
                ttl=float(cache_ttl if cache_ttl is not None else cache_defaults.get("ttl", 300.0)),
                maxsize=int(cache_maxsize if cache_maxsize is not None else cache_defaults.get("maxsize", 1024)),
                timer=clock,
            )
        elif cache is not False and cache is not None:
            self._cache = ResponseCache(
                cache, ttl=float(cache_ttl if cache_ttl is not None else cache_defaults.get("ttl", 300.0)), timer=clock
            )
        self._endpoints = self._spec.endpoints
        self.sleep = sleep
        self.clock = clock
        self._executor = Executor(max_workers=10)
        self._owns_pool = True
        configure_debug_logging()

    # -- configuration -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def timeout(self) -> tuple[float, float]:
        return self._settings.timeout

    @property
    def max_retries(self) -> int:
        return self._settings.policy.max_retries

    @property
    def session(self) -> requests.Session:
        return self._transport.session

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache (``stats`` gives hits, misses and size), or None."""
        return self._cache

    @property
    def operations(self) -> Mapping[str, Endpoint]:
        """Every operation of the table by name."""
        return self._endpoints

    def with_options(
        self,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream_timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        retry: bool | None = None,
        retry_delay: Callable[[int], float] | None = _NOT_SET,
        retry_log_level: int | bool | None = None,
        max_retry_after: float | None = None,
        cache: bool | None = None,
    ) -> Client:
        """A copy with some settings changed, sharing this client's pool and cache."""
        s = self._settings
        policy_changes: dict[str, Any] = {}
        if max_retries is not None:
            policy_changes["max_retries"] = max_retries
        if retry is not None:
            policy_changes["enabled"] = retry
        if retry_delay is not _NOT_SET:
            policy_changes["retry_delay"] = retry_delay
        if retry_log_level is not None:
            policy_changes["log_level"] = retry_log_level
        if max_retry_after is not None:
            policy_changes["max_retry_after"] = float(max_retry_after)
        merged_headers = dict(s.headers)
        merged_headers.update(_check_headers(headers or {}))
        settings = _Settings(
            base_url=_check_base_url(base_url, self._allow_insecure_http) if base_url else s.base_url,
            headers=merged_headers,
            timeout=_timeout(timeout) if timeout is not None else s.timeout,
            stream_timeout=float(stream_timeout) if stream_timeout is not None else s.stream_timeout,
            policy=s.policy.replace(**policy_changes) if policy_changes else s.policy,
            use_cache=s.use_cache if cache is None else cache,
        )
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._settings = settings
        clone._fingerprint = key_fingerprint(_authorization(merged_headers))  # the key actually sent
        clone._owns_session = False  # the original owns the connection pool and the threads
        clone._owns_pool = False
        return clone

    # -- workflows from the table ------------------------------------------------------------
    def paginate(self, operation: str, /, *args: Any, **options: Any) -> Iterator[Any]:
        """Yield the items of a list operation across all its pages.

        ``client.paginate("list_files", page_size=100, purpose="batch")``. Works for every row
        that declares ``paginate`` (page/page_size or a cursor), bare arrays included, and stops
        on an empty page, a short page, the reported total, or a missing cursor.
        """
        return paginate(self, operation, args, options)

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
        return wait(self, operation, args, options, timeout=timeout, interval=interval, on_progress=on_progress)

    def run_batch(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        endpoint: str = "/v1/chat/completions",
        model: str | None = None,
        wait: bool = True,
        timeout: float = 24 * 3600.0,
        interval: float = 10.0,
        on_progress: Callable[[Any], None] | None = None,
        **job_options: Any,
    ) -> Any:
        """Run requests through Mistral's batch API and return their results in input order.

        Each request is a request body, or ``{"custom_id": ..., "body": {...}}``. The JSONL is
        written to a temporary file, uploaded (purpose ``batch``), the job created (``endpoint``,
        ``model`` and any create_batch_job option such as ``metadata``), and, with ``wait=True``,
        polled until it ends; the output and error files are then downloaded and parsed.
        Returns a list of ``{"custom_id", "status_code", "body", "error"}`` (or, with
        ``wait=False``, the created job).
        """
        return run_batch(
            self, requests, endpoint=endpoint, model=model, wait_for_results=wait, timeout=timeout,
            interval=interval, on_progress=on_progress, job_options=job_options,
        )

    def submit(self, operation: str, /, *args: Any, **options: Any) -> Future[Any]:
        """Run one call on the client's worker pool; returns a ``concurrent.futures.Future``."""
        return self._executor.submit(self.call, operation, *args, **options)

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
        return run_map(self, operation, items, max_workers, return_exceptions)

    def close(self) -> None:
        """Stop the worker threads, and close the connection pool if this client created it."""
        if self._owns_pool:
            self._executor.shutdown()
        if self._owns_session:
            self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<mistral_lite.Client base_url={self._settings.base_url!r}>"

    # -- the dispatcher ----------------------------------------------------------------------
    def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        endpoint = self._endpoints.get(operation)
        if endpoint is None:
            import difflib

            close = difflib.get_close_matches(operation, list(self._endpoints), n=3, cutoff=0.5)
            raise UnknownOperationError(operation, close)
        if args:
            _bind(endpoint, args, options)
        extras: dict[str, Any] = {}
        if not CALL_KEYWORDS.isdisjoint(options):
            extras = {k: options.pop(k) for k in CALL_KEYWORDS if k in options}
            try:
                if extras.get("extra_headers"):
                    extras["extra_headers"] = _check_headers(extras["extra_headers"])
                if extras.get("timeout") is not None:
                    extras["timeout"] = _timeout(extras["timeout"])
            except MistralError as exc:
                raise ValidationError(operation, [("<call>", exc.message)]) from None
        for name, value in endpoint.fill.items():
            if options.get(name) is None:
                options[name] = value
        if None in options.values():
            options = {k: v for k, v in options.items() if v is not None}
        if endpoint.client or endpoint.body == "multipart":  # paths may be given as Path objects
            options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
        s = self._settings
        cache = self._cache if endpoint.cache and s.use_cache else None
        key: tuple[Any, ...] | None = None
        generation = 0
        if cache is not None:
            # looked up before validation: only valid options were ever stored under a key
            path = {name: str(options[name]) for name in endpoint.path_params if name in options}
            extra = {k: v for k, v in extras.items() if k.startswith("extra_")} or None
            key = cache.make_key(operation, s.base_url, self._fingerprint, path, options, extra)
            hit = cache.get(key)
            if hit is not MISS:
                return hit
            generation = cache.generation
        validate(endpoint, options, self._spec)
        stream = endpoint.stream != "none" and options.get("stream") is True

        rewind = remember_positions(options.values()) if endpoint.body == "multipart" else None

        def build() -> Built:
            if rewind is not None:
                rewind()
            return build_request(
                endpoint, s.base_url, options, stream=stream,
                extra_query=extras.get("extra_query"), extra_body=extras.get("extra_body"),
                extra_headers=extras.get("extra_headers"),
            )

        built = build()
        timeout = extras.get("timeout") or s.timeout
        to = built.client_options.get("to")
        if stream:
            stream_timeout = extras.get("stream_timeout")
            timeout = (timeout[0], float(stream_timeout if stream_timeout is not None else s.stream_timeout))
        response = self._transport.send(
            built, operation=operation, retry_class=endpoint.retry, policy=s.policy, headers=s.headers,
            timeout=timeout, stream=stream or to is not None,
            rebuild=build if endpoint.body == "multipart" else None,
        )
        if endpoint.invalidates and self._cache is not None:
            self._cache.invalidate(endpoint.invalidates, built.path_params)
        if stream:
            media = response.headers.get("Content-Type", "")
            if media.startswith("application/json"):  # the server did not stream after all
                response.close()
                raise StreamError(f"{operation}: stream=True was asked but the server answered {media}, "
                                  "not text/event-stream", operation=operation)
            return Stream(response, kind=endpoint.stream, operation=operation, loads=decoder(),
                          end_event=endpoint.stream_end, error_event=endpoint.stream_error)
        result = self._decode(endpoint, response, to, extras.get("on_progress"))
        if cache is not None and key is not None:
            cache.put(key, result, generation)
        return result

    def _decode(
        self, endpoint: Endpoint, response: requests.Response, to: Any,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> Any:
        kind = endpoint.response
        if to is not None:
            try:
                with response:
                    chunks = response.iter_content(1 << 16)
                    if on_progress is not None:
                        chunks = _reporting(chunks, response, on_progress)
                    return save_atomically(chunks, to)
            except requests.RequestException as exc:
                raise wrap_read_error(exc, endpoint.name) from None
        content = response.content
        if on_progress is not None:
            on_progress(len(content), len(content))
        if kind == "bytes":
            return content
        if kind == "empty" or not content:
            return {}
        try:
            return loads(content)
        except ValueError:
            rid = response.headers.get("x-request-id")
            raise MistralError(
                f"{endpoint.name}: the server sent a body that is not JSON"
                + (f" [request id {rid}]" if rid else ""),
                operation=endpoint.name,
            ) from None


def _reporting(
    chunks: Iterator[bytes], response: requests.Response, on_progress: Callable[[int, int | None], None]
) -> Iterator[bytes]:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    done = 0
    on_progress(0, total)
    for chunk in chunks:
        done += len(chunk)
        on_progress(done, total)
        yield chunk


def _bind(endpoint: Endpoint, args: tuple[Any, ...], options: dict[str, Any]) -> None:
    names = endpoint.path_params
    if len(args) > len(names):
        raise TypeError(
            f"{endpoint.name}() takes {len(names)} positional argument(s) "
            f"({', '.join(names) or 'none'}) but {len(args)} were given; options are keyword-only"
        )
    for name, value in zip(names, args):
        if name in options:
            raise TypeError(f"{endpoint.name}() got multiple values for argument {name!r}")
        options[name] = value


