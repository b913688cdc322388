"""The bulk commands: ``mistral-lite run`` and ``mistral-lite batch list|status|results|cancel``;
``run_batch`` checking bodies and backing off its polls."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mistral_lite import Client
from mistral_lite._bulk.live import BulkProgress
from mistral_lite._bulk.jsonl import BulkInputError
from mistral_lite.cli.bulk import Reporter, summary
from mistral_lite._dev.testing import make_client
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.faults import Fault

MODEL = "mistral-small-latest"
KEY = "sk-cli-bulk"


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(batch_step=0.0) as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], fake: FakeMistral, *argv: str) -> tuple[int, str, str]:
    code = main(["--api-key", KEY, "--base-url", fake.url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_input(path: Path, count: int) -> Path:
    path.write_text("".join(
        json.dumps({"custom_id": f"c{n}", "body": {"model": MODEL, "messages": [{"role": "user", "content": f"m{n}"}]}})
        + "\n" for n in range(count)))
    return path


def ids(path: Path) -> list[str]:
    return sorted(json.loads(line)["custom_id"] for line in path.read_text().splitlines())


def test_run_succeeds_with_exit_0_and_a_summary(capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                                                tmp_path: Path) -> None:
    source, out = write_input(tmp_path / "in.jsonl", 12), tmp_path / "out.jsonl"
    code, stdout, err = run(capsys, fake, "run", str(source), "-o", str(out), "--concurrency", "3", "--rpm", "6000")
    assert code == 0, err
    assert ids(out) == sorted(f"c{n}" for n in range(12))
    assert "12 lines: 12 succeeded, 0 failed in" in err
    assert "progress: " in err  # stderr is not a terminal: plain lines
    assert stdout == ""
    code, _, err = run(capsys, fake, "run", str(source), "-o", str(out))  # resumed: nothing left to send
    assert code == 0 and "12 already in" in err and len([r for r in fake.requests if r.operation == "chat"]) == 12


def test_run_exits_1_when_some_lines_failed(capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                                            tmp_path: Path) -> None:
    source, out = write_input(tmp_path / "in.jsonl", 4), tmp_path / "out.jsonl"
    fake.inject("chat", Fault(status=400), Fault(status=422))
    code, _, err = run(capsys, fake, "run", str(source), "-o", str(out), "--concurrency", "1")
    assert code == 1
    assert "4 lines: 2 succeeded, 2 failed (400: 1, 422: 1)" in err
    assert ids(out) == ["c0", "c1", "c2", "c3"]


def test_run_exits_2_on_bad_input_naming_the_lines(capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                                                   tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    source.write_text(source.read_text() + "not json\n" + json.dumps({"body": {"model": MODEL}}) + "\n")
    code, _, err = run(capsys, fake, "run", str(source), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2
    assert "line 4: not JSON" in err and "line 5: messages" in err and "--skip-invalid" in err
    assert fake.requests == []
    code, _, err = run(capsys, fake, "run", str(source), "-o", str(tmp_path / "out.jsonl"), "--skip-invalid")
    assert code == 1 and "3 succeeded, 2 failed (invalid: 2)" in err


def test_run_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], fake: FakeMistral, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 1)
    for extra in (["--concurrency", "0"], ["--rpm", "-1"], ["--engine", "fast"]):
        code, _, err = run(capsys, fake, "run", str(source), "-o", str(tmp_path / "o.jsonl"), *extra)
        assert code == 2, extra
    code, _, err = run(capsys, fake, "run", str(source))
    assert code == 2 and "-o/--output" in err


def test_run_through_the_batch_engine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source, out = write_input(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl"
    code = main(["--mock", "run", str(source), "-o", str(out), "--engine", "batch"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert ids(out) == [f"c{n}" for n in range(5)]


def make_job(fake: FakeMistral, count: int = 2) -> str:
    client = Client(KEY, base_url=fake.url)
    job = client.run_batch([{"custom_id": f"j{n}", "body": {"messages": [{"role": "user", "content": "x"}]}}
                            for n in range(count)], model=MODEL, wait=False)
    return str(job["id"])


def test_batch_list_status_cancel(capsys: pytest.CaptureFixture[str], fake: FakeMistral) -> None:
    first, second = make_job(fake), make_job(fake)
    code, out, _ = run(capsys, fake, "batch", "list")
    assert code == 0
    rows = out.splitlines()
    assert {row.split()[0] for row in rows} == {first, second}
    assert all("QUEUED" in row and "0/2" in row and "/v1/chat/completions" in row for row in rows)
    code, out, _ = run(capsys, fake, "batch", "status", first)
    assert code == 0 and json.loads(out)["id"] == first
    code, out, _ = run(capsys, fake, "batch", "cancel", first)
    assert code == 0 and json.loads(out)["status"] == "CANCELLATION_REQUESTED"
    code, _, err = run(capsys, fake, "batch", "status", "00000000-0000-4000-8000-00000000abcd")
    assert code == 1 and "404" in err


def test_batch_results_writes_output_and_errors(capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                                                tmp_path: Path) -> None:
    job_id = make_job(fake, 3)
    out = tmp_path / "results.jsonl"
    code, _, err = run(capsys, fake, "batch", "results", job_id, "-o", str(out))
    assert code == 2 and "QUEUED" in err and not out.exists()  # not finished yet
    fake.tick()
    fake.tick()
    code, _, err = run(capsys, fake, "batch", "results", job_id, "-o", str(out))
    assert code == 0, err
    assert ids(out) == ["j0", "j1", "j2"] and "3 succeeded, 0 failed" in err


def test_reporter_draws_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    now = [0.0]
    progress = BulkProgress(total=10, skipped=2, output="o.jsonl")
    tty, plain = io.StringIO(), io.StringIO()
    bar = Reporter(tty, True, clock=lambda: now[0])
    lines = Reporter(plain, False, clock=lambda: now[0], every=10.0)
    for step in range(6):
        progress.count(None if step else "500")
        now[0] += 3.0
        bar(progress)
        lines(progress)
    assert tty.getvalue().count("\r[") == 6
    bar.close()
    assert tty.getvalue().endswith("\n")
    assert "80%" in tty.getvalue() and "8/10 done, 1 failed" in tty.getvalue()
    assert plain.getvalue().count("progress: ") == 2  # every 10 s of 18
    progress.in_jobs = 7
    now[0] += 1.0
    bar(progress)
    assert "(+7 in batch jobs)" in tty.getvalue().rsplit("\r", 1)[-1]
    progress.elapsed = 3.25
    assert summary(progress) == "10 lines: 5 succeeded, 1 failed (500: 1) in 3.2 s; 2 already in o.jsonl"


def test_run_batch_checks_bodies_before_uploading(fake: FakeMistral) -> None:
    client = Client(KEY, base_url=fake.url)
    with pytest.raises(BulkInputError) as caught:
        client.run_batch([{"messages": [{"role": "user", "content": "ok"}]}, {"messages": "nope"},
                          {"custom_id": "x", "body": {"messages": [], "temperature": "warm"}}], model=MODEL)
    assert sorted({number for number, _ in caught.value.problems}) == [2, 3]
    assert fake.requests == []


def test_run_batch_polls_soon_then_backs_off(fake: FakeMistral) -> None:
    sleeps: list[float] = []
    polls: list[Any] = []
    client: Client = make_client(KEY, base_url=fake.url, sleep=sleeps.append)

    def on_progress(job: Any) -> None:
        polls.append(job["status"])
        if len(polls) == 5:
            fake.tick()
            fake.tick()

    results = client.run_batch([{"messages": [{"role": "user", "content": "hi"}]}], model=MODEL,
                               on_progress=on_progress)
    assert results[0]["status_code"] == 200
    assert sleeps == [1.0, 1.5, 2.25, 3.375, 5.0625]  # from [defaults.batch]: 1 s, then 1.5 times longer
    assert polls == ["QUEUED"] * 5 + ["SUCCESS"]
