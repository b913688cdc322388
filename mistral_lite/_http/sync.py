"""The requests transport: send a planned call, ask the retry policy, sleep, repeat.

This is the one place where exceptions of requests and urllib3 become mistral_lite's own; the
typed status errors, the retry decision and the body decoding come from the shared core
(:mod:`mistral_lite._core.call`, :mod:`mistral_lite._core.retry`). Each attempt builds a fresh prepared
request, so streamed upload bodies are re-read from the start.
Observers registered as ``hooks={"request": [...], "response": [...]}`` see every attempt.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import requests
import requests.adapters
import requests.auth
import urllib3
import urllib3.exceptions

from mistral_lite._core import call as _core
from mistral_lite._core import observe as _observe
from mistral_lite._core.call import Plan
from mistral_lite._core.credentials import drop_credentials, same_origin
from mistral_lite._core.files import Download
from mistral_lite._core.jsoncodec import decoder
from mistral_lite._http.common import (
    check_redirect,
    connection_failure,
    describe,
    http_logger,
    log_request,
    log_response,
    read_error,
    unsendable,
)
from mistral_lite._http.stream import Stream
from mistral_lite.exceptions import APIStatusError, MistralError

__all__ = ["Transport", "download", "open_stream", "status_error"]

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


def status_error(response: requests.Response, plan: Plan, attempts: int,
                 retry_after: float | None = None) -> APIStatusError:
    """The typed exception for an error response (at most ``MAX_ERROR_BODY`` bytes of its body)."""
    return _core.status_error(plan, response.status_code, response.headers, _error_body(response), attempts,
                              retry_after)


def _error_body(response: requests.Response) -> bytes:
    """The first ``MAX_ERROR_BODY`` bytes of an error body; a longer one is cut and the connection dropped."""
    if getattr(response, "_content_consumed", False):
        return response.content[:_core.MAX_ERROR_BODY] if response.content else b""
    try:
        content, complete = _read(response, _core.MAX_ERROR_BODY)
    except requests.RequestException:  # the error body itself broke off: keep the status
        content, complete = b"", False
    if not complete:
        response.close()
    _set_content(response, content)
    return content


def _read(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` decoded bytes of the body, and whether that was all of it."""
    kept = _core.Capped(limit)
    complete = all(kept.add(chunk) for chunk in response.iter_content(_READ_SIZE))
    return kept.content(), complete


_READ_SIZE = 1 << 16


def _load_body(response: requests.Response, plan: Plan) -> None:
    """Read a 2xx body into ``response.content``, refusing one over ``plan.max_body`` (a gzip bomb)."""
    too_large = _core.declared_too_large(plan, response.headers)
    if too_large is not None:
        response.close()
        raise too_large
    content, complete = _read(response, plan.max_body)
    if not complete:
        response.close()
        raise _core.body_too_large(plan, plan.max_body)
    _set_content(response, content)


def _set_content(response: requests.Response, content: bytes) -> None:
    """What ``response.content`` returns from now on (the body was read here)."""
    response._content = content
    setattr(response, "_content_consumed", True)  # noqa: B010 - private to requests, not in its stubs


class _SocketFile:
    """What ``http.client.HTTPResponse`` needs of a socket: the connection's buffered reader."""

    def __init__(self, fp: Any) -> None:
        self.fp = fp

    def makefile(self, mode: str) -> Any:
        return self.fp


def _after_interim(session: requests.Session, prepared: requests.PreparedRequest,
                   response: requests.Response, plan: Plan) -> requests.Response:
    """The final response that follows interim 1xx ones on the same connection.

    ``http.client`` skips only ``100 Continue``; a ``102``/``103`` comes back as the response and
    the real one stays in the socket, where the next request would read it. Read it here.
    """
    for _ in range(16):
        raw = response.raw
        interim: Any = getattr(raw, "_fp", None)
        fp = getattr(interim, "fp", None)
        if fp is None or response.status_code == 101:
            response.close()
            raise _core.unexpected_status(plan, response.status_code, response.headers)
        final = http.client.HTTPResponse(_SocketFile(fp), method=prepared.method)  # type: ignore[arg-type]
        try:
            final.begin()
        except (http.client.HTTPException, OSError, ValueError):  # closed, broken or stalled after the 1xx
            response.close()
            raise _core.unexpected_status(plan, response.status_code, response.headers) from None
        interim.fp = None  # the socket now belongs to the final response
        body = urllib3.HTTPResponse(
            body=final, headers=urllib3.HTTPHeaderDict(final.msg.items()), status=final.status,
            version=final.version, reason=final.reason, preload_content=False, decode_content=False,
            original_response=final, request_method=prepared.method, request_url=prepared.url,
        )
        body._connection, body._pool = raw._connection, raw._pool
        adapter: Any = session.get_adapter(prepared.url or "")
        next_response: requests.Response = adapter.build_response(prepared, body)
        next_response.elapsed = response.elapsed
        response = next_response
        if not 100 <= response.status_code < 200:
            return response
    response.close()
    raise _core.unexpected_status(plan, response.status_code, response.headers)


