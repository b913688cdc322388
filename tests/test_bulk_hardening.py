"""Bulk runs held to the core's standard (issue 18, items 1-9 and 21): one output one run,
cancellation, resume fingerprints, repeated ids, the batch merge, damaged files, AIMD on 429s,
a full disk, off-loop reading, and every argument checked before any I/O."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_bulk import MODEL, body, chat_requests, results, small_batches

from mistral_lite import AsyncClient, BulkRunError, Client, ValidationError
from mistral_lite._bulk.jsonl import BulkInputError, OutputLock, lock_path, state_path
from mistral_lite._table import load_spec
from mistral_lite.cli.app import main as cli_main
from mistral_lite.exceptions import MistralError
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.faults import Fault

ROOT = Path(__file__).resolve().parent.parent


def write_input(path: Path, count: int, start: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(start, start + count):
            handle.write(json.dumps({"custom_id": f"q{n}", "body": body(n)}) + "\n")
    return path


@pytest.fixture
def fake() -> FakeMistral:
    return FakeMistral()


@pytest.fixture
def client(fake: FakeMistral) -> Client:
    return Client("sk-bulk", base_url=fake.inprocess_url, session=fake.session(), retry_delay=lambda n: 0.0)


# --- 1. one output, one run ------------------------------------------------------------------


def test_a_second_run_on_an_output_in_use_is_refused_at_once(tmp_path: Path, fake: FakeMistral,
                                                              client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"custom_id": "q0"}) + "\n")
    held = OutputLock(str(out))  # another run writing this output
    try:
        for resume in (True, False):
            for engine in ("live", "batch"):
                with pytest.raises(BulkRunError, match="another run is writing this output") as caught:
                    client.run_jsonl(source, out, resume=resume, engine=engine)
                assert str(out) in caught.value.message and caught.value.path == str(out)
    finally:
        held.release()
    assert fake.requests == [] and out.read_text() == json.dumps({"custom_id": "q0"}) + "\n"
    client.run_jsonl(source, out)  # free again: the run goes
    assert sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2"]


def test_the_cli_refuses_an_output_in_use_with_exit_2_and_one_line(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    held = OutputLock(str(out))
    try:
        code = cli_main(["--mock", "run", str(source), "-o", str(out)])
    finally:
        held.release()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "another run is writing this output" in err and str(out) in err


def test_the_lock_dies_with_its_process(tmp_path: Path, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[2]);"
         "from mistral_lite._bulk.jsonl import OutputLock; OutputLock(sys.argv[1]); print('locked', flush=True);"
         "time.sleep(60)", str(out), str(ROOT)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"locked\n"
        with pytest.raises(BulkRunError):
            client.run_jsonl(source, out)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    client.run_jsonl(source, out)  # no stale lock after kill -9
    assert len(results(out)) == 2 and os.path.exists(lock_path(str(out)))


# --- 2. cancelling an async batch run --------------------------------------------------------


def test_a_cancelled_async_batch_run_stops_polling_and_a_resume_adopts_its_job(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=3600.0)  # jobs move only when ticked
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    sync = small_batches(fake, inline_max_lines=0)

    def polls() -> int:
        return sum(1 for r in fake.requests if r.operation == "get_batch_job")

    async def cancelled() -> None:
        async with AsyncClient(client=sync) as aclient:
            await asyncio.wait_for(aclient.run_jsonl(source, out, engine="batch"), 0.5)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(cancelled())
    seen = polls()
    assert seen > 0
    time.sleep(1.0)
    assert polls() == seen  # nobody polls any more
    assert len(fake.state.batch_jobs) == 1  # the job stays on the server
    fake.tick()
    fake.tick()

    async def resumed() -> Any:
        async with AsyncClient(client=small_batches(fake, inline_max_lines=0)) as aclient:
            return await aclient.run_jsonl(source, out, engine="batch")

    progress = asyncio.run(resumed())
    assert len([r for r in fake.requests if r.operation == "create_batch_job"]) == 1
    assert sorted(r["custom_id"] for r in results(out)) == ["q0", "q1", "q2"] and progress.succeeded == 3


# --- 3. resume over a changed input ----------------------------------------------------------


def test_resume_over_a_changed_input_is_refused(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out.jsonl"
    client.run_jsonl(source, out)
    kept = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(kept[:2]))  # interrupted after two lines
    source.write_text(source.read_text().replace("question 1", "a new question"))
    fake.requests.clear()
    with pytest.raises(BulkRunError, match="the input changed") as caught:
        client.run_jsonl(source, out)
    assert "resume=False" in caught.value.message and "--no-resume" in caught.value.message
    assert fake.requests == [] and out.read_bytes() == b"".join(kept[:2])
    client.run_jsonl(source, out, resume=False)  # afresh: every line gets its own answer
    answers = {r["custom_id"]: r for r in results(out)}
    assert len(answers) == 4 and len(chat_requests(fake)) == 4
    assert [b["messages"][0]["content"] for b in chat_requests(fake) if b["messages"][0]["content"] ==
            "a new question"] == ["a new question"]


def test_the_cli_refuses_a_changed_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    assert cli_main(["--mock", "run", str(source), "-o", str(out)]) == 0
    write_input(source, 2, start=5)
    capsys.readouterr()
    assert cli_main(["--mock", "run", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the input changed" in err and "--no-resume" in err and err.count("\n") == 1
    assert cli_main(["--mock", "run", str(source), "-o", str(out), "--no-resume"]) == 0


# --- 4. repeated custom_ids ------------------------------------------------------------------


def test_repeated_custom_ids_are_refused_even_with_skip_invalid(tmp_path: Path, fake: FakeMistral,
                                                                client: Client) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"custom_id": cid, "body": body(n)})
                                for n, cid in enumerate(["a", "b", "a", "c"])) + "\n")
    for engine in ("live", "batch"):
        with pytest.raises(BulkInputError) as caught:
            client.run_jsonl(source, tmp_path / "out.jsonl", skip_invalid=True, engine=engine)
        assert caught.value.problems == [(3, "custom_id 'a' repeats line 1")]
        assert "line 3: custom_id 'a' repeats line 1" in caught.value.message
    assert fake.requests == []


# --- 5. the batch merge ----------------------------------------------------------------------


class StubBatchAPI:
    """Just enough of the batch API for the engine, with results the test chooses."""

    def __init__(self, lines: list[bytes], status: str = "SUCCESS") -> None:
        self.lines, self.status = lines, status
        self.calls: list[str] = []
        self.metadata: dict[str, Any] = {}

    def __call__(self, op: str, **options: Any) -> Any:
        self.calls.append(op)
        if op == "upload_file":
            return {"id": "file-in"}
        if op == "create_batch_job":
            self.metadata = options["metadata"]
            return {"id": "job-1", "status": "QUEUED"}
        if op == "get_batch_job":
            return {"id": "job-1", "status": self.status, "output_file": "file-out", "metadata": self.metadata}
        if op == "download_file":
            Path(options["to"]).write_bytes(b"".join(self.lines))
            return None
        raise AssertionError(op)


def run_stub(tmp_path: Path, stub: StubBatchAPI, count: int = 3) -> Any:
    from mistral_lite._bulk.live import prepare
    from mistral_lite._bulk.batch import run_batch_engine

    spec = load_spec()
    source = write_input(tmp_path / "in.jsonl", count)
    prepared = prepare(spec.endpoints, spec, source, tmp_path / "out.jsonl", operation="chat", resume=True,
                       skip_invalid=False, engine="batch")
    defaults = {**spec.defaults, "batch": {"poll_first": 0.0, "poll_max": 0.0, "inline_max_lines": 0}}
    return run_batch_engine(prepared, call=stub, defaults=defaults, model=None, timeout=60.0, on_progress=None)


def result(custom_id: str) -> bytes:
    return json.dumps({"id": f"r-{custom_id}", "custom_id": custom_id,
                       "response": {"status_code": 200, "body": {"ok": custom_id}}, "error": None}).encode() + b"\n"


def test_the_merge_writes_only_the_jobs_own_lines_and_never_counts_past_the_total(tmp_path: Path) -> None:
    stub = StubBatchAPI([result("q0"), result("stranger"), result("q1"), result("q1"), result("q9"), result("q2")])
    progress = run_stub(tmp_path, stub)
    assert [r["custom_id"] for r in results(tmp_path / "out.jsonl")] == ["q0", "q1", "q2"]
    assert (progress.succeeded, progress.failed, progress.done, progress.total) == (3, 0, 3, 3)


def test_a_resume_adopts_only_jobs_with_its_own_run_tag(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    with small_batches(fake) as client:
        with pytest.raises(MistralError, match="still running"):
            client.run_jsonl(source, out, engine="batch", timeout=0.0)
        stranger = client.create_batch_job(endpoint="/v1/chat/completions", metadata={"mistral_lite_run": "other"},
                                           requests=[{"custom_id": "q0", "body": {**body(0), "n": 1}}])
        state_file = Path(state_path(str(out)))
        state = json.loads(state_file.read_text())
        state["jobs"][0]["id"] = stranger["id"]  # the state names a job of another run
        state_file.write_text(json.dumps(state))
        for _ in range(3):
            fake.tick()
        client.run_jsonl(source, out, engine="batch", on_progress=lambda p: fake.tick())
    creates = [r.json for r in fake.requests if r.operation == "create_batch_job"]
    assert len(creates) == 3  # the first, the stranger, and the lines sent again
    assert creates[2]["metadata"]["mistral_lite_run"] == state["run"]
    assert sorted(r["custom_id"] for r in results(out)) == ["q0", "q1"]


# --- 6. damaged files ------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"run": "x", "jobs": [{"chunk": "1"}]}'])
def test_a_damaged_batch_state_names_the_file_and_how_to_start_afresh(tmp_path: Path, content: bytes) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    Path(state_path(str(out))).write_bytes(content)
    with small_batches(fake) as client:
        with pytest.raises(BulkRunError) as caught:
            client.run_jsonl(source, out, engine="batch")
        message = caught.value.message
        assert state_path(str(out)) in message and "resume=False" in message and "--no-resume" in message
        assert fake.requests == []
        client.run_jsonl(source, out, engine="batch", resume=False, on_progress=lambda p: fake.tick())
    assert len(results(out)) == 2


def test_a_result_line_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    stub = StubBatchAPI([result("q0"), b"<html>oops</html>\n"])
    with pytest.raises(BulkRunError, match=r"line 2 of file file-out .*batch job job-1.* is not JSON.*--no-resume"):
        run_stub(tmp_path, stub)


def test_a_result_file_gone_from_the_server_names_it(tmp_path: Path) -> None:
    fake = FakeMistral(batch_step=0.0)
    source = write_input(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    with small_batches(fake, inline_max_lines=0) as client:
        def on_progress(p: Any) -> None:
            fake.tick()
            for job in fake.state.batch_jobs.values():
                if job.data["status"] == "SUCCESS" and job.data["output_file"] in fake.state.files:
                    del fake.state.files[job.data["output_file"]]

        with pytest.raises(BulkRunError, match=r"file .* is gone from the server.*--no-resume") as caught:
            client.run_jsonl(source, out, engine="batch", on_progress=on_progress)
    assert caught.value.path == next(iter(fake.state.batch_jobs.values())).data["output_file"]


# --- 7. AIMD without a configured rate -------------------------------------------------------


def test_without_a_rate_a_429_delays_only_its_own_line(tmp_path: Path, fake: FakeMistral, client: Client) -> None:
    source = write_input(tmp_path / "in.jsonl", 12)
    fake.inject("chat", Fault(status=429, headers={"retry-after": "2"}))
    progress = client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=3)
    sent = [b["messages"][0]["content"] for b in chat_requests(fake)]
    # the refused line (the first sent) goes again last: the others did not wait its Retry-After
    assert sent.count(sent[0]) == 2 and sent[-1] == sent[0]
    assert (progress.succeeded, progress.rate_limited) == (12, 1)


# --- 8. a missing input, a full disk ---------------------------------------------------------


def test_a_missing_input_is_bad_input(tmp_path: Path, client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationError, match=r"missing\.jsonl: No such file"):
        client.run_jsonl(tmp_path / "missing.jsonl", tmp_path / "out.jsonl")
    assert cli_main(["--mock", "run", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_a_full_disk_names_the_output_and_a_resume_continues(tmp_path: Path, fake: FakeMistral, client: Client,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_lite._bulk import jsonl as _bulk_io

    source = write_input(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    real_write = os.write
    writes = {"n": 0}

    def write(fd: int, data: Any) -> int:
        writes["n"] += 1
        if writes["n"] == 5:
            real_write(fd, bytes(data)[:7])  # a torn line, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(_bulk_io.os, "write", write)
    with pytest.raises(MistralError, match="No space left on device") as caught:
        client.run_jsonl(source, out, concurrency=1)
    assert str(out) in caught.value.message and "run again" in caught.value.message
    monkeypatch.setattr(_bulk_io.os, "write", real_write)
    client.run_jsonl(source, out)
    ids = [r["custom_id"] for r in results(out)]
    assert sorted(ids) == sorted(f"q{n}" for n in range(10)) and len(ids) == 10


# --- 9. the async engine reads off the event loop --------------------------------------------


def test_the_async_engine_reads_and_checks_lines_off_the_event_loop(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_lite._bulk import jsonl as _bulk_io

    source = tmp_path / "in.jsonl"
    big = {"custom_id": "big", "body": {"model": MODEL, "messages": [{"role": "user", "content": "x" * 15_000_000}]}}
    source.write_text(json.dumps(big) + "\n" + "".join(json.dumps({"custom_id": f"q{n}", "body": body(n)}) + "\n"
                                                         for n in range(5)))
    parsed_on: list[int] = []
    real_parse = _bulk_io._parse_line

    def parse(number: int, raw: bytes) -> Any:
        parsed_on.append(threading.get_ident())
        return real_parse(number, raw)

    monkeypatch.setattr(_bulk_io, "_parse_line", parse)

    class Answers:
        async def call(self, operation: str, **options: Any) -> Any:
            return {"id": "x", "choices": [], "usage": {"total_tokens": 1}}

    async def run() -> tuple[int, float]:
        loop_thread = threading.get_ident()
        gaps: list[float] = []
        done = asyncio.Event()

        async def watch() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        from mistral_lite._bulk.aio import run_live_async

        watcher = asyncio.ensure_future(watch())
        await run_live_async(Answers(), source, tmp_path / "out.jsonl", operation="chat", concurrency=4,
                             requests_per_minute=None, tokens_per_minute=None, resume=False, skip_invalid=False,
                             on_progress=None)
        done.set()
        await watcher
        return loop_thread, max(gaps)

    loop_thread, _ = asyncio.run(run())
    assert parsed_on and loop_thread not in parsed_on
    assert sorted(r["custom_id"] for r in results(tmp_path / "out.jsonl")) == ["big", "q0", "q1", "q2", "q3", "q4"]


# --- 21. every argument checked before any I/O -----------------------------------------------


BAD_ARGUMENTS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    ((123, "out.jsonl"), {}, "input"),
    (("in.jsonl", None), {}, "output"),
    (("in.jsonl", "out.jsonl"), {"operation": 5}, "operation"),
    (("in.jsonl", "out.jsonl"), {"concurrency": True}, "concurrency"),
    (("in.jsonl", "out.jsonl"), {"resume": "yes"}, "resume"),
    (("in.jsonl", "out.jsonl"), {"timeout": -1}, "timeout"),
    (("in.jsonl", "out.jsonl"), {"on_progress": 3}, "on_progress"),
    (("in.jsonl", "out.jsonl"), {"requests_per_minute": float("nan")}, "requests_per_minute"),
]


@pytest.mark.parametrize(("args", "options", "path"), BAD_ARGUMENTS)
def test_run_jsonl_arguments_are_validation_errors_before_any_io(
    tmp_path: Path, fake: FakeMistral, client: Client, args: tuple[Any, ...], options: dict[str, Any], path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_input(tmp_path / "in.jsonl", 1)
    with pytest.raises(ValidationError) as caught:
        client.run_jsonl(*args, **options)
    assert [p for p, _ in caught.value.errors] == [path]

    async def run() -> None:
        async with AsyncClient(client=client) as aclient:
            await aclient.run_jsonl(*args, **options)

    with pytest.raises(ValidationError) as caught:
        asyncio.run(run())
    assert [p for p, _ in caught.value.errors] == [path]
    assert fake.requests == [] and sorted(os.listdir(tmp_path)) == ["in.jsonl"]


def test_every_bad_argument_is_reported_at_once(client: Client) -> None:
    with pytest.raises(ValidationError) as caught:
        client.run_jsonl(123, None, operation=5, engine="x", concurrency=0)  # type: ignore[arg-type]
    assert [p for p, _ in caught.value.errors] == ["input", "output", "operation", "engine", "concurrency"]
