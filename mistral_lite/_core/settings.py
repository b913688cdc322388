"""What both clients share before any I/O: their settings, checked once, and ``with_options``.

:class:`ClientBase` turns the constructor's arguments (API key, base URL, timeouts, retry
policy, cache, headers) into one read-only :class:`Settings` object plus the cache and the
key's fingerprint. ``Client`` (requests) and ``AsyncClient`` (aiohttp) inherit it and add only
their transport; planning and finishing a call live in :mod:`mistral_lite._core.call`.
"""

from __future__ import annotations

import ipaddress
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mistral_lite._core.cache import ResponseCache, key_fingerprint
from mistral_lite._core.credentials import Secret, canonical_headers, credential
from mistral_lite._core.extras import needs
from mistral_lite._core.headers import RateLimit
from mistral_lite._core.inputs import SAFE_HEADER_VALUE, client_problems, headers_problem, timeout_pair
from mistral_lite._core.observe import Hub, Observer
from mistral_lite._core.retry import RetryPolicy
from mistral_lite._core.usage import UsageTracker
from mistral_lite._table import Endpoint, Spec, load_spec
from mistral_lite._version import __version__
from mistral_lite.exceptions import MistralError, ValidationError

__all__ = ["ClientBase", "Settings"]

#: Default cap on a decoded response body held in memory (bytes); downloads to a file are not capped.
MAX_RESPONSE_SIZE = 256 << 20
USER_AGENT = f"mistral-lite/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
_NOT_SET: Any = object()
_C = TypeVar("_C", bound="ClientBase")


class Settings:
    """What ``with_options`` may change; shared read-only by a client and its copies."""

    __slots__ = ("base_url", "headers", "max_response_size", "policy", "secret", "stream_timeout", "timeout",
                 "use_cache")

    def __init__(
        self, *, base_url: str, headers: Mapping[str, str], timeout: tuple[float, float], stream_timeout: float,
        policy: RetryPolicy, use_cache: bool, max_response_size: int = MAX_RESPONSE_SIZE,
    ) -> None:
        self.base_url, self.headers, self.timeout = base_url, headers, timeout
        self.stream_timeout, self.policy, self.use_cache = stream_timeout, policy, use_cache
        self.max_response_size = max_response_size
        #: the credential sent, redacted from error bodies, logs and unsendable-request messages
        self.secret = credential(headers)


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def base_url_problem(url: str, allow_insecure_http: bool) -> str | None:
    """What is wrong with a base URL (reported with the constructor's other problems), or None."""
    not_http = f"base_url must be an http(s) URL, got {_base_url(url)!r}"
    try:
        parts = urlsplit(_base_url(url))
        hostname = parts.hostname
        parts.port  # noqa: B018  # raises for a port that is not a number in 0-65535
    except ValueError:  # an unclosed [ in the netloc, a bad port
        return not_http
    if not hostname or parts.scheme not in ("http", "https"):
        return not_http
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(hostname):
        return f"refusing to send the API key over plain http to {hostname}; use https or pass allow_insecure_http=True"
    return None


def check_base_url(url: str, allow_insecure_http: bool) -> str:
    """The base URL without a trailing slash or ``/v1``; plain http only to loopback hosts."""
    problem = base_url_problem(url, allow_insecure_http)
    if problem:
        raise MistralError(problem)
    return _base_url(url)


