"""The bulk pacer (pure, on a fake clock) and the fake server's rate limits."""

from __future__ import annotations

import pytest

from mistral_lite import Client
from mistral_lite._bulk.pacer import MIN_FACTOR, InFlight, Pacer, estimate_tokens
from mistral_lite.exceptions import RateLimitError
from mistral_lite.fake import FakeMistral


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spread_evenly_never_a_minutes_budget_at_once() -> None:
    clock = Clock()
    pacer = Pacer(60, clock=clock, burst=1.0)
    # one second of credit, then one request a second: the whole minute is never sent at once
    starts = [pacer.reserve() for _ in range(6)]
    assert starts == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    clock.now += 10.0  # an idle pause does not bank more than the burst
    assert [pacer.reserve() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_tokens_per_minute_pace_by_size() -> None:
    clock = Clock()
    pacer = Pacer(None, 600, clock=clock, burst=0.0)  # 10 tokens a second
    assert pacer.reserve(50) == 0.0
    assert pacer.reserve(10) == pytest.approx(5.0)  # the first request's 50 tokens take 5 s
    assert pacer.reserve(10) == pytest.approx(6.0)


def test_reported_usage_corrects_the_estimate() -> None:
    clock = Clock()
    pacer = Pacer(None, 600, clock=clock, burst=0.0)
    pacer.reserve(10)
    pacer.correct_tokens(+40)  # the answer said 50 tokens, not 10
    assert pacer.reserve(10) == pytest.approx(5.0)
    pacer.correct_tokens(-1000)  # a refund never lets the budget run ahead of now
    assert pacer.reserve(10) == 0.0


def test_a_429_halves_the_rate_waits_retry_after_and_recovers() -> None:
    clock = Clock()
    pacer = Pacer(60, clock=clock, burst=0.0, recovery=0.1)
    assert pacer.reserve() == 0.0
    pacer.rate_limited(3.0)
    assert pacer.factor == 0.5
    assert pacer.reserve() == pytest.approx(3.0)  # held until Retry-After has passed
    assert pacer.reserve() == pytest.approx(5.0)  # then one every 2 s (half of 60 a minute)
    clock.now += 20.0  # 20 s without a 429: back to the full rate (0.1 of it per second)
    pacer.reserve()
    assert pacer.factor == 1.0
    for _ in range(20):
        pacer.rate_limited(None)
    assert pacer.factor == MIN_FACTOR


def test_without_limits_a_429_does_not_stop_the_world() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    assert pacer.reserve() == 0.0
    pacer.rate_limited(2.5)
    assert pacer.reserve() == 0.0  # the other lines go on; the in-flight limit takes the signal
    assert pacer.rate_limited_count == 1


def test_in_flight_limit_halves_once_per_retry_after_and_recovers_one_slot_per_success() -> None:
    clock = Clock()
    window = InFlight(8, clock=clock)
    assert [window.try_start() for _ in range(9)] == [True] * 8 + [False]
    window.rate_limited(1.0)
    window.rate_limited(1.0)  # the same push-back: one decrease
    assert (window.limit, window.decreases) == (4.0, 1)
    for _ in range(8):
        window.done(False)
    assert [window.try_start() for _ in range(5)] == [True] * 4 + [False]
    clock.now += 1.5
    window.rate_limited(None)
    assert window.limit == 2.0
    for _ in range(4):
        window.done(True)
    assert window.limit == 6.0  # one slot back per success
    for _ in range(5):
        window.try_start()
        window.done(True)
    assert window.limit == 8.0  # never above the run's concurrency


def test_estimate_counts_the_body_and_the_answer_allowed() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}
    assert 150 < estimate_tokens(body) < 170
    assert estimate_tokens({"model": "m"}) < 10


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(0, clock=Clock())


def test_fake_answers_429_with_retry_after_per_key() -> None:
    messages = [{"role": "user", "content": "hello"}]
    with FakeMistral() as fake:
        fake.rate_limit(requests_per_minute=2)
        first = Client("key-a", base_url=fake.url, retry=False)
        other = Client("key-b", base_url=fake.url, retry=False)
        first.chat(model="mistral-small-latest", messages=messages)
        first.chat(model="mistral-small-latest", messages=messages)
        with pytest.raises(RateLimitError) as caught:
            first.chat(model="mistral-small-latest", messages=messages)
        assert caught.value.headers["Retry-After"] == "60"
        assert caught.value.retry_after == 60.0
        assert caught.value.body["type"] == "rate_limited"
        other.chat(model="mistral-small-latest", messages=messages)  # another key has its own window
        assert fake.rate_limits.refused == 1
        fake.rate_limit()  # off again
        first.chat(model="mistral-small-latest", messages=messages)


def test_fake_token_limit_charges_reported_usage() -> None:
    messages = [{"role": "user", "content": "hello there"}]
    with FakeMistral() as fake:
        client = Client("key", base_url=fake.url, retry=False)
        used = client.chat(model="mistral-small-latest", messages=messages)["usage"]["total_tokens"]
        fake.rate_limit(tokens_per_minute=used + 1)
        client.chat(model="mistral-small-latest", messages=messages)
        client.chat(model="mistral-small-latest", messages=messages)  # admitted: 1 token left
        with pytest.raises(RateLimitError) as caught:
            client.chat(model="mistral-small-latest", messages=messages)
        assert "tokens" in caught.value.server_message
