"""Bulk runs: input checks, the live engine (threads and asyncio), resume, the batch engine."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mistral_lite import AsyncClient, Client
from mistral_lite._bulk.batch import state_path
from mistral_lite._bulk.jsonl import BulkInputError, read_done
from mistral_lite._table import load_spec
from mistral_lite._dev.testing import make_client
from mistral_lite.exceptions import MistralError, UnknownOperationError
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.faults import Fault

MODEL = "mistral-small-latest"


def body(n: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}]}


def write_input(path: Path, count: int, *, ids: bool = True) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(count):
            line = {"custom_id": f"q{n}", "body": body(n)} if ids else {"body": body(n)}
            handle.write(json.dumps(line) + "\n")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    yield FakeMistral()


@pytest.fixture
def client(fake: FakeMistral) -> Iterator[Client]:
    with Client("sk-bulk", base_url=fake.inprocess_url, session=fake.session(), retry_delay=lambda n: 0.0) as c:
        yield c


def chat_requests(fake: FakeMistral) -> list[Any]:
    return [r.json for r in fake.requests if r.operation == "chat"]


# --- input ------------------------------------------------------------------------------------


def test_bad_lines_are_all_reported_with_line_numbers_and_nothing_is_sent(
    tmp_path: Path, fake: FakeMistral, client: Client
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps({"custom_id": "a", "body": body(1)}),
        "{not json",
        json.dumps({"custom_id": "b", "body": {"model": MODEL}}),  # messages missing
        "",
        json.dumps({"custom_id": "a", "body": body(2)}),  # repeats line 1
        json.dumps([1, 2]),
        json.dumps({"custom_id": 7, "body": body(3)}),
        json.dumps({"custom_id": "c", "body": {**body(4), "stream": True}}),
    ]) + "\n")
    with pytest.raises(BulkInputError) as caught:
        client.run_jsonl(source, tmp_path / "out.jsonl")
    lines = sorted({number for number, _ in caught.value.problems})
    assert lines == [2, 3, 5, 6, 7, 8]
    assert caught.value.count == 6
    text = caught.value.message
    assert "line 2: not JSON" in text and "line 3: messages" in text
    assert "line 5: custom_id 'a' repeats line 1" in text and "line 8: stream" in text
    assert fake.requests == []
    assert not (tmp_path / "out.jsonl").exists()


def test_skip_invalid_runs_the_rest_and_writes_each_bad_line_its_error(
    tmp_path: Path, fake: FakeMistral, client: Client
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps({"body": body(1)}),
        json.dumps({"custom_id": "bad", "body": {"model": MODEL, "temperature": "hot"}}),
        "{broken",
        json.dumps({"custom_id": "good", "body": body(2)}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    progress = client.run_jsonl(source, out, skip_invalid=True)
    by_id = {r["custom_id"]: r for r in results(out)}
    assert set(by_id) == {"1", "bad", "3", "good"}  # a line without custom_id is named by its number
    assert by_id["1"]["response"]["status_code"] == 200
    assert by_id["bad"]["response"] is None and by_id["bad"]["error"]["code"] == "invalid_request"
    assert by_id["bad"]["error"]["message"].startswith("line 2: ")
    assert by_id["3"]["error"]["message"].startswith("line 3: not JSON")
    assert sorted(chat_requests(fake), key=json.dumps) == [body(1), body(2)]  # sent concurrently: any order
    assert (progress.succeeded, progress.failed, progress.by_status) == (2, 2, {"invalid": 2})


def test_operation_and_settings_are_checked_before_any_io(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    with pytest.raises(UnknownOperationError):
        client.run_jsonl(source, tmp_path / "o.jsonl", operation="chta")
    with pytest.raises(MistralError, match="take and return JSON"):
        client.run_jsonl(source, tmp_path / "o.jsonl", operation="upload_file")
    with pytest.raises(MistralError, match="concurrency"):
        client.run_jsonl(source, tmp_path / "o.jsonl", concurrency=0)
    with pytest.raises(MistralError, match="engine"):
        client.run_jsonl(source, tmp_path / "o.jsonl", engine="turbo")
    with pytest.raises(MistralError, match="another file"):
        client.run_jsonl(source, source)
    with pytest.raises(MistralError, match="No such file"):
        client.run_jsonl(tmp_path / "missing.jsonl", tmp_path / "o.jsonl")
    for resume in (True, False):  # an output that cannot be opened is a MistralError, not an OSError
        with pytest.raises(MistralError, match=r"cannot write the output.*No such file"):
            client.run_jsonl(source, tmp_path / "no-such-dir" / "o.jsonl", resume=resume)
        with pytest.raises(MistralError, match="cannot"):
            client.run_jsonl(source, tmp_path, resume=resume)
    assert fake.requests == []


# --- the live engine --------------------------------------------------------------------------


def test_live_run_sends_each_body_once_and_writes_the_batch_output_format(
    tmp_path: Path, fake: FakeMistral, client: Client
) -> None:
    source = write_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    seen: list[int] = []
    progress = client.run_jsonl(source, out, concurrency=4, on_progress=lambda p: seen.append(p.done))
    sent = chat_requests(fake)
    assert sorted(sent, key=lambda b: b["messages"][0]["content"]) == sorted(
        (body(n) for n in range(40)), key=lambda b: b["messages"][0]["content"])
    records = results(out)
    assert sorted(r["custom_id"] for r in records) == sorted(f"q{n}" for n in range(40))
    one = next(r for r in records if r["custom_id"] == "q7")
    assert set(one) == {"id", "custom_id", "response", "error"}
    assert one["error"] is None and one["response"]["status_code"] == 200
    assert one["response"]["body"]["choices"][0]["message"]["content"] == "Echo: question 7"
    assert (progress.total, progress.succeeded, progress.failed, progress.skipped) == (40, 40, 0, 0)
    assert sorted(seen) == list(range(1, 41))


def test_faults_are_retried_and_final_errors_are_written(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 30)
    fake.inject("chat", Fault(status=429, headers={"retry-after-ms": "1"}), Fault(status=503), Fault(reset=True),
                Fault(status=429, headers={"retry-after-ms": "1"}), Fault(status=400))
    out = tmp_path / "out.jsonl"
    progress = client.run_jsonl(source, out, concurrency=1)
    records = results(out)
    assert sorted(r["custom_id"] for r in records) == sorted(f"q{n}" for n in range(30))
    failed = [r for r in records if r["error"]]
    assert len(failed) == 1 and failed[0]["response"]["status_code"] == 400
    assert failed[0]["error"]["code"] == 400 and "HTTP 400" in failed[0]["error"]["message"]
    assert (progress.succeeded, progress.failed, progress.by_status, progress.rate_limited) == (29, 1, {"400": 1}, 2)
    assert len(chat_requests(fake)) == 30 + 4  # two 429s, a 503 and a reset were sent again


def test_connection_failures_after_retries_are_final_errors(tmp_path: Path, fake: FakeMistral) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    fake.inject("chat", *[Fault(reset=True)] * 4)  # one try and three retries
    with Client("k", base_url=fake.inprocess_url, session=fake.session(), retry_delay=lambda n: 0.0) as c:
        progress = c.run_jsonl(source, tmp_path / "out.jsonl", concurrency=1)
    assert progress.by_status == {"connection": 1}
    failed = [r for r in results(tmp_path / "out.jsonl") if r["error"]]
    assert failed[0]["response"] is None and failed[0]["error"]["code"] == "APIConnectionError"


def test_a_job_level_model_fills_bodies_without_one(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"custom_id": "x", "body": {"messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    with pytest.raises(BulkInputError, match="model"):
        client.run_jsonl(source, tmp_path / "out.jsonl")
    client.run_jsonl(source, tmp_path / "out.jsonl", model="codestral-latest")
    assert chat_requests(fake) == [{"model": "codestral-latest", "messages": [{"role": "user", "content": "hi"}]}]


def test_over_loopback_http_with_a_rate_limit(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 60)
    with FakeMistral() as fake:
        fake.rate_limit(requests_per_minute=25, window=0.5)  # 25 requests per half second
        fake.inject("chat", Fault(reset=True), Fault(status=503))
        with Client("k", base_url=fake.url, retry_delay=lambda n: 0.0) as c:
            progress = c.run_jsonl(source, tmp_path / "out.jsonl", concurrency=8)
        refused = fake.rate_limits.refused
    ids = [r["custom_id"] for r in results(tmp_path / "out.jsonl")]
    assert sorted(ids) == sorted(f"q{n}" for n in range(60))
    assert progress.succeeded == 60
    assert progress.rate_limited == refused  # every 429 reached the pacer


def test_asyncio_engine_matches_the_threads_engine(tmp_path: Path, fake: FakeMistral) -> None:
    source = write_input(tmp_path / "in.jsonl", 25)
    fake.inject("chat", Fault(status=429, headers={"retry-after-ms": "1"}), Fault(reset=True))
    out = tmp_path / "out.jsonl"

    async def run() -> Any:
        sync = Client("k", base_url=fake.inprocess_url, session=fake.session(), retry_delay=lambda n: 0.0)
        async with AsyncClient(client=sync) as aclient:
            return await aclient.run_jsonl(source, out, concurrency=5)

    progress = asyncio.run(run())
    assert sorted(r["custom_id"] for r in results(out)) == sorted(f"q{n}" for n in range(25))
    assert (progress.succeeded, progress.rate_limited) == (25, 1)
    assert len(chat_requests(fake)) == 27


# --- resume -----------------------------------------------------------------------------------


def test_resume_skips_done_lines_and_redoes_a_torn_last_line(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    client.run_jsonl(source, out)
    kept = out.read_bytes().splitlines(keepends=True)
    done_ids = [json.loads(line)["custom_id"] for line in kept[:6]]
    out.write_bytes(b"".join(kept[:6]) + kept[6][:25])  # killed while writing the 7th line
    fake.requests.clear()
    progress = client.run_jsonl(source, out)
    sent = {b["messages"][0]["content"] for b in chat_requests(fake)}
    assert sent == {f"question {n}" for n in range(10) if f"q{n}" not in done_ids}
    ids = [r["custom_id"] for r in results(out)]
    assert sorted(ids) == sorted(f"q{n}" for n in range(10))
    assert (progress.skipped, progress.succeeded) == (6, 4)
    fake.requests.clear()
    again = client.run_jsonl(source, out)  # all done: nothing to send
    assert fake.requests == [] and again.skipped == 10


def test_no_resume_starts_the_output_afresh(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    client.run_jsonl(source, out)
    client.run_jsonl(source, out, resume=False)
    assert len(results(out)) == 5 and len(chat_requests(fake)) == 10


def test_a_damaged_output_is_reported_not_guessed(tmp_path: Path, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    out.write_text("garbage\n" + json.dumps({"custom_id": "q0"}) + "\n")
    with pytest.raises(MistralError, match="line 1 is not a result line"):
        client.run_jsonl(source, out)


def test_read_done_cuts_only_the_torn_tail(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"custom_id":"a"}\n{"custom_id":"b"}\n{"custom_id":"c"')
    done = read_done(str(out))
    assert "a" in done and "b" in done and "c" not in done and len(done) == 2
    assert out.read_bytes() == b'{"custom_id":"a"}\n{"custom_id":"b"}\n'


# --- the batch engine -------------------------------------------------------------------------


def small_batches(fake: FakeMistral, max_lines: int = 100, **more: Any) -> Client:
    spec = load_spec()
    defaults = {**spec.defaults, "batch": {"max_lines": max_lines, "max_bytes": 10_000_000,
                                           "poll_first": 0.01, "poll_max": 0.05, **more}}
    client: Client = make_client("sk-batch", base_url=fake.inprocess_url, session=fake.session(),
                                 spec=spec.replace(defaults=defaults), retry_delay=lambda n: 0.0)
    return client


def test_batch_engine_splits_uploads_merges_each_id_once(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 23)
    out = tmp_path / "out.jsonl"
    with small_batches(fake, max_lines=10) as client:
        ticks: list[int] = []

        def on_progress(p: Any) -> None:
            ticks.append(p.done)
            fake.tick()  # the fake's jobs move one status per poll

        progress = client.run_jsonl(source, out, engine="batch", on_progress=on_progress)
    records = results(out)
    assert sorted(r["custom_id"] for r in records) == sorted(f"q{n}" for n in range(23))
    assert all(r["response"]["status_code"] == 200 for r in records)
    creates = [r for r in fake.requests if r.operation == "create_batch_job"]
    assert len(creates) == 3  # 10 + 10 + 3 lines
    assert all(r.json["endpoint"] == "/v1/chat/completions" for r in creates)
    uploads = [r for r in fake.requests if r.operation == "upload_file"]
    assert [r.body.count(b'"custom_id"') for r in uploads] == [10, 10, 3]
    state = json.loads(Path(state_path(str(out))).read_text())
    assert sorted(job["id"] for job in state["jobs"]) == sorted(fake.state.batch_jobs)
    assert (progress.succeeded, progress.engine) == (23, "batch")


def test_batch_engine_resumes_its_jobs_instead_of_creating_them_again(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 12)
    out = tmp_path / "out.jsonl"
    with small_batches(fake, max_lines=5) as client:
        with pytest.raises(MistralError, match="still running"):
            client.run_jsonl(source, out, engine="batch", timeout=0.0)  # gives up waiting: jobs stay
        assert len(fake.state.batch_jobs) == 3
        fake.tick()
        fake.tick()
        progress = client.run_jsonl(source, out, engine="batch")
    assert len(fake.state.batch_jobs) == 3
    assert len([r for r in fake.requests if r.operation == "create_batch_job"]) == 3
    assert sorted(r["custom_id"] for r in results(out)) == sorted(f"q{n}" for n in range(12))
    assert progress.succeeded == 12


def test_batch_engine_finds_a_job_whose_id_was_not_saved(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out.jsonl"
    with small_batches(fake, max_lines=10) as client:
        with pytest.raises(MistralError):
            client.run_jsonl(source, out, engine="batch", timeout=0.0)
        state_file = Path(state_path(str(out)))
        state = json.loads(state_file.read_text())
        state["jobs"][0]["id"] = None  # killed between creating the job and saving its id
        state_file.write_text(json.dumps(state))
        fake.tick()
        fake.tick()
        client.run_jsonl(source, out, engine="batch")
    assert len(fake.state.batch_jobs) == 1
    assert sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2", "q3"]


def test_batch_engine_writes_errors_for_lines_a_cancelled_job_did_not_run(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    with small_batches(fake, max_lines=10) as client:
        def cancel(p: Any) -> None:
            for job_id, job in fake.state.batch_jobs.items():
                if job.data["status"] == "QUEUED":
                    client.cancel_batch_job(job_id=job_id)
            fake.tick()

        progress = client.run_jsonl(source, out, engine="batch", on_progress=cancel)
    records = results(out)
    assert sorted(r["custom_id"] for r in records) == ["q0", "q1", "q2"]
    assert {r["error"]["code"] for r in records} == {"batch_cancelled"}
    assert progress.by_status == {"batch_cancelled": 3}


def test_batch_engine_checks_bodies_before_uploading(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"custom_id": "a", "body": {"model": MODEL, "messages": "nope"}}) + "\n")
    with small_batches(fake, max_lines=10) as client, pytest.raises(BulkInputError, match="line 1: messages"):
        client.run_jsonl(source, tmp_path / "out.jsonl", engine="batch")
    assert fake.requests == []


def test_input_and_output_stream_line_by_line(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 3, ids=False)
    out = tmp_path / "out.jsonl"
    client.run_jsonl(source, out, concurrency=1)
    assert Counter(r["custom_id"] for r in results(out)) == Counter({"1": 1, "2": 1, "3": 1})
    assert os.path.getsize(out) == sum(len(line) for line in out.read_bytes().splitlines(keepends=True))


def test_a_line_finished_after_the_output_closed_is_dropped_not_misdirected(tmp_path: Path) -> None:
    from mistral_lite._bulk.jsonl import OutputWriter

    writer = OutputWriter(str(tmp_path / "out.jsonl"), fresh=True)
    writer.write(b'{"custom_id":"a"}\n')
    writer.close()
    other = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT)  # may reuse the descriptor number
    try:
        writer.write(b'{"custom_id":"late"}\n')
    finally:
        os.close(other)
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"custom_id":"a"}\n'
    assert (tmp_path / "other").read_bytes() == b""


def test_a_big_batch_job_runs_in_slices_and_its_progress_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_lite.fake import jobs

    monkeypatch.setattr(jobs, "BATCH_LINES_PER_STEP", 5)
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 12)
    out = tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []
    with small_batches(fake, max_lines=100) as client:
        def on_progress(p: Any) -> None:
            seen.append((p.in_jobs, p.done))
            fake.tick()

        client.run_jsonl(source, out, engine="batch", on_progress=on_progress)
    assert seen == [(0, 0), (0, 0), (5, 0), (10, 0), (0, 12)]  # QUEUED, RUNNING, 5 run, 10 run, merged
    assert sorted(r["custom_id"] for r in results(out)) == sorted(f"q{n}" for n in range(12))
