"""Bulk runs heed the rate-limit state the server sends (issue 19): with no requests/tokens per
minute configured, a response saying 0 remaining holds new requests until the next minute."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from test_bulk import results, write_input

from mistral_lite._bulk import pacer as _ratelimit
from mistral_lite._bulk.pacer import Pacer
from mistral_lite._dev.testing import make_client

BASE = "https://api.mistral.ai"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_spent_budget_holds_every_start_until_the_next_minute() -> None:
    clock, wall = Clock(100.0), Clock(60.0 * 1000 + 35.0)
    pacer = Pacer(clock=clock, wall=wall)
    assert pacer.reserve() == 0.0
    assert pacer.exhausted() == pytest.approx(25.0)
    assert pacer.reserve() == pytest.approx(25.0) and pacer.reserve() == pytest.approx(25.0)
    clock.now += 25.0
    assert pacer.reserve() == 0.0


def answer(remaining: int, hits: list[float]) -> Any:
    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        hits.append(time.perf_counter())
        body = {"id": "c", "object": "chat.completion", "model": "m", "created": 0,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        headers = {"x-ratelimit-limit-req-minute": "60", "x-ratelimit-remaining-req-minute": str(remaining),
                   "x-ratelimit-limit-tokens-minute": "1000", "x-ratelimit-remaining-tokens-minute": "900"}
        return 200, headers, json.dumps(body)

    return reply


@pytest.mark.parametrize("rpm", [None, 600.0])
def test_a_response_with_0_remaining_holds_new_requests_until_the_next_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rpm: float | None,
) -> None:
    held: list[float] = []
    exhausted = Pacer.exhausted

    def spy(self: Pacer) -> float:
        held.append(exhausted(self))
        return held[-1]

    monkeypatch.setattr(Pacer, "exhausted", spy)
    monkeypatch.setattr(_ratelimit, "wall_clock", lambda: 60.0 * 1000 - 0.4)  # 0.4 s before the minute
    source = write_input(tmp_path / "in.jsonl", 3)
    hits: list[float] = []
    with responses.RequestsMock() as mock, make_client("sk-limits", base_url=BASE) as client:
        mock.add_callback(responses.POST, f"{BASE}/v1/chat/completions", callback=answer(0, hits))
        progress = client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=1, requests_per_minute=rpm)
    assert progress.succeeded == 3 and len(hits) == 3 and len(results(tmp_path / "out.jsonl")) == 3
    if rpm is None:
        assert held == [pytest.approx(0.4, abs=0.01)] * 3
        assert hits[1] - hits[0] >= 0.35  # the second request waited for the minute
    else:
        assert held == []  # a configured rate is the caller's word: the pacer keeps to it


def test_remaining_budget_holds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(Pacer, "exhausted", lambda self: calls.append(1.0) or 1.0)
    source = write_input(tmp_path / "in.jsonl", 3)
    hits: list[float] = []
    with responses.RequestsMock() as mock, make_client("sk-limits", base_url=BASE) as client:
        mock.add_callback(responses.POST, f"{BASE}/v1/chat/completions", callback=answer(5, hits))
        client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=1)
    assert calls == [] and len(hits) == 3
