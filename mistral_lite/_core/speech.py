"""Files carried as base64 in JSON: a ``to_field`` row's ``to=`` and ``x-python: base64-file`` options.

* :func:`save_field` writes the decoded field of a JSON answer (``create_speech``'s
  ``audio_data``) to a path atomically and returns the Path.
* :func:`save_stream` writes the decoded field of each event of a stream
  (``speech.audio.delta``) as it arrives into a temporary file, renamed into place at the stream's
  end event (its async twin, ``asave_stream``, is the async transport's:
  :mod:`mistral_lite._http.aio_stream`; it shares :func:`piece` and :func:`cut`). A stream cut
  before its end, or a field that is not valid base64, raises a :class:`MistralError` and leaves
  the target (an existing file) untouched, no temporary file.
* :func:`encode_file` is the plan-time step of an option the schema marks ``base64-file``
  (``create_voice``'s ``sample_audio``): bytes or a path (``os.PathLike``) become standard
  base64 without line breaks; a str is sent as is.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mistral_lite._core.files import AtomicFile
from mistral_lite.exceptions import MistralError, ValidationError

__all__ = ["cut", "decode", "encode_file", "piece", "save_field", "save_stream"]


def decode(value: Any, field: str, operation: str) -> bytes:
    """The bytes of a base64 field; anything else is a MistralError naming the field."""
    if not isinstance(value, str):
        raise MistralError(f"{operation}: the answer has no {field} text to save (got {type(value).__name__})",
                           operation=operation)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MistralError(f"{operation}: {field} is not valid base64 ({len(value)} characters); nothing was "
                           "written", operation=operation) from None


def save_field(result: Any, field: str, target: str | os.PathLike[str], operation: str) -> Path:
    """Write the decoded ``result[field]`` to ``target`` atomically; return the Path."""
    data = decode(result.get(field) if isinstance(result, Mapping) else None, field, operation)
    out = AtomicFile(target)
    try:
        out.write(data)
    except BaseException:
        out.abort()
        raise
    return out.commit()


def piece(event: Any, field: str, operation: str) -> bytes | None:
    if isinstance(event, Mapping) and field in event:
        return decode(event[field], field, operation)
    return None


def cut(end: str | None, operation: str) -> MistralError:
    return MistralError(f"{operation}: the stream ended before {end or 'its end event'}; nothing was written",
                        operation=operation)


def save_stream(stream: Iterable[Any], field: str, target: str | os.PathLike[str], operation: str,
                end: str | None = None) -> Path:
    """Write each event's decoded ``field`` to a temporary file, renamed to ``target`` at the end."""
    out = AtomicFile(target)
    try:
        ended = False
        with _closing(stream):
            for event in stream:
                data = piece(event, field, operation)
                if data is not None:
                    out.write(data)
                elif isinstance(event, Mapping) and (end is None or event.get("type") == end):
                    ended = True
        if not ended:
            raise cut(end, operation)
    except BaseException:
        out.abort()
        raise
    return out.commit()


class _closing:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


def encode_file(value: Any, operation: str, where: str) -> Any:
    """A ``base64-file`` option's value: bytes or a path encoded, a str (already base64) as is."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, os.PathLike):
        try:
            data = Path(value).read_bytes()
        except OSError as exc:
            raise ValidationError(operation, [(where, f"cannot read {os.fspath(value)!r}: "
                                                      f"{exc.strerror or exc}")]) from None
        return base64.b64encode(data).decode("ascii")
    return value  # a str is taken as base64 already; anything else is for the validator to judge
