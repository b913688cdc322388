"""User-style code against AsyncClient: the same types, awaited; AsyncStream yields typed chunks."""

from __future__ import annotations

import asyncio

from typing_extensions import assert_type

from mistral_lite import AsyncClient, AsyncStream
from mistral_lite.types import ChatCompletionResponse, CompletionChunk, ContentChunk, EmbeddingResponse


async def main() -> None:
    async with AsyncClient("key") as aclient:
        reply = await aclient.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])
        assert_type(reply, ChatCompletionResponse)
        assert_type(reply["choices"][0]["message"]["content"], str | list[ContentChunk] | None)

        stream = await aclient.chat(model="m", messages=[{"role": "user", "content": "Hi"}], stream=True)
        assert_type(stream, AsyncStream[CompletionChunk])
        async for chunk in stream:
            assert_type(chunk["choices"][0]["delta"]["content"], str | list[ContentChunk] | None)

        embedding = await aclient.call("embed", input="x")
        assert_type(embedding, EmbeddingResponse)
        assert_type(embedding["data"][0]["embedding"], list[float])


asyncio.run(main())
