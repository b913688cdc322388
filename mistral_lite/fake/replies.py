"""What a fake operation answers: the reply types and the API's error bodies.

Handlers return one of :class:`JsonReply`, :class:`BytesReply`, :class:`EmptyReply` or
:class:`StreamReply`, or raise :func:`api_error`; the HTTP layer (``server.py``) turns them
into bytes on the wire. The error-body builders here are the only place that knows the
shapes the live API uses for its errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from mistral_lite.exceptions import APIStatusError

T = TypeVar("T")

__all__ = [
    "api_error",
    "BytesReply",
    "EmptyReply",
    "JsonReply",
    "Reply",
    "StreamReply",
    "error_body",
    "gateway_body",
    "new_request_id",
    "validation_body",
]


def new_request_id() -> str:
    """A fresh request id, as sent in ``x-request-id``."""
    return uuid.uuid4().hex


def error_body(message: Any, type_: str = "invalid_request_error", code: Any = None) -> dict[str, Any]:
    """The documented error shape: ``{object, message, type, param, code}``."""
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


def gateway_body(message: str, request_id: str) -> dict[str, Any]:
    """The gateway's error shape (401 and friends): ``{message, request_id}``."""
    return {"message": message, "request_id": request_id}


def validation_body(details: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A 422 as the live API sends it: the pydantic details wrapped in ``message``."""
    return error_body({"detail": list(details)})


def api_error(status: int, message: Any, type_: str = "invalid_request_error",
              code: Any = None, body: dict[str, Any] | None = None) -> APIStatusError:
    """What a handler raises to answer an error in the API's shape (``status_code`` and ``body``)."""
    body = body if body is not None else error_body(message, type_, code)
    return APIStatusError(status_code=status, body=body, headers={}, operation=None, method="", path="")


def not_found(kind: str, ident: Any) -> APIStatusError:
    """The 404 for an unknown id."""
    return api_error(404, f"{kind} with id {ident!r} not found", code="not_found")


def find(table: Mapping[Any, T], ident: Any, kind: str) -> T:
    """``table[ident]``, or the API's 404 naming ``kind``."""
    found = table.get(ident)
    if found is None:
        raise not_found(kind, ident)
    return found


@dataclass
class JsonReply:
    body: Any
    status: int = 200


@dataclass
class BytesReply:
    data: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EmptyReply:
    status: int = 204


@dataclass
class StreamReply:
    """A server-sent event stream: ``events`` are encoded events, ``done`` the terminator.

    ``kind`` is ``"completion"`` (SSE-A, ends with ``data: [DONE]``, connection kept) or
    ``"conversation"`` (SSE-B, no sentinel, the server closes after the last event).
    """

    kind: Literal["completion", "conversation"]
    events: list[bytes]
    done: bytes = b""


Reply = JsonReply | BytesReply | EmptyReply | StreamReply
