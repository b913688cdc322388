"""The transport-free core of a call: ``plan`` before the wire, ``finish`` after it.

Both clients run every operation through the same pure steps; only sending, sleeping and
reading bytes differ between the requests and the aiohttp transports::

    plan(client, operation, args, options) -> Plan        (or a cache hit, in plan.hit)
        look up the row → bind path arguments → call keywords → fill → cache lookup →
        validate (every problem at once, before any I/O) → build the request
    transport: send, ask plan.policy.decide(...), sleep, repeat
    status_error(plan, status, headers, body, ...)  -> the typed APIStatusError
    check_stream_media(plan, content_type)          -> StreamError when a stream came back as JSON
    finish(plan, body)                              -> the decoded result, stored in the cache (and,
                                                       when a type was the response_format, parsed)
    finish_stream(plan, stream)                     -> the stream, with that parse step for
                                                       collect_completion
    invalidate(client, plan)                        -> drop cached reads a write made stale

Nothing here opens a socket, sleeps or reads a clock.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mistral_lite._core.cache import MISS, ResponseCache, key_fingerprint
from mistral_lite._core.credentials import SECRET_HEADERS, canonical_headers, credential, redact, redact_headers
from mistral_lite._core.files import MultipartBody, remember_positions
from mistral_lite._core.inputs import call_keyword_problems, has_non_string_key, json_problems, timeout_pair
from mistral_lite._core.jsoncodec import loads
from mistral_lite._core.observe import DETACHED, CallRecord, Hub
from mistral_lite._core.request import Built, build_request
from mistral_lite._core.retry import RetryPolicy
from mistral_lite._core.speech import save_field, save_stream
from mistral_lite._core.structured import Finisher, prepare
from mistral_lite._core.validate import validate
from mistral_lite._table import CALL_KEYWORDS, Endpoint, warn_deprecated
from mistral_lite.exceptions import (
    APIStatusError,
    MistralError,
    StreamError,
    UnknownOperationError,
    ValidationError,
    error_for_status,
)

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase

__all__ = ["MAX_ERROR_BODY", "MISS", "Capped", "Plan", "body_too_large", "check_stream_media", "declared_too_large",
           "find_endpoint", "finish", "finish_stream", "invalidate", "plan", "redact", "status_error", "store",
           "unexpected_status", "unknown_operation"]

Progress = Callable[[int, "int | None"], None]
#: Bytes of an error response's body kept (``exc.body``); the rest is not read.
MAX_ERROR_BODY = 1 << 20


class Plan:
    """One call, ready for a transport: the request, its timeouts and what to do with the answer.

    ``built`` is the request of the current attempt; ``next_attempt()`` gives the request of the
    next one (an upload re-reads its files from where they were). ``hit`` is the cached result
    when the call needs no I/O at all (``MISS`` otherwise).
    """

    __slots__ = ("built", "cache", "call", "endpoint", "finisher", "generation", "headers", "hit", "hub", "key",
                 "max_body", "on_progress", "operation", "policy", "rebuild", "save_to", "secret", "stream", "timeout",
                 "to")

    def __init__(self, operation: str, endpoint: Endpoint) -> None:
        self.operation = operation
        self.endpoint = endpoint
        self.hit: Any = MISS
        self.built: Built
        self.rebuild: Callable[[], Built] | None = None
        self.headers: Mapping[str, str] = {}
        self.policy: RetryPolicy
        self.secret: str | None = None
        self.timeout: tuple[float, float] = (0.0, 0.0)
        self.stream = False  # an SSE stream of endpoint.stream's kind
        self.to: Any = None  # a path to download the body to
        self.save_to: Any = None  # a path to write the decoded base64 field (endpoint.to_field) to
        self.on_progress: Progress | None = None
        self.cache: ResponseCache | None = None
        self.key: tuple[Any, ...] | None = None
        self.generation = 0
        self.finisher: Finisher | None = None  # attaches ``parsed`` (a type was the response_format)
        self.max_body = 0  # the largest decoded body read into memory (bytes)
        self.hub: Hub = DETACHED  # the client's observers; the transport notes each response's headers there
        self.call: CallRecord | None = None  # set when the call is observed (see _observe)

    @property
    def retry_class(self) -> str:
        return self.endpoint.retry

    @property
    def streamed_body(self) -> bool:
        """Whether the transport must not read the body up front (an SSE stream or a download)."""
        return self.stream or self.to is not None

    def next_attempt(self) -> Built:
        """The request to send on the next attempt."""
        if self.rebuild is not None:
            self.built = self.rebuild()
        return self.built


def plan(client: ClientBase, operation: str, args: tuple[Any, ...], options: dict[str, Any],
         lookup: bool = True) -> Plan:
    """Everything before the first byte is sent; bad input raises here, before any I/O.

    ``lookup=False`` sends even when the cache holds the answer (a raw response was asked for).
    """
    endpoint = find_endpoint(client._endpoints, operation)
    if endpoint.deprecated is not None:
        warn_deprecated(endpoint)
    if args:
        _bind(endpoint, args, options)
    if endpoint.wire:
        _unwire(endpoint, options)
    extras = _call_keywords(operation, options) if not CALL_KEYWORDS.isdisjoint(options) else {}
    for name, value in endpoint.fill.items():
        if options.get(name) is None:
            options[name] = value
    if None in options.values():
        options = {k: v for k, v in options.items() if v is not None}
    if has_non_string_key(options):  # json.dumps would write {1: "a"} as {"1": "a"}; the schemas expect str keys
        raise ValidationError(operation, [p for p in json_problems(options) if "keys must be strings" in p[1]])
    finisher = prepare(client._spec, endpoint, options)  # Python types and callables → JSON
    if endpoint.client or endpoint.body == "multipart":  # paths may be given as Path objects
        options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
    s = client._settings
    p = Plan(operation, endpoint)
    p.finisher = finisher
    p.headers, p.policy, p.secret, p.max_body = s.headers, s.policy, s.secret, s.max_response_size
    p.hub = client._observers
    fingerprint = client._fingerprint
    if extras.get("extra_headers"):
        fingerprint = _call_credentials(p, extras, fingerprint)
    cache = client._cache if endpoint.cache and s.use_cache else None
    if cache is not None:
        # looked up before validation: only valid options were ever stored under a key
        path = {name: str(options[name]) for name in endpoint.path_params if name in options}
        extra = {k: v for k, v in extras.items() if k.startswith("extra_")} or None
        if extra and "extra_headers" in extra:  # credentials enter the key as fingerprints only
            extra["extra_headers"] = {k: key_fingerprint(v) if k.lower() in SECRET_HEADERS else v
                                      for k, v in extra["extra_headers"].items()}
        p.cache, p.key = cache, cache.make_key(operation, s.base_url, fingerprint, path, options, extra)
        p.hit = cache.get(p.key) if p.key is not None and lookup else MISS
        if p.hit is not MISS:
            if finisher is not None:
                p.hit = finisher(p.hit)
            return p
        p.generation = cache.generation
    validate(endpoint, options, client._spec)
    stream = p.stream = endpoint.stream != "none" and (endpoint.always_stream or options.get("stream") is True)
    base_url = s.base_url
    extra_query, extra_body = extras.get("extra_query"), extras.get("extra_body")
    extra_headers = extras.get("extra_headers")

    def build() -> Built:
        return build_request(endpoint, base_url, options, stream=stream, extra_query=extra_query,
                             extra_body=extra_body, extra_headers=extra_headers)

    attach_request(p, build, options.values() if endpoint.body == "multipart" else None)
    timeout = extras.get("timeout") or s.timeout
    if stream:
        stream_timeout = extras.get("stream_timeout")
        timeout = (timeout[0], float(stream_timeout if stream_timeout is not None else s.stream_timeout))
    p.timeout = timeout
    p.to = p.built.client_options.get("to")
    if endpoint.to_field is not None:  # the file is a base64 field of a JSON answer, not the body
        p.save_to, p.to = p.to, None
    p.on_progress = extras.get("on_progress")
    if endpoint.body == "multipart" and p.on_progress is not None:  # an upload reports the bytes it sends
        p.rebuild = _reporting_upload(p.rebuild or build, p.on_progress)
        p.built = _with_progress(p.built, p.on_progress)
        p.on_progress = None
    return p


def unknown_operation(name: str, endpoints: Iterable[str]) -> UnknownOperationError:
    """The error for an operation the table has no row for, with up to three close names
    (every place that looks an operation up by name raises this one)."""
    import difflib  # only on this error path: difflib (and heapq) stay out of the import

    if not isinstance(name, str):  # call(3), call(None): no name to compare, but the same error
        return UnknownOperationError(name, [])
    return UnknownOperationError(name, difflib.get_close_matches(name, list(endpoints), n=3, cutoff=0.5))


def find_endpoint(endpoints: Mapping[str, Endpoint], name: str) -> Endpoint:
    """The row named ``name``; :func:`unknown_operation` when there is none."""
    endpoint = endpoints.get(name) if isinstance(name, str) else None  # a list is not even hashable
    if endpoint is None:
        raise unknown_operation(name, endpoints)
    return endpoint


def attach_request(p: Plan, build: Callable[[], Built], uploads: Iterable[Any] | None) -> None:
    """Give ``p`` its request; an upload (``uploads``: the values holding files) re-reads its files per attempt."""
    if uploads is not None:
        rewind = remember_positions(uploads)

        def rebuild() -> Built:
            rewind()
            return build()

        p.rebuild = rebuild
    p.built = build()


def _with_progress(built: Built, on_progress: Progress) -> Built:
    if isinstance(built.body, MultipartBody):
        built.body.on_progress = on_progress
    return built


def _reporting_upload(build: Callable[[], Built], on_progress: Progress) -> Callable[[], Built]:
    return lambda: _with_progress(build(), on_progress)


def _call_keywords(operation: str, options: dict[str, Any]) -> dict[str, Any]:
    """Pop the per-call keywords (timeout, extra_headers, ...) out of ``options``, checked."""
    extras = {k: options.pop(k) for k in CALL_KEYWORDS if k in options}
    problems = call_keyword_problems(extras)
    if problems:
        raise ValidationError(operation, problems)
    if extras.get("timeout") is not None:
        timeout = timeout_pair(extras["timeout"])
        assert not isinstance(timeout, str)  # checked above
        extras["timeout"] = timeout
    return extras


def _call_credentials(p: Plan, extras: dict[str, Any], fingerprint: str) -> str:
    """Per-call headers with canonical names; a per-call key is the one redacted and fingerprinted."""
    headers = extras["extra_headers"] = canonical_headers(extras["extra_headers"])
    auth = headers.get("Authorization")
    if auth is None:
        return fingerprint
    p.secret = credential(headers)
    return key_fingerprint(auth)


def _unwire(endpoint: Endpoint, options: dict[str, Any]) -> None:
    """The API's own names (``**{"from": ...}``, ``sort.field``) accepted for the options that carry them."""
    for option, api_name in endpoint.wire.items():
        if api_name in options:
            if option in options:
                raise TypeError(f"{endpoint.name}() got {option!r} and {api_name!r}, the same option twice")
            options[option] = options.pop(api_name)


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


