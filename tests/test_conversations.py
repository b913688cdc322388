"""Conversations as results: collect_conversation, stream.text(), output_text, citations and
download_outputs (hostile file names), sync and async, against the fake and hand-made events."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY

from mistral_lite import (
    AsyncClient,
    Client,
    MistralError,
    acollect_completion,
    acollect_conversation,
    citations,
    collect_completion,
    collect_conversation,
    output_text,
)
from mistral_lite.fake import FakeMistral

pytest.importorskip("aiohttp")

MODEL = "mistral-small-latest"


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _both(fake_client: Client, fake: FakeMistral, **options: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The same scripted turn without and with stream=True: (plain, collected, events)."""
    body = fake_client.create_conversation(model=MODEL, store=False, **options)
    fake.script("create_conversation", body, body)
    plain = fake_client.create_conversation(model=MODEL, inputs="again")
    with fake_client.create_conversation(model=MODEL, inputs="again", stream=True) as stream:
        events = list(stream)
    return plain, collect_conversation(events), events


def test_a_collected_text_answer_equals_the_plain_one(fake_client: Client, fake: FakeMistral) -> None:
    plain, collected, events = _both(fake_client, fake, inputs="tell me a long story about tables")
    assert collected == plain
    deltas = [e for e in events if e["type"] == "message.output.delta"]
    assert len(deltas) > 3 and all(isinstance(d["content"], str) for d in deltas)  # split over several deltas
    assert isinstance(collected["outputs"][0]["content"], str)
    assert collected["outputs"][0]["role"] == "assistant"
    assert set(collected) == {"object", "conversation_id", "outputs", "usage"}


def test_a_collected_function_call_joins_its_arguments(fake_client: Client, fake: FakeMistral) -> None:
    plain, collected, events = _both(fake_client, fake, inputs="weather in Paris", tools=[weather])
    assert collected == plain
    call = collected["outputs"][0]
    assert call["type"] == "function.call" and "role" not in call
    assert json.loads(call["arguments"]) == json.loads(plain["outputs"][0]["arguments"])
    assert len([e for e in events if e["type"] == "function.call.delta"]) > 1  # arguments split


def test_a_built_in_tool_gives_an_execution_entry_and_citations(fake_client: Client, fake: FakeMistral) -> None:
    plain, collected, events = _both(fake_client, fake, inputs="news about tables", tools=[{"type": "web_search"}])
    assert collected == plain
    kinds = [e["type"] for e in events]
    assert kinds[0] == "conversation.response.started" and kinds[-1] == "conversation.response.done"
    assert "tool.execution.started" in kinds and "tool.execution.done" in kinds
    execution, message = collected["outputs"]
    assert execution["type"] == "tool.execution" and execution["name"] == "web_search" and "role" not in execution
    assert json.loads(execution["arguments"]) == {"query": "news about tables"}
    assert message["content"][0] == {"type": "text", "text": "Echo: news about tables"}
    refs = citations(collected)
    assert refs == [message["content"][1]] and refs[0]["type"] == "tool_reference" and refs[0]["url"]
    assert output_text(collected) == "Echo: news about tables"


def test_collect_orders_by_output_index_and_joins_text_per_content_index() -> None:
    ref = {"type": "tool_reference", "tool": "web_search", "title": "T", "url": "https://x"}
    events: list[dict[str, Any]] = [
        {"type": "conversation.response.started", "conversation_id": "conv_1"},
        {"type": "function.call.delta", "output_index": 1, "id": "fc", "name": "f", "tool_call_id": "c1",
         "arguments": '{"a"'},
        {"type": "message.output.delta", "output_index": 0, "id": "m", "content_index": 0, "content": "Hel"},
        {"type": "function.call.delta", "output_index": 1, "id": "fc", "name": "f", "tool_call_id": "c1",
         "arguments": ': 1}'},
        {"type": "message.output.delta", "output_index": 0, "id": "m", "content_index": 0,
         "content": {"type": "text", "text": "lo"}},
        {"type": "message.output.delta", "output_index": 0, "id": "m", "content_index": 1, "content": ref},
        {"type": "message.output.delta", "output_index": 0, "id": "m", "content_index": 2, "content": " more"},
        {"type": "agent.handoff.started", "output_index": 2, "id": "h", "previous_agent_id": "a1",
         "previous_agent_name": "A"},
        {"type": "agent.handoff.done", "output_index": 2, "id": "h", "next_agent_id": "a2", "next_agent_name": "B"},
        {"type": "conversation.response.done", "usage": {"total_tokens": 3}},
    ]
    result = collect_conversation(events)
    assert result == {
        "object": "conversation.response", "conversation_id": "conv_1", "usage": {"total_tokens": 3},
        "outputs": [
            {"object": "entry", "type": "message.output", "id": "m", "role": "assistant",
             "content": [{"type": "text", "text": "Hello"}, ref, {"type": "text", "text": " more"}]},
            {"object": "entry", "type": "function.call", "id": "fc", "name": "f", "tool_call_id": "c1",
             "arguments": '{"a": 1}'},
            {"object": "entry", "type": "agent.handoff", "id": "h", "previous_agent_id": "a1",
             "previous_agent_name": "A", "next_agent_id": "a2", "next_agent_name": "B"},
        ]}
    assert output_text(result) == "Hello more"  # the last message, though a function call follows it
    assert citations(result) == [ref]


