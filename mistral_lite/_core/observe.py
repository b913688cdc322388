"""Call events: what observers (usage totals, raw responses, tracing) see of every call.

A client's ``_observers`` is a :class:`Hub` shared with its ``with_options`` copies (and with an
``AsyncClient(client=...)`` wrapping it). Observers are kept in a copy-on-write tuple; with none
registered, a call costs the dispatcher one attribute check, and the transports one more per
attempt (they also note the latest response's headers, for ``client.rate_limit``).

With observers (or when a raw response was asked for) the dispatcher makes a :class:`CallRecord`
and the events fire in this order, on the caller's thread or task::

    call_started(call)
    per attempt n (from 1):  attempt_headers(call, n) -> extra request headers for that attempt
                             response(call, status, headers)        (each HTTP response received)
                             retrying(call, n, reason)              (before the wait, when retried)
    per stream item:         chunk(call, item)
    call_ended(call, result, error)                                 (exactly once)

``call_ended`` comes after a plain call's result is decoded (``result`` is what the caller gets),
or with the :class:`MistralError` it raised; for a stream, when it is read to its end, closed
early (``result`` and ``error`` None) or fails (``error`` set). A call answered from the cache
makes no record and fires nothing. An observer that raises is logged (``mistral_lite`` logger)
and never changes the call. :func:`scope` lets bulk runs and tool loops open a parent scope
(a span) around many calls. Nothing here imports a transport.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mistral_lite._core.headers import RateLimit

if TYPE_CHECKING:
    from mistral_lite._core.call import Plan
    from mistral_lite._table import Endpoint

__all__ = ["CallRecord", "Hub", "Observer", "Watch", "scope"]

logger = logging.getLogger("mistral_lite")


class Observer:
    """Base class of call observers; every method is a no-op. Called on the caller's thread/task."""

    def call_started(self, call: CallRecord) -> None:
        """A call is about to send its first attempt."""

    def attempt_headers(self, call: CallRecord, attempt: int) -> Mapping[str, str]:
        """Extra request headers for attempt ``attempt`` (from 1), e.g. ``traceparent``."""
        return {}

    def retrying(self, call: CallRecord, attempt: int, reason: str) -> None:
        """Attempt ``attempt`` failed (``reason``: ``"HTTP 503"``, ``"APIConnectionError: ..."``) and is retried."""

    def response(self, call: CallRecord, status: int, headers: Mapping[str, str]) -> None:
        """An HTTP response arrived (every attempt, errors included)."""

    def chunk(self, call: CallRecord, item: Any) -> None:
        """A decoded stream item, in order."""

    def call_ended(self, call: CallRecord, result: Any, error: BaseException | None) -> None:
        """The call is over (exactly once); see the module docstring."""

    def scope_started(self, name: str, attrs: Mapping[str, Any]) -> Any:
        """A parent scope (a bulk run, a tool loop) opens; the value returned is given back at its end."""
        return None

    def scope_ended(self, token: Any, error: BaseException | None) -> None:
        """The scope :meth:`scope_started` returned ``token`` for is over."""


