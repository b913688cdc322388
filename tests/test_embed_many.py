"""``embed_many`` on both clients against the fake: input order, the API's limits from the table
(the fake enforces the same ones and never refuses a batch), each text once, progress on the
calling thread, retries, and every bad argument reported before any request."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mistral_lite import AsyncClient, BadRequestError, Client, ValidationError
from mistral_lite._methods.embed_many import batches, estimate_tokens
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral, Fault

WORDS = ["alpha", "beta", "gamma", "delta,", "epsilon!", "zeta", "(eta)", "theta:", "iota", "kappa", "lambda",
         "mu", "ça", "été", "東京", "...", "?"]


def short_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14))) + f" {i}" for i in range(n)]


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


def sent(fake: FakeMistral) -> list[list[str]]:
    return [r.json["input"] for r in fake.requests if r.operation == "embed"]


def test_5000_texts_in_order_once_each_within_100_requests(fake: FakeMistral) -> None:
    texts = short_texts(5000)
    client = Client("sk-test", base_url=fake.url)
    progress: list[tuple[int, int]] = []
    threads: set[int] = set()

    def on_progress(done: int, total: int) -> None:
        threads.add(threading.get_ident())
        progress.append((done, total))

    vectors = client.embed_many(texts, on_progress=on_progress)
    batches_sent = sent(fake)
    assert len(batches_sent) <= 100
    assert sorted(t for batch in batches_sent for t in batch) == sorted(texts)  # each text exactly once
    assert all(len(b) <= 512 for b in batches_sent)
    assert all(sum(estimate_tokens(t) for t in b) <= 16384 for b in batches_sent)
    assert {r.json["model"] for r in fake.requests} == {"mistral-embed"}
    assert len(vectors) == 5000
    one_by_one = [client.embed(input=[t])["data"][0]["embedding"] for t in texts[::250]]
    assert vectors[::250] == one_by_one
    assert threads == {threading.get_ident()}
    assert all(isinstance(d, int) and isinstance(n, int) for d, n in progress)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress) and progress[-1] == (5000, 5000)
    assert len(progress) == len(batches_sent) and {n for _, n in progress} == {5000}


def test_batch_size_caps_the_inputs_of_a_request(fake: FakeMistral) -> None:
    texts = short_texts(23)
    client = Client("sk-test", base_url=fake.url)
    vectors = client.embed_many(texts, batch_size=5, concurrency=2, output_dimension=8)
    assert sorted(len(b) for b in sent(fake)) == [3, 5, 5, 5, 5]
    assert {r.json["output_dimension"] for r in fake.requests} == {8}
    assert [len(v) for v in vectors] == [8] * 23
    assert vectors == [client.embed(input=[t], output_dimension=8)["data"][0]["embedding"] for t in texts]


def test_long_texts_stay_within_the_token_limit_the_fake_enforces(fake: FakeMistral) -> None:
    texts = [" ".join(["word,"] * 1500) + f" {i}" for i in range(40)]  # ~3,000 fake tokens each
    client = Client("sk-test", base_url=fake.url)
    vectors = client.embed_many(texts, concurrency=3)
    assert len(vectors) == 40 and all(vectors)
    assert all(len(b) <= 2 for b in sent(fake))  # 9 KB of text each: at most one more fits 16,384


def test_batches_keep_within_both_limits() -> None:
    assert [len(b) for b in batches([10] * 25, 10, 1000)] == [10, 10, 5]
    assert [len(b) for b in batches([10] * 25, 100, 35)] == [3] * 8 + [1]
    assert [list(b) for b in batches([50, 1, 1], 10, 20)] == [[0], [1, 2]]  # a long text goes alone
    assert batches([], 10, 10) == []
    assert estimate_tokens("東京!") == 7  # UTF-8 bytes: never fewer than tokens


def test_a_failed_batch_is_retried_like_any_call(fake: FakeMistral) -> None:
    fake.inject("embed", Fault(status=503))
    client = make_client("sk-test", base_url=fake.url, sleep=lambda s: None)
    vectors = client.embed_many(["a b", "c d", "e f"], batch_size=1, concurrency=1)
    assert len(vectors) == 3 and len(sent(fake)) == 4  # the refused batch once more


def test_an_error_stops_the_run(fake: FakeMistral) -> None:
    fake.inject("embed", Fault(status=400))
    client = Client("sk-test", base_url=fake.url, max_retries=0)
    with pytest.raises(BadRequestError):
        client.embed_many(short_texts(30), batch_size=3, concurrency=2)


def test_bad_arguments_are_all_reported_before_any_request(fake: FakeMistral) -> None:
    client = Client("sk-test", base_url=fake.url)
    with pytest.raises(ValidationError) as info:
        client.embed_many(["ok", "", 3], batch_size=0, concurrency=-1)  # type: ignore[list-item]
    paths = [path for path, _ in info.value.errors]
    assert paths == ["texts[1]", "texts[2]", "batch_size", "concurrency"]
    with pytest.raises(ValidationError, match="wrap a single text in a list"):
        client.embed_many("one text")
    assert fake.requests == []
    assert client.embed_many([]) == []


def test_async_embed_many_matches_the_sync_one(fake: FakeMistral) -> None:
    texts = short_texts(700)
    expected = Client("sk-test", base_url=fake.url).embed_many(texts, batch_size=64)
    before = len(fake.requests)
    progress: list[tuple[int, int]] = []
    loop_thread: list[int] = []

    async def main() -> list[list[float]]:
        loop_thread.append(threading.get_ident())
        async with AsyncClient("sk-test", base_url=fake.url) as aclient:
            return await aclient.embed_many(texts, batch_size=64, concurrency=3,
                                            on_progress=lambda d, n: progress.append((d, n)))

    got = asyncio.run(main())
    assert got == expected
    assert len(fake.requests) - before == 11
    assert [d for d, _ in progress] == sorted(d for d, _ in progress) and progress[-1] == (700, 700)
    assert loop_thread == [threading.get_ident()]


def test_async_embed_many_reports_bad_arguments_before_any_request(fake: FakeMistral) -> None:
    async def main() -> Any:
        async with AsyncClient("sk-test", base_url=fake.url) as aclient:
            return await aclient.embed_many([" "])

    with pytest.raises(ValidationError, match="texts\\[0\\]"):
        asyncio.run(main())
    assert fake.requests == []
