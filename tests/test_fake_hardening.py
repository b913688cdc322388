"""The fake under hostile input: state files name only the fake's records, a corrupt one is one
line, writers sharing a state directory lose nothing, bodies without the key are never read, and
a bad Content-Length is a 400."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mistral_lite import Client
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.persist import decode

ROOT = Path(__file__).resolve().parent.parent


def cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "mistral_lite", *argv], capture_output=True, text=True,
                          env=environ, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def state_file(directory: Path, state: object) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_text(json.dumps({"format": 1, "state": state}), encoding="utf-8")


# --- state files -------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"format": 99, "state": {}}', "\udcff",
                                     '{"format": 1, "state": {"files": {"x": {"__fake__": "bytes", "value": 5}}}}',
                                     '{"format": 1, "state": {"files": {"x": {"__fake__": "nope"}}}}'])
def test_a_corrupt_state_file_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     content: str) -> None:
    (tmp_path / "state.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=r"state\.json") as info:
        FakeMistral(state_dir=tmp_path)
    assert "\n" not in str(info.value)
    code = main(["--mock-state", str(tmp_path), "models"])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "state.json" in err and ("not a state file of this fake" in err or "cannot read" in err)


def test_fake_server_with_a_corrupt_state_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{oops", encoding="utf-8")
    done = cli("fake-server", "--port", "0", "--state", str(tmp_path), timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "state.json" in done.stderr


@pytest.mark.parametrize("name", ["mistral_lite.fake.state:iso_now", "mistral_lite.fake.server:FakeMistral",
                                  "mistral_lite.fake.state:State", "os:system"])
def test_a_state_file_names_only_the_fakes_records(tmp_path: Path, name: str) -> None:
    tagged = {"__fake__": "dataclass", "type": name, "value": {}}
    with pytest.raises(ValueError, match="refusing to load"):
        decode(tagged)
    state_file(tmp_path, {"files": {"x": tagged}})
    with pytest.raises(ValueError, match="refusing to load"):
        FakeMistral(state_dir=tmp_path)


def test_a_state_file_naming_the_server_does_not_start_one(tmp_path: Path) -> None:
    state_file(tmp_path / "st", {"files": {"x": {"__fake__": "dataclass", "type": "mistral_lite.fake.server:run",
                                                 "value": {"port": 0}}}})
    done = cli("--mock-state", str(tmp_path / "st"), "models", timeout=30)  # before the fix: a server, until killed
    assert done.returncode == 2 and "refusing to load" in done.stderr and "FakeMistral listening" not in done.stdout
    done = cli("fake-server", "--port", "0", "--state", str(tmp_path / "st"), timeout=30)
    assert done.returncode == 2 and "refusing to load" in done.stderr
    assert done.stdout.count("FakeMistral listening") == 0


def test_a_record_with_foreign_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="other fields"):
        decode({"__fake__": "dataclass", "type": "mistral_lite.fake.state:Job",
                "value": {"data": {}, "due": 1.0, "evil": 1}})


# --- several writers -----------------------------------------------------------------------------


def test_eight_concurrent_mock_state_uploads_leave_eight_files(tmp_path: Path) -> None:
    state = tmp_path / "st"
    sources = []
    for i in range(8):
        source = tmp_path / f"f{i}.jsonl"
        source.write_text(f'{{"n": {i}}}\n', encoding="utf-8")
        sources.append(source)
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda s: cli("--mock-state", str(state), "upload", str(s), "--purpose", "batch"),
                             sources))
    assert [d.returncode for d in done] == [0] * 8, [d.stderr for d in done]
    ids = {json.loads(d.stdout)["id"] for d in done}
    with FakeMistral(state_dir=state) as fake:
        files = fake.state.files
        assert set(files) == ids and len(files) == 8
        assert sorted(f.filename for f in files.values()) == [f"f{i}.jsonl" for i in range(8)]


def test_writers_merge_changes_and_deletions(tmp_path: Path) -> None:
    one, two = FakeMistral(state_dir=tmp_path).start(), FakeMistral(state_dir=tmp_path).start()
    try:
        a, b = Client("k", base_url=one.url), Client("k", base_url=two.url)
        kept = a.upload_file(file=("kept.txt", b"1"), purpose="batch")["id"]
        gone = a.upload_file(file=("gone.txt", b"2"), purpose="batch")["id"]
        b.upload_file(file=("other.txt", b"3"), purpose="batch")  # two saw none of one's: it merges
        assert set(two.state.files) >= {kept, gone}
        a.delete_file(gone)  # one deletes, and sees two's file after its save
        agent = b.create_agent(model="mistral-small-latest", name="x")
        b.update_agent(agent["id"], name="y")
        a.get_file(kept)
    finally:
        one.stop()
        two.stop()
    with FakeMistral(state_dir=tmp_path) as fake:
        assert sorted(f.filename for f in fake.state.files.values()) == ["kept.txt", "other.txt"]
        assert [r.versions[r.current]["name"] for r in fake.state.agents.values()] == ["y"]


# --- the wire ------------------------------------------------------------------------------------


def raw_exchange(fake: FakeMistral, head: bytes, timeout: float = 5.0) -> bytes:
    """Send ``head`` (and no body) and read what the fake answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", fake.port), timeout=timeout) as sock:
        sock.sendall(head)
        data = b""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                block = sock.recv(65536)
            except TimeoutError:
                break
            if not block:
                break
            data += block
            if b"\r\n\r\n" in data:
                length = int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0]) if b"Content-Length" in data else 0
                if len(data.split(b"\r\n\r\n", 1)[1]) >= length:
                    break
        return data


def test_a_body_without_the_key_is_not_read_before_the_401(fake_mistral: FakeMistral) -> None:
    head = (b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    started = time.monotonic()
    answer = raw_exchange(fake_mistral, head)  # before the fix: the fake waits for a gigabyte
    assert answer.startswith(b"HTTP/1.1 401"), answer[:100]
    assert b"Connection: close" in answer and time.monotonic() - started < 5
    assert fake_mistral.requests[-1].body == b""
    chunked = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_exchange(fake_mistral, chunked).startswith(b"HTTP/1.1 401")


def test_a_wrong_key_still_gets_a_401_from_the_client(fake_mistral: FakeMistral) -> None:
    from mistral_lite import AuthenticationError

    fake_mistral.api_key = "right"
    with Client("wrong", base_url=fake_mistral.url, max_retries=0) as client:
        for _ in range(3):  # a fresh connection each time; the client reads the 401, no reset
            with pytest.raises(AuthenticationError):
                client.upload_file(file=("a.txt", b"x" * 300_000), purpose="batch")
            with pytest.raises(AuthenticationError):
                client.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("value", [b"abc", b"-5", b"+5", b"1e3", b"5, 6", b"99999999999999999999999"])
def test_a_bad_content_length_is_a_400(fake_mistral: FakeMistral, value: bytes) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + value + b"\r\n\r\n")
    answer = raw_exchange(fake_mistral, head)  # before the fix: a traceback and a dropped connection
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert b"Content-Length" in answer.split(b"\r\n\r\n", 1)[1]


def test_two_differing_content_lengths_are_a_400(fake_mistral: FakeMistral) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    assert raw_exchange(fake_mistral, head).startswith(b"HTTP/1.1 400")
