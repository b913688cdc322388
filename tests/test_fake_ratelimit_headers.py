"""The fake sends ``x-request-id`` and the API's rate-limit headers on every response: the limits
of ``fake.rate_limit(...)`` (else generous defaults), what remains of them, and the request's cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mistral_lite import Client, RateLimitError
from mistral_lite.fake import FakeMistral, Fault
from mistral_lite.fake.ratelimit import DEFAULT_REQUESTS, DEFAULT_TOKENS, HEADERS

HI = [{"role": "user", "content": "Hi there"}]
CHAT = {"model": "mistral-small-latest", "messages": HI}


@pytest.fixture
def api(fake_mistral: FakeMistral) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer key-a"
        yield session


def limits(response: requests.Response) -> dict[str, int]:
    assert response.headers.get("x-request-id"), response.headers
    return {name: int(response.headers[name]) for name in HEADERS}


def test_every_kind_of_response_carries_the_headers(fake_mistral: FakeMistral, api: requests.Session) -> None:
    url = fake_mistral.url
    uploaded = api.post(f"{url}/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"})
    responses_ = [
        api.post(f"{url}/v1/chat/completions", json=CHAT),  # 200 JSON
        api.post(f"{url}/v1/chat/completions", json={**CHAT, "stream": True}),  # a stream
        api.get(f"{url}/v1/files/{uploaded.json()['id']}/content"),  # bytes
        api.delete(f"{url}/v1/files/{uploaded.json()['id']}"),  # delete
        api.post(f"{url}/v1/chat/completions", json={"model": "nope", "messages": HI}),  # 400
        api.post(f"{url}/v1/chat/completions", json={"model": 5}),  # 422
        api.get(f"{url}/v1/nothing/here"),  # 404 route
        requests.get(f"{url}/v1/models"),  # 401 without a key
        requests.post(f"{url}/v1/files", data=b"x" * 1000),  # 401 before the body
    ]
    assert [r.status_code for r in responses_][:4] == [200, 200, 200, 200]
    assert [r.status_code for r in responses_][4:] == [400, 422, 404, 401, 401]
    for response in [uploaded, *responses_]:
        got = limits(response)
        assert got["x-ratelimit-limit-req-minute"] == DEFAULT_REQUESTS
        assert got["x-ratelimit-limit-tokens-minute"] == DEFAULT_TOKENS
    ids = {r.headers["x-request-id"] for r in responses_}
    assert len(ids) == len(responses_)  # one id per response


def test_remaining_counts_down_with_requests_and_tokens(fake_mistral: FakeMistral, api: requests.Session) -> None:
    seen = []
    for _ in range(3):
        response = api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT)
        seen.append((limits(response), response.json()["usage"]["total_tokens"]))
    spent = 0
    for number, (got, tokens) in enumerate(seen, 1):
        spent += tokens
        assert got["x-ratelimit-remaining-req-minute"] == DEFAULT_REQUESTS - number
        assert got["x-ratelimit-tokens-query-cost"] == tokens > 0
        assert got["x-ratelimit-remaining-tokens-minute"] == DEFAULT_TOKENS - spent
    other = requests.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT,
                          headers={"Authorization": "Bearer key-b"})  # another key: its own window
    assert limits(other)["x-ratelimit-remaining-req-minute"] == DEFAULT_REQUESTS - 1
    listing = api.get(f"{fake_mistral.url}/v1/models")  # no usage: costs a request, no tokens
    assert limits(listing)["x-ratelimit-tokens-query-cost"] == 0
    assert limits(listing)["x-ratelimit-remaining-tokens-minute"] == DEFAULT_TOKENS - spent


def test_a_stream_costs_the_tokens_its_last_chunk_reports(fake_mistral: FakeMistral, api: requests.Session) -> None:
    response = api.post(f"{fake_mistral.url}/v1/chat/completions", json={**CHAT, "stream": True})
    events = [line for line in response.text.splitlines() if line.startswith("data: {")]
    usage: Any = [json.loads(e[6:]).get("usage") for e in events if '"usage"' in e][-1]
    assert limits(response)["x-ratelimit-tokens-query-cost"] == usage["total_tokens"] > 0


def test_the_headers_follow_the_limits_set(fake_mistral: FakeMistral, api: requests.Session) -> None:
    fake_mistral.rate_limit(requests_per_minute=3, tokens_per_minute=10_000)
    got = [limits(api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT)) for _ in range(3)]
    assert [g["x-ratelimit-limit-req-minute"] for g in got] == [3, 3, 3]
    assert [g["x-ratelimit-remaining-req-minute"] for g in got] == [2, 1, 0]
    assert [g["x-ratelimit-limit-tokens-minute"] for g in got] == [10_000] * 3
    refused = api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert limits(refused)["x-ratelimit-remaining-req-minute"] == 0
    assert limits(refused)["x-ratelimit-tokens-query-cost"] == 0
    fake_mistral.rate_limit()  # off: the defaults again, a fresh window
    assert limits(api.get(f"{fake_mistral.url}/v1/models"))["x-ratelimit-remaining-req-minute"] == \
        DEFAULT_REQUESTS - 1


def test_the_minute_frees_what_left_it(fake_mistral: FakeMistral, api: requests.Session) -> None:
    now = [1000.0]
    fake_mistral.rate_limits.clock = lambda: now[0]
    fake_mistral.rate_limit(requests_per_minute=2)
    first = limits(api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT))
    assert first["x-ratelimit-remaining-req-minute"] == 1
    now[0] += 61
    second = limits(api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT))
    assert second["x-ratelimit-remaining-req-minute"] == 1  # the first left the minute
    assert second["x-ratelimit-remaining-tokens-minute"] == DEFAULT_TOKENS - second["x-ratelimit-tokens-query-cost"]


def test_a_shrunk_window_is_announced_per_minute(fake_mistral: FakeMistral, api: requests.Session) -> None:
    now = [1000.0]
    fake_mistral.rate_limits.clock = lambda: now[0]
    fake_mistral.rate_limit(requests_per_minute=2, tokens_per_minute=500, window=1.0)  # a test's fast "minute"
    got = [limits(api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT)) for _ in range(2)]
    assert api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT).status_code == 429
    now[0] += 1.5  # the window freed both: admitted again, and the minute still counts all three
    third = limits(api.post(f"{fake_mistral.url}/v1/chat/completions", json=CHAT))
    assert [g["x-ratelimit-limit-req-minute"] for g in [*got, third]] == [120] * 3
    assert [g["x-ratelimit-limit-tokens-minute"] for g in [*got, third]] == [30_000] * 3
    assert [g["x-ratelimit-remaining-req-minute"] for g in [*got, third]] == [119, 118, 117]


def test_the_client_sees_the_fakes_rate_limit(fake_mistral: FakeMistral) -> None:
    fake_mistral.rate_limit(requests_per_minute=2)
    with Client("k", base_url=fake_mistral.url, max_retries=0) as client:
        reply: Any = client.chat(**CHAT)
        state = client.rate_limit
        assert state is not None and state.requests_limit == 2 and state.requests_remaining == 1
        assert state.tokens_query_cost == reply["usage"]["total_tokens"]
        client.chat(**CHAT)
        with pytest.raises(RateLimitError) as info:
            client.chat(**CHAT)
        assert info.value.rate_limit is not None and info.value.rate_limit.requests_remaining == 0


def test_an_injected_fault_carries_the_headers_too(fake_mistral: FakeMistral, api: requests.Session) -> None:
    fake_mistral.inject("list_models", Fault(status=503))
    response = api.get(f"{fake_mistral.url}/v1/models")
    assert response.status_code == 503 and limits(response)["x-ratelimit-limit-req-minute"] == DEFAULT_REQUESTS


def test_the_in_process_session_carries_the_headers(fake_mistral: FakeMistral) -> None:
    with Client("k", base_url=fake_mistral.inprocess_url, session=fake_mistral.session()) as client:
        client.list_models()
        state = client.rate_limit
        assert state is not None and state.requests_remaining == DEFAULT_REQUESTS - 1
