"""The handler of audio transcription (``POST /v1/audio/transcriptions``).

The "transcript" is derived from the audio's name and size (an upload, a file of the files
store, or the last segment of a URL), so equal requests give equal answers. The fake hears
16 000 bytes per second. With ``stream`` the answer is the spec's transcription events:
``transcription.language``, ``transcription.text.delta`` per word, ``transcription.segment``
per segment (when asked for) and a final ``transcription.done``; the server then closes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from . import generate as gen
from .replies import ApiError, JsonReply, Reply, StreamReply, not_found
from .sse import conversation_event
from .state import State

__all__ = ["BYTES_PER_SECOND", "HANDLERS"]

BYTES_PER_SECOND = 16000


def _source(state: State, o: Mapping[str, Any]) -> tuple[str, int]:
    """The audio's name and size in bytes."""
    given = [k for k in ("file", "file_url", "file_id") if o.get(k) is not None]
    if len(given) != 1:
        raise ApiError(400, "Exactly one of file, file_url and file_id must be given")
    if given == ["file"]:
        upload = o["file"]
        name, data = (upload[0], upload[1]) if isinstance(upload, tuple) else ("audio.bin", bytes(upload))
        return name, len(data)
    if given == ["file_id"]:
        with state.lock:
            stored = state.files.get(o["file_id"])
        if stored is None:
            raise not_found("File", o["file_id"])
        return stored.filename, len(stored.data)
    url = str(o["file_url"])
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "audio"
    return name, len(url) * 1000


def _segments(text: str, seconds: float, diarize: bool) -> list[dict[str, Any]]:
    sentences = [s for s in re.split(r"(?<=\.)\s+", text) if s]
    total = sum(len(s) for s in sentences) or 1
    out, start = [], 0.0
    for number, sentence in enumerate(sentences):
        end = round(start + seconds * len(sentence) / total, 2)
        out.append({"type": "transcription_segment", "text": sentence, "start": start, "end": end,
                    "score": None, "speaker_id": f"speaker_{number % 2}" if diarize else None})
        start = end
    return out


def transcribe_audio(state: State, o: dict[str, Any]) -> Reply:
    name, size = _source(state, o)
    seconds = round(size / BYTES_PER_SECOND, 2)
    text = f"This is the transcription of {name}. It lasts {seconds:g} seconds."
    language = o.get("language") or "en"
    granularities = o.get("timestamp_granularities") or []
    diarize = bool(o.get("diarize"))
    segments = _segments(text, seconds, diarize) if ("segment" in granularities or diarize) else []
    tokens = gen.count_tokens(text)
    usage = {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": 4 + tokens,
             "prompt_audio_seconds": max(1, round(seconds))}
    body = {"model": o["model"], "text": text, "language": language, "segments": segments, "usage": usage}
    if not o.get("stream"):
        return JsonReply(body)
    events = [conversation_event({"type": "transcription.language", "audio_language": language})]
    events += [conversation_event({"type": "transcription.text.delta", "text": word})
               for word in gen.split_words(text)]
    events += [conversation_event({"type": "transcription.segment", "text": s["text"], "start": s["start"],
                                   "end": s["end"], "speaker_id": s["speaker_id"]}) for s in segments]
    events.append(conversation_event(dict(body, type="transcription.done")))
    return StreamReply("conversation", events)


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {"transcribe_audio": transcribe_audio}
