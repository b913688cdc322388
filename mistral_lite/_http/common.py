"""What the two transports share, importing no HTTP library: messages, debug logs, the redirect rule.

The requests transport (:mod:`mistral_lite._http.sync`, :mod:`mistral_lite._http.stream`) and the
aiohttp one (:mod:`mistral_lite._http.aio`, :mod:`mistral_lite._http.aio_stream`) each classify
their library's exceptions (timed out? reached the server?) and then word the error here, so a
failure reads the same whichever client met it. Loading this module loads neither requests nor
aiohttp, so the async client never loads the requests transport.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from mistral_lite._core.credentials import redact, redact_headers
from mistral_lite._core.request import Built
from mistral_lite._core.retry import logger
from mistral_lite._core.settings import is_loopback
from mistral_lite.exceptions import APIConnectionError, APITimeoutError, MistralError

__all__ = ["DRAIN_LIMIT", "DRAIN_TIMEOUT", "AsyncClosing", "Closing", "check_redirect", "configure_debug_logging",
           "connection_failure", "describe", "http_logger", "log_request", "log_response", "read_error",
           "stream_error", "unsendable"]

#: Seconds to wait for the rest of the body after a stream's end event.
DRAIN_TIMEOUT = 1.0
#: Bytes read after a stream's end event before the connection is dropped instead.
DRAIN_LIMIT = 1 << 16


_Closing = TypeVar("_Closing", bound="Closing")
_AsyncClosing = TypeVar("_AsyncClosing", bound="AsyncClosing")


class Closing:
    """``with x:`` for what closes with ``x.close()`` (the sync client and stream)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Closing) -> _Closing:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClosing:
    """``async with x:`` for what closes with ``await x.aclose()`` (the async client and streams)."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: _AsyncClosing) -> _AsyncClosing:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# -- messages ------------------------------------------------------------------------------------
def describe(exc: BaseException) -> str:
    """``ExceptionName: reason``, the innermost reason of a wrapped library error."""
    reason = exc.args[0] if exc.args else exc
    inner = getattr(reason, "reason", None)
    text = str(inner or reason)
    return f"{type(exc).__name__}: {text}"


def unsendable(exc: BaseException, operation: str, secret: str | None) -> MistralError:
    """A request that could not be sent at all (bad header, URL or encoding): no retry."""
    text = describe(exc)
    if secret:
        text = text.replace(secret, "[redacted]")
    return MistralError(f"{operation}: the request could not be sent: {text}", operation=operation)


def connection_failure(exc: BaseException, operation: str, built: Built, retry: int,
                       timed_out: bool) -> APIConnectionError:
    """The error of a call whose last attempt failed without a response (``timed_out``: a timeout)."""
    cls = APITimeoutError if timed_out else APIConnectionError
    tries = f" after {retry + 1} attempts" if retry else ""
    return cls(f"{operation} ({built.method} {built.path}){tries}: {describe(exc)}",
               operation=operation, attempts=retry + 1)


def read_error(exc: BaseException, operation: str, timed_out: bool) -> MistralError:
    """An error raised while reading a body after the response started."""
    if timed_out:
        return APITimeoutError(f"{operation}: timed out reading the response: {describe(exc)}", operation=operation)
    return APIConnectionError(f"{operation}: the connection broke while reading: {describe(exc)}",
                              operation=operation)


def stream_error(exc: BaseException, operation: str) -> APIConnectionError:
    """An error raised while reading a stream's events: a stall (timeout) or a cut."""
    name = type(exc).__name__
    text = str(exc)
    if "timeout" in name.lower() or "timed out" in text.lower():
        return APITimeoutError(
            f"{operation}: no data arrived within the stream timeout ({name})", operation=operation
        )
    return APIConnectionError(f"{operation}: the stream was cut: {name}: {text}", operation=operation)


# -- the redirect rule -----------------------------------------------------------------------------
def check_redirect(status: int, url: str, location: str, allow_insecure_http: bool) -> str:
    """The absolute target of a redirect from ``url``; plain http to a non-loopback host is refused
    (the base URL's rule) unless ``allow_insecure_http``. The caller drops the key for another origin."""
    target = urljoin(url, location)
    if allow_insecure_http:
        return target
    parts = urlsplit(target)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise MistralError(f"refusing to follow a {status} redirect to plain http on {parts.hostname}; "
                           "use https, or pass allow_insecure_http=True")
    return target


# -- debug logging -------------------------------------------------------------------------------
#: Request/response debug lines go to a child logger, apart from the retry warnings.
http_logger = logging.getLogger("mistral_lite.http")


def configure_debug_logging() -> None:
    """``MISTRAL_LITE_LOG=debug`` (or ``info``) logs requests and responses to stderr."""
    level = os.environ.get("MISTRAL_LITE_LOG", "").strip().upper()
    if level not in ("DEBUG", "INFO") or getattr(logger, "_mistral_lite_env", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger._mistral_lite_env = True  # type: ignore[attr-defined]


def log_request(method: str, url: str, headers: Mapping[str, str], secret: str | None) -> None:
    if secret:
        url = url.replace(secret, "[redacted]")
    http_logger.debug("request %s %s headers=%s", method, url, redact_headers(headers, secret))


def log_response(operation: str, status: int, seconds: float, headers: Mapping[str, str],
                 secret: str | None = None) -> None:
    http_logger.debug(
        "response %s %s in %.3fs request-id=%s headers=%s", operation, status, seconds,
        redact(headers.get("x-request-id"), secret), redact_headers(headers, secret),
    )


if logger.level == logging.NOTSET:  # quiet unless the application configures logging
    logger.addHandler(logging.NullHandler())
