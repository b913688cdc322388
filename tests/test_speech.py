"""Speech to a file (``create_speech(..., to=path)``, plain and streamed) and voice samples
(``create_voice(sample_audio=path_or_bytes)``), sync and async, against the fake."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY

from mistral_lite import AsyncClient, Client, MistralError, ValidationError
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.audio import SPEECH_CHUNK, speech_audio
from mistral_lite.fake.replies import StreamReply
from mistral_lite.fake.sse import conversation_event

TEXT = "Tables are the quiet heroes of every kitchen."


def test_speech_to_a_path_writes_the_decoded_audio(fake_client: Client, fake: FakeMistral, tmp_path: Path) -> None:
    target = tmp_path / "hello.mp3"
    written = fake_client.create_speech(input=TEXT, voice_id="v1", to=target)
    assert written == target and isinstance(written, Path)
    assert target.read_bytes() == speech_audio(TEXT, "mp3")
    assert fake.requests[-1].json == {"input": TEXT, "voice_id": "v1"}  # `to` is not sent
    plain = fake_client.create_speech(input=TEXT, voice_id="v1")
    assert base64.b64decode(plain["audio_data"]) == target.read_bytes()
    assert os.listdir(tmp_path) == ["hello.mp3"]


def test_streamed_speech_writes_the_deltas_and_renames_at_done(fake_client: Client, fake: FakeMistral,
                                                               tmp_path: Path) -> None:
    events = list(fake_client.create_speech(input=TEXT, stream=True, response_format="wav"))
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    assert len(events) > 2  # several deltas
    target = tmp_path / "hello.wav"
    target.write_bytes(b"old")
    written = fake_client.create_speech(input=TEXT, stream=True, response_format="wav", to=str(target))
    assert written == target and target.read_bytes() == speech_audio(TEXT, "wav")
    assert len(target.read_bytes()) > 2 * SPEECH_CHUNK
    assert fake.requests[-1].json["stream"] is True
    assert os.listdir(tmp_path) == ["hello.wav"]


def _delta(data: str) -> bytes:
    return conversation_event({"type": "speech.audio.delta", "audio_data": data})


def test_a_cut_stream_leaves_an_existing_file_untouched(fake_client: Client, fake: FakeMistral,
                                                        tmp_path: Path) -> None:
    target = tmp_path / "keep.mp3"
    target.write_bytes(b"precious")
    fake.script("create_speech", StreamReply("conversation", [_delta(base64.b64encode(b"abc").decode())]))
    with pytest.raises(MistralError, match=r"speech\.audio\.done"):
        fake_client.create_speech(input=TEXT, stream=True, to=target)
    assert target.read_bytes() == b"precious" and os.listdir(tmp_path) == ["keep.mp3"]


@pytest.mark.parametrize("stream", [False, True])
def test_bad_base64_raises_and_writes_nothing(stream: bool, fake_client: Client, fake: FakeMistral,
                                              tmp_path: Path) -> None:
    target = tmp_path / "keep.mp3"
    target.write_bytes(b"precious")
    if stream:
        done = conversation_event({"type": "speech.audio.done", "usage": {}})
        fake.script("create_speech", StreamReply("conversation", [_delta("QUJD"), _delta("not base64!"), done]))
    else:
        fake.script("create_speech", {"audio_data": "QUJD*"})
    with pytest.raises(MistralError, match="audio_data is not valid base64"):
        fake_client.create_speech(input=TEXT, stream=stream, to=target)
    assert target.read_bytes() == b"precious" and os.listdir(tmp_path) == ["keep.mp3"]


def test_a_scripted_speech_body_streams_as_deltas(fake_client: Client, fake: FakeMistral, tmp_path: Path) -> None:
    audio = bytes(range(256)) * 40
    fake.script("create_speech", {"audio_data": base64.b64encode(audio).decode()})
    assert fake_client.create_speech(input="x", stream=True, to=tmp_path / "s.pcm").read_bytes() == audio


def test_voice_samples_are_base64_encoded(fake_client: Client, fake: FakeMistral, tmp_path: Path) -> None:
    raw = b"\xfb\xff\xbf" * 30 + b"RIFF"  # standard alphabet: '+' and '/' appear, no line breaks
    voice = fake_client.create_voice(name="me", sample_audio=raw, sample_filename="me.wav")
    sent = fake.requests[-1].json["sample_audio"]
    assert sent == base64.b64encode(raw).decode() and "+" in sent and "/" in sent and "\n" not in sent
    assert fake_client.get_voice_sample(voice["id"]) == raw
    sample = tmp_path / "me.wav"
    sample.write_bytes(raw[::-1])
    fake_client.create_voice(name="me2", sample_audio=sample)
    assert fake.requests[-1].json["sample_audio"] == base64.b64encode(raw[::-1]).decode()
    fake_client.create_voice(name="me3", sample_audio="QUJD")  # a str is sent as is
    assert fake.requests[-1].json["sample_audio"] == "QUJD"
    count = len(fake.requests)
    with pytest.raises(ValidationError, match="sample_audio"):
        fake_client.create_voice(name="me4", sample_audio=tmp_path / "missing.wav")
    assert len(fake.requests) == count  # nothing sent


def test_async_speech_and_voices(fake: FakeMistral, tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")

    async def main() -> tuple[Any, Any, Any]:
        async with AsyncClient(API_KEY, base_url=fake.url) as aclient:
            plain = await aclient.create_speech(input=TEXT, to=tmp_path / "a.mp3")
            streamed = await aclient.create_speech(input=TEXT, stream=True, to=tmp_path / "b.mp3")
            fake.script("create_speech", StreamReply("conversation", [_delta("QUJD")]))
            (tmp_path / "c.mp3").write_bytes(b"precious")
            try:
                await aclient.create_speech(input=TEXT, stream=True, to=tmp_path / "c.mp3")
            except MistralError as exc:
                cut = exc
            await aclient.create_voice(name="me", sample_audio=b"\x00\x01")
            return plain, streamed, cut

    plain, streamed, cut = asyncio.run(main())
    assert plain.read_bytes() == streamed.read_bytes() == speech_audio(TEXT, "mp3")
    assert "speech.audio.done" in str(cut) and (tmp_path / "c.mp3").read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["a.mp3", "b.mp3", "c.mp3"]
    assert fake.requests[-1].json["sample_audio"] == "AAE="