def _timed_out(exc: BaseException) -> bool:
    """A timeout, including the read timeouts requests reports as a ConnectionError."""
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return True
    reason = exc.args[0] if exc.args else None
    kinds = (urllib3.exceptions.ReadTimeoutError, TimeoutError)  # not NewConnectionError, a subclass of theirs
    if isinstance(reason, kinds) or isinstance(getattr(reason, "reason", None), kinds):
        return True
    # a write that timed out: ProtocolError("Connection aborted.", TimeoutError("timed out"))
    return any(isinstance(arg, TimeoutError) for arg in getattr(reason, "args", ())[1:])


def _http_adapters(session: requests.Session) -> list[Any]:
    """The session's urllib3-backed adapters (their pool settings are private, hence Any)."""
    return [a for a in session.adapters.values() if isinstance(a, requests.adapters.HTTPAdapter)]


_live: weakref.WeakSet[Transport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_live):
        transport.reset_pools()


if hasattr(os, "register_at_fork"):  # not on Windows (no fork there)
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Transport:
    """A session plus the settings every send needs; shared by a client and its copies.

    ``base_url`` decides the proxy settings (``send_kwargs``, from the environment's
    ``HTTPS_PROXY``/``NO_PROXY`` and the session); a copy for another base URL decides again.
    After ``fork()``, the child's transports drop the pooled connections they inherited.
    """

    def __init__(self, session: requests.Session, send_kwargs: Mapping[str, Any],
                 hooks: Mapping[str, Sequence[Hook]] | None = None, *, base_url: str = "",
                 allow_insecure_http: bool = False, owns_session: bool = True) -> None:
        self.session = session
        self.owns_session = owns_session  # a session passed in is the caller's: its pool sizes are not changed
        self.send_kwargs = dict(send_kwargs)
        self.hooks = {k: list(v) for k, v in (hooks or {}).items()}
        self.base_url = base_url
        self.allow_insecure_http = allow_insecure_http
        self._pool_lock = threading.Lock()
        _live.add(self)

    @classmethod
    def for_url(cls, session: requests.Session, base_url: str, hooks: Mapping[str, Sequence[Hook]] | None = None,
                allow_insecure_http: bool = False, owns_session: bool = True) -> Transport:
        """A transport whose proxy decision is made for ``base_url``."""
        send_kwargs: dict[str, Any] = dict(session.merge_environment_settings(base_url, {}, None, None, None))
        send_kwargs.pop("stream", None)
        return cls(session, send_kwargs, hooks, base_url=base_url, allow_insecure_http=allow_insecure_http,
                   owns_session=owns_session)

    def rebased(self, base_url: str) -> Transport:
        """This transport for another base URL: same session and hooks, the proxy decided again."""
        if base_url == self.base_url:
            return self
        return Transport.for_url(self.session, base_url, self.hooks, self.allow_insecure_http, self.owns_session)

    def _follow(self, response: requests.Response, prepared: requests.PreparedRequest,
                plan: Plan) -> requests.Response:
        """Follow redirects as requests would (method, body, the key dropped for another host), each
        hop checked first; the redirect bodies are read within ``MAX_ERROR_BODY``."""
        session, history = self.session, []
        limit = session.max_redirects
        for _ in range(limit - 1):  # at most ``limit`` requests reach the server
            self._check_redirect(response)  # is_redirect: the loop below follows only redirects
            _error_body(response)
            hops = session.resolve_redirects(response, prepared, stream=True, timeout=plan.timeout,
                                             yield_requests=True, **self.send_kwargs)
            prepared = cast(requests.PreparedRequest, next(hops))  # yield_requests=True: requests' hints say Response
            if not same_origin(response.url or "", prepared.url or ""):  # requests keeps X-Api-Key & co
                drop_credentials(prepared.headers)
            history.append(response)
            response = session.send(prepared, stream=True, allow_redirects=False, timeout=plan.timeout,
                                    **self.send_kwargs)
            response.history = list(history)
            if not response.is_redirect:
                return response
        response.close()
        raise _core.too_many_redirects(plan, limit)

    def _check_redirect(self, response: requests.Response) -> None:
        """Refuse to be sent to plain http on a non-loopback host by a redirect (the base URL's rule)."""
        try:
            check_redirect(response.status_code, response.url or "", response.headers.get("location", ""),
                           self.allow_insecure_http)
        except MistralError:
            response.close()
            raise

    def ensure_pool(self, connections: int) -> None:
        """Keep at least ``connections`` connections per host (for ``map``'s and ``submit``'s threads)."""
        if not self.owns_session:
            return
        with self._pool_lock:
            for adapter in _http_adapters(self.session):
                if adapter._pool_maxsize < connections:
                    adapter._pool_maxsize = connections
                    adapter.init_poolmanager(adapter._pool_connections, connections, block=adapter._pool_block)

    def reset_pools(self) -> None:
        """Forget every pooled connection (after ``fork()``: they are the parent's)."""
        self._pool_lock = threading.Lock()
        for adapter in _http_adapters(self.session):
            adapter.proxy_manager = {}
            adapter.init_poolmanager(adapter._pool_connections, adapter._pool_maxsize, block=adapter._pool_block)

    def send(self, plan: Plan) -> requests.Response:
        """Send with retries; return a 2xx response or raise a mistral_lite exception.

        The loop only sends, asks ``plan.policy`` what to do, and sleeps. A 2xx body that is
        not streamed is read here, within ``plan.max_body``; a 1xx is followed by the final
        response; a 3xx that was not followed (or is refused) is an error.
        """
        retry = 0
        session, policy, secret, operation = self.session, plan.policy, plan.secret, plan.operation
        built, hub, call = plan.built, plan.hub, plan.call
        while True:
            attempt_headers = dict(plan.headers)
            attempt_headers.update(built.headers)
            if call is not None:
                _observe.attempt_headers(call, retry + 1, attempt_headers)
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
                log_request(prepared.method or "", prepared.url, cast("Mapping[str, str]", prepared.headers), secret)
            for hook in self.hooks.get("request", ()):
                hook(prepared)
            try:
                response = session.send(prepared, stream=True, allow_redirects=False, timeout=plan.timeout,
                                        **self.send_kwargs)
                if response.is_redirect:
                    response = self._follow(response, prepared, plan)
                status = response.status_code
                if status < 200:
                    response = _after_interim(session, prepared, response, plan)
                    status = response.status_code
                if status < 300:
                    if not plan.streamed_body:
                        _load_body(response, plan)
                else:
                    _error_body(response)
            except (ValueError, UnicodeError) as exc:  # e.g. a timeout the adapter refuses
                raise unsendable(exc, operation, secret) from None
            except requests.RequestException as exc:
                wait = policy.decide(plan.retry_class, retry, reached_server=_reached_server(exc))
                if wait is None:
                    raise _transport_failure(exc, operation, built, retry) from None
                policy.log(operation, retry, describe(exc), wait)
                if call is not None:
                    _observe.retrying(call, retry + 1, _failure_name(exc))
            else:
                hub.headers = response.headers
                if debug:
                    log_response(operation, status, response.elapsed.total_seconds(), response.headers, secret)
                if call is not None:
                    _observe.response(call, status, response.headers)
                for hook in self.hooks.get("response", ()):
                    hook(response)
                if status < 300:
                    return response
                if status < 400:
                    raise _core.unexpected_status(plan, status, response.headers)
                retry_after = policy.retry_after_for(status, response.headers)
                wait = policy.decide(plan.retry_class, retry, status=status, retry_after=retry_after)
                if wait is None:
                    raise status_error(response, plan, retry + 1, retry_after)
                response.close()
                policy.log(operation, retry, f"HTTP {status}", wait)
                if call is not None:
                    _observe.retrying(call, retry + 1, f"HTTP {status}")
            policy.sleep(wait)
            retry += 1
            built = plan.next_attempt()

    def close(self) -> None:
        _live.discard(self)
        self.session.close()


