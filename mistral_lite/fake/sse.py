"""Server-sent event encoding for the two stream formats.

SSE-A (chat, FIM, agent completions) is data-only: ``data: {chunk}`` events and a final
``data: [DONE]``. SSE-B (conversations) names each event: ``event: <type>`` then
``data: {json}`` whose ``type`` repeats the event name; it has no sentinel.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DONE", "completion_event", "conversation_event", "named_event"]

DONE = b"data: [DONE]\n\n"


def _dump(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def completion_event(chunk: dict[str, Any]) -> bytes:
    """One SSE-A event carrying a ``chat.completion.chunk``."""
    return f"data: {_dump(chunk)}\n\n".encode()


def conversation_event(payload: dict[str, Any]) -> bytes:
    """One SSE-B event; ``payload["type"]`` is the event name."""
    return f"event: {payload['type']}\ndata: {_dump(payload)}\n\n".encode()


def named_event(name: str, payload: Any) -> bytes:
    """One ``event: <name>`` + ``data: <json>`` event (SSE-B framing, any payload)."""
    return f"event: {name}\ndata: {_dump(payload)}\n\n".encode()
