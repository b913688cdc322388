"""The escape hatch: ``client.request(method, path, ...)`` for an endpoint the table has no row for yet.

A raw request is planned here as an ad-hoc row (no options, no schema) and then goes through the
same transport as every operation: the client's key and headers, retries by the method's
idempotency (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE`` retry like reads; ``POST`` and
``PATCH`` only when the request provably never reached the server, and on 429), typed errors
carrying the request id, the key redacted from errors and logs, and with ``stream=True`` the SSE
parser (event dicts, each with its ``type``; the stream ends at ``data: [DONE]`` or when the
server closes it). The answer is decoded by its media type: JSON as data, anything else as bytes,
no content as ``None``. Nothing here performs I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from mistral_lite._core.call import Plan, _call_credentials, attach_request
from mistral_lite._core.files import MultipartBody, is_file_value
from mistral_lite._core.inputs import json_problems
from mistral_lite._core.jsoncodec import dumps, loads
from mistral_lite._core.request import Built, _query_pairs, encode_path
from mistral_lite._core.settings import check_headers, check_timeout
from mistral_lite._table import METHODS, Endpoint
from mistral_lite.exceptions import MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase

__all__ = ["decode_raw", "plan_raw"]

#: Methods retried like reads (RFC 9110 idempotent methods).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
OPERATION = "request"


def _fail(problem: str) -> ValidationError:
    return ValidationError(OPERATION, [("<call>", problem)])


def _path(base_url: str, path: str) -> str:
    """The path below the base URL: ``/v1/...``; a full URL must be the client's own base URL."""
    if not isinstance(path, str) or not path:
        raise _fail(f"path must be a string such as '/v1/models', got {path!r}")
    if "://" in path:
        if not path.startswith(base_url + "/"):
            raise _fail(f"{path!r} is not below the client's base URL {base_url!r}: the key is only sent there")
        path = path[len(base_url):]
    parts = urlsplit(path)
    if not path.startswith("/") or parts.query or parts.fragment or "\\" in path:
        raise _fail(f"path must start with '/' and carry no query or fragment (use params=), got {path!r}")
    if any(ch < " " or ch == "\x7f" for ch in path):
        raise _fail(f"path must not contain CR, LF, TAB or other control characters, got {path!r}")
    if any(part in (".", "..") for segment in path.split("/") for part in re.split(r"[/\\]", unquote(segment))):
        raise _fail(f"path must not contain '.' or '..' segments (%2e%2e included), got {path!r}")
    try:
        return encode_path(path)
    except UnicodeError:  # a lone surrogate
        raise _fail(f"path must be text UTF-8 can carry, got {path!r}") from None


def plan_raw(
    client: ClientBase, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any,
    data: Any, files: Mapping[str, Any] | None, headers: Mapping[str, str] | None, stream: bool,
    timeout: Any,
) -> Plan:
    """The plan of one raw request; bad input raises :class:`ValidationError` before any I/O."""
    verb = str(method).upper()
    if verb not in METHODS | {"HEAD", "OPTIONS"}:
        raise _fail(f"method must be one of {sorted(METHODS | {'HEAD', 'OPTIONS'})}, got {method!r}")
    s = client._settings
    path = _path(s.base_url, path)
    if json is not None and (data is not None or files):
        raise _fail("give json= or data=/files=, not both")
    if json is not None and (problems := json_problems(json, "json")):
        raise ValidationError(OPERATION, problems)
    try:
        extra_headers = check_headers(headers or {})
        pair = check_timeout(timeout) if timeout is not None else s.timeout
    except MistralError as exc:
        raise _fail(exc.message) from None
    if files and not all(is_file_value(v) for v in files.values()):
        raise _fail("each files= value must be a path, bytes, a binary file object or a (name, content) tuple")
    if data is not None and not files and not isinstance(data, (bytes, bytearray, str, Mapping)):
        raise _fail(f"data must be bytes, str or a mapping of form fields, got {type(data).__name__}")
    url = s.base_url + path
    pairs = _query_pairs(params or {})
    if pairs:
        url += "?" + urlencode(pairs)
    endpoint = Endpoint(
        name=OPERATION, method=verb, path=path, summary="A raw request.", schema_name="", schemas={},
        path_params=(), body="none" if json is None and data is None and not files else "json",
        stream="events" if stream else "none", always_stream=stream,
        retry="idempotent" if verb in IDEMPOTENT else "create",
    )

    def build() -> Built:
        request_headers = {"Accept": "text/event-stream" if stream else "application/json"}
        body: Any = None
        if json is not None:
            body = dumps(json)
            request_headers["Content-Type"] = "application/json"
        elif files:
            fields = list(data.items()) if isinstance(data, Mapping) else []
            multipart = MultipartBody([(k, v) for k, v in fields if v is not None], dict(files))
            body = multipart
            request_headers["Content-Type"] = multipart.content_type
            request_headers["Content-Length"] = str(multipart.length)
        elif isinstance(data, Mapping):
            body = urlencode(_query_pairs(data)).encode()
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = data.encode() if isinstance(data, str) else bytes(data)
        request_headers.update(extra_headers)
        return Built(verb, url, path, {}, dict(params or {}), request_headers, body, json, {})

    p = Plan(OPERATION, endpoint)
    p.headers, p.policy, p.secret, p.max_body = s.headers, s.policy, s.secret, s.max_response_size
    p.hub = client._observers
    if extra_headers:  # a per-call key is the one redacted
        call = {"extra_headers": extra_headers}
        _call_credentials(p, call, client._fingerprint)
        extra_headers = call["extra_headers"]
    attach_request(p, build, files.values() if files else None)
    p.stream = stream
    p.timeout = (pair[0], s.stream_timeout) if stream and timeout is None else pair
    return p


def decode_raw(content: bytes, content_type: str, request_id: str | None) -> Any:
    """A raw answer by its media type: JSON as data, other media as bytes, no content as None."""
    if not content:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return loads(content)
        except ValueError:
            raise MistralError(
                f"{OPERATION}: the server said JSON but sent a body that is not"
                + (f" [request id {request_id}]" if request_id else ""),
                operation=OPERATION,
            ) from None
    return content
