"""The requests transport: send a planned call, ask the retry policy, sleep, repeat.

This is the one place where exceptions of requests and urllib3 become mistral_lite's own; the
typed status errors, the retry decision and the body decoding come from the shared core
(:mod:`mistral_lite._core`, :mod:`mistral_lite._retry`). Each attempt builds a fresh prepared
request, so streamed upload bodies are re-read from the start.
Observers registered as ``hooks={"request": [...], "response": [...]}`` see every attempt.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
import requests.auth

from . import _core
from ._core import Plan
from ._request import Built
from ._retry import logger
from .exceptions import APIConnectionError, APIStatusError, APITimeoutError, MistralError

__all__ = ["Transport", "status_error"]

Hook = Callable[..., Any]


class _HeaderAuth(requests.auth.AuthBase):
    """Authentication already in the headers (the Bearer key): leave the request as it is.

    Giving requests an auth object stops it from looking up ``~/.netrc``, which would
    otherwise replace the Bearer header with Basic credentials for a host listed there.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_HEADER_AUTH = _HeaderAuth()


def _reached_server(exc: requests.RequestException) -> bool:
    """False only when the request provably never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        # urllib3 wraps only connection-phase failures in MaxRetryError; a TLS error while
        # reading the response may come after the server got the request.
        return type(exc.args[0] if exc.args else None).__name__ != "MaxRetryError"
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        names = {type(inner).__name__, type(reason).__name__}
        if names & {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError"}:
            return False
        if isinstance(inner, ConnectionRefusedError):
            return False
    return True


def describe(exc: BaseException) -> str:
    reason = exc.args[0] if exc.args else exc
    inner = getattr(reason, "reason", None)
    text = str(inner or reason)
    return f"{type(exc).__name__}: {text}"


def status_error(response: requests.Response, plan: Plan, attempts: int,
                 retry_after: float | None = None) -> APIStatusError:
    """The typed exception for an error response (its body is read here)."""
    try:
        content = response.content
    except requests.RequestException:  # the error body itself broke off: keep the status
        content = b""
    return _core.status_error(plan, response.status_code, response.headers, content, attempts, retry_after)


class Transport:
    """A session plus the settings every send needs; shared by a client and its copies."""

    def __init__(self, session: requests.Session, send_kwargs: Mapping[str, Any],
                 hooks: Mapping[str, Sequence[Hook]] | None = None) -> None:
        self.session = session
        self.send_kwargs = dict(send_kwargs)
        self.hooks = {k: list(v) for k, v in (hooks or {}).items()}

    def send(self, plan: Plan) -> requests.Response:
        """Send with retries; return a 2xx response or raise a mistral_lite exception.

        The loop only sends, asks ``plan.policy`` what to do, and sleeps.
        """
        retry = 0
        session, policy, secret, operation = self.session, plan.policy, plan.secret, plan.operation
        built = plan.built
        while True:
            attempt_headers = dict(plan.headers)
            attempt_headers.update(built.headers)
            try:
                request = requests.Request(
                    built.method, built.url, headers=attempt_headers, data=built.body, auth=_HEADER_AUTH
                )
                prepared = session.prepare_request(request)
            except (ValueError, UnicodeError) as exc:  # requests' InvalidHeader & co, bad encodings
                raise unsendable(exc, operation, secret) from None
            prepared.url = built.url  # already encoded; requests' requoting would undo %2E
            debug = http_logger.isEnabledFor(logging.DEBUG)
            if debug:
                log_request(prepared.method or "", prepared.url, prepared.headers, secret)
            for hook in self.hooks.get("request", ()):
                hook(prepared)
            try:
                response = session.send(prepared, stream=plan.streamed_body, timeout=plan.timeout, **self.send_kwargs)
            except (ValueError, UnicodeError) as exc:  # e.g. a timeout the adapter refuses
                raise unsendable(exc, operation, secret) from None
            except requests.RequestException as exc:
                wait = policy.decide(plan.retry_class, retry, reached_server=_reached_server(exc))
                if wait is None:
                    raise _transport_failure(exc, operation, built, retry) from None
                policy.log(operation, retry, describe(exc), wait)
            else:
                if debug:
                    log_response(operation, response.status_code, response.elapsed.total_seconds(),
                                 response.headers)
                for hook in self.hooks.get("response", ()):
                    hook(response)
                status = response.status_code
                if status < 400:
                    return response
                retry_after = policy.retry_after_for(status, response.headers)
                wait = policy.decide(plan.retry_class, retry, status=status, retry_after=retry_after)
                if wait is None:
                    raise status_error(response, plan, retry + 1, retry_after)
                response.close()
                policy.log(operation, retry, f"HTTP {status}", wait)
            policy.sleep(wait)
            retry += 1
            built = plan.next_attempt()

    def close(self) -> None:
        self.session.close()


#: Request/response debug lines go to a child logger, apart from the retry warnings.
http_logger = logging.getLogger("mistral_lite.http")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})


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


def redact_headers(headers: Mapping[str, str], secret: str | None = None) -> dict[str, str]:
    """Headers safe to log: credentials replaced, and the key redacted wherever it appears."""
    out = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            value = value.split(" ", 1)[0] + " [redacted]" if " " in value else "[redacted]"
        elif secret and secret in value:
            value = value.replace(secret, "[redacted]")
        out[name] = value
    return out


def log_request(method: str, url: str, headers: Mapping[str, str], secret: str | None) -> None:
    if secret:
        url = url.replace(secret, "[redacted]")
    http_logger.debug("request %s %s headers=%s", method, url, redact_headers(headers, secret))


def log_response(operation: str, status: int, seconds: float, headers: Mapping[str, str]) -> None:
    http_logger.debug(
        "response %s %s in %.3fs request-id=%s headers=%s", operation, status, seconds,
        headers.get("x-request-id"), redact_headers(headers),
    )


def unsendable(exc: BaseException, operation: str, secret: str | None) -> MistralError:
    """A request that could not be sent at all (bad header, URL or encoding): no retry."""
    text = describe(exc)
    if secret:
        text = text.replace(secret, "[redacted]")
    return MistralError(f"{operation}: the request could not be sent: {text}", operation=operation)


def _transport_failure(exc: BaseException, operation: str, built: Built, retry: int) -> APIConnectionError:
    cls = APITimeoutError if isinstance(exc, requests.Timeout) else APIConnectionError
    tries = f" after {retry + 1} attempts" if retry else ""
    return cls(f"{operation} ({built.method} {built.path}){tries}: {describe(exc)}",
               operation=operation, attempts=retry + 1)


def wrap_read_error(exc: BaseException, operation: str) -> MistralError:
    """Translate an error raised while reading a body after the response started."""
    if isinstance(exc, requests.Timeout) or "timeout" in type(exc).__name__.lower():
        return APITimeoutError(f"{operation}: timed out reading the response: {describe(exc)}", operation=operation)
    return APIConnectionError(f"{operation}: the connection broke while reading: {describe(exc)}", operation=operation)


if logger.level == logging.NOTSET:  # quiet unless the application configures logging
    logger.addHandler(logging.NullHandler())
