"""The command line under hostile input: bad values are one line and exit 2, server strings are
shown without terminal control characters, times are ISO 8601 UTC, and --mock keeps the key home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_lite.cli.base import clean
from mistral_lite.cli.shortcuts import iso_time
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral

ROOT = Path(__file__).resolve().parent.parent
HI = '[{"role": "user", "content": "Hi"}]'
#: A name carrying the escapes a hostile server could send: clear screen, a window title, red, a bell.
HOSTILE = "bad\x1b[2J\x1b]0;pwned\x07name\x9b31m\x07\r\x00x"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv: str, stdin: int | None = None, close_stdin: bool = False, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "mistral_lite", *argv], stdin=stdin, capture_output=True,
                          text=True, env=environ, timeout=60, check=False,
                          preexec_fn=(lambda: os.close(0)) if close_stdin else None)


def one_line_usage_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def served(fake_mistral: FakeMistral) -> tuple[str, ...]:
    return ("--base-url", fake_mistral.url, "--api-key", "any-key")


# --- bad input: one line, exit 2, nothing sent ---------------------------------------------------


def test_an_integer_of_5000_digits_is_a_usage_error(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                                     served: tuple[str, ...]) -> None:
    digits = "9" * 5000
    for pair in (f"max_tokens={digits}", f"max_tokens:={digits}", f"temperature={digits}"):
        code, _, err = run(capsys, *served, "call", "chat", "model=mistral-small-latest", f"messages:={HI}", pair)
        line = one_line_usage_error(code, err)
        assert ("max_tokens" in line or "temperature" in line) and len(line) < 400
    code, _, err = run(capsys, *served, "chat", "hi", f"max_tokens={digits}")
    one_line_usage_error(code, err)
    assert not [r for r in fake_mistral.requests if r.operation == "chat"]


def test_json_nested_3000_deep_is_a_usage_error(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                                 served: tuple[str, ...], tmp_path: Path) -> None:
    deep = "[" * 3000 + "]" * 3000
    code, _, err = run(capsys, *served, "call", "chat", "model=mistral-small-latest", f"messages:={deep}")
    assert "nested too deeply" in one_line_usage_error(code, err)
    body = tmp_path / "body.json"
    body.write_text('{"model": "mistral-small-latest", "messages": ' + deep + "}")
    code, _, err = run(capsys, *served, "call", "chat", "-d", f"@{body}")
    assert "nested too deeply" in one_line_usage_error(code, err)
    assert not fake_mistral.requests


@pytest.mark.parametrize("argv", [("call", "chat", "-d", "-"), ("chat",), ("chat", "-"),
                                  ("conversation", "start", "-"), ("embed", "-"), ("embed", "-f", "-")])
def test_reading_a_closed_stdin_is_a_usage_error(argv: tuple[str, ...]) -> None:
    done = cli("--mock", *argv, close_stdin=True)
    assert "stdin is closed" in one_line_usage_error(done.returncode, done.stderr)


@pytest.mark.parametrize(("content", "says"), [
    (b'{"body": {"model": "mistral-small-latest", "messages": []}}\n\xff\xfe\n', "a.jsonl:2: not UTF-8"),
    (b'{"body": 5}\n', "a.jsonl:1: `body` must be a JSON object, got int"),
    (b'{"body": null}\n', "a.jsonl:1: `body` must be a JSON object, got NoneType"),
    (b"[" * 3000 + b"]" * 3000 + b"\n", "a.jsonl:1: not JSON: nested too deeply"),
])
def test_a_bad_batch_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                            served: tuple[str, ...], tmp_path: Path, content: bytes,
                                            says: str) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(content)
    for command in (("batch", "run", str(source)), ("batch", "run", str(source), "-m", "mistral-small-latest")):
        code, _, err = run(capsys, *served, *command)
        assert says in one_line_usage_error(code, err)
    assert not fake_mistral.requests


def test_the_run_command_names_a_bad_batch_input(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                                 served: tuple[str, ...], tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    for content in (b'\xff\xfe\n', b'{"body": 5}\n', b'{"body": 5}\n\xff\n' * 4):
        source.write_bytes(content)
        code, _, err = run(capsys, *served, "run", str(source), "-o", str(tmp_path / "out.jsonl"))
        line = one_line_usage_error(code, err)
        assert "line 1: " in line and "nothing was sent" in line and "--skip-invalid" in line
    assert "8 bad lines" in line and "; and 3 more" in line
    assert not fake_mistral.requests


# --- what a server says, shown safely --------------------------------------------------------------


def test_clean_strips_escape_sequences_and_control_characters() -> None:
    assert clean(HOSTILE) == "badnamex"
    assert clean("a\tb\nc\x1b[1;31md\x1b(B") == "a\tb\ncd"
    assert clean("a\tb\nc", newlines=False) == "a b c"
    assert clean("ünïcode ✓") == "ünïcode ✓"


def test_listings_strip_terminal_control_characters(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                                   served: tuple[str, ...]) -> None:
    fake_mistral.state.add_file(HOSTILE + ".jsonl", b"{}\n", "batch")
    code, out, _ = run(capsys, *served, "ls", "files")
    assert code == 0 and "badnamex.jsonl" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\r\x00")
    fake_mistral.add_model(HOSTILE, ["chat"])
    code, out, _ = run(capsys, *served, "models")
    assert code == 0 and "badnamex" in out and not any(ch in out for ch in "\x1b\x07\x9b\r\x00")
    code, out, _ = run(capsys, *served, "ls", "files", "--json")  # --json keeps the server's exact value
    assert json.loads(out.splitlines()[0])["filename"] == HOSTILE + ".jsonl"


def test_an_error_message_is_shown_without_control_characters(capsys: pytest.CaptureFixture[str],
                                                               fake_mistral: FakeMistral,
                                                               served: tuple[str, ...]) -> None:
    from mistral_lite.fake import Fault

    fake_mistral.inject("list_models", Fault(status=400, body={"message": HOSTILE, "type": "x", "code": "1"}))
    code, _, err = run(capsys, *served, "models")
    assert code == 1 and "badnamex" in err and not any(ch in err for ch in "\x1b\x07\x9b\r\x00")


# --- times ---------------------------------------------------------------------------------------


def test_iso_time_reads_epochs_and_offsets() -> None:
    assert iso_time(1796641200) == "2026-12-07T11:00:00Z"
    assert iso_time(1796641200.75) == "2026-12-07T11:00:00Z"
    assert iso_time("2026-12-07T12:00:00+01:00") == "2026-12-07T11:00:00Z"
    assert iso_time("2026-12-07T11:00:00.123456Z") == "2026-12-07T11:00:00Z"
    assert iso_time("soon") == "soon" and iso_time(10**30) == str(10**30)


def test_listings_print_times_in_iso_8601_utc(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                              served: tuple[str, ...]) -> None:
    stored = fake_mistral.state.add_file("a.jsonl", b"{}\n", "batch")
    stored.created_at = 1796641200
    code, out, _ = run(capsys, *served, "ls", "files")
    header, row = out.splitlines()
    assert code == 0 and "CREATED_AT" in header.split()
    assert "2026-12-07T11:00:00Z" in row.split() and "1796641200" not in out
    code, out, _ = run(capsys, *served, "ls", "files", "--json")
    assert json.loads(out)["created_at"] == 1796641200  # --json keeps the raw value
    code, out, _ = run(capsys, *served, "ls", "models")
    assert code == 0 and "CREATED" in out.splitlines()[0].split()
    assert all(line.split()[-1].endswith("Z") for line in out.splitlines()[1:])


# --- --mock keeps the real key home ---------------------------------------------------------------

REAL_KEY = "sk-real-0123456789abcdef"


def test_mock_never_sends_the_real_key_to_a_loopback_fake(capsys: pytest.CaptureFixture[str],
                                                          fake_mistral: FakeMistral,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", REAL_KEY)
    for url in (fake_mistral.url, fake_mistral.url.replace("127.0.0.1", "localhost")):
        monkeypatch.setenv("MISTRAL_BASE_URL", url)
        code, _, err = run(capsys, "--mock", "models")
        assert code == 0, err
    sent = [r.headers.get("authorization", "") for r in fake_mistral.requests]
    assert len(sent) == 2 and all(REAL_KEY not in value for value in sent)
    assert sent == ["Bearer mock-key"] * 2
    code, _, _ = run(capsys, "--mock", "--api-key", "chosen", "models")  # a key given on purpose is sent
    assert code == 0 and fake_mistral.requests[-1].headers["authorization"] == "Bearer chosen"


@pytest.mark.parametrize("url", ["http://127.0.0.1.example.invalid:8000", "https://api.mistral.ai",
                                 "http://[::1]:notaport", "ftp://127.0.0.1:21"])
def test_mock_serves_itself_when_the_base_url_is_no_loopback_server(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    url: str) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", REAL_KEY)
    monkeypatch.setenv("MISTRAL_BASE_URL", url)
    seen: list[str] = []
    real_init = FakeMistral.__init__

    def spy(self: FakeMistral, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append("embedded")

    monkeypatch.setattr(FakeMistral, "__init__", spy)
    code, out, err = run(capsys, "--mock", "-v", "models")
    assert code == 0, err
    assert seen == ["embedded"] and "mistral-small-latest" in out and url not in err
    assert REAL_KEY not in out + err
