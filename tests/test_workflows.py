"""Pagination, waiters, batch runs, futures, maps, asyncio and debug logging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import API_KEY, BASE

from mistral_lite import AsyncClient, Client, MistralError, NotFoundError, WaitTimeout
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral


def pages_requested(mock: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(c.request.url).query) for c in mock.calls]


# -- pagination ---------------------------------------------------------------------------------
def test_paginate_stops_at_the_total(client: Client, mock: responses.RequestsMock) -> None:
    for page, ids in enumerate([["a", "b"], ["c", "d"], ["e"]]):
        mock.get(f"{BASE}/v1/files", json={"object": "list", "data": [{"id": i} for i in ids], "total": 5},
                 match=[responses.matchers.query_param_matcher({"page": str(page), "page_size": "2",
                                                                "purpose": "batch"})])
    items = list(client.paginate("list_files", page_size=2, purpose="batch"))
    assert [i["id"] for i in items] == ["a", "b", "c", "d", "e"]
    assert len(mock.calls) == 3


def test_paginate_bare_arrays_stop_on_a_short_page(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents", json=[{"id": "1"}, {"id": "2"}])
    mock.get(f"{BASE}/v1/agents", json=[{"id": "3"}])
    assert [a["id"] for a in client.paginate("list_agents", page_size=2, sources=["api"])] == ["1", "2", "3"]
    assert pages_requested(mock) == [{"page": ["0"], "page_size": ["2"], "sources": ["api"]},
                                     {"page": ["1"], "page_size": ["2"], "sources": ["api"]}]


def test_paginate_stops_on_an_empty_page(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents/ag1/versions", json=[{"version": i} for i in range(20)])
    mock.get(f"{BASE}/v1/agents/ag1/versions", json=[{"version": i} for i in range(20, 40)])
    mock.get(f"{BASE}/v1/agents/ag1/versions", json=[])
    assert len(list(client.paginate("list_agent_versions", "ag1"))) == 40
    assert [q["page"] for q in pages_requested(mock)] == [["0"], ["1"], ["2"]]
    assert all("page_size" not in q for q in pages_requested(mock))


def test_paginate_starts_at_a_given_page(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/batch/jobs", json={"object": "list", "data": [], "total": 0})
    assert list(client.paginate("list_batch_jobs", page=3, status=["RUNNING"])) == []
    assert pages_requested(mock) == [{"page": ["3"], "status": ["RUNNING"]}]


def test_paginate_yields_the_single_page_of_a_row_that_does_not_page(client: Client,
                                                                       mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models", json={"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
    assert [m["id"] for m in client.paginate("list_models", provider="mistralai")] == ["a", "b"]
    assert pages_requested(mock) == [{"provider": ["mistralai"]}]  # one request, no page option added
    mock.get(f"{BASE}/v1/files/f1", json={"id": "f1", "object": "file"})
    assert list(client.paginate("get_file", "f1")) == [{"id": "f1", "object": "file"}]


# -- waiters ------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_polls_until_terminal_without_the_cache(mock: responses.RequestsMock) -> None:
    clock = Clock()
    client = make_client(API_KEY, cache=True, sleep=clock.sleep, clock=clock)
    for status in ("QUEUED", "RUNNING", "SUCCESS"):
        mock.get(f"{BASE}/v1/batch/jobs/j1", json={"id": "j1", "status": status})
    seen: list[str] = []
    final = client.wait("get_batch_job", job_id="j1", interval=5, timeout=60,
                        on_progress=lambda job: seen.append(job["status"]))
    assert final == {"id": "j1", "status": "SUCCESS"}
    assert seen == ["QUEUED", "RUNNING", "SUCCESS"]
    assert clock.sleeps == [5, 5]
    assert client.cache is not None and client.cache.stats["size"] == 0


def test_wait_timeout_carries_the_last_state(mock: responses.RequestsMock) -> None:
    clock = Clock()
    client = make_client(API_KEY, sleep=clock.sleep, clock=clock)
    mock.get(f"{BASE}/v1/fine_tuning/jobs/ft1", json={"id": "ft1", "status": "RUNNING"})
    with pytest.raises(WaitTimeout, match="within 12 s; last status: 'RUNNING'") as info:
        client.wait("get_fine_tuning_job", "ft1", interval=5, timeout=12)
    assert info.value.last == {"id": "ft1", "status": "RUNNING"}
    assert clock.sleeps == [5, 5, 2]
    assert len(mock.calls) == 4


def test_wait_refuses_rows_without_wait(client: Client) -> None:
    with pytest.raises(MistralError, match="get_file cannot be waited on; these can: get_batch_job"):
        client.wait("get_file", file_id="f")


# -- batch runs, end to end against the fake ------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(batch_step=0) as server:
        yield server


def test_run_batch_end_to_end(fake: FakeMistral) -> None:
    progress: list[str] = []
    client = make_client(API_KEY, base_url=fake.url, sleep=lambda s: fake.tick())
    requests = [{"model": "mistral-small-latest", "messages": [{"role": "user", "content": f"q{i}"}]}
                for i in range(3)]
    requests.append({"custom_id": "odd", "body": {"model": "mistral-small-latest",
                                                  "messages": [{"role": "user", "content": "last"}]}})
    results = client.run_batch(requests, model="mistral-small-latest", interval=1,
                               on_progress=lambda job: progress.append(job["status"]))
    assert [r["custom_id"] for r in results] == ["0", "1", "2", "odd"]
    assert [r["status_code"] for r in results] == [200, 200, 200, 200]
    assert [r["body"]["choices"][0]["message"]["content"] for r in results] == [
        "Echo: q0", "Echo: q1", "Echo: q2", "Echo: last"]
    assert progress[-1] == "SUCCESS" and progress[0] in ("QUEUED", "RUNNING")
    ops = [r.operation for r in fake.requests]
    assert ops[:2] == ["upload_file", "create_batch_job"]
    upload = fake.requests[0]
    assert b'name="purpose"' in upload.body and b"batch" in upload.body
    assert upload.body.count(b'"custom_id"') == 4
    assert fake.requests[1].json == {"input_files": [fake.requests[1].json["input_files"][0]],
                                     "endpoint": "/v1/chat/completions", "model": "mistral-small-latest"}


def test_run_batch_without_waiting_returns_the_job(fake: FakeMistral) -> None:
    client = Client(API_KEY, base_url=fake.url)
    job = client.run_batch([{"input": "hello"}], endpoint="/v1/embeddings", model="mistral-embed", wait=False,
                           metadata={"run": "1"})
    assert job["status"] == "QUEUED" and job["endpoint"] == "/v1/embeddings"
    assert fake.requests[-1].json["metadata"] == {"run": "1"}


def test_run_batch_rejects_duplicate_ids(fake: FakeMistral) -> None:
    client = Client(API_KEY, base_url=fake.url)
    with pytest.raises(MistralError, match="custom_id values must be unique"):
        client.run_batch([{"custom_id": "a", "body": {}}, {"custom_id": "a", "body": {}}], model="m")
    assert fake.requests == []


# -- futures, maps, asyncio -------------------------------------------------------------------------
def test_submit_returns_a_future(fake: FakeMistral) -> None:
    with Client(API_KEY, base_url=fake.url) as client:
        future = client.submit("chat", model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])
        assert future.result(timeout=10)["choices"][0]["message"]["content"] == "Echo: hi"


def test_map_keeps_order_and_reports_errors_in_place(fake: FakeMistral) -> None:
    with Client(API_KEY, base_url=fake.url, retry=False) as client:
        uploaded = client.upload_file(file=("a.txt", b"a"), purpose="ocr")
        results = client.map("get_file", [{"file_id": uploaded["id"]}, {"file_id": "missing"},
                                          {"file_id": uploaded["id"]}], max_workers=3)
    assert results[0]["id"] == results[2]["id"] == uploaded["id"]
    assert isinstance(results[1], NotFoundError) and results[1].status_code == 404


def test_map_can_raise_instead(fake: FakeMistral) -> None:
    with Client(API_KEY, base_url=fake.url, retry=False) as client, pytest.raises(NotFoundError):
        client.map("get_file", [{"file_id": "missing"}], return_exceptions=False)


def test_async_client_calls_and_streams(fake: FakeMistral) -> None:
    async def main() -> tuple[Any, list[str], list[str]]:
        async with AsyncClient(API_KEY, base_url=fake.url) as aclient:
            reply = await aclient.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])
            parts: list[str] = []
            async for chunk in await aclient.chat(model="mistral-small-latest", stream=True,
                                                  messages=[{"role": "user", "content": "yo"}]):
                parts.append(chunk["choices"][0]["delta"].get("content") or "")
            names = [m["id"] async for m in aclient.paginate("list_files")]
            return reply, parts, names

    reply, parts, names = asyncio.run(main())
    assert reply["choices"][0]["message"]["content"] == "Echo: hi"
    assert "".join(parts) == "Echo: yo"
    assert names == []


def test_async_methods_mirror_the_sync_signatures() -> None:
    import inspect

    assert inspect.signature(AsyncClient.chat) == inspect.signature(Client.chat)
    assert AsyncClient.chat.__doc__ == Client.chat.__doc__


# -- debug logging ----------------------------------------------------------------------------------
def test_debug_logging_redacts_the_key(mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mock.get(f"{BASE}/v1/models", json={"data": []}, headers={"x-request-id": "r7"})
    with caplog.at_level(logging.DEBUG, logger="mistral_lite.http"):
        Client(API_KEY).list_models()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "request GET https://api.mistral.ai/v1/models" in text
    assert "'Authorization': 'Bearer [redacted]'" in text
    assert "response list_models 200" in text and "request-id=r7" in text
    assert API_KEY not in text


def test_env_variable_turns_on_debug_logging(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = ("import responses, mistral_lite\n"
            "with responses.RequestsMock() as m:\n"
            "    m.get('https://api.mistral.ai/v1/models', json={})\n"
            f"    mistral_lite.Client({API_KEY!r}).list_models()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"MISTRAL_LITE_LOG": "debug", "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mistral_lite.http DEBUG request GET https://api.mistral.ai/v1/models" in out.stderr
    assert API_KEY not in out.stderr and "Bearer [redacted]" in out.stderr


def test_paginate_follows_a_cursor(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents/pages", json={"object": "list", "data": [{"id": "a"}], "next_page_token": "t1"})
    mock.get(f"{BASE}/v1/agents/pages", json={"object": "list", "data": [{"id": "b"}], "next_page_token": None})
    assert [a["id"] for a in client.paginate("list_agents_pages", page_size=1)] == ["a", "b"]
    assert pages_requested(mock) == [{"page_size": ["1"]}, {"page_size": ["1"], "page_token": ["t1"]}]


def test_paginate_reads_a_nested_total(client: Client, mock: responses.RequestsMock) -> None:
    page = {"pagination": {"total_items": 3, "page_size": 2}}
    mock.get(f"{BASE}/v1/libraries/lib1/documents", json={**page, "data": [{"id": "d1"}, {"id": "d2"}]})
    mock.get(f"{BASE}/v1/libraries/lib1/documents", json={**page, "data": [{"id": "d3"}]})
    assert [d["id"] for d in client.paginate("list_library_documents", "lib1")] == ["d1", "d2", "d3"]
    assert [q["page"] for q in pages_requested(mock)] == [["0"], ["1"]]
