"""Adversarial review of issue 19 (raw responses, RateLimit, usage totals) and the chunked stream reader."""

from __future__ import annotations

import threading
import types

import pytest

from mistral_lite import MistralError, RateLimit, ValidationError
from mistral_lite._bulk.live import LiveRun
from mistral_lite._core.headers import Headers
from mistral_lite._bulk.pacer import Pacer
from mistral_lite._core.usage import Usage, UsageCounts


# -- RateLimit ------------------------------------------------------------------------------
def test_a_huge_rate_limit_value_is_none_never_an_exception() -> None:
    # int() refuses more than 4300 digits with a ValueError: that must not escape from_headers
    state = RateLimit.from_headers({"x-ratelimit-remaining-req-minute": "9" * 5000,
                                    "x-ratelimit-limit-req-minute": "60"})
    assert state is not None
    assert state.requests_remaining is None
    assert state.requests_limit == 60


# -- Headers --------------------------------------------------------------------------------
def test_headers_looked_up_with_a_non_string_key_is_a_miss_not_an_attribute_error() -> None:
    headers = Headers({"X-Request-Id": "r1"})
    assert headers.get(1) is None  # type: ignore[call-overload]
    assert headers.get(None, "d") == "d"  # type: ignore[call-overload]
    with pytest.raises(KeyError):
        headers[1]  # type: ignore[index]
    assert headers["x-request-id"] == "r1"


# -- Usage.cost -----------------------------------------------------------------------------
def _usage(model: str = "m", prompt: int = 5, completion: int = 2) -> Usage:
    usage = Usage()
    counts = UsageCounts()
    counts.prompt_tokens, counts.completion_tokens = prompt, completion
    usage.by_model[model] = counts
    return usage


@pytest.mark.parametrize("prices", [
    {"m": {"input": None, "output": 1.0}},
    {"m": {"input": "x", "output": 1.0}},
    {"m": 3},
    [("m", 1)],
    {"m": {"input": True, "output": 1.0}},
])
def test_cost_with_prices_that_are_not_numbers_is_a_validation_error(prices: object) -> None:
    with pytest.raises(ValidationError) as info:
        _usage().cost(prices)  # type: ignore[arg-type]
    assert "prices" in str(info.value)


def test_cost_still_adds_up_and_names_a_missing_model() -> None:
    usage = _usage(prompt=2_000_000, completion=1_000_000)
    assert usage.cost({"m": {"input": 0.5, "output": 2}}) == pytest.approx(3.0)
    with pytest.raises(MistralError, match="'m'"):
        usage.cost({"other": {"input": 1.0, "output": 1.0}})


# -- the bulk engine heeds a spent budget ----------------------------------------------------
@pytest.mark.parametrize("field", ["requests_remaining", "tokens_remaining"])
def test_a_negative_remaining_budget_pauses_the_bulk_engine_as_zero_does(field: str) -> None:
    now = [1000.0]
    pacer = Pacer(clock=lambda: now[0])
    run = types.SimpleNamespace(pacer=pacer, lock=threading.Lock())
    LiveRun.heed(run, RateLimit(**{field: -1}))  # type: ignore[arg-type]
    assert pacer._paused_until > now[0]


# -- usage of a stream left open when the block ends ----------------------------------------
def test_a_stream_still_open_when_the_block_ends_is_counted_by_model_too() -> None:
    from mistral_lite import Client
    from mistral_lite.fake import FakeMistral, Fault

    messages = [{"role": "user", "content": "one two three"}]
    with FakeMistral() as fake, Client("k", base_url=fake.url, max_retries=2) as client:
        fake.inject("chat", Fault(503, headers={"Retry-After": "0"}))
        with client.track_usage() as usage:
            stream = client.chat(model="mistral-small-latest", messages=messages, stream=True)
            first = next(stream)  # the 2xx arrived (after one retry); the stream is not over
        stream.close()
    assert (usage.requests, usage.retries) == (1, 1)
    model = first["model"]
    assert {m: (c.requests, c.retries) for m, c in usage.by_model.items()} == {model: (1, 1)}


# -- the chunked stream reader -------------------------------------------------------------
def test_a_trailer_section_ended_by_a_bare_lf_gives_the_connection_back() -> None:
    # http.client takes a bare LF as the end of the trailers: so does _dechunk, instead of
    # waiting for the drain timeout and dropping the connection
    from _server import Conn, Request, ScriptedServer
    from conftest import API_KEY

    from mistral_lite import Client

    event = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (event, b"data: [DONE]\n\n")) + b"0\r\nX-T: 1\r\n\n"

    def handler(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.send(body)

    with ScriptedServer() as server:
        server.script(handler)
        with Client(API_KEY, base_url=server.url, max_retries=0, stream_timeout=5) as client:
            for _ in range(2):
                assert len(list(client.chat(model="m", messages=[{"role": "user", "content": "hi"}],
                                            stream=True))) == 1
        assert server.connections == 1


# -- an error's request id -------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async", "threads"])
def test_an_error_carries_the_request_id_header_when_x_request_id_is_absent(mode: str) -> None:
    from _loopback import run_async, sync_client
    from _server import Conn, Request, ScriptedServer

    from mistral_lite import AsyncClient, NotFoundError

    def not_found(conn: Conn, req: Request) -> None:
        conn.json({"message": "nf"}, 404, {"request-id": "rq4"})

    messages = [{"role": "user", "content": "hi"}]
    with ScriptedServer() as server:
        server.script(not_found)
        if mode == "sync":
            with sync_client(server) as client, pytest.raises(NotFoundError) as info:
                client.chat(model="x", messages=messages)
            error = info.value
        else:
            async def body(aclient: AsyncClient) -> NotFoundError:
                try:
                    await aclient.chat(model="x", messages=messages)
                except NotFoundError as exc:
                    return exc
                raise AssertionError("no error")

            error = run_async(server, body, mode == "threads")
    assert error.request_id == "rq4"
