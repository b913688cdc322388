"""The README's Python examples run as written, against the fake server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mistral_lite.fake import FakeMistral
from mistral_lite._dev.testing import make_client

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def section(title: str) -> str:
    start = README.index(title)
    return next(b for b in BLOCKS if README.index(b) > start)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    with FakeMistral(batch_step=0) as server:
        monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
        monkeypatch.setenv("MISTRAL_BASE_URL", server.url)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "train.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
        yield server


def test_quickstart_runs(fake: FakeMistral, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(section("## Quickstart"), "README quickstart", "exec"), {})
    out = capsys.readouterr().out
    assert "Echo: Write a haiku about tables." in out
    assert "invalid options for chat (2 problems)" in out and "temprature: unknown option" in out
    assert (Path.cwd() / "copy.jsonl").read_bytes() == (Path.cwd() / "train.jsonl").read_bytes()


def test_typed_code_runs(fake: FakeMistral, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(section("## Typed code"), "README types", "exec"), namespace)
    history = namespace["history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert history[-1]["content"] == "Echo: And a row?"
    assert capsys.readouterr().out.splitlines()[-1] == "mistral-small-latest"


def test_beyond_single_calls_runs(fake: FakeMistral, capsys: pytest.CaptureFixture[str]) -> None:
    from mistral_lite import Client

    client = make_client(sleep=lambda s: fake.tick())
    job = client.run_batch([{"input": "x"}], endpoint="/v1/embeddings", model="mistral-embed", wait=False)
    namespace = {"client": client, "job_id": job["id"], "questions": ["q1", "q2"],
                 "conversations": [[{"role": "user", "content": "hello"}]]}
    exec(compile(section("## Beyond single calls"), "README workflows", "exec"), namespace)
    assert [r["custom_id"] for r in namespace["results"]] == ["0", "1"]
    assert namespace["future"].result()["data"][0]["embedding"]
    assert len(namespace["vectors"]) == 2000 and namespace["vectors"][0] == client.embed(input=["text 0"])[
        "data"][0]["embedding"]
    assert namespace["answers"][0]["choices"][0]["message"]["content"] == "Echo: hello"
    assert "SUCCESS" in capsys.readouterr().out


def test_bulk_runs_runs(fake: FakeMistral, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mistral_lite import Client

    with open("questions.jsonl", "w", encoding="utf-8") as handle:
        for n in range(3):
            body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": f"q{n}"}]}
            handle.write(json.dumps({"custom_id": f"q{n}", "body": body}) + "\n")
    ticking = {"batch": {"max_lines": 1000000, "max_bytes": 512000000, "poll_first": 0.01, "poll_max": 0.01}}
    spec = Client("k")._spec
    client = make_client(sleep=lambda s: fake.tick(), spec=spec.replace(defaults={**spec.defaults, **ticking}))
    namespace = {"client": client}
    exec(compile(section("## Bulk runs"), "README bulk runs", "exec"), namespace)
    assert "3 0 {}" in capsys.readouterr().out
    for name in ("answers.jsonl", "batch-answers.jsonl"):
        lines = [json.loads(line) for line in Path(name).read_text().splitlines()]
        assert sorted(line["custom_id"] for line in lines) == ["q0", "q1", "q2"]


def test_what_the_server_said_runs(fake: FakeMistral, capsys: pytest.CaptureFixture[str]) -> None:
    from mistral_lite import Client

    start = README.index("## What the server said")
    end = README.index("\n## ", start + 1)
    blocks = [b for b in BLOCKS if start < README.index(b) < end]
    assert len(blocks) == 3
    namespace: dict[str, Any] = {"client": Client()}
    for number, block in enumerate(blocks):
        exec(compile(block, f"README what the server said {number}", "exec"), namespace)
    raw, usage = namespace["raw"], namespace["usage"]
    assert raw.status_code == 200 and raw.attempts == 1 and raw.request_id
    assert raw.parse()["choices"][0]["message"]["content"] == "Echo: Hi"
    assert (usage.requests, usage.failed, usage.retries) == (3, 0, 0)
    assert sorted(usage.by_model) == ["mistral-embed", "mistral-small-latest"]
    assert usage.by_model["mistral-small-latest"].total_tokens == 6 and usage.cost(namespace["PRICES"]) > 0