def check_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Headers an HTTP message can carry, names canonical; a bad one is a MistralError (no I/O)."""
    problem = headers_problem(headers)
    if problem:
        raise MistralError(problem)
    return canonical_headers(headers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_timeout(value: Any) -> tuple[float, float]:
    """``(connect, read)`` seconds from a number or a pair; both finite and positive."""
    checked = timeout_pair(value)
    if isinstance(checked, str):
        raise MistralError(checked)
    return checked


#: ``MISTRAL_LITE_TRACING`` values that turn tracing on and off (any case).
TRACING_ON, TRACING_OFF = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})


def tracing_observer(tracing: bool | None, tracer_provider: Any, meter_provider: Any, trace_content: bool,
                     problems: list[tuple[str, str]]) -> Any:
    """The OpenTelemetry observer the settings ask for (``mistral_lite._core.otel.Tracer``), or None.

    ``tracing=None`` (the default) reads ``MISTRAL_LITE_TRACING``; a provider given turns it on
    too. With tracing off nothing of OpenTelemetry is imported. Problems go to ``problems``.
    """
    if tracing is None:
        env = os.environ.get("MISTRAL_LITE_TRACING", "").strip().lower()
        if env not in TRACING_ON | TRACING_OFF:
            problems.append(("MISTRAL_LITE_TRACING", f"expected 1 or 0 (true/false, yes/no, on/off), got {env!r:.40}"))
            return None
        tracing = env in TRACING_ON or tracer_provider is not None or meter_provider is not None
    elif not tracing and (tracer_provider is not None or meter_provider is not None):
        problems.append(("tracing", "tracing=False, but a tracer_provider or meter_provider was given"))
    if not tracing or problems:
        return None
    try:
        from mistral_lite._core import otel as _otel  # imports opentelemetry: only when tracing is on
    except ImportError as exc:
        problems.append(("tracing", f"{needs('tracing needs OpenTelemetry', 'otel')} ({exc})"))
        return None
    return _otel.Tracer(tracer_provider, meter_provider, trace_content)


class Injected:
    """Test hooks (time, randomness, another table), set only by ``mistral_lite._dev.testing``.

    ``sleep`` is whatever the test gave: a plain function for ``Client``; for ``AsyncClient``
    a plain function or a coroutine function (see ``mistral_lite._dev.testing.make_client``).
    """

    __slots__ = ("clock", "rand", "sleep", "spec")

    def __init__(
        self, sleep: Callable[[float], Any] | None = None, rand: Callable[[], float] | None = None,
        clock: Callable[[], float] | None = None, spec: Spec | None = None,
    ) -> None:
        self.sleep = sleep
        self.rand = random.random if rand is None else rand
        self.clock = time.monotonic if clock is None else clock
        self.spec = spec


#: Per-thread slot through which ``mistral_lite._dev.testing.make_client`` hands hooks to the next constructor.
INJECTED = threading.local()

#: The constructor arguments ``Client`` and ``AsyncClient`` share (besides ``api_key``), all checked here.
SHARED_ARGUMENTS = ("base_url", "timeout", "stream_timeout", "headers", "max_retries", "retry", "retry_delay",
                    "retry_log_level", "max_retry_after", "cache", "cache_ttl", "cache_maxsize",
                    "allow_insecure_http", "max_response_size", "tracing", "tracer_provider", "meter_provider",
                    "trace_content")


class ClientBase:
    """Settings, table, cache and key fingerprint: everything a client holds but its transport."""

    _settings: Settings
    _spec: Spec
    _endpoints: Mapping[str, Endpoint]
    _cache: ResponseCache | None
    _fingerprint: str
    _allow_insecure_http: bool
    _observers: Hub  # shared with the with_options copies

    def _setup(self, api_key: str | None, arguments: Mapping[str, Any],
               transport_settings: Mapping[str, Any]) -> Injected:
        """Both constructors' one step: ``arguments`` are the constructor's (its ``locals()``), of which
        the :data:`SHARED_ARGUMENTS` are checked and stored; ``transport_settings`` (the subclass's
        own, such as ``hooks`` and ``session``) are checked with them, every problem in one error."""
        shared = {name: arguments[name] for name in SHARED_ARGUMENTS}
        return self._configure(api_key, transport_settings=transport_settings, **shared)

    def _configure(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        timeout: float | tuple[float, float] | None,
        stream_timeout: float | None,
        headers: Mapping[str, str] | None,
        max_retries: int | None,
        retry: bool,
        retry_delay: Callable[[int], float] | None,
        retry_log_level: int | bool,
        max_retry_after: float | None,
        cache: bool | MutableMapping[Any, Any],
        cache_ttl: float | None,
        cache_maxsize: int | None,
        allow_insecure_http: bool,
        transport_settings: Mapping[str, Any] | None = None,
        max_response_size: int | None = None,
        tracing: bool | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        trace_content: bool = False,
    ) -> Injected:
        """Check and store the settings; returns the injected test hooks (or the real ones).

        Every argument is checked first, ``transport_settings`` (a subclass's own, such as
        ``hooks`` and ``session``) included, and all problems raised in one ValidationError.
        """
        injected: Injected = INJECTED.__dict__.pop("value", None) or Injected()
        given = {k: v for k, v in locals().items() if k not in ("self", "injected", "transport_settings")}
        problems = client_problems({**given, **(transport_settings or {})})
        del given  # holds the key: keep it out of traceback locals
        tracer = tracing_observer(tracing, tracer_provider, meter_provider, trace_content, problems)
        url = base_url or os.environ.get("MISTRAL_BASE_URL")
        if url and isinstance(url, str):  # a bad one is reported with the other problems
            problem = base_url_problem(url, allow_insecure_http is True)
            if problem:
                problems.append(("base_url", problem))
        if problems:
            raise ValidationError(type(self).__name__, problems)
        self._spec = injected.spec or load_spec()
        defaults = self._spec.defaults
        key = Secret((api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY", "")).strip())
        api_key = None  # from here on only the Secret, whose repr hides it, is in this frame
        if not key:
            raise MistralError(
                "no API key: pass Client(api_key=...) or set the MISTRAL_API_KEY environment variable"
            )
        if not SAFE_HEADER_VALUE.fullmatch(key) or " " in key:
            raise MistralError("the API key has characters an HTTP header cannot carry (spaces, control "
                               "or non-Latin-1 characters); check how it was read")
        url = check_base_url(base_url or os.environ.get("MISTRAL_BASE_URL") or defaults["base_url"],
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
            sleep=injected.sleep if injected.sleep is not None else time.sleep,
            rand=injected.rand,
        )
        base_headers = {"Authorization": Secret(f"Bearer {key}"), "User-Agent": USER_AGENT}
        base_headers.update(check_headers(headers or {}))  # canonical names: a user's "authorization" replaces ours
        self._settings = Settings(
            base_url=url,
            headers=base_headers,
            timeout=check_timeout(timeout) if timeout is not None else (
                float(defaults.get("connect_timeout", 10.0)), float(defaults.get("read_timeout", 120.0))
            ),
            stream_timeout=float(
                stream_timeout if stream_timeout is not None else defaults.get("stream_timeout", 30.0)
            ),
            policy=policy,
            use_cache=True,
            max_response_size=MAX_RESPONSE_SIZE if max_response_size is None else max_response_size,
        )
        self._fingerprint = key_fingerprint(base_headers["Authorization"])
        self._allow_insecure_http = allow_insecure_http
        cache_defaults = defaults.get("cache", {})
        self._cache = None
        ttl = float(cache_ttl if cache_ttl is not None else cache_defaults.get("ttl", 300.0))
        if cache is True:
            self._cache = ResponseCache(
                ttl=ttl,
                maxsize=int(cache_maxsize if cache_maxsize is not None else cache_defaults.get("maxsize", 1024)),
                timer=injected.clock,
            )
        elif cache is not False and cache is not None:
            self._cache = ResponseCache(cache, ttl=ttl, timer=injected.clock)
        self._endpoints = self._spec.endpoints
        self._observers = Hub()
        if tracer is not None:
            self._observe(tracer)
        return injected

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
    def cache(self) -> ResponseCache | None:
        """The response cache (``stats`` gives hits, misses and size), or None."""
        return self._cache

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit state of the latest response this client or a ``with_options`` copy
        received (errors included), or None (no response yet, or it carried no rate-limit header)."""
        return self._observers.rate_limit

    def track_usage(self) -> UsageTracker:
        """``with client.track_usage() as usage:`` (``async with`` too, on AsyncClient): requests,
        failures, retries, tokens, OCR pages and audio seconds of every call this client and its
        ``with_options`` copies make while the block is open, in total and ``usage.by_model``;
        ``usage.cost(prices)`` prices the tokens. See the README's "Usage totals"."""
        return UsageTracker(self._observers)

    def _observe(self, observer: Observer) -> Any:
        """Register a call observer (see :mod:`mistral_lite._core.observe`) on this client and its copies;
        returns a callable (and context manager) that removes it."""
        return self._observers.add(observer)

    @property
    def operations(self) -> Mapping[str, Endpoint]:
        """Every operation of the table by name."""
        return self._endpoints

    def with_options(
        self: _C,
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
        max_response_size: int | None = None,
    ) -> _C:
        """A copy with some settings changed, sharing this client's pool and cache."""
        problems = client_problems({k: v for k, v in locals().items() if v is not _NOT_SET and k != "self"})
        if base_url and isinstance(base_url, str):
            problem = base_url_problem(base_url, self._allow_insecure_http)
            if problem:
                problems.append(("base_url", problem))
        if problems:
            raise ValidationError("with_options", problems)
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
        merged_headers.update(check_headers(headers or {}))
        settings = Settings(
            base_url=check_base_url(base_url, self._allow_insecure_http) if base_url else s.base_url,
            headers=merged_headers,
            timeout=check_timeout(timeout) if timeout is not None else s.timeout,
            stream_timeout=float(stream_timeout) if stream_timeout is not None else s.stream_timeout,
            policy=s.policy.replace(**policy_changes) if policy_changes else s.policy,
            use_cache=s.use_cache if cache is None else cache,
            max_response_size=s.max_response_size if max_response_size is None else max_response_size,
        )
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._settings = settings
        clone._fingerprint = key_fingerprint(merged_headers["Authorization"])  # the key actually sent
        clone._borrowed()
        return clone

    def _borrowed(self) -> None:
        """Called on a ``with_options`` copy: it must not close what the original owns."""