def _transport_failure(exc: BaseException, operation: str, built: Any, retry: int) -> MistralError:
    return connection_failure(exc, operation, built, retry, timed_out=_timed_out(exc))


def _failure_name(exc: BaseException) -> str:
    """The class name of the error a failed attempt would raise (what observers see of a retry)."""
    return "APITimeoutError" if _timed_out(exc) else "APIConnectionError"


def wrap_read_error(exc: BaseException, operation: str) -> MistralError:
    """Translate an error raised while reading a body after the response started."""
    return read_error(exc, operation, _timed_out(exc) or "timeout" in type(exc).__name__.lower())


# -- what a client does with a 2xx response ------------------------------------------------------
def new_session() -> requests.Session:
    """The session a client owns when none is passed in."""
    return requests.Session()


def open_stream(plan: Plan, response: requests.Response) -> Stream[Any]:
    """The answer of a streaming call as a Stream of the row's kind (a JSON answer is a StreamError)."""
    try:
        _core.check_stream_media(plan, response.headers.get("Content-Type", ""))
    except BaseException:
        response.close()
        raise
    endpoint = plan.endpoint
    return Stream(response, kind=endpoint.stream, operation=plan.operation, loads=decoder(),
                  end_event=endpoint.stream_end, error_event=endpoint.stream_error, secret=plan.secret,
                  call=plan.call)


def download(plan: Plan, response: requests.Response) -> Any:
    """Write the body to ``plan.to`` atomically, reporting progress."""
    try:
        with response:
            out = Download(plan.to, _core.content_length(response.headers), plan.on_progress)
            try:
                out.received(0)
                chunks: Iterator[bytes] = response.iter_content(_READ_SIZE)
                for chunk in chunks:
                    out.write(chunk)
                    out.received(len(chunk))
            except BaseException:
                out.abort()
                raise
            return out.commit()
    except requests.RequestException as exc:
        raise wrap_read_error(exc, plan.operation) from None