class CallRecord:
    """One call as observers see it: made by the dispatcher, updated by the transport."""

    __slots__ = ("_ended", "attempts", "body", "endpoint", "headers", "method", "model", "observers",
                 "operation", "scratch", "started", "status", "stream", "url")

    def __init__(self, plan: Plan, observers: tuple[Observer, ...]) -> None:
        built = plan.built
        self.operation: str = plan.operation
        self.endpoint: Endpoint = plan.endpoint
        self.method: str = built.method
        self.url: str = built.url
        body = built.json_body
        self.body: Mapping[str, Any] | None = body if isinstance(body, Mapping) else None
        model = body.get("model") if isinstance(body, Mapping) else None
        self.model: str | None = model if isinstance(model, str) else None
        self.stream: bool = plan.stream
        self.started = time.perf_counter()
        self.attempts = 1
        self.status: int | None = None
        self.headers: Mapping[str, str] | None = None
        self.scratch: dict[Any, Any] = {}
        self.observers = observers
        self._ended = False

    @property
    def server_address(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def server_port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def elapsed(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self.started

    @property
    def ended(self) -> bool:
        return self._ended

    def __repr__(self) -> str:
        return f"<CallRecord {self.operation} {self.method} attempts={self.attempts} status={self.status}>"


def _each(call: CallRecord, method: str, *args: Any) -> None:
    for observer in call.observers:
        try:
            getattr(observer, method)(call, *args)
        except Exception:
            logger.exception("mistral_lite: observer %r failed in %s", observer, method)


# -- the events (called by the dispatchers and the transports) --------------------------------
def start(plan: Plan, observers: tuple[Observer, ...]) -> CallRecord:
    """A record for ``plan`` (kept on it for the transport); fires ``call_started``."""
    call = plan.call = CallRecord(plan, observers)
    _each(call, "call_started")
    return call


def attempt_headers(call: CallRecord, attempt: int, headers: dict[str, str]) -> None:
    """Merge the observers' extra headers for ``attempt`` into ``headers`` (that attempt's)."""
    call.attempts = attempt
    for observer in call.observers:
        try:
            extra = observer.attempt_headers(call, attempt)
        except Exception:
            logger.exception("mistral_lite: observer %r failed in attempt_headers", observer)
            continue
        if extra:
            headers.update(extra)


def response(call: CallRecord, status: int, headers: Mapping[str, str]) -> None:
    call.status, call.headers = status, headers
    _each(call, "response", status, headers)


def retrying(call: CallRecord, attempt: int, reason: str) -> None:
    _each(call, "retrying", attempt, reason)


def chunk(call: CallRecord, item: Any) -> None:
    _each(call, "chunk", item)


def ended(call: CallRecord, result: Any, error: BaseException | None) -> None:
    """``call_ended``, once per call (later calls do nothing)."""
    if call._ended:
        return
    call._ended = True
    _each(call, "call_ended", result, error)


class Watch:
    """``with Watch(call) as watch: return watch.done(result)``: ``call_ended`` with the error that
    leaves the block, or with the result (a stream's comes when the stream ends)."""

    __slots__ = ("call",)

    def __init__(self, call: CallRecord) -> None:
        self.call = call

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is not None:
            ended(self.call, None, error)

    def done(self, result: Any) -> Any:
        if not self.call.stream:
            ended(self.call, result, None)
        return result


def observed(call: CallRecord, events: Iterator[Any]) -> Generator[Any, None, None]:
    """A stream's items with their events: ``chunk`` for each, ``call_ended`` at the end."""
    try:
        for item in events:
            chunk(call, item)
            yield item
    except GeneratorExit:
        ended(call, None, None)
        close = getattr(events, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        ended(call, None, exc)
        raise
    ended(call, None, None)


class Hub:
    """What a client and its copies share for observation: the observers and the latest headers."""

    __slots__ = ("_lock", "headers", "observers")

    def __init__(self) -> None:
        self.observers: tuple[Observer, ...] = ()
        self.headers: Mapping[str, str] | None = None  # of the latest response received
        self._lock = threading.Lock()

    def add(self, observer: Observer) -> _Registration:
        with self._lock:
            self.observers = (*self.observers, observer)
        return _Registration(self, observer)

    def remove(self, observer: Observer) -> None:
        with self._lock:
            kept = list(self.observers)
            with contextlib.suppress(ValueError):
                kept.remove(observer)
            self.observers = tuple(kept)

    @property
    def rate_limit(self) -> RateLimit | None:
        return RateLimit.from_headers(self.headers)


#: The hub of a plan made outside a client (nobody observes it).
DETACHED = Hub()


class _Registration:
    """Removes an observer when called, or at the end of a ``with`` block."""

    __slots__ = ("hub", "observer")

    def __init__(self, hub: Hub, observer: Observer) -> None:
        self.hub, self.observer = hub, observer

    def __call__(self) -> None:
        self.hub.remove(self.observer)

    def __enter__(self) -> Observer:
        return self.observer

    def __exit__(self, *exc: object) -> None:
        self()


@contextlib.contextmanager
def scope(client: Any, name: str, **attrs: Any) -> Iterator[None]:
    """A parent scope around many calls of ``client`` (a bulk run, a tool loop, ``embed_many``).

    Each observer registered now gets ``scope_started(name, attrs)`` and, at the end,
    ``scope_ended(token, error)``. With no observers it costs nothing more than the check.
    """
    hub: Hub | None = getattr(client, "_observers", None)
    observers = hub.observers if hub is not None else ()
    if not observers:
        yield
        return
    tokens: list[tuple[Observer, Any]] = []
    for observer in observers:
        try:
            tokens.append((observer, observer.scope_started(name, attrs)))
        except Exception:
            logger.exception("mistral_lite: observer %r failed in scope_started", observer)
    error: BaseException | None = None
    try:
        yield
    except GeneratorExit:  # a stream (run_tools(stream=True)) left early: not a failure
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        for observer, token in reversed(tokens):
            try:
                observer.scope_ended(token, error)
            except Exception:
                logger.exception("mistral_lite: observer %r failed in scope_ended", observer)

