"""Round-3 review of bulk runs (issue 18 items 1-9 and 21, issue 20 item 6): each test here
failed before the fix it names."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import test_bulk_hardening
from test_bulk import body, results
from test_bulk_hardening import write_input

from mistral_lite import AsyncClient, Client
from mistral_lite.fake import FakeMistral

fake = test_bulk_hardening.fake  # the fixtures, shared
client = test_bulk_hardening.client


def test_an_async_run_cancelled_while_checking_its_input_releases_the_output(
        tmp_path: Path, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_lite._bulk import prepare as _bulk

    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    real_scan = _bulk.scan_input

    def slow_scan(*args: Any, **options: Any) -> Any:
        time.sleep(0.5)  # a big input: the check outlives the caller's timeout
        return real_scan(*args, **options)

    monkeypatch.setattr(_bulk, "scan_input", slow_scan)

    async def cancelled() -> None:
        async with AsyncClient(client=client) as aclient:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(aclient.run_jsonl(source, out), 0.1)
            await asyncio.sleep(1.0)  # the worker thread has finished preparing by now

    asyncio.run(cancelled())
    monkeypatch.setattr(_bulk, "scan_input", real_scan)
    progress = client.run_jsonl(source, out)  # before: "another run is writing this output", for ever
    assert progress.succeeded == 3 and sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2"]


@pytest.mark.parametrize("engine", ["live", "batch"])
def test_a_skipped_line_named_by_its_number_may_not_take_another_lines_id(
        tmp_path: Path, fake: FakeMistral, client: Client, engine: str) -> None:
    from mistral_lite._bulk.jsonl import BulkInputError

    source = tmp_path / "in.jsonl"  # line 3 does not parse: its error line would be custom_id "3"
    source.write_text(json.dumps({"custom_id": "3", "body": body(0)}) + "\n"
                      + json.dumps({"custom_id": "x", "body": body(1)}) + "\n{not json\n")
    with pytest.raises(BulkInputError) as caught:
        client.run_jsonl(source, tmp_path / "out.jsonl", skip_invalid=True, engine=engine)
    assert caught.value.problems == [(3, "custom_id '3' repeats line 1")]
    assert fake.requests == []


def test_a_full_disk_under_the_batch_engine_is_a_mistral_error_and_a_resume_continues(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os
    import tempfile

    from test_bulk import small_batches

    from mistral_lite.exceptions import MistralError

    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    real_mkstemp = tempfile.mkstemp

    def full(*args: Any, **options: Any) -> Any:
        if options.get("prefix") == ".batch-state-":  # the state file beside the output: no room
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(*args, **options)

    with small_batches(fake) as client:
        monkeypatch.setattr(tempfile, "mkstemp", full)
        with pytest.raises(MistralError, match="No space left on device") as caught:
            client.run_jsonl(source, out, engine="batch")
        assert str(out) in caught.value.message and "run again" in caught.value.message
        monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
        progress = client.run_jsonl(source, out, engine="batch", on_progress=lambda p: fake.tick())
    assert progress.succeeded == 3 and sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2"]


@pytest.mark.parametrize("header", ["inf", "1e400"])
def test_an_infinite_retry_after_is_garbage_not_an_overflow(tmp_path: Path, fake: FakeMistral, client: Client,
                                                            header: str) -> None:
    from mistral_lite._core.retry import parse_retry_after
    from mistral_lite.fake.faults import Fault

    assert parse_retry_after({"retry-after": header}) is None
    assert parse_retry_after({"retry-after-ms": header, "retry-after": "2"}) == 2.0
    source = write_input(tmp_path / "in.jsonl", 2)
    fake.inject("chat", Fault(status=429, headers={"retry-after": header}))
    # before: OverflowError('timestamp out of range for platform time_t') out of run_jsonl
    progress = client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=2)
    assert (progress.succeeded, progress.failed) == (2, 0)


def test_a_retry_after_of_years_waits_at_most_an_hour(tmp_path: Path, client: Client) -> None:
    import threading

    from mistral_lite._bulk.live import MAX_RETRY_AFTER, LiveRun, prepare
    from mistral_lite._table import load_spec
    from mistral_lite.exceptions import APIStatusError

    spec = load_spec()
    prepared = prepare(spec.endpoints, spec, write_input(tmp_path / "in.jsonl", 1), tmp_path / "out.jsonl",
                       operation="chat", resume=False, skip_invalid=False)
    try:
        run = LiveRun(prepared, requests_per_minute=None, tokens_per_minute=None, on_progress=None)
        refused = APIStatusError(status_code=429, body=None, headers={"retry-after": "1e12"}, operation="chat",
                                 method="POST", path="/v1/chat/completions", retry_after=1e12)
        wait = run.backs_off(refused, 0)
        assert wait == MAX_RETRY_AFTER <= threading.TIMEOUT_MAX  # 1e12 s overflowed Event.wait
    finally:
        prepared.close()


def test_a_state_naming_a_job_the_server_does_not_have_runs_its_lines_again(tmp_path: Path) -> None:
    from test_bulk import small_batches

    from mistral_lite._bulk.jsonl import state_path
    from mistral_lite.exceptions import MistralError

    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    with small_batches(fake) as client:
        with pytest.raises(MistralError, match="still running"):
            client.run_jsonl(source, out, engine="batch", timeout=0.0)
        state_file = Path(state_path(str(out)))
        state = json.loads(state_file.read_text())
        state["jobs"][0]["id"] = "job-of-another-account"
        state_file.write_text(json.dumps(state))
        # before: a raw NotFoundError from get_batch_job, on every resume
        progress = client.run_jsonl(source, out, engine="batch", on_progress=lambda p: fake.tick())
    assert progress.succeeded == 3 and sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2"]
    creates = [r.json for r in fake.requests if r.operation == "create_batch_job"]
    assert len(creates) == 2 and creates[1]["metadata"]["mistral_lite_run"] == state["run"]


def test_a_symlink_to_an_output_in_use_is_refused(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    import os

    from mistral_lite import BulkRunError
    from mistral_lite._bulk.jsonl import OutputLock

    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"")
    os.symlink(out, tmp_path / "link.jsonl")
    held = OutputLock(str(out))  # another run writing the output
    try:
        with pytest.raises(BulkRunError, match="another run is writing this output"):
            client.run_jsonl(source, tmp_path / "link.jsonl")  # before: ran, into the same file
    finally:
        held.release()
    assert fake.requests == [] and out.read_bytes() == b""
