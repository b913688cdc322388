"""Subtitles from a transcription's segments: :func:`to_srt` and :func:`to_vtt`.

A cue per segment, its ``start`` and ``end`` (seconds) as ``HH:MM:SS,mmm`` (SRT) or
``HH:MM:SS.mmm`` (WebVTT), rounded half up to the millisecond; the segment's text without leading and
trailing white space, prefixed with ``[speaker_id] `` when the segment names a speaker. SRT
numbers its cues from 1; WebVTT starts with ``WEBVTT`` and a blank line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mistral_lite.exceptions import MistralError

__all__ = ["to_srt", "to_vtt"]


def _segments(transcription: Mapping[str, Any] | Iterable[Mapping[str, Any]], what: str) -> list[Mapping[str, Any]]:
    source: Any = transcription  # a Mapping is also an Iterable of its keys: the checkers cannot tell which
    segments: Any = source.get("segments") if isinstance(source, Mapping) else list(source)
    if not segments:
        raise MistralError(f"{what}: the transcription has no segments; transcribe with "
                           "timestamp_granularities=[\"segment\"]")
    checked: list[Mapping[str, Any]] = list(segments)
    for n, segment in enumerate(checked):
        for key in ("start", "end"):
            value = segment.get(key) if isinstance(segment, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MistralError(f"{what}: segments[{n}] has no number of seconds as {key!r} (got {value!r})")
    return checked


def _stamp(seconds: Any, comma: str) -> str:
    # from the number as written (3725.0125 s is ...,013), half up: no binary-float surprises
    ms = max(0, int((Decimal(str(seconds)) * 1000).quantize(Decimal(1), ROUND_HALF_UP)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{comma}{ms:03d}"


def _text(segment: Mapping[str, Any]) -> str:
    text = str(segment.get("text") or "").strip()
    speaker = segment.get("speaker_id")
    return f"[{speaker}] {text}" if speaker is not None and speaker != "" else text


def to_srt(transcription: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> str:
    """SubRip text of a transcription with segments (or of its segments)."""
    return "".join(f"{n}\n{_stamp(s['start'], ',')} --> {_stamp(s['end'], ',')}\n{_text(s)}\n\n"
                   for n, s in enumerate(_segments(transcription, "to_srt"), 1))


def to_vtt(transcription: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> str:
    """WebVTT text of a transcription with segments (or of its segments)."""
    return "WEBVTT\n\n" + "".join(f"{_stamp(s['start'], '.')} --> {_stamp(s['end'], '.')}\n{_text(s)}\n\n"
                                  for s in _segments(transcription, "to_vtt"))
