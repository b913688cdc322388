"""User-style calls through the options TypedDicts: every option a row takes, by method,
``call``, ``submit`` and ``with_raw_response``, sync and async, with the result types (``call``
and ``submit`` keep the result when an argument's type holds an ``Any``: a ``list[MessageParam]``)."""

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from typing_extensions import assert_type

from mistral_lite import AsyncClient, AsyncStream, Client, RawResponse, Stream
from mistral_lite.types import (
    ChatCompletionResponse,
    CompletionChunk,
    EmbeddingResponse,
    GetModelResult,
    MessageParam,
    ModelList,
)

client = Client("key")
messages: list[MessageParam] = [{"role": "user", "content": "Hi"}]
options: dict[str, Any] = {"temperature": 0.2}

assert_type(client.embed(input="x", model="mistral-embed", timeout=5, extra_headers={"x-a": "b"}), EmbeddingResponse)
assert_type(client.get_model("m"), GetModelResult)
assert_type(client.get_model(model_id="m", timeout=(1.0, 5.0)), GetModelResult)
assert_type(client.chat(model="m", messages=messages, temperature=0.2, stream_timeout=30), ChatCompletionResponse)
assert_type(client.chat(model="m", messages=messages, stream=True, max_tokens=5), Stream[CompletionChunk])
assert_type(client.chat(model="m", messages=messages, stream=False), ChatCompletionResponse)
assert_type(client.call("chat", model="m", messages=messages, stream=True), Stream[CompletionChunk])
assert_type(client.call("chat", model="m", messages=messages), ChatCompletionResponse)  # mypy said Any before
assert_type(client.call("get_model", "m", timeout=5), GetModelResult)
assert_type(client.call("list_models"), ModelList)
assert_type(client.submit("chat", model="m", messages=messages), Future[ChatCompletionResponse])
assert_type(client.submit("get_model", "m"), Future[GetModelResult])
assert_type(client.embed(input="x", **options), EmbeddingResponse)
assert_type(client.download_file("f", to=Path("out.bin")), Path)
assert_type(client.download_file("f", on_progress=lambda done, total: None), bytes)
assert_type(client.with_raw_response.embed(input="x", timeout=5), RawResponse[EmbeddingResponse])
assert_type(client.with_raw_response.get_model("m"), RawResponse[GetModelResult])


async def main(aclient: AsyncClient) -> None:
    assert_type(await aclient.embed(input="x"), EmbeddingResponse)
    assert_type(await aclient.chat(model="m", messages=messages, stream=True), AsyncStream[CompletionChunk])
    assert_type(await aclient.call("get_model", model_id="m"), GetModelResult)
    raw = await aclient.with_raw_response.chat(model="m", messages=messages, temperature=0.1)
    assert_type(raw, RawResponse[ChatCompletionResponse])
