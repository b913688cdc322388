"""Subtitles: to_srt / to_vtt exact text, and ``mistral-lite transcribe FILE --format srt|vtt|text|json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mistral_lite import Client, MistralError, to_srt, to_vtt
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral

TRANSCRIPTION = {
    "model": "voxtral-mini-latest", "text": "Hello there. Bye.", "language": "en",
    "segments": [
        {"type": "transcription_segment", "text": " Hello there.", "start": 0.0, "end": 1.5, "speaker_id": None},
        {"type": "transcription_segment", "text": "Bye.", "start": 3725.0125, "end": 3727.9999, "speaker_id": "s1"},
    ],
}


def test_srt_is_exact() -> None:
    assert to_srt(TRANSCRIPTION) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n01:02:05,013 --> 01:02:08,000\n[s1] Bye.\n\n")


def test_vtt_is_exact() -> None:
    assert to_vtt(TRANSCRIPTION) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
        "01:02:05.013 --> 01:02:08.000\n[s1] Bye.\n\n")


def test_segments_may_be_given_alone_and_none_is_an_error() -> None:
    assert to_srt(TRANSCRIPTION["segments"]) == to_srt(TRANSCRIPTION)  # type: ignore[arg-type]
    with pytest.raises(MistralError, match="timestamp_granularities"):
        to_vtt({"text": "no segments", "segments": []})


def test_the_fakes_segments_make_subtitles(fake_client: Client) -> None:
    result = fake_client.transcribe_audio(model="voxtral-mini-latest", file=("a.wav", b"\0" * 48000),
                                          timestamp_granularities=["segment"], diarize=True)
    assert to_srt(result) == (
        "1\n00:00:00,000 --> 00:00:01,940\n[speaker_0] This is the transcription of a.wav.\n\n"
        "2\n00:00:01,940 --> 00:00:03,000\n[speaker_1] It lasts 3 seconds.\n\n")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["srt", "vtt", "text", "json"])
def test_cli_transcribe_format(fmt: str, capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                               tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"\0" * 48000)
    code, out, err = run(capsys, "--base-url", fake.url, "--api-key", "k", "transcribe", str(audio), "--format", fmt)
    assert code == 0, err
    sent = fake.requests[-1].body
    if fmt == "srt":
        assert b'name="timestamp_granularities"' in sent
        assert out == ("1\n00:00:00,000 --> 00:00:01,940\nThis is the transcription of a.wav.\n\n"
                       "2\n00:00:01,940 --> 00:00:03,000\nIt lasts 3 seconds.\n\n")
    elif fmt == "vtt":
        assert out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.940\nThis is the transcription of a.wav.\n\n")
    elif fmt == "text":
        assert out == "This is the transcription of a.wav. It lasts 3 seconds.\n"
        assert b"timestamp_granularities" not in sent
    else:
        assert json.loads(out)["text"] == "This is the transcription of a.wav. It lasts 3 seconds."
