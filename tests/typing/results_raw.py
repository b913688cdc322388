"""User-style code for with_raw_response: a raw response's parse() is the plain call's result type."""

from __future__ import annotations

from typing_extensions import assert_type

from mistral_lite import AsyncClient, AsyncStream, Client, RateLimit, RawResponse, Stream, Usage
from mistral_lite.types import ChatCompletionResponse, CompletionChunk, MessageParam, ModelList

client = Client("key")
messages: list[MessageParam] = [{"role": "user", "content": "Hello"}]

raw = client.with_raw_response.chat(model="mistral-small-latest", messages=messages)
assert_type(raw, RawResponse[ChatCompletionResponse])
assert_type(raw.parse(), ChatCompletionResponse)
assert_type(raw.status_code, int)
assert_type(raw.request_id, str | None)
assert_type(raw.rate_limit, RateLimit | None)
assert_type(raw.elapsed, float)
assert_type(raw.attempts, int)
assert_type(raw.headers["x-request-id"], str)

streamed = client.with_raw_response.chat(model="m", messages=messages, stream=True)
assert_type(streamed.parse(), Stream[CompletionChunk])
assert_type(client.with_raw_response.list_models().parse(), ModelList)
assert_type(client.with_raw_response.call("chat", model="m", messages=messages), RawResponse[ChatCompletionResponse])

limit = client.rate_limit
if limit is not None:
    assert_type(limit.tokens_remaining, int | None)


async def main(aclient: AsyncClient) -> None:
    araw = await aclient.with_raw_response.chat(model="m", messages=messages)
    assert_type(araw.parse(), ChatCompletionResponse)
    astream = await aclient.with_raw_response.chat(model="m", messages=messages, stream=True)
    assert_type(astream.parse(), AsyncStream[CompletionChunk])


with client.track_usage() as usage:
    client.chat(model="m", messages=messages)
assert_type(usage, Usage)
assert_type(usage.total_tokens, int)
assert_type(usage.by_model["m"].prompt_tokens, int)
assert_type(usage.cost({"m": {"input": 0.1, "output": 0.3}}), float)


async def tracked(aclient: AsyncClient) -> None:
    async with aclient.track_usage() as ausage:
        assert_type(ausage, Usage)
