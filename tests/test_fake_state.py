"""The fake's state on disk (``--state DIR`` / ``--mock-state DIR``) and ``--mock`` against a running fake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_lite import Client, NotFoundError
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.persist import decode, encode
from mistral_lite.fake.state import Job, StoredFile

ROOT = Path(__file__).resolve().parent.parent


def test_encoding_round_trips_what_json_lacks() -> None:
    value = {"bytes": b"\x00\xffdata", "tuple": ("a", 1), "ints": {1: "one", 2: "two"}, "inf": float("inf"),
             "set": {"x"}, "nested": [Job(data={"id": "j"}, due=float("inf"), extra={"k": (1, 2)})],
             "file": StoredFile("f", "a.txt", b"hi", "batch", 1, "batch_request"), "__fake__": "a key like a tag"}
    text = json.dumps(encode(value))
    assert decode(json.loads(text)) == value
    with pytest.raises(TypeError, match="cannot save a object"):
        encode(object())


def test_a_fake_with_a_state_dir_keeps_every_resource(tmp_path: Path) -> None:
    with FakeMistral(state_dir=tmp_path) as fake:
        client = Client("k", base_url=fake.url)
        uploaded = client.upload_file(file=("notes.jsonl", b'{"a": 1}\n'), purpose="batch")
        agent = client.create_agent(model="mistral-small-latest", name="helper")
        client.update_agent(agent["id"], description="v2")
        conversation = client.create_conversation(inputs="hi", model="mistral-small-latest")
        library = client.create_library(name="docs")
        fake.add_model("my-model", ["chat"])
    assert (tmp_path / "state.json").is_file()
    with FakeMistral(state_dir=tmp_path) as fake:
        client = Client("k", base_url=fake.url)
        assert client.download_file(uploaded["id"]) == b'{"a": 1}\n'
        assert client.get_agent(agent["id"])["description"] == "v2"
        assert sorted(v["version"] for v in client.list_agent_versions(agent["id"])) == [0, 1]
        assert client.get_conversation_history(conversation["conversation_id"])["entries"]
        assert client.get_library(library["id"])["name"] == "docs"
        assert client.chat(model="my-model", messages=[{"role": "user", "content": "x"}])["model"] == "my-model"
        fake.reset()
    with FakeMistral(state_dir=tmp_path) as fake, pytest.raises(NotFoundError):
        Client("k", base_url=fake.url).get_file(uploaded["id"])


def test_mock_state_keeps_uploads_across_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"x": 1}\n')
    state = tmp_path / "state"
    assert main(["--mock-state", str(state), "upload", str(source), "--purpose", "batch"]) == 0
    file_id = json.loads(capsys.readouterr().out)["id"]
    target = tmp_path / "out.jsonl"
    assert main(["--mock-state", str(state), "download", file_id, "-o", str(target)]) == 0
    assert target.read_bytes() == b'{"x": 1}\n'
    assert main(["--mock", "download", file_id]) == 1  # a fresh in-process fake has no such file
    assert "not found" in capsys.readouterr().err


def _start_server(state: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "mistral_lite", "fake-server", "--port", "0", "--state",
                             str(state), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("FakeMistral listening on http://127.0.0.1:"), first
    url = first.split()[3]
    banner = [proc.stdout.readline() for _ in range(4)]
    assert "any key works" in banner[0] and f"export MISTRAL_BASE_URL={url}" in banner[1]
    assert banner[3].strip() == f"State kept in {state / 'state.json'}"
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    return err


def test_fake_server_state_and_mock_through_base_url(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"y": 2}\n')
    state = tmp_path / "state"
    proc, url = _start_server(state, "-v")
    try:
        monkeypatch.setenv("MISTRAL_BASE_URL", url)
        assert main(["--mock", "upload", str(source)]) == 0
        file_id = json.loads(capsys.readouterr().out)["id"]
        assert main(["--mock", "download", file_id]) == 0
        assert capsys.readouterr().out == '{"y": 2}\n'
    finally:
        err = _stop(proc)
    assert "fake-server: POST /v1/files -> 200" in err and f"fake-server: GET /v1/files/{file_id}/content -> 200" in err
    proc, url = _start_server(state)  # a restart keeps the upload
    try:
        assert Client("any", base_url=url).download_file(file_id) == b'{"y": 2}\n'
    finally:
        assert "fake-server:" not in _stop(proc)  # quiet without -v


def test_mock_ignores_a_base_url_that_is_not_loopback(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_BASE_URL", "https://api.mistral.ai")
    assert main(["--mock", "-v", "models", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "fake server at http://127.0.0.1:" in err and json.loads(out.splitlines()[0])["id"]