def test_collect_completion_refuses_a_conversation_stream(fake_client: Client) -> None:
    with fake_client.create_conversation(model=MODEL, inputs="hi", stream=True) as stream, \
            pytest.raises(MistralError, match="collect_conversation"):
        collect_completion(stream)
    chunks = list(fake_client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True))
    with pytest.raises(MistralError, match="collect_completion"):
        collect_conversation(chunks)


def test_text_yields_the_deltas_of_every_stream_kind(fake_client: Client) -> None:
    ask = [{"role": "user", "content": "count the legs of a table"}]
    plain = fake_client.chat(model=MODEL, messages=ask)
    pieces = list(fake_client.chat(model=MODEL, messages=ask, stream=True).text())
    assert len(pieces) > 1 and "".join(pieces) == output_text(plain) == "Echo: count the legs of a table"
    pieces = list(fake_client.create_conversation(model=MODEL, inputs="hello you", stream=True).text())
    assert "".join(pieces) == "Echo: hello you"
    stream = fake_client.transcribe_audio(model="voxtral-mini-latest", file=("talk.wav", b"\0" * 32000),
                                          stream=True)
    assert "".join(stream.text()) == "This is the transcription of talk.wav. It lasts 2 seconds."


def test_text_skips_thinking_chunks() -> None:
    from mistral_lite._methods.conversations import text_delta

    event = {"choices": [{"index": 0, "delta": {"content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "Yes"}]}}]}
    assert text_delta(event) == "Yes"
    assert text_delta({"choices": [{"index": 1, "delta": {"content": "other choice"}}]}) == ""


def test_output_text_and_citations_of_plain_results() -> None:
    assert output_text({"choices": [{"message": {"content": [{"type": "text", "text": "a"},
                                                             {"type": "text", "text": "b"}]}}]}) == "ab"
    assert output_text({"choices": [{"message": {"content": None, "tool_calls": [{}]}}]}) is None
    assert output_text({"outputs": [{"type": "function.call", "name": "f"}]}) is None
    assert citations({"choices": [{"message": {"content": "plain"}}]}) == []


def test_async_collect_and_text_match_the_sync_ones(fake: FakeMistral) -> None:
    async def main() -> tuple[Any, Any, str, Any]:
        async with AsyncClient(API_KEY, base_url=fake.url) as aclient:
            body = await aclient.create_conversation(model=MODEL, inputs="weather?", store=False,
                                                     tools=[{"type": "web_search"}])
            fake.script("create_conversation", body, body, body)
            plain = await aclient.create_conversation(model=MODEL, inputs="again")
            collected = await acollect_conversation(
                await aclient.create_conversation(model=MODEL, inputs="again", stream=True))
            text = "".join([t async for t in (await aclient.create_conversation(
                model=MODEL, inputs="again", stream=True)).text()])
            stream = await aclient.create_conversation(model=MODEL, inputs="x", stream=True)
            try:
                await acollect_completion(stream)
            except MistralError as exc:
                refused = exc
            return plain, collected, text, refused

    plain, collected, text, refused = asyncio.run(main())
    assert collected == plain and text == output_text(plain) == "Echo: weather?"
    assert "collect_conversation" in str(refused)


# --- download_outputs ----------------------------------------------------------------------


def _with_files(fake: FakeMistral, names: list[Any]) -> tuple[dict[str, Any], list[str]]:
    ids = [fake.state.add_file("x.bin", f"content {i}".encode(), None).id for i in range(len(names))]
    chunks = [{"type": "tool_file", "tool": "code_interpreter", "file_id": fid, "file_name": name,
               "file_type": "bin"} for fid, name in zip(ids, names)]
    result = {"object": "conversation.response", "conversation_id": "c", "usage": {},
              "outputs": [{"object": "entry", "type": "message.output", "role": "assistant",
                           "content": [{"type": "text", "text": "Files:"}, *chunks]}]}
    return result, ids


HOSTILE = ["../../escape.txt", None, "a\x00b.txt", "..", "/etc/passwd", "dir\\..\\win.txt", "report.txt",
           "report.txt"]


def _expected(directory: Path, ids: list[str]) -> list[Path]:
    return [directory / n for n in ("escape.txt", ids[1], "a_b.txt", ids[3], "passwd", "win.txt", "report.txt",
                                    "report (2).txt")]


def test_download_outputs_names_files_safely_and_never_overwrites(fake_client: Client, fake: FakeMistral,
                                                                  tmp_path: Path) -> None:
    result, ids = _with_files(fake, HOSTILE)
    out = tmp_path / "out"
    out.mkdir()
    paths = fake_client.download_outputs(result, out)
    assert paths == _expected(out, ids)
    assert [p.read_bytes() for p in paths] == [f"content {i}".encode() for i in range(len(ids))]
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # nothing else: no temporary file
    assert sorted(os.listdir(tmp_path)) == ["out"]  # nothing escaped
    (out / "report.txt").write_bytes(b"mine")
    with pytest.raises(MistralError, match="overwrite=True"):
        fake_client.download_outputs(result, out)
    assert (out / "report.txt").read_bytes() == b"mine"
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)
    again = fake_client.download_outputs(result, out, overwrite=True)
    assert again == paths and (out / "report.txt").read_bytes() == b"content 6"


def test_download_outputs_of_the_fakes_image_generation(fake_client: Client, tmp_path: Path) -> None:
    result = fake_client.create_conversation(model=MODEL, inputs="draw a table", tools=[{"type": "image_generation"}])
    (path,) = fake_client.download_outputs(result, tmp_path)
    assert path == tmp_path / "image.png" and path.read_bytes().startswith(b"\x89PNG")
    assert fake_client.download_outputs({"choices": [{"message": {"content": "no files"}}]}, tmp_path) == []


def test_download_outputs_async(fake: FakeMistral, tmp_path: Path) -> None:
    result, ids = _with_files(fake, HOSTILE)

    async def main() -> list[Path]:
        async with AsyncClient(API_KEY, base_url=fake.url) as aclient:
            paths = await aclient.download_outputs(result, tmp_path)
            with pytest.raises(MistralError, match="exists"):
                await aclient.download_outputs(result, tmp_path)
            return paths

    paths = asyncio.run(main())
    assert paths == _expected(tmp_path, ids)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)


# --- the README's examples ----------------------------------------------------------------------

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _readme_block(title: str) -> str:
    import re

    start = README.index(title)
    return re.findall(r"```python\n(.*?)```", README[start:], re.S)[0]


@pytest.mark.parametrize("title", ["### Conversations: collected streams", "### OCR annotations as types",
                                   "### Speech, voices and subtitles", "### Realtime transcription"])
def test_readme_examples_run_against_the_fake(title: str, fake: FakeMistral, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    monkeypatch.chdir(tmp_path)
    import sys
    import types

    module = types.ModuleType("readme_example")  # dataclasses look their module up
    monkeypatch.setitem(sys.modules, "readme_example", module)
    exec(compile(_readme_block(title), title, "exec"), module.__dict__)
    out = capsys.readouterr().out
    expected = {
        "### Conversations: collected streams": ["Echo: Find news about tables", "https://example.com/",
                                                 "Echo: Count to three.", "image.png"],
        "### OCR annotations as types": ["Invoice(number=", "img-0.jpeg Figure(caption="],
        "### Speech, voices and subtitles": ["WEBVTT", "This is the transcription of hello.mp3."],
        "### Realtime transcription": ["This is the realtime transcription of 32000 bytes.",
                                       "This is the realtime transcription of 64000 bytes."],
    }[title]
    for text in expected:
        assert text in out, out
