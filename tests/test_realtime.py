"""Realtime transcription over a WebSocket, sync and async, against a loopback aiohttp server
that follows the protocol (and checks the audio byte for byte), then against the fake."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

from mistral_lite import (  # noqa: E402
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    Client,
    StreamError,
)
from mistral_lite.fake import FakeMistral  # noqa: E402

KEY = "sk-realtime-secret-0123456789"
MODEL = "voxtral-mini-transcribe-realtime"
AUDIO = bytes(range(256)) * 2100  # 537,600 bytes: three append messages


class Server:
    """A loopback WebSocket server on its own loop and thread; ``mode`` picks its behaviour."""

    def __init__(self) -> None:
        self.mode = "normal"
        self.messages: list[dict[str, Any]] = []
        self.audio = bytearray()
        self.headers: dict[str, str] = {}
        self.query = ""
        self.closed = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/v1/audio/transcriptions/realtime", self.handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()
        for task in asyncio.all_tasks(self.loop):  # a handler still sleeping (stall)
            task.cancel()
        with contextlib.suppress(BaseException):
            self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()  # an unclosed loop left to the garbage collector upsets CPython 3.11's compiler

    def stop(self) -> None:
        done = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        with contextlib.suppress(Exception):  # a handler still sleeping (stall) is dropped with the loop
            done.result(3)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.headers = dict(request.headers)
        self.query = request.query_string
        if self.mode == "401":
            return web.json_response({"message": "Unauthorized", "request_id": "r1"}, status=401)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        try:
            if self.mode == "error-first":
                await ws.send_json({"type": "error", "error": {"message": {"detail": "bad model"}, "code": 4001}})
                await asyncio.sleep(5)
                return ws
            await ws.send_json({"type": "session.created", "session": {
                "request_id": "r1", "model": request.query["model"],
                "audio_format": {"encoding": "pcm_s16le", "sample_rate": 16000}}})
            async for msg in ws:
                message = json.loads(msg.data)
                self.messages.append(message)
                kind = message["type"]
                if kind == "session.update":
                    await ws.send_json({"type": "session.updated", "session": {
                        "request_id": "r1", "model": "m", **message["session"]}})
                elif kind == "input_audio.append":
                    chunk = base64.b64decode(message["audio"], validate=True)
                    assert len(chunk) <= 262_144
                    self.audio += chunk
                    if self.mode == "endless":
                        for i in range(1000):
                            await ws.send_json({"type": "transcription.text.delta", "text": f"w{i} "})
                            await asyncio.sleep(0.05)
                elif kind == "input_audio.end":
                    await self._answer(ws)
        finally:
            self.closed.set()
        return ws

    async def _answer(self, ws: web.WebSocketResponse) -> None:
        if self.mode == "stall":
            await asyncio.sleep(10)
            return
        await ws.send_json({"type": "transcription.language", "audio_language": "en"})
        await ws.send_json({"type": "transcription.text.delta", "text": "Hello "})
        if self.mode == "error-after":
            await ws.send_json({"type": "error", "error": {"message": "audio too noisy", "code": 3}})
            return
        if self.mode == "close-early":
            await ws.close()
            return
        await ws.send_json({"type": "transcription.text.delta", "text": "world."})
        await ws.send_json({"type": "transcription.segment", "text": "Hello world.", "start": 0.0, "end": 1.2})
        await ws.send_json({"type": "transcription.done", "model": "m", "text": "Hello world.", "language": "en",
                            "usage": {"prompt_audio_seconds": 17}, "segments": []})


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(KEY, base_url=server.url, stream_timeout=5) as c:
        yield c


TYPES = ["session.created", "session.updated", "transcription.language", "transcription.text.delta",
         "transcription.text.delta", "transcription.segment", "transcription.done"]


def test_sync_events_in_order_and_audio_byte_for_byte(client: Client, server: Server) -> None:
    events = list(client.transcribe_realtime(AUDIO, model=MODEL, target_streaming_delay_ms=480,
                                             audio_format={"encoding": "pcm_s16le", "sample_rate": 16000}))
    assert [e["type"] for e in events] == TYPES
    assert events[-1]["text"] == "Hello world."
    assert bytes(server.audio) == AUDIO
    kinds = [m["type"] for m in server.messages]
    assert kinds == ["session.update", "input_audio.append", "input_audio.append", "input_audio.append",
                     "input_audio.flush", "input_audio.end"]
    assert server.messages[0] == {"type": "session.update", "session": {
        "audio_format": {"encoding": "pcm_s16le", "sample_rate": 16000}, "target_streaming_delay_ms": 480}}
    assert server.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in server.query and server.query == f"model={MODEL}"
    assert server.closed.wait(2)  # the client closed the socket after transcription.done


def test_no_session_update_without_options_and_a_path_source(client: Client, server: Server,
                                                             tmp_path: Path) -> None:
    audio = tmp_path / "call.pcm"
    audio.write_bytes(AUDIO[:1000])
    events = list(client.transcribe_realtime(audio, model=MODEL))
    assert "session.updated" not in [e["type"] for e in events]
    assert [m["type"] for m in server.messages] == ["input_audio.append", "input_audio.flush", "input_audio.end"]
    assert bytes(server.audio) == AUDIO[:1000]


def test_async_with_an_async_iterable_source(server: Server) -> None:
    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(AUDIO), 100_000):
            yield AUDIO[i:i + 100_000]
            await asyncio.sleep(0)

    async def main() -> list[dict[str, Any]]:
        async with AsyncClient(KEY, base_url=server.url) as aclient:
            return [e async for e in aclient.transcribe_realtime(source(), model=MODEL)]

    events = asyncio.run(main())
    assert [e["type"] for e in events] == [t for t in TYPES if t != "session.updated"]
    assert bytes(server.audio) == AUDIO


@pytest.mark.parametrize("mode", ["error-after", "error-first"])
def test_an_error_event_raises_after_the_events_before_it(mode: str, client: Client, server: Server) -> None:
    server.mode = mode
    seen: list[str] = []
    with pytest.raises(StreamError) as info:
        for event in client.transcribe_realtime(b"\0" * 10, model=MODEL):
            seen.append(event["type"])
    if mode == "error-after":
        assert seen == ["session.created", "transcription.language", "transcription.text.delta"]
        assert "audio too noisy" in str(info.value)
    else:
        assert seen == [] and "bad model" in str(info.value)
    assert info.value.event["type"] == "error"


def test_async_error_event(server: Server) -> None:
    server.mode = "error-after"

    async def main() -> tuple[list[str], BaseException]:
        seen: list[str] = []
        async with AsyncClient(KEY, base_url=server.url) as aclient:
            try:
                async for event in aclient.transcribe_realtime(b"\0", model=MODEL):
                    seen.append(event["type"])
            except StreamError as exc:
                return seen, exc
        raise AssertionError("no error")

    seen, exc = asyncio.run(main())
    assert seen[-1] == "transcription.text.delta" and "audio too noisy" in str(exc)


def test_401_at_the_upgrade_is_an_authentication_error(client: Client, server: Server) -> None:
    server.mode = "401"
    with pytest.raises(AuthenticationError) as info:
        list(client.transcribe_realtime(b"\0", model=MODEL))
    assert info.value.status_code == 401 and KEY not in str(info.value) and KEY not in repr(info.value.__dict__)


def test_a_close_before_done_and_a_stall_raise(client: Client, server: Server) -> None:
    from mistral_lite import APIConnectionError

    server.mode = "close-early"
    with pytest.raises(APIConnectionError, match=r"before transcription\.done"):
        list(client.transcribe_realtime(b"\0", model=MODEL))
    server.mode = "stall"
    with pytest.raises(APITimeoutError):
        list(client.transcribe_realtime(b"\0", model=MODEL, stream_timeout=0.3))


def test_break_closes_the_socket_sync_and_async(client: Client, server: Server) -> None:
    server.mode = "endless"
    for event in client.transcribe_realtime(b"\0" * 10, model=MODEL):
        if event["type"] == "transcription.text.delta":
            break
    assert server.closed.wait(2)
    server.closed.clear()

    async def main() -> None:
        async with AsyncClient(KEY, base_url=server.url) as aclient:
            async for event in aclient.transcribe_realtime(b"\0" * 10, model=MODEL):
                if event["type"] == "transcription.text.delta":
                    break
            for _ in range(40):  # the loop runs the generator's close; give it a moment
                if server.closed.is_set():
                    break
                await asyncio.sleep(0.05)

    asyncio.run(main())
    assert server.closed.wait(2)


# --- the fake ---------------------------------------------------------------------------------


def test_the_fake_serves_realtime_transcription(fake: FakeMistral) -> None:
    with Client("any", base_url=fake.url) as c:
        events = list(c.transcribe_realtime(b"\0\1" * 16000, model=MODEL,
                                            audio_format={"encoding": "pcm_s16le", "sample_rate": 16000}))
        kinds = [e["type"] for e in events]
        assert kinds[:2] == ["session.created", "session.updated"] and kinds[-1] == "transcription.done"
        text = "".join(e["text"] for e in events if e["type"] == "transcription.text.delta")
        assert text == events[-1]["text"] == "This is the realtime transcription of 32000 bytes. It lasts 1 seconds."
        with pytest.raises(StreamError, match="sample_rate"):
            list(c.transcribe_realtime(b"\0", model=MODEL, audio_format={"encoding": "pcm_s16le",
                                                                         "sample_rate": 5}))
        fake.script_realtime({"type": "error", "error": {"message": "scripted", "code": 1}})
        with pytest.raises(StreamError, match="scripted"):
            list(c.transcribe_realtime(b"\0", model=MODEL))


def test_cli_transcribe_realtime_prints_the_text(fake: FakeMistral, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from mistral_lite.cli.app import main

    audio = tmp_path / "call.pcm"
    audio.write_bytes(b"\0" * 64000)
    code = main(["--base-url", fake.url, "--api-key", "k", "transcribe", "--realtime", str(audio)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "This is the realtime transcription of 64000 bytes. It lasts 2 seconds.\n"
    upgrade = fake.requests[-1]
    assert upgrade.path == "/v1/audio/transcriptions/realtime" and upgrade.headers["authorization"] == "Bearer k"


def test_the_fake_refuses_a_wrong_key() -> None:
    with FakeMistral("right-key") as fake, Client("wrong-key", base_url=fake.url) as c, \
            pytest.raises(AuthenticationError) as info:
        list(c.transcribe_realtime(b"\0", model=MODEL))
    assert info.value.status_code == 401 and "wrong-key" not in str(info.value)
