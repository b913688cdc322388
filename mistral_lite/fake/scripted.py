"""Scripted replies: canned answers a test queues per operation, served before the handler.

``fake.script("chat", reply, ...)`` queues replies; each request to that operation (after
validation) takes the next one instead of the fake's generated answer, and once the queue is
empty the operation answers normally again. A reply is a response body (a dict, sent as JSON;
for ``stream=True`` turned into the row's stream: completion chunks for ``chat.completion``
bodies, conversation events for ``conversation.response`` bodies, speech deltas for an
``audio_data`` body, transcription events for a transcription body), a ready
:class:`~.replies.Reply`, or a callable taking the request's options and returning either.
:func:`~.inference.chat_completion` builds a ``chat.completion`` body with given content or
tool calls. A scripted reply bypasses the handler: it changes no stored state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mistral_lite.fake.audio import speech_stream, transcription_stream
from mistral_lite.fake.inference import stream_completion
from mistral_lite.fake.replies import BytesReply, EmptyReply, JsonReply, Reply, StreamReply
from mistral_lite.fake.resources import conversation_stream

__all__ = ["Scripted", "scripted_reply"]

Scripted = Mapping[str, Any] | Reply | Callable[[dict[str, Any]], Any]
_STREAMS: dict[str, Callable[[Mapping[str, Any]], StreamReply]] = {
    "completion": stream_completion, "events": conversation_stream,
}
#: For an event-stream row, the body key that tells which events stream it (else conversation events).
_EVENT_STREAMS: tuple[tuple[str, Callable[[Mapping[str, Any]], StreamReply]], ...] = (
    ("audio_data", speech_stream), ("segments", transcription_stream), ("language", transcription_stream),
)


def scripted_reply(reply: Scripted, options: dict[str, Any], stream_kind: str) -> Reply:
    """The :class:`Reply` for a queued ``reply`` to a request with ``options``."""
    if callable(reply) and not isinstance(reply, (JsonReply, BytesReply, EmptyReply, StreamReply)):
        reply = reply(options)
    if isinstance(reply, (JsonReply, BytesReply, EmptyReply, StreamReply)):
        return reply
    if not isinstance(reply, Mapping):
        raise TypeError(f"a scripted reply must be a dict, a Reply or a callable, got {type(reply).__name__}")
    if options.get("stream") and stream_kind in _STREAMS:
        if stream_kind == "events":
            for key, streamer in _EVENT_STREAMS:
                if key in reply and "outputs" not in reply:
                    return streamer(reply)
        return _STREAMS[stream_kind](reply)
    return JsonReply(dict(reply))
