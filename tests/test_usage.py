"""track_usage(): exact totals of requests, failures, retries, tokens, pages and audio seconds, and cost."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _loopback import run_async, sync_client
from _server import Conn, Request, ScriptedServer

from mistral_lite import AsyncClient, MistralError, NotFoundError

MESSAGES = [{"role": "user", "content": "Hi"}]


def chat_body(model: str = "mistral-small-2503", prompt: int = 3, completion: int = 1) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


EMBED = {"id": "e1", "object": "list", "model": "mistral-embed", "data": [{"object": "embedding", "index": 0,
                                                                          "embedding": [0.1]}],
         "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}}
OCR = {"model": "mistral-ocr-2505", "pages": [], "document_annotation": None,
       "usage_info": {"pages_processed": 29, "doc_size_bytes": None}}
TRANSCRIPTION = {"model": "voxtral-mini-2507", "text": "hello", "language": "en", "segments": [],
                 "usage": {"prompt_audio_seconds": 203, "prompt_tokens": 4, "completion_tokens": 10,
                           "total_tokens": 3264}}


def reply(obj: Any, status: int = 200) -> Any:
    return lambda conn, req: conn.json(obj, status)


def by_path(conn: Conn, req: Request) -> None:
    """Answers by route: chat (model "nope" is a 404), embeddings, OCR, transcriptions."""
    if req.path == "/v1/embeddings":
        conn.json(EMBED)
    elif req.path == "/v1/ocr":
        conn.json(OCR)
    elif req.path == "/v1/audio/transcriptions":
        conn.json(TRANSCRIPTION)
    elif req.json()["model"] == "nope":
        conn.json({"message": "no such model"}, 404)
    else:
        conn.json(chat_body())


def test_one_block_counts_requests_failures_retries_tokens_pages_and_audio_by_model() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(reply({"message": "slow down"}, 429), by_path)
        with client.track_usage() as usage:
            client.chat(model="mistral-small-latest", messages=MESSAGES)  # 429, then 200
            client.embed(model="mistral-embed", input=["a"])
            with pytest.raises(NotFoundError):
                client.chat(model="nope", messages=MESSAGES)
            client.ocr(model="mistral-ocr-latest", document={"type": "document_url", "document_url": "https://x/y.pdf"})
            client.transcribe_audio(model="voxtral-mini-latest", file_url="https://x/a.mp3")
    assert usage.as_dict() == {"requests": 4, "failed": 1, "retries": 1, "prompt_tokens": 3 + 5 + 4,
                               "completion_tokens": 1 + 10, "total_tokens": 4 + 5 + 3264, "pages": 29,
                               "audio_seconds": 203}
    assert {m: c.as_dict() for m, c in usage.by_model.items()} == {
        "mistral-small-2503": {"requests": 1, "failed": 0, "retries": 1, "prompt_tokens": 3, "completion_tokens": 1,
                               "total_tokens": 4, "pages": 0, "audio_seconds": 0},
        "mistral-embed": {"requests": 1, "failed": 0, "retries": 0, "prompt_tokens": 5, "completion_tokens": 0,
                          "total_tokens": 5, "pages": 0, "audio_seconds": 0},
        "nope": {"requests": 0, "failed": 1, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0,
                 "total_tokens": 0, "pages": 0, "audio_seconds": 0},
        "mistral-ocr-2505": {"requests": 1, "failed": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0,
                             "total_tokens": 0, "pages": 29, "audio_seconds": 0},
        "voxtral-mini-2507": {"requests": 1, "failed": 0, "retries": 0, "prompt_tokens": 4, "completion_tokens": 10,
                              "total_tokens": 3264, "pages": 0, "audio_seconds": 203},
    }
    prices = {"mistral-small-2503": {"input": 0.1, "output": 0.3}, "mistral-embed": {"input": 0.1},
              "voxtral-mini-2507": {"input": 1.0, "output": 2.0}}
    assert usage.cost(prices) == pytest.approx((3 * 0.1 + 1 * 0.3 + 5 * 0.1 + 4 * 1.0 + 10 * 2.0) / 1e6)
    with pytest.raises(MistralError, match="'voxtral-mini-2507'"):
        usage.cost({k: v for k, v in prices.items() if k != "voxtral-mini-2507"})
    with pytest.raises(MistralError, match="no output price for model 'mistral-small-2503'"):
        usage.cost({**prices, "mistral-small-2503": {"input": 0.1}})


def test_a_stream_counts_its_request_at_the_2xx_and_its_tokens_at_the_chunk_with_usage() -> None:
    chunks = [{"id": "c1", "model": "mistral-small-2503", "choices": [{"index": 0, "delta": {"content": "h"}}]},
              {"id": "c1", "model": "mistral-small-2503",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}]

    def sse(conn: Conn, req: Request) -> None:
        conn.sse_chunked([f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"])

    with ScriptedServer() as server, sync_client(server) as client:
        server.script(sse)
        with client.track_usage() as usage:
            stream = client.chat(model="mistral-small-latest", messages=MESSAGES, stream=True)
            assert (usage.requests, usage.total_tokens) == (1, 0)
            next(stream)
            assert usage.total_tokens == 0
            list(stream)
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1, 7, 2, 9)
    assert list(usage.by_model) == ["mistral-small-2503"]
    assert usage.by_model["mistral-small-2503"].requests == 1


def test_only_this_client_and_its_copies_count_while_the_block_is_open_and_nested_blocks_each_count() -> None:
    with ScriptedServer() as server, sync_client(server) as client, sync_client(server) as other:
        server.script(by_path)
        client.chat(model="m", messages=MESSAGES)  # before: not counted
        with client.track_usage() as outer:
            client.chat(model="m", messages=MESSAGES)
            other.chat(model="m", messages=MESSAGES)  # another client: not counted
            with client.with_options(timeout=9).track_usage() as inner:
                client.with_options(max_retries=0).chat(model="m", messages=MESSAGES)
            client.chat(model="m", messages=MESSAGES)
        client.chat(model="m", messages=MESSAGES)  # after: not counted
        assert client._observers.observers == ()
    assert (outer.requests, outer.total_tokens) == (3, 12)
    assert (inner.requests, inner.total_tokens) == (1, 4)


def test_totals_are_exact_from_8_threads_and_map() -> None:
    with ScriptedServer() as server, sync_client(server) as client:
        server.script(by_path)
        with client.track_usage() as usage:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: client.chat(model="m", messages=MESSAGES), range(48)))
            results = client.map("chat", [{"model": "m", "messages": MESSAGES}] * 16)
            failures = client.map("chat", [{"model": "nope", "messages": MESSAGES}] * 8)
    assert all(r["usage"]["total_tokens"] == 4 for r in results)
    assert all(isinstance(f, NotFoundError) for f in failures)
    assert (usage.requests, usage.failed, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        64, 8, 192, 64, 256)
    assert usage.by_model["mistral-small-2503"].requests == 64
    assert usage.by_model["nope"].failed == 8


@pytest.mark.parametrize("threads", [False, True], ids=["native", "threads"])
def test_totals_are_exact_under_asyncio_gather_with_and_async_with(threads: bool) -> None:
    async def body(aclient: AsyncClient) -> Any:
        async with aclient.track_usage() as usage:
            await asyncio.gather(*(aclient.chat(model="m", messages=MESSAGES) for _ in range(30)))
            with aclient.track_usage() as inner:
                await asyncio.gather(*(aclient.embed(model="mistral-embed", input=["a"]) for _ in range(10)))
        return usage, inner

    with ScriptedServer() as server:
        server.script(by_path)
        usage, inner = run_async(server, body, threads)
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (40, 140, 30, 170)
    assert (inner.requests, inner.prompt_tokens, inner.total_tokens) == (10, 50, 50)
    assert usage.cost({"mistral-small-2503": {"input": 2.0, "output": 6.0}, "mistral-embed": {"input": 0.1}}) == (
        pytest.approx((90 * 2.0 + 30 * 6.0 + 50 * 0.1) / 1e6))
