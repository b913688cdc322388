"""Realtime transcription over a WebSocket (aiohttp's client; the ``async`` extra).

The protocol (as the official SDK's realtime module speaks it)::

    GET {base_url}/v1/audio/transcriptions/realtime?model=M   (https -> wss, http -> ws)
        Authorization: Bearer <key>                              (the key never in the URL)
    server: {"type": "session.created", "session": {...}}       (the server speaks first)
    client: {"type": "session.update", "session": {...}}         (only with audio_format /
                                                                  target_streaming_delay_ms)
    client: {"type": "input_audio.append", "audio": <base64>}    (<= 262,144 bytes each)
    client: {"type": "input_audio.flush"}, {"type": "input_audio.end"}
    server: transcription.language, transcription.text.delta, transcription.segment,
            turn.*, ..., transcription.done                       (then the client closes)

:func:`events` is the async generator ``AsyncClient.transcribe_realtime`` returns: every server
message as a dict, in order, to ``transcription.done``. An ``error`` event raises
:class:`StreamError` (after the events before it), a refused upgrade the typed status error
(401: ``AuthenticationError``), silence longer than ``stream_timeout`` an
:class:`APITimeoutError`, a close before the end an :class:`APIConnectionError`. Leaving the
loop early (``break``) closes the socket. :func:`sync_events` runs the same generator on a
private event loop in a thread for ``Client.transcribe_realtime``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mistral_lite._core.credentials import redact
from mistral_lite._core.jsoncodec import dumps, loads
from mistral_lite.exceptions import (
    APIConnectionError,
    APITimeoutError,
    MistralError,
    StreamError,
    ValidationError,
    error_for_status,
)

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase

__all__ = ["MAX_CHUNK", "PATH", "Audio", "events", "sync_events"]

#: Decoded audio bytes per ``input_audio.append`` message (larger input is split).
MAX_CHUNK = 262_144
PATH = "/v1/audio/transcriptions/realtime"
OPERATION = "transcribe_realtime"
#: Seconds the closing handshake may take before the socket is dropped.
CLOSE_TIMEOUT = 0.5
Audio = bytes | bytearray | memoryview | str | os.PathLike[str] | AsyncIterable[bytes] | Iterable[bytes]


def ws_url(base_url: str, model: str) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{PATH}?model={quote(model, safe='')}"


def session_update(audio_format: Mapping[str, Any] | None, delay: int | None) -> dict[str, Any] | None:
    """The ``session.update`` message: exactly the fields given, or None when none is."""
    session: dict[str, Any] = {}
    if audio_format is not None:
        session["audio_format"] = dict(audio_format)
    if delay is not None:
        session["target_streaming_delay_ms"] = delay
    return {"type": "session.update", "session": session} if session else None


async def _chunks(audio: Any) -> AsyncIterator[bytes]:
    """The audio in pieces of at most MAX_CHUNK bytes, as they come (files read on a thread)."""
    loop = asyncio.get_running_loop()
    if isinstance(audio, (bytes, bytearray, memoryview)):
        data = bytes(audio)
        for i in range(0, len(data), MAX_CHUNK):
            yield data[i:i + MAX_CHUNK]
    elif isinstance(audio, (str, os.PathLike)):
        handle = await loop.run_in_executor(None, Path(audio).open, "rb")
        try:
            while block := await loop.run_in_executor(None, handle.read, MAX_CHUNK):
                yield block
        finally:
            handle.close()
    elif hasattr(audio, "__aiter__"):
        async for piece in audio:
            for i in range(0, len(piece), MAX_CHUNK):
                yield bytes(piece[i:i + MAX_CHUNK])
    else:  # a plain iterable of chunks: each next() on a thread, it may block
        it = iter(audio)
        end: Any = object()
        while (piece := await loop.run_in_executor(None, next, it, end)) is not end:
            for i in range(0, len(piece), MAX_CHUNK):
                yield bytes(piece[i:i + MAX_CHUNK])


def check_audio(audio: Any) -> None:
    """Refuse what is not audio before any I/O (a missing file, a number...)."""
    if isinstance(audio, (str, os.PathLike)):
        if not Path(audio).is_file():
            raise ValidationError(OPERATION, [("audio", f"no such file: {os.fspath(audio)!r}")])
    elif not isinstance(audio, (bytes, bytearray, memoryview)) and not hasattr(audio, "__aiter__") \
            and not hasattr(audio, "__iter__"):
        raise ValidationError(OPERATION, [("audio", f"expected bytes, a path or an iterable of byte chunks, "
                                                    f"got {type(audio).__name__}")])


async def _send_audio(ws: Any, audio: Any, update: dict[str, Any] | None) -> None:
    if update is not None:
        await ws.send_str(dumps(update).decode())
    async for block in _chunks(audio):
        if block:
            await ws.send_str(dumps({"type": "input_audio.append",
                                     "audio": base64.b64encode(block).decode("ascii")}).decode())
    await ws.send_str(dumps({"type": "input_audio.flush"}).decode())
    await ws.send_str(dumps({"type": "input_audio.end"}).decode())


def _error_text(event: Mapping[str, Any]) -> str:
    error = event.get("error")
    if not isinstance(error, Mapping):
        return str(error if error is not None else event.get("message", "unknown error"))
    message = error.get("message")
    if isinstance(message, Mapping):
        message = message.get("detail", message)
    code = error.get("code")
    return f"{message}" + (f" (code {code})" if code is not None else "")


async def events(client: ClientBase, audio: Audio, *, model: str, audio_format: Mapping[str, Any] | None = None,
                 target_streaming_delay_ms: int | None = None,
                 stream_timeout: float | None = None) -> AsyncGenerator[dict[str, Any], None]:
    """Every server message of one realtime transcription, in order, to ``transcription.done``."""
    import aiohttp  # type: ignore[import-not-found, unused-ignore]  # the async extra; only a realtime call needs it

    check_audio(audio)
    settings = client._settings
    secret = settings.secret
    timeout = float(stream_timeout if stream_timeout is not None else settings.stream_timeout)
    update = session_update(audio_format, target_streaming_delay_ms)
    url = ws_url(settings.base_url, model)
    headers = {k: str(v) for k, v in settings.headers.items()}
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.timeout[0]))
    sender: asyncio.Task[None] | None = None
    ws: Any = None
    try:
        try:
            ws = await session.ws_connect(url, headers=headers, autoclose=False, autoping=True,
                                          max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT))  # type: ignore[call-arg, unused-ignore]
        except aiohttp.WSServerHandshakeError as exc:
            raise error_for_status(exc.status)(
                status_code=exc.status, body=redact(exc.message, secret) if exc.message else None,
                headers=dict(exc.headers or {}), operation=OPERATION, method="GET", path=PATH) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise APIConnectionError(f"{OPERATION}: cannot connect to {redact(url, secret)}: "
                                     f"{type(exc).__name__}: {redact(str(exc), secret)}", operation=OPERATION) from None
        sender = asyncio.ensure_future(_send_audio(ws, audio, update))
        while True:
            receive = asyncio.ensure_future(ws.receive())
            waiting = {receive, sender} if not sender.done() else {receive}
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if sender in done and sender.exception() is not None and not receive.done():
                receive.cancel()
                raise _send_error(sender.exception())
            if not receive.done():
                if not done:  # silence: nothing within the stream timeout
                    receive.cancel()
                    raise APITimeoutError(f"{OPERATION}: no message arrived within the stream timeout "
                                          f"({timeout:g} s)", operation=OPERATION)
                done, _ = await asyncio.wait({receive}, timeout=timeout)
                if not done:
                    receive.cancel()
                    raise APITimeoutError(f"{OPERATION}: no message arrived within the stream timeout "
                                          f"({timeout:g} s)", operation=OPERATION)
            message = receive.result()
            if message.type == aiohttp.WSMsgType.TEXT:
                try:
                    event = loads(message.data)
                except ValueError:
                    raise StreamError(f"{OPERATION}: the server sent a message that is not JSON: "
                                      f"{redact(str(message.data)[:200], secret)!r}", operation=OPERATION) from None
                if isinstance(event, dict) and event.get("type") == "error":
                    raise StreamError(f"{OPERATION}: the server reported an error: "
                                      f"{redact(_error_text(event), secret)}", operation=OPERATION, event=event)
                yield event
                if isinstance(event, dict) and event.get("type") == "transcription.done":
                    return
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise APIConnectionError(f"{OPERATION}: the server closed the connection before transcription.done",
                                         operation=OPERATION)
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise APIConnectionError(f"{OPERATION}: the connection broke: {message.data!r}", operation=OPERATION)
            # BINARY, PING, PONG: not part of the protocol's events
    finally:
        if sender is not None and not sender.done():
            sender.cancel()
        if ws is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await session.close()


def _send_error(exc: BaseException | None) -> MistralError:
    if isinstance(exc, MistralError):
        return exc
    return APIConnectionError(f"{OPERATION}: sending the audio failed: {type(exc).__name__}: {exc}",
                              operation=OPERATION)


_END = object()


def sync_events(client: ClientBase, audio: Audio, **options: Any) -> Iterator[dict[str, Any]]:
    """:func:`events` as a plain iterator: the generator runs on a private event loop in a thread.

    Leaving the loop early (``break``, ``close()``) cancels it there, which closes the socket.
    """
    check_audio(audio)
    out: queue.Queue[Any] = queue.Queue()
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task[None]] = []

    async def pump() -> None:
        agen = events(client, audio, **options)
        try:
            async for event in agen:
                out.put(event)
        except BaseException as exc:  # handed to the reading thread
            out.put(exc if not isinstance(exc, asyncio.CancelledError) else _END)
            if not isinstance(exc, Exception):
                raise
        else:
            out.put(_END)
        finally:
            await agen.aclose()

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(pump()))
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task[0])
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="mistral-lite-realtime", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(lambda: task and task[0].cancel())
            thread.join(5)
