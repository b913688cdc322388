"""with_raw_response.call("<row>", ...) is typed per row like call (review round 3): the raw
response of get_model parses to GetModelResult, a stream to a Stream; an unknown name is Any."""

from typing import Any

from typing_extensions import assert_type

from mistral_lite import AsyncClient, AsyncStream, Client, RawResponse, Stream
from mistral_lite.types import ChatCompletionResponse, CompletionChunk, GetModelResult

client = Client("key")
raw = client.with_raw_response.call("get_model", "mistral-small-latest")
assert_type(raw, RawResponse[GetModelResult])
assert_type(raw.parse()["id"], str)
assert_type(client.with_raw_response.call("chat", model="m", messages=[]).parse(), ChatCompletionResponse)
assert_type(client.with_raw_response.call("chat", model="m", messages=[], stream=True).parse(), Stream[CompletionChunk])


def by_name(name: str) -> None:
    assert_type(client.with_raw_response.call(name, "x"), RawResponse[Any])


async def main(aclient: AsyncClient) -> None:
    araw = await aclient.with_raw_response.call("get_model", "m")
    assert_type(araw.parse()["id"], str)
    s = await aclient.with_raw_response.call("chat", model="m", messages=[], stream=True)
    assert_type(s.parse(), AsyncStream[CompletionChunk])
