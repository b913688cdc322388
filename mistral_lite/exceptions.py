"""Every exception mistral_lite raises, and the one place HTTP errors become them.

The hierarchy::

    MistralError                      base of everything raised here
    ├── ValidationError (ValueError)  bad options, raised before any network I/O
    │   └── BulkInputError            bad lines in a bulk run's input (or a batch's requests)
    ├── BulkRunError                  a bulk run refused to start or go on (output in use,
    │                                 input changed, damaged state); ``path`` names the file
    ├── BatchError                    a batch job ended without results (``job`` attached)
    ├── WaitTimeout                   a waited-for job did not end in time (``last`` state)
    ├── UnsupportedTypeError (TypeError)
    │                                 a Python type that JSON Schema cannot describe
    ├── SpecError                     the endpoint table or a schema is malformed
    ├── SpecFileError                 an OpenAPI file the maintainer tools cannot read
    ├── UsageError                    bad command-line input (``mistral-lite`` prints it, exits 2)
    ├── UnknownOperationError (AttributeError)
    │                                 an operation name the table does not have
    ├── StreamError                   a malformed event or an error event in a stream
    ├── OutputParseError              a structured answer that is not JSON or not of the type
    ├── ToolError                     a tool failed in run_tools (raise_tool_errors=True)
    ├── ToolArgumentsError            the model's arguments do not fit a tool's parameters
    │                                 (a failed tool's ``__cause__``)
    ├── MaxTurnsExceeded              run_tools reached max_turns (the transcript attached)
    ├── APIConnectionError            the server could not be reached or the connection broke
    │   └── APITimeoutError           connect, read or stream-stall timeout
    └── APIStatusError                the server answered with a 4xx or 5xx status
        ├── BadRequestError               400
        ├── AuthenticationError           401
        ├── PermissionDeniedError         403
        ├── NotFoundError                 404
        ├── ConflictError                 409
        ├── UnprocessableEntityError      422
        ├── RateLimitError                429
        └── InternalServerError           5xx

No exception type of requests, urllib3 or jsonschema escapes the public API: the client turns
them into these. Messages never contain the API key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mistral_lite._core.headers import RateLimit, request_id

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "BulkInputError",
    "BulkRunError",
    "ConflictError",
    "InternalServerError",
    "MaxTurnsExceeded",
    "MistralError",
    "NotFoundError",
    "OutputParseError",
    "PermissionDeniedError",
    "RateLimitError",
    "SpecError",
    "SpecFileError",
    "StreamError",
    "ToolArgumentsError",
    "ToolError",
    "UnknownOperationError",
    "UnprocessableEntityError",
    "UnsupportedTypeError",
    "UsageError",
    "ValidationError",
    "WaitTimeout",
]


class MistralError(Exception):
    """Base class of every error raised by mistral_lite."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[MistralError], state: dict[str, Any]) -> MistralError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class ValidationError(MistralError, ValueError):
    """The options do not match the operation's schema; nothing was sent.

    ``errors`` lists every problem as ``(path, message)``, ``path`` being a dotted option path
    such as ``messages[0].role``.
    """

    def __init__(self, operation: str, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {path or '<options>'}: {msg}" for path, msg in self.errors)
        count = len(self.errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid options for {operation} ({count} {noun}):\n{lines}", operation=operation)


#: How many problems a :class:`BulkInputError` spells out (all are counted).
MAX_REPORTED = 50


class BulkInputError(ValidationError):
    """The input file has bad lines; nothing was sent. ``problems`` lists ``(line, message)``,
    ``count`` how many lines are bad in all (``errors`` has them as ``("line N", message)``)."""

    def __init__(self, path: str, problems: list[tuple[int, str]], count: int) -> None:
        shown = "\n".join(f"  - line {number}: {message}" for number, message in problems[:MAX_REPORTED])
        more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        noun = "line" if count == 1 else "lines"
        MistralError.__init__(self, f"{path}: {count} bad {noun} (nothing was sent):\n{shown}{more}",
                              operation="run_jsonl")
        self.errors = [(f"line {number}", message) for number, message in problems]
        self.path = path
        self.problems = problems
        self.count = count


class BulkRunError(MistralError):
    """A bulk run (``run_jsonl``, ``mistral-lite run``) refused to start or to go on: its output
    is being written by another run, its input changed since the output was written, or a file
    of the run is damaged. ``path`` names the file; the message says how to start afresh."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, operation="run_jsonl")
        self.path = path


class BatchError(MistralError):
    """A batch job ended without results (``job`` holds its final state)."""

    def __init__(self, message: str, *, job: Mapping[str, Any]) -> None:
        super().__init__(message, operation="run_batch")
        self.job = dict(job)


class WaitTimeout(MistralError):
    """A waited-for job did not reach a terminal state in time (``last`` holds its last state)."""

    def __init__(self, message: str, *, operation: str, last: Any) -> None:
        super().__init__(message, operation=operation)
        self.last = last


class UnsupportedTypeError(MistralError, TypeError):
    """A Python type that cannot be described as JSON Schema (raised before any I/O)."""


class SpecError(MistralError):
    """The endpoint table or a schema is malformed (raised while loading, naming the row and field)."""


class SpecFileError(MistralError):
    """An OpenAPI file the maintainer tools cannot read, or that is not an OpenAPI document."""


class UsageError(MistralError):
    """Bad command-line input: ``mistral-lite`` prints it and exits with status 2; you see it only
    when calling ``mistral_lite.cli``'s functions yourself."""


class UnknownOperationError(MistralError, AttributeError):
    """The operation name is not in the endpoint table."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown operation {name!r}{hint}", operation=name)
        self.suggestions = list(suggestions)


class StreamError(MistralError):
    """A stream carried a malformed event or an error event (``event`` holds it)."""

    def __init__(self, message: str, *, operation: str | None = None, event: Any = None) -> None:
        super().__init__(message, operation=operation)
        self.event = event


class OutputParseError(MistralError):
    """The model's answer to a ``response_format`` type is not valid JSON or does not match it.

    ``content`` is the raw text, ``response`` the whole result, ``finish_reason`` the choice's
    (``"length"``: the output was cut at ``max_tokens``).
    """

    def __init__(self, message: str, *, content: str, response: Any, finish_reason: str | None = None,
                 operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.content, self.response, self.finish_reason = content, response, finish_reason


class ToolError(MistralError):
    """A tool called by ``run_tools`` raised, or the model's arguments for it were invalid
    (raised only with ``raise_tool_errors=True``; the original exception is ``__cause__``)."""

    def __init__(self, message: str, *, tool: str, arguments: str, call_id: str | None = None,
                 operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.tool, self.arguments, self.call_id = tool, arguments, call_id


class ToolArgumentsError(MistralError):
    """The model's arguments for a tool do not fit its parameters (not JSON, not an object, an
    unknown or missing argument, a value of the wrong type). ``run_tools`` answers the model
    with the message; with ``raise_tool_errors=True`` it is the ``__cause__`` of the ToolError."""


class MaxTurnsExceeded(MistralError):
    """``run_tools`` called the model ``max_turns`` times and it still asked for tools.

    ``transcript`` holds every message (or conversation entry) so far, ``last`` the last result.
    """

    def __init__(self, message: str, *, transcript: list[Any], last: Any, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.transcript, self.last = transcript, last


class APIConnectionError(MistralError):
    """The request could not be completed: connection refused, reset, cut mid-stream."""

    def __init__(self, message: str, *, operation: str | None = None, attempts: int = 1) -> None:
        super().__init__(message, operation=operation)
        self.attempts = attempts


class APITimeoutError(APIConnectionError):
    """A connect, read or stream-stall timeout."""


class APIStatusError(MistralError):
    """The server answered with an error status.

    Attributes: ``status_code``, ``body`` (decoded JSON, or text), ``headers``, ``request_id``
    (from ``x-request-id``), ``operation``, ``method``, ``path``, ``server_message``, ``type``,
    ``code``, ``attempts``, ``rate_limit`` (a :class:`~mistral_lite.RateLimit`, or None), and for
    rate limits ``retry_after`` (seconds, or None).
    """

    def __init__(
        self,
        *,
        status_code: int,
        body: Any,
        headers: Mapping[str, str],
        operation: str | None,
        method: str,
        path: str,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers)
        self.request_id = request_id(headers)  # x-request-id, else request-id, as RawResponse
        self.method = method
        self.path = path
        self.attempts = attempts
        self.retry_after = retry_after
        self.server_message, self.type, self.code = server_message(body, status_code)
        where = f"{operation} ({method} {path})" if operation else f"{method} {path}"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        rid = f" [request id {self.request_id}]" if self.request_id else ""
        super().__init__(
            f"HTTP {status_code} from {where}{tries}: {self.server_message}{rid}", operation=operation
        )

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit state this error response reported (see :class:`mistral_lite.RateLimit`), or None."""
        return RateLimit.from_headers(self.headers)


class BadRequestError(APIStatusError):
    """400 Bad Request."""


class AuthenticationError(APIStatusError):
    """401 Unauthorized: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403 Forbidden."""


class NotFoundError(APIStatusError):
    """404 Not Found."""


class ConflictError(APIStatusError):
    """409 Conflict."""


class UnprocessableEntityError(APIStatusError):
    """422 Unprocessable Entity: the server rejected the request's fields."""


class RateLimitError(APIStatusError):
    """429 Too Many Requests (``retry_after`` holds the delay the server asked for)."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status (botocore's ``from_code``)."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def server_message(body: Any, status_code: int) -> tuple[str, str | None, str | None]:
    """The server's own message, type and code from any of the API's error body shapes.

    Tried in order: ``message`` (a string, or an object with ``detail``), ``detail`` (a string
    or a list of ``{loc, msg}``), OpenAI-style ``error.message``; non-JSON bodies (gateway
    pages) give their first line of text.
    """
    if isinstance(body, Mapping):
        etype = _opt_str(body.get("type"))
        code = _opt_str(body.get("code"))
        message = body.get("message")
        if isinstance(message, str) and message:
            return message, etype, code
        if isinstance(message, Mapping) and "detail" in message:
            return _detail_text(message["detail"]), etype, code
        if "detail" in body:
            return _detail_text(body["detail"]), etype, code
        err = body.get("error")
        if isinstance(err, Mapping):
            text = str(err.get("message") or f"HTTP {status_code}")
            return text, _opt_str(err.get("type")), _opt_str(err.get("code"))
        if isinstance(err, str) and err:
            return err, etype, code
        if message is not None:
            return json.dumps(message), etype, code
        return f"HTTP {status_code}", etype, code
    if isinstance(body, str) and body.strip():
        text = " ".join(body.split())
        return (text[:200] + "…" if len(text) > 200 else text), None, None
    return f"HTTP {status_code} (empty body)", None, None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _detail_text(detail: Any) -> str:
    """``detail`` as text; items of any shape render (a server's body is never trusted)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = _loc_text(item.get("loc"))
                msg = item.get("msg")
                msg = "" if msg is None else str(msg)
                parts.append(f"{loc}: {msg}" if loc and msg else loc or msg)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p) or "validation error"
    return str(detail)


def _loc_text(loc: Any) -> str:
    """A pydantic-style ``loc`` (a list of keys and indexes, ``body`` left out) as ``a.0.b``."""
    if loc is None:
        return ""
    if isinstance(loc, (list, tuple)):
        return ".".join(str(p) for p in loc if p != "body")
    return str(loc)