# -- after the wire ------------------------------------------------------------------------------
def status_error(
    plan: Plan, status: int, headers: Mapping[str, str], content: bytes, attempts: int,
    retry_after: float | None = None,
) -> APIStatusError:
    """The typed exception for an error response, or a 3xx that was not followed.

    The key is redacted from its body and headers (a server may echo it); ``content`` is at
    most ``MAX_ERROR_BODY`` bytes (the transport reads no more).
    """
    body: Any
    try:
        body = loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    body = redact(body, plan.secret)
    cls = error_for_status(status)
    built = plan.built
    return cls(
        status_code=status, body=body, headers=redact_headers(headers, plan.secret), operation=plan.operation,
        method=built.method, path=built.path, attempts=attempts, retry_after=retry_after,
    )


class Capped:
    """A body kept up to ``limit`` bytes (both transports read through it), in one growing buffer.

    Not a list of chunks joined at the end: that holds the body twice at the join (a 256 MiB
    body peaked at 512 MiB). ``content()`` hands out the buffer itself (``BytesIO.getvalue`` of an
    unshared buffer does not copy), so reading costs about the body's size.
    """

    __slots__ = ("_buffer", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self._buffer = io.BytesIO()

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk`` (cut at the limit); False once the body is over the limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            self._buffer.write(memoryview(chunk)[: len(chunk) - (self.size - self.limit)])
            return False
        self._buffer.write(chunk)
        return True

    def content(self) -> bytes:
        return self._buffer.getvalue()


def body_too_large(plan: Plan, limit: int, declared: int | None = None) -> MistralError:
    """The error for a response body over ``limit`` bytes (``max_response_size``): never retried."""
    size = f" ({declared} bytes declared)" if declared is not None else ""
    return MistralError(
        f"{plan.operation}: the response body is larger than max_response_size={limit} bytes{size}; "
        "raise it with Client(max_response_size=...) or download to a file with to=...",
        operation=plan.operation,
    )


def declared_too_large(plan: Plan, headers: Mapping[str, str]) -> MistralError | None:
    """The error for a 2xx body whose declared length is over ``plan.max_body`` (refused before
    reading; a compressed body is judged by its decoded size as it is read), or None."""
    limit, declared = plan.max_body, content_length(headers)
    if declared is not None and declared > limit and "Content-Encoding" not in headers:
        return body_too_large(plan, limit, declared)
    return None


#: Requests one call may send along a chain of redirects (requests' default limit; aiohttp is given it too).
MAX_REDIRECTS = 30


def too_many_redirects(plan: Plan, limit: int) -> MistralError:
    """A redirect loop (or a chain past ``limit`` requests): one error, never retried."""
    return MistralError(f"{plan.operation}: stopped after {limit} redirects ({plan.built.method} "
                        f"{plan.built.path}); is the server redirecting in a loop?", operation=plan.operation)


def unexpected_status(plan: Plan, status: int, headers: Mapping[str, str]) -> APIStatusError:
    """A 1xx or 3xx the transport did not turn into a final response: an error, never ``{}``."""
    error = status_error(plan, status, headers, b"", 1)
    kind = "an interim 1xx not followed by a final response" if status < 200 else "a redirect that was not followed"
    location = headers.get("Location") or headers.get("location")
    where = f" to {redact(location, plan.secret)}" if location else ""
    error.message = f"HTTP {status} from {plan.operation}: {kind}{where}"
    error.args = (error.message,)
    return error


def check_stream_media(plan: Plan, content_type: str) -> None:
    """A stream was asked for; a JSON answer means the server did not stream after all."""
    if content_type.startswith("application/json"):
        raise StreamError(f"{plan.operation}: stream=True was asked but the server answered {content_type}, "
                          "not text/event-stream", operation=plan.operation)


def invalidate(client: ClientBase, plan: Plan) -> None:
    """After a successful write: drop the cached reads the row's ``invalidates`` lists."""
    if plan.endpoint.invalidates and client._cache is not None:
        client._cache.invalidate(plan.endpoint.invalidates, plan.built.path_params)


def finish(plan: Plan, content: bytes, request_id: str | None = None, *, status: int | None = None,
           content_type: str | None = None) -> Any:
    """The decoded result of a whole 2xx body, stored in the cache when the row is cached.

    A body that is not JSON (a base URL pointing at a web page, a proxy's error page) raises a
    :class:`MistralError` naming the status, the path, the content type and the body's first
    200 characters, the key redacted.
    """
    if plan.on_progress is not None:
        plan.on_progress(len(content), len(content))
    kind = plan.endpoint.response
    result: Any
    if kind == "bytes":
        result = content
    elif kind == "empty" or not content:
        result = {}
    else:
        try:
            result = loads(content)
        except ValueError:
            raise MistralError(_not_json(plan, content, request_id, status, content_type),
                               operation=plan.operation) from None
    result = store(plan, result)
    if plan.save_to is not None:
        return save_field(result, plan.endpoint.to_field or "", plan.save_to, plan.operation)
    return result if plan.finisher is None else plan.finisher(result)


def finish_stream(plan: Plan, stream: Any, save: Callable[..., Any] = save_stream) -> Any:
    """The stream a transport hands out, given the finish step ``collect_completion`` applies.

    With a ``to_field`` row's ``to=``, the stream is written instead by ``save`` (its signature is
    :func:`~mistral_lite._core.speech.save_stream`'s): the Path, or, from the async transport's
    ``asave_stream``, an awaitable of it."""
    if plan.save_to is not None:
        return save(stream, plan.endpoint.to_field or "", plan.save_to, plan.operation, plan.endpoint.stream_end)
    return stream if plan.finisher is None else plan.finisher(stream)


def _not_json(plan: Plan, content: bytes, request_id: str | None, status: int | None,
              content_type: str | None) -> str:
    text = content[:800].decode("utf-8", "replace")
    if plan.secret:
        text = redact(text, plan.secret)
    head = " ".join(text.split())[:200]
    more = "…" if len(" ".join(text.split())) > 200 or len(content) > 800 else ""
    answered = f"answered {status}" if status is not None else "answered"
    media = content_type or "no content type"
    return (f"{plan.operation}: the server {answered} with a body that is not JSON ({media}) for "
            f"{plan.built.method} {plan.built.path}; is the base URL an API's? The body begins: {head!r}{more}"
            + (f" [request id {request_id}]" if request_id else ""))


def store(plan: Plan, result: Any) -> Any:
    """Keep ``result`` in the cache when the row is cached (unless a write raced it); return it."""
    if plan.key is not None and plan.cache is not None:
        plan.cache.put(plan.key, result, plan.generation)
    return result


def content_length(headers: Mapping[str, str]) -> int | None:
    """The declared body length, for download progress (None when absent or malformed)."""
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None
