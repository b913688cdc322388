"""Adversarial review, round 3: subtitles, output_text and realtime closing, against the issue's text."""

from __future__ import annotations

import pytest

from mistral_lite import MistralError, to_srt, to_vtt


@pytest.mark.parametrize("segment", [{"start": 0.0, "text": "a"}, {"end": 1.0, "text": "a"},
                                     {"start": "soon", "end": 1.0, "text": "a"}])
@pytest.mark.parametrize("make", [to_srt, to_vtt])
def test_a_segment_without_usable_times_is_a_mistral_error(make: object, segment: dict[str, object]) -> None:
    # was: KeyError / decimal.InvalidOperation leaked out of to_srt / to_vtt
    with pytest.raises(MistralError, match=r"segments\[1\]"):
        make({"segments": [{"start": 0, "end": 1, "text": "ok"}, segment]})  # type: ignore[operator]

