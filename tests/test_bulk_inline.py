"""Inline batches (issue 20, item 6): the requests travel inside the job, nothing is uploaded,
the job is polled with inline=true, and the results come back exactly as a file-based run's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from test_bulk import MODEL, results, small_batches, write_input

from mistral_lite import AsyncClient, Client, ValidationError
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral

REQUESTS: list[dict[str, Any]] = [
    {"custom_id": "b", "body": {"messages": [{"role": "user", "content": "second"}]}},
    {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "first"}]}},
    {"custom_id": "c", "body": {"model": "no-such-model", "messages": [{"role": "user", "content": "bad"}]}},
]


def comparable(found: list[dict[str, Any]]) -> list[Any]:
    """The results without what differs between two runs (generated ids and timestamps)."""
    out = []
    for item in found:
        body = item["body"] or {}
        content = body.get("choices", [{}])[0].get("message", {}).get("content") if "choices" in body else None
        out.append((sorted(item), item["custom_id"], item["status_code"], content, item["error"] is None))
    return out


def sync_client(fake: FakeMistral) -> Client:
    client: Client = make_client("sk-inline", base_url=fake.inprocess_url, session=fake.session(),
                                 sleep=lambda s: fake.tick())
    return client


def test_an_inline_batch_uploads_nothing_polls_inline_and_returns_what_a_file_batch_returns() -> None:
    fake = FakeMistral(batch_step=0.0)
    with sync_client(fake) as client:
        inline = client.run_batch(REQUESTS, model=MODEL, inline=True, interval=1)
        inline_requests = list(fake.requests)
        fake.requests.clear()
        by_file = client.run_batch(REQUESTS, model=MODEL, interval=1)
    assert [r.operation for r in inline_requests if r.operation != "get_batch_job"] == ["create_batch_job"]
    created = inline_requests[0].json
    assert created == {"requests": REQUESTS, "endpoint": "/v1/chat/completions", "model": MODEL}
    polls = [r for r in inline_requests if r.operation == "get_batch_job"]
    assert polls and all(r.query == {"inline": ["true"]} for r in polls)
    assert comparable(inline) == comparable(by_file)
    assert [r["custom_id"] for r in inline] == ["b", "a", "c"]
    assert [sorted(r) for r in inline] == [["body", "custom_id", "error", "status_code"]] * 3
    assert inline[2]["status_code"] >= 400 and inline[2]["error"] is not None


def test_an_async_inline_batch_does_the_same() -> None:
    fake = FakeMistral(batch_step=0.0)

    with fake:
        fake_url = fake.url

        async def over_http() -> tuple[list[Any], list[Any]]:
            async with make_client("sk-inline", cls=AsyncClient, base_url=fake_url,
                                   sleep=lambda s: fake.tick()) as aclient:
                inline = await aclient.run_batch(REQUESTS, model=MODEL, inline=True, interval=1)
                sent = [r.operation for r in fake.requests]
                fake.requests.clear()
                return inline, [sent, await aclient.run_batch(REQUESTS, model=MODEL, interval=1)]

        inline, (sent, by_file) = asyncio.run(over_http())
    assert "upload_file" not in sent and sent[0] == "create_batch_job"
    assert comparable(inline) == comparable(by_file)


def test_inline_limits_and_arguments_are_checked_before_any_io() -> None:
    fake = FakeMistral(batch_step=0.0)
    with sync_client(fake) as client:
        many = [{"messages": [{"role": "user", "content": "x"}]}] * 10_001
        with pytest.raises(ValidationError, match="at most 10,000"):
            client.run_batch(many, model=MODEL, inline=True)
        with pytest.raises(ValidationError, match="inline"):
            client.run_batch(REQUESTS, model=MODEL, inline="yes")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match=r"requests\[2\].*repeats requests\[0\]"):
            client.run_batch([REQUESTS[0], REQUESTS[1], REQUESTS[0]], model=MODEL, inline=True)
    assert fake.requests == []


def test_run_jsonl_sends_small_inputs_inline_and_big_ones_as_files(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 6)
    with small_batches(fake, inline_max_lines=6) as client:
        progress = client.run_jsonl(source, tmp_path / "small.jsonl", engine="batch",
                                    on_progress=lambda p: fake.tick())
        assert "upload_file" not in [r.operation for r in fake.requests]
        created = next(r.json for r in fake.requests if r.operation == "create_batch_job")
        assert [line["custom_id"] for line in created["requests"]] == [f"q{n}" for n in range(6)]
        assert "input_files" not in created
        assert all(r.query == {"inline": ["true"]} for r in fake.requests if r.operation == "get_batch_job")
        assert progress.succeeded == 6
        small = sorted(results(tmp_path / "small.jsonl"), key=lambda r: r["custom_id"])
        fake.requests.clear()
        bigger = write_input(tmp_path / "big.jsonl", 7)
        client.run_jsonl(bigger, tmp_path / "big-out.jsonl", engine="batch", on_progress=lambda p: fake.tick())
        assert [r.operation for r in fake.requests][:2] == ["upload_file", "create_batch_job"]
    big = sorted(results(tmp_path / "big-out.jsonl"), key=lambda r: r["custom_id"])[:6]
    assert [sorted(r) for r in small] == [sorted(r) for r in big]  # the same output lines either way
    assert [(r["custom_id"], r["response"]["status_code"]) for r in small] == \
        [(r["custom_id"], r["response"]["status_code"]) for r in big]
    state = json.loads(Path(str(tmp_path / "small.jsonl") + ".batch.json").read_text())
    assert state["jobs"][0]["inline"] is True and "file_id" not in state["jobs"][0]


def test_an_async_batch_run_of_a_small_input_goes_inline(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 3)

    async def main() -> Any:
        async with AsyncClient(client=small_batches(fake)) as aclient:
            return await aclient.run_jsonl(source, tmp_path / "out.jsonl", engine="batch",
                                           on_progress=lambda p: fake.tick())

    assert asyncio.run(main()).succeeded == 3
    assert "upload_file" not in [r.operation for r in fake.requests]
    assert sorted(r["custom_id"] for r in results(tmp_path / "out.jsonl")) == ["q0", "q1", "q2"]
