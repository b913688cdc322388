"""Adversarial review, round 3: subtitles, output_text and realtime closing, against the issue's text."""

from __future__ import annotations

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
