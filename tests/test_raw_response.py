"""with_raw_response, RateLimit, client.rate_limit and the streams' headers, sync and async."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from _loopback import run_async, sync_client
from _server import Conn, Request, ScriptedServer

from mistral_lite import (
    AsyncClient,
    NotFoundError,
    RateLimit,
    RateLimitError,
    RawResponse,
    Stream,
)

CHAT = {"id": "c1", "object": "chat.completion", "model": "mistral-small-2503",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
MESSAGES = [{"role": "user", "content": "Hi"}]
LIMITS = {"X-RateLimit-Limit-Req-Minute": "60", "x-ratelimit-remaining-req-minute": "59",
          "x-ratelimit-limit-tokens-minute": "500000", "X-RATELIMIT-REMAINING-TOKENS-MINUTE": "499000",
          "x-ratelimit-tokens-query-cost": "1000"}
SSE = [b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"h"}}]}\n\n', b"data: [DONE]\n\n"]


def reply(obj: Any, status: int = 200, **headers: str) -> Any:
    return lambda conn, req: conn.json(obj, status, {k.replace("_", "-"): v for k, v in headers.items()})


def limited(obj: Any, status: int = 200, remaining: str = "499000", rid: str = "r1") -> Any:
    headers = {**LIMITS, "X-RATELIMIT-REMAINING-TOKENS-MINUTE": remaining, "x-request-id": rid}
    return lambda conn, req: conn.json(obj, status, headers)


def sse(conn: Conn, req: Request) -> None:
    conn.head(200, {"Content-Type": "text/event-stream", "Connection": "close", "x-request-id": "r-s", **LIMITS})
    conn.keep_alive = False
    for piece in SSE:
        conn.send(piece)
    conn.close()


# -- RateLimit ------------------------------------------------------------------------------
def test_rate_limit_reads_both_families_in_any_case() -> None:
    assert RateLimit.from_headers(LIMITS) == RateLimit(
        requests_limit=60, requests_remaining=59, tokens_limit=500000, tokens_remaining=499000,
        tokens_query_cost=1000)
    by_size = {"X-RateLimitBySize-Limit-Minute": "2000000", "x-ratelimitbysize-remaining-minute": "1999000",
               "RateLimitBySize-Query-Cost": "17"}
    limit = RateLimit.from_headers(by_size)
    assert limit is not None
    assert (limit.requests_limit, limit.requests_remaining, limit.tokens_limit, limit.tokens_remaining,
            limit.tokens_query_cost) == (None, None, 2000000, 1999000, 17)
    both = RateLimit.from_headers({**by_size, **LIMITS})
    assert both is not None and (both.tokens_limit, both.tokens_remaining, both.tokens_query_cost) == (
        500000, 499000, 1000)
    extras = RateLimit.from_headers({"x-ratelimit-limit-tokens-month": "1000000000",
                                     "x-ratelimit-remaining-tokens-month": "999",
                                     "x-ratelimit-limit-req-10-second": "5",
                                     "x-ratelimit-remaining-req-10-second": "4"})
    assert extras is not None
    assert (extras.tokens_limit_month, extras.tokens_remaining_month, extras.requests_limit_10s,
            extras.requests_remaining_10s, extras.tokens_limit) == (1000000000, 999, 5, 4, None)


def test_rate_limit_values_that_are_not_integers_are_none_and_no_header_is_none() -> None:
    limit = RateLimit.from_headers({"x-ratelimit-limit-req-minute": "60.5", "x-ratelimit-remaining-req-minute": "",
                                    "x-ratelimit-limit-tokens-minute": "lots", "x-ratelimit-tokens-query-cost": " 7 ",
                                    "x-ratelimit-remaining-tokens-minute": "٣"})
    assert limit == RateLimit(tokens_query_cost=7)
    assert RateLimit.from_headers({"content-type": "application/json"}) is None
    assert RateLimit.from_headers({}) is None
    assert RateLimit.from_headers(None) is None


def test_rate_limit_is_immutable_hashable_and_picklable() -> None:
    limit = RateLimit.from_headers(LIMITS)
    assert limit is not None
    with pytest.raises(AttributeError):
        limit.tokens_remaining = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del limit.requests_limit
    assert pickle.loads(pickle.dumps(limit)) == limit
    assert hash(limit) == hash(RateLimit.from_headers(dict(LIMITS)))
    assert repr(RateLimit(tokens_remaining=3)) == "RateLimit(tokens_remaining=3)"
    with pytest.raises(TypeError):
        RateLimit(token_remaining=3)


# -- sync raw responses ---------------------------------------------------------------------
def test_raw_chat_after_a_retry_reports_the_final_response_and_sends_each_attempt_once() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(limited({"message": "slow down"}, 429, "0", "r-429"), limited(CHAT, rid="r-ok"))
        raw = client.with_raw_response.chat(model="mistral-small-latest", messages=MESSAGES)
        assert isinstance(raw, RawResponse)
        assert (raw.status_code, raw.request_id, raw.attempts) == (200, "r-ok", 2)
        assert raw.headers["X-Request-ID"] == "r-ok" and raw.headers["content-type"] == "application/json"
        assert "x-ratelimit-limit-req-minute" in raw.headers
        with pytest.raises(TypeError):
            raw.headers["x-request-id"] = "other"  # type: ignore[index]
        assert raw.rate_limit == RateLimit(requests_limit=60, requests_remaining=59, tokens_limit=500000,
                                           tokens_remaining=499000, tokens_query_cost=1000)
        assert isinstance(raw.elapsed, float) and 0 < raw.elapsed < 5
        assert raw.parse() == CHAT == client.chat(model="mistral-small-latest", messages=MESSAGES)
    assert len(server.requests) == 3
    assert server.requests[0].json() == server.requests[1].json() == {"model": "mistral-small-latest",
                                                                      "messages": MESSAGES}


def test_request_id_falls_back_to_request_id_and_raw_works_for_call_and_path_arguments() -> None:
    model = {"id": "m1", "object": "model"}
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply(model, request_id="plain-id"), reply(model))
        raw = client.with_raw_response.get_model("m1")
        assert (raw.request_id, raw.rate_limit, raw.parse()) == ("plain-id", None, model)
        again = client.with_raw_response.call("get_model", model_id="m1")
        assert (again.request_id, again.attempts, again.parse()) == (None, 1, model)
    assert [r.path for r in server.requests] == ["/v1/models/m1", "/v1/models/m1"]
    with pytest.raises(AttributeError, match="no such operation"):
        client.with_raw_response.chatt  # noqa: B018
    assert "chat" in dir(client.with_raw_response)


def test_raw_errors_raise_as_the_plain_call_does_and_carry_the_rate_limit() -> None:
    with ScriptedServer() as server, sync_client(server, max_retries=1) as client:
        server.script(limited({"message": "no such model"}, 404, rid="r-404"))
        with pytest.raises(NotFoundError) as info:
            client.with_raw_response.chat(model="nope", messages=MESSAGES)
        assert info.value.request_id == "r-404"
        assert info.value.rate_limit is not None and info.value.rate_limit.requests_remaining == 59
        server.script(limited({"message": "slow down"}, 429, "0", "r-429"))
        with pytest.raises(RateLimitError) as limit:
            client.with_raw_response.chat(model="m", messages=MESSAGES)
        assert limit.value.rate_limit is not None and limit.value.rate_limit.tokens_remaining == 0
        assert limit.value.attempts == 2
        assert client.rate_limit is not None and client.rate_limit.tokens_remaining == 0
    assert len(server.requests) == 3


def test_a_raw_stream_parses_to_the_stream_which_carries_the_headers() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(sse)
        raw = client.with_raw_response.chat(model="m", messages=MESSAGES, stream=True)
        stream = raw.parse()
        assert isinstance(stream, Stream) and raw.parse() is stream
        assert (raw.status_code, raw.request_id, stream.request_id) == (200, "r-s", "r-s")
        assert stream.headers["X-RateLimit-Remaining-Req-Minute"] == "59"
        assert stream.rate_limit == raw.rate_limit == RateLimit.from_headers(LIMITS)
        assert [c["choices"][0]["delta"]["content"] for c in stream] == ["h"]
        assert list(stream) == []
    assert len(server.requests) == 1


def test_a_raw_call_is_never_answered_from_the_cache() -> None:
    models = {"object": "list", "data": []}
    with ScriptedServer() as server, sync_client(server, cache=True) as client:
        server.script(reply(models, x_request_id="a"), reply(models, x_request_id="b"))
        client.list_models()
        client.list_models()  # cached
        raw = client.with_raw_response.list_models()
        assert (raw.request_id, raw.parse()) == ("b", models)
    assert len(server.requests) == 2


def test_client_rate_limit_is_the_latest_response_of_the_client_and_its_copies_only() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        other = sync_client(server)
        assert client.rate_limit is None
        server.script(limited(CHAT, remaining="400"), limited(CHAT, remaining="300"), limited(CHAT, remaining="1"),
                      reply({"message": "gone"}, 404))
        client.chat(model="m", messages=MESSAGES)
        assert client.rate_limit is not None and client.rate_limit.tokens_remaining == 400
        copy = client.with_options(timeout=9)
        copy.chat(model="m", messages=MESSAGES)
        assert client.rate_limit.tokens_remaining == 300
        other.chat(model="m", messages=MESSAGES)
        assert client.rate_limit.tokens_remaining == 300
        assert other.rate_limit is not None and other.rate_limit.tokens_remaining == 1
        with pytest.raises(NotFoundError):
            client.chat(model="m", messages=MESSAGES)
        assert client.rate_limit is None and copy.rate_limit is None  # the latest response carried none
        other.close()


# -- async ----------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [False, True], ids=["native", "threads"])
def test_async_raw_responses_streams_and_errors(threads: bool) -> None:
    async def body(aclient: AsyncClient) -> Any:
        raw = await aclient.with_raw_response.chat(model="m", messages=MESSAGES)
        assert (raw.status_code, raw.request_id, raw.attempts, raw.parse()) == (200, "r-ok", 2, CHAT)
        assert raw.rate_limit == RateLimit.from_headers(LIMITS)
        assert aclient.rate_limit == RateLimit.from_headers(LIMITS)
        with pytest.raises(NotFoundError) as info:
            await aclient.with_raw_response.call("chat", model="nope", messages=MESSAGES)
        assert info.value.rate_limit is not None and aclient.rate_limit is not None
        streamed = await aclient.with_raw_response.chat(model="m", messages=MESSAGES, stream=True)
        stream = streamed.parse()
        assert (streamed.request_id, stream.request_id, stream.headers["X-REQUEST-ID"]) == ("r-s", "r-s", "r-s")
        assert stream.rate_limit == RateLimit.from_headers(LIMITS)
        return [json.dumps(c) async for c in stream]

    with ScriptedServer() as server:
        server.script(limited({"message": "wait"}, 429, "0"), limited(CHAT, rid="r-ok"),
                      limited({"message": "no"}, 404), sse)
        items = run_async(server, body, threads)
    assert len(items) == 1
    assert len(server.requests) == 4
