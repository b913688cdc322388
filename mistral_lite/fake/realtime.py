"""Realtime transcription over a WebSocket (``GET /v1/audio/transcriptions/realtime``).

A small RFC 6455 server on the fake's own connection (the standard library only): the upgrade
needs the key like every request (401 otherwise). The session follows the API's protocol: the
server sends ``session.created``; a ``session.update`` before any audio is checked (the
encoding one of the spec's ``AudioEncoding``, ``sample_rate`` 8,000..96,000) and answered
``session.updated`` or an ``error`` event; ``input_audio.append`` messages carry base64 audio
(at most 262,144 bytes each); at ``input_audio.end`` the fake answers
``transcription.language``, a ``transcription.text.delta`` per word of "This is the realtime
transcription of N bytes. It lasts S seconds." and ``transcription.done``. Tests script a
session with ``FakeMistral.script_realtime(events)``: those events are sent after
``session.created`` instead, then the server closes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import struct
import uuid
from collections.abc import Mapping
from typing import Any

from mistral_lite.fake import generate as gen

__all__ = ["ENCODINGS", "PATH", "is_upgrade", "serve"]

PATH = "/v1/audio/transcriptions/realtime"
ENCODINGS = {"pcm_s16le": 2, "pcm_s32le": 4, "pcm_f16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_APPEND = 262_144


def is_upgrade(headers: Any) -> bool:
    return "websocket" in str(headers.get("Upgrade", "")).lower()


def accept(headers: Any) -> bytes:
    """The 101 answer to a WebSocket upgrade request."""
    key = str(headers.get("Sec-WebSocket-Key", "")).strip()
    digest = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {digest}\r\n\r\n").encode()


def _read_exact(rfile: io.BufferedIOBase, size: int) -> bytes:
    data = rfile.read(size)
    if data is None or len(data) < size:
        raise ConnectionError("the client went away")
    return data


def read_message(rfile: io.BufferedIOBase, wfile: io.BufferedIOBase) -> str | None:
    """The next text message (pings answered, fragments joined); None at a close frame."""
    parts: list[bytes] = []
    while True:
        head = _read_exact(rfile, 2)
        fin, opcode = head[0] & 0x80, head[0] & 0x0F
        size = head[1] & 0x7F
        if size == 126:
            size = struct.unpack(">H", _read_exact(rfile, 2))[0]
        elif size == 127:
            size = struct.unpack(">Q", _read_exact(rfile, 8))[0]
        mask = _read_exact(rfile, 4) if head[1] & 0x80 else b""
        payload = _read_exact(rfile, size)
        if mask:
            key = (mask * (size // 4 + 1))[:size]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
        if opcode == 8:
            send_frame(wfile, 8, payload[:2])
            return None
        if opcode == 9:
            send_frame(wfile, 10, payload)
            continue
        if opcode == 10:
            continue
        parts.append(payload)
        if fin:
            return b"".join(parts).decode("utf-8", "replace")


def send_frame(wfile: io.BufferedIOBase, opcode: int, payload: bytes) -> None:
    size = len(payload)
    if size < 126:
        head = struct.pack(">BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, size)
    wfile.write(head + payload)
    wfile.flush()


def _send(wfile: io.BufferedIOBase, event: Mapping[str, Any]) -> None:
    send_frame(wfile, 1, json.dumps(event, separators=(",", ":")).encode())


def _error(message: str, code: int = 4000) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message, "code": code}}


def _format_problem(fmt: Any) -> str | None:
    if not isinstance(fmt, Mapping):
        return "audio_format must be an object with encoding and sample_rate"
    if fmt.get("encoding") not in ENCODINGS:
        return f"audio_format.encoding must be one of {sorted(ENCODINGS)}, got {fmt.get('encoding')!r}"
    rate = fmt.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or not 8000 <= rate <= 96000:
        return f"audio_format.sample_rate must be an integer from 8000 to 96000, got {rate!r}"
    return None


def serve(rfile: io.BufferedIOBase, wfile: io.BufferedIOBase, model: str,
          scripted: list[dict[str, Any]] | None) -> None:
    """One realtime session on an upgraded connection (returns when it is over)."""
    session: dict[str, Any] = {"request_id": uuid.uuid4().hex, "model": model,
                               "audio_format": {"encoding": "pcm_s16le", "sample_rate": 16000},
                               "target_streaming_delay_ms": None}
    _send(wfile, {"type": "session.created", "session": dict(session)})
    if scripted is not None:
        for event in scripted:
            _send(wfile, event)
        send_frame(wfile, 8, struct.pack(">H", 1000))
        return
    received = 0
    while True:
        text = read_message(rfile, wfile)
        if text is None:
            return
        try:
            message = json.loads(text)
            kind = message.get("type")
        except (ValueError, AttributeError):
            _send(wfile, _error("messages must be JSON objects with a type"))
            continue
        if kind == "session.update":
            update = message.get("session") or {}
            problem = _format_problem(update["audio_format"]) if "audio_format" in update else None
            if received:
                problem = "the session cannot be updated after audio started"
            if problem is not None:
                _send(wfile, _error(problem, 4001))
                continue
            session.update({k: v for k, v in update.items() if k in ("audio_format", "target_streaming_delay_ms")})
            _send(wfile, {"type": "session.updated", "session": dict(session)})
        elif kind == "input_audio.append":
            try:
                chunk = base64.b64decode(str(message.get("audio", "")), validate=True)
            except (binascii.Error, ValueError):
                _send(wfile, _error("audio must be base64", 4002))
                continue
            if len(chunk) > MAX_APPEND:
                _send(wfile, _error(f"at most {MAX_APPEND} bytes of audio a message", 4003))
                continue
            received += len(chunk)
        elif kind == "input_audio.end":
            _answer(wfile, session, received)
        elif kind != "input_audio.flush":
            _send(wfile, _error(f"unknown message type {kind!r}", 4004))


def _answer(wfile: io.BufferedIOBase, session: Mapping[str, Any], received: int) -> None:
    fmt = session["audio_format"]
    seconds = round(received / (fmt["sample_rate"] * ENCODINGS[fmt["encoding"]]), 2)
    text = f"This is the realtime transcription of {received} bytes. It lasts {seconds:g} seconds."
    _send(wfile, {"type": "transcription.language", "audio_language": "en"})
    for word in gen.split_words(text):
        _send(wfile, {"type": "transcription.text.delta", "text": word})
    tokens = gen.count_tokens(text)
    _send(wfile, {"type": "transcription.done", "model": session["model"], "text": text, "language": "en",
                  "segments": [], "usage": {"prompt_audio_seconds": max(1, round(seconds)), "prompt_tokens": 4,
                                            "completion_tokens": tokens, "total_tokens": 4 + tokens}})
