"""Adversarial review, round 3: subtitles, output_text and realtime closing, against the issue's text."""

from __future__ import annotations

import asyncio
import time

import pytest

from mistral_lite import MistralError, output_text, to_srt, to_vtt


@pytest.mark.parametrize("segment", [{"start": 0.0, "text": "a"}, {"end": 1.0, "text": "a"},
                                     {"start": "soon", "end": 1.0, "text": "a"}])
@pytest.mark.parametrize("make", [to_srt, to_vtt])
def test_a_segment_without_usable_times_is_a_mistral_error(make: object, segment: dict[str, object]) -> None:
    # was: KeyError / decimal.InvalidOperation leaked out of to_srt / to_vtt
    with pytest.raises(MistralError, match=r"segments\[1\]"):
        make({"segments": [{"start": 0, "end": 1, "text": "ok"}, segment]})  # type: ignore[operator]



@pytest.mark.parametrize("result", [
    {"choices": [{"message": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "t"}]}]}}]},
    {"outputs": [{"type": "message.output", "content": [{"type": "tool_reference", "tool": "web_search",
                                                          "title": "x"}]}]},
])
def test_output_text_is_none_when_the_message_holds_no_text_chunk(result: dict[str, object]) -> None:
    # was: "" (the issue: "text chunks joined; None when there is none")
    assert output_text(result) is None
    assert output_text({"outputs": [{"type": "message.output", "content": [
        {"type": "text", "text": "a"}, {"type": "tool_reference", "tool": "t", "title": "x"},
        {"type": "text", "text": "b"}]}]}) == "ab"


def test_break_closes_the_realtime_socket_within_a_second_sync_and_async() -> None:
    # was: ~1.02 s: the client waited CLOSE_TIMEOUT (1 s) for a busy server's close frame, then dropped
    pytest.importorskip("aiohttp")
    from test_realtime import AUDIO, KEY, MODEL, Server

    from mistral_lite import AsyncClient, Client

    server = Server()
    server.mode = "endless"  # the server keeps sending deltas and never reads the close frame
    try:
        with Client(KEY, base_url=server.url, stream_timeout=5) as client:
            for event in client.transcribe_realtime(AUDIO, model=MODEL):
                if event["type"] == "transcription.text.delta":
                    started = time.monotonic()
                    break
            assert server.closed.wait(5)
            assert time.monotonic() - started < 1.0

        async def main() -> float:
            server.closed.clear()
            async with AsyncClient(KEY, base_url=server.url) as aclient:
                stream = aclient.transcribe_realtime(AUDIO, model=MODEL)
                async for event in stream:
                    if event["type"] == "transcription.text.delta":
                        started = time.monotonic()
                        break
                await stream.aclose()  # type: ignore[attr-defined]
            assert await asyncio.to_thread(server.closed.wait, 5)
            return time.monotonic() - started

        assert asyncio.run(main()) < 1.0
    finally:
        server.stop()
