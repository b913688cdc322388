"""The handler of audio transcription (``POST /v1/audio/transcriptions``).

The "transcript" is derived from the audio's name and size (an upload, a file of the files
store, or the last segment of a URL), so equal requests give equal answers. The fake hears
16 000 bytes per second. With ``stream`` the answer is the spec's transcription events:
``transcription.language``, ``transcription.text.delta`` per word, ``transcription.segment``
per segment (when asked for) and a final ``transcription.done``; the server then closes.

Speech (``POST /v1/audio/speech``) answers deterministic audio for the input (the format's magic
bytes, then 400 bytes a character) as base64 ``audio_data``; streamed, in ``speech.audio.delta``
events of 4096 decoded bytes, then ``speech.audio.done`` with the usage. ``get_voice_sample``
gives back the sample a voice was created with.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from mistral_lite.fake import generate as gen
from mistral_lite.fake.replies import BytesReply, JsonReply, Reply, StreamReply, api_error, not_found
from mistral_lite.fake.sse import conversation_event
from mistral_lite.fake.state import State

__all__ = ["BYTES_PER_SECOND", "HANDLERS", "speech_audio", "speech_stream", "transcription_stream"]

BYTES_PER_SECOND = 16000


def _source(state: State, o: Mapping[str, Any]) -> tuple[str, int]:
    """The audio's name and size in bytes."""
    given = [k for k in ("file", "file_url", "file_id") if o.get(k) is not None]
    if len(given) != 1:
        raise api_error(400, "Exactly one of file, file_url and file_id must be given")
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
    return transcription_stream(body)


#: Bytes of audio the fake speaks per character of input, and per streamed delta.
SPEECH_BYTES_PER_CHAR = 400
SPEECH_CHUNK = 4096
_HEADERS = {"mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00", "flac": b"fLaC", "opus": b"OggS", "pcm": b""}


def speech_audio(text: str, fmt: str) -> bytes:
    """Deterministic "audio" for ``text``: the format's magic bytes, then a tone-like pattern."""
    size = max(1, len(text)) * SPEECH_BYTES_PER_CHAR
    seed = hashlib.sha256(text.encode()).digest()
    body = (seed * (size // len(seed) + 1))[:size]
    if fmt == "wav":
        return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000,
                32000, 2, 16) + b"data" + struct.pack("<I", size) + body)
    return _HEADERS.get(fmt, b"") + body


def speech_stream(body: Mapping[str, Any]) -> StreamReply:
    """A speech answer (``{"audio_data": base64}``) as the spec's events: the audio in
    ``speech.audio.delta`` pieces of ``SPEECH_CHUNK`` bytes, each base64, then ``speech.audio.done``."""
    audio = base64.b64decode(body.get("audio_data") or "")
    events = [conversation_event({"type": "speech.audio.delta",
                                  "audio_data": base64.b64encode(audio[i:i + SPEECH_CHUNK]).decode()})
              for i in range(0, len(audio), SPEECH_CHUNK)]
    events.append(conversation_event({"type": "speech.audio.done", "usage": body.get("usage") or {
        "prompt_tokens": 0, "total_tokens": 0, "completion_tokens": 0}}))
    return StreamReply("conversation", events)


def create_speech(state: State, o: dict[str, Any]) -> Reply:
    text = o["input"]
    audio = speech_audio(text, o.get("response_format") or "mp3")
    tokens = gen.count_tokens(text)
    usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
    body = {"audio_data": base64.b64encode(audio).decode()}
    return speech_stream(dict(body, usage=usage)) if o.get("stream") else JsonReply(body)


def get_voice_sample(state: State, o: dict[str, Any]) -> Reply:
    """The sample a voice was created with (``create_voice``'s ``sample_audio``, decoded)."""
    with state.lock:
        voice = state.store.get("/v1/audio/voices", {}).get(o["voice_id"])
    if voice is None:
        raise not_found("Voice", o["voice_id"])
    try:
        data = base64.b64decode((voice.get("fields") or {}).get("sample_audio") or "", validate=True)
    except ValueError:
        data = b""
    return BytesReply(data or speech_audio("", "wav"), "audio/mpeg")  # an unreadable sample: a short WAV


def transcription_stream(body: Mapping[str, Any]) -> StreamReply:
    """A transcription body as the spec's events (language, a delta per word, segments, done)."""
    language = body.get("language") or "en"
    events = [conversation_event({"type": "transcription.language", "audio_language": language})]
    events += [conversation_event({"type": "transcription.text.delta", "text": word})
               for word in gen.split_words(str(body.get("text") or ""))]
    events += [conversation_event({"type": "transcription.segment", "text": s["text"], "start": s["start"],
                                   "end": s["end"], "speaker_id": s.get("speaker_id")})
               for s in body.get("segments") or ()]
    events.append(conversation_event(dict(body, type="transcription.done")))
    return StreamReply("conversation", events)


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {
    "transcribe_audio": transcribe_audio, "create_speech": create_speech, "get_voice_sample": get_voice_sample}
