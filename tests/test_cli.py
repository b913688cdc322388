"""The ``mistral-lite`` command line: in-process through ``main([...])``, plus a few subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mistral_lite._table import load_spec
from mistral_lite.cli.app import main, parse_params
from mistral_lite.fake import FakeMistral

ROOT = Path(__file__).resolve().parent.parent
MISSING_FILE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HI = '[{"role": "user", "content": "Hi there"}]'


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def cli(*argv: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "mistral_lite", *argv], input=stdin, capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


# --- ops ---------------------------------------------------------------------------------------


def test_ops_lists_every_operation_by_group_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ops")
    assert code == 0
    lines = out.splitlines()
    groups = [line for line in lines if not line.startswith(" ")]
    rows = [line[2:] for line in lines if line.startswith("  ")]
    spec = load_spec()
    assert len(rows) == len(spec.endpoints) >= 284
    assert groups == sorted(groups) == sorted({ep.group for ep in spec.endpoints.values()})
    assert "audio.voices" in groups and "workflows.executions" in groups and "beta.admin.users" in groups
    names = [row.split()[0] for row in rows]
    assert sorted(names) == sorted(spec.endpoints) and "chat" in names and "upload_file" in names
    summary_columns = {len(row) - len(row[len(name):].lstrip()) for row, name in zip(rows, names)}
    assert len(summary_columns) == 1  # every summary starts in the same column
    at = lines.index("audio.voices")
    assert [line.split()[0] for line in lines[at + 1:at + 7]] == sorted(
        ep.name for ep in spec.endpoints.values() if ep.group == "audio.voices")
    assert any(line.split()[0] == "list_agents" and line.endswith("(deprecated)") for line in lines)


def test_ops_group_keeps_a_group_and_its_subgroups(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ops", "--group", "workflows")
    assert code == 0
    groups = [line for line in out.splitlines() if not line.startswith(" ")]
    assert groups == ["workflows", "workflows.deployments", "workflows.executions", "workflows.metrics",
                      "workflows.runs", "workflows.schedules"]
    code, _, err = run(capsys, "ops", "--group", "nope")
    assert code == 2 and "no group starts with 'nope'" in err and "audio.voices" in err


def test_ops_name_shows_route_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ops", "embed")
    assert code == 0
    assert "POST /v1/embeddings" in out
    assert "input (str | Sequence[str]): Required." in out
    assert "one of 'float', 'base64'" in out
    assert "default 'mistral-embed'" in out
    assert "mistral-lite call embed input:=<json>" in out
    assert "extra_body" not in out and "Raises:" not in out
    code, out, _ = run(capsys, "ops", "get_file")
    assert "GET /v1/files/{file_id}" in out and "sent in the path" in out


def test_ops_unknown_name_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ops", "chatt")
    assert code == 2
    assert "unknown operation 'chatt'" in err and "'chat'" in err


# --- call --------------------------------------------------------------------------------------


def test_parse_params_types() -> None:
    positional, options = parse_params(
        ["abc", "name=42", "n:=42", "flag:=true", "tags:=[1, 2]", "obj:={\"a\": null}", "eq=a=b"],
        {"name": "from data", "other": 1},
    )
    assert positional == ["abc"]
    assert options == {"name": "42", "n": 42, "flag": True, "tags": [1, 2], "obj": {"a": None}, "eq": "a=b",
                       "other": 1}


def test_call_key_value_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "call", "chat", "model=mistral-small-latest", f"messages:={HI}",
                         "max_tokens:=3", "temperature:=0.1")
    assert code == 0, err
    reply = json.loads(out)
    assert out.count("\n") == 1  # compact when stdout is not a terminal
    assert reply["choices"][0]["message"]["content"] == "Echo: Hi "  # cut at 3 tokens
    assert reply["choices"][0]["finish_reason"] == "length"


def test_call_path_parameter_bare_or_named(capsys: pytest.CaptureFixture[str]) -> None:
    for arg in ("mistral-small-latest", "model_id=mistral-small-latest"):
        code, out, err = run(capsys, "--mock", "call", "get_model", arg)
        assert code == 0, err
        assert json.loads(out)["id"] == "mistral-small-latest"


def test_call_data_file_merged_under_pairs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "options.json"
    data.write_text(json.dumps({"model": "codestral-latest", "messages": json.loads(HI)}))
    # pairs after -d are still options, and they override the file
    code, out, err = run(capsys, "--mock", "call", "chat", "-d", f"@{data}", "model=mistral-small-latest")
    assert code == 0, err
    reply = json.loads(out)
    assert reply["model"] == "mistral-small-latest"
    assert reply["choices"][0]["message"]["content"] == "Echo: Hi there"


def test_call_data_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"input": ["a", "b"]})))
    code, out, err = run(capsys, "--mock", "call", "embed", "-d", "-")
    assert code == 0, err
    assert [item["index"] for item in json.loads(out)["data"]] == [0, 1]


@pytest.mark.parametrize("argv, message", [
    (["call", "chat", "-d", "@/nonexistent/options.json"], "cannot read"),
    (["call", "chat", "-d", "[1, 2]"], "must hold a JSON object"),
    (["call", "chat", "messages:=[oops"], "bad JSON for messages"),
    (["call", "chat", "bad key=1"], "expected key=value"),
    (["call", "get_model", "a", "b"], "takes 1 bare value"),
    (["call", "no_such_op"], "unknown operation"),
    (["frobnicate"], "invalid choice"),
    (["call", "chat", "--base-url", "x"], "global options go before the command"),
])
def test_call_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "--mock", *argv)
    assert code == 2
    assert message in err and out == ""


def test_validation_error_exit_2_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "call", "chat", "model=mistral-small-latest",
                         'messages:=[{"role": "robot", "content": "x"}]', "temprature:=2")
    assert code == 2 and out == ""
    assert "invalid options for chat (2 problems):" in err
    assert "  - messages[0].role:" in err
    assert "  - temprature: unknown option" in err


def test_api_error_exit_1_with_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "call", "get_file", MISSING_FILE_ID)
    assert code == 1 and out == ""
    assert "HTTP 404" in err and MISSING_FILE_ID in err
    assert "[request id " in err


def test_streamed_call_prints_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "call", "chat", "model=mistral-small-latest", f"messages:={HI}",
                         "stream:=true")
    assert code == 0, err
    chunks = lines(out)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)  # type: ignore[index]
    assert text == "Echo: Hi there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"  # type: ignore[index]


def test_bytes_response_to_stdout_and_output(capsysbinary: pytest.CaptureFixture[bytes], fake: FakeMistral,
                                             tmp_path: Path) -> None:
    payload = bytes(range(256)) * 3
    source = tmp_path / "data.bin"
    source.write_bytes(payload)
    base = ["--api-key", "k", "--base-url", fake.url]
    assert main([*base, "upload", str(source), "--purpose", "batch"]) == 0
    file_id = json.loads(capsysbinary.readouterr().out)["id"]
    assert main([*base, "call", "download_file", file_id]) == 0
    assert capsysbinary.readouterr().out == payload
    target = tmp_path / "copy.bin"
    assert main([*base, "call", "download_file", file_id, "-o", str(target)]) == 0
    assert target.read_bytes() == payload


# --- shortcuts ---------------------------------------------------------------------------------


def test_chat_streams_the_fake_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "chat", "Write a haiku about tables.")
    assert code == 0, err
    assert out == "Echo: Write a haiku about tables.\n"


def test_chat_no_stream_system_and_model(capsys: pytest.CaptureFixture[str], fake: FakeMistral) -> None:
    code, out, err = run(capsys, "--api-key", "k", "--base-url", fake.url, "chat", "--no-stream",
                         "--system", "Be brief.", "-m", "mistral-large-latest", "Hello")
    assert code == 0, err
    assert out == "Echo: Hello\n"
    body = fake.requests[-1].json
    assert body["model"] == "mistral-large-latest"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "stream" not in body or body["stream"] is False


def test_embed_one_line_per_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "embed", "first text", "second text")
    assert code == 0, err
    rows = lines(out)
    assert [r["index"] for r in rows] == [0, 1]
    assert all(r["dimension"] == 1024 and len(r["first_values"]) == 4 for r in rows)  # type: ignore[arg-type]
    code, out, _ = run(capsys, "--mock", "embed", "--json", "one")
    assert code == 0 and len(json.loads(out)["data"][0]["embedding"]) == 1024


def test_upload_download_round_trip(capsys: pytest.CaptureFixture[str], fake: FakeMistral,
                                    tmp_path: Path) -> None:
    payload = os.urandom(200_000) + b"\x00\r\n end"
    source = tmp_path / "train.jsonl"
    source.write_bytes(payload)
    base = ["--api-key", "k", "--base-url", fake.url]
    code, out, err = run(capsys, *base, "upload", str(source), "--purpose", "fine-tune")
    assert code == 0, err
    uploaded = json.loads(out)
    assert uploaded["filename"] == "train.jsonl" and uploaded["bytes"] == len(payload)
    target = tmp_path / "copy.jsonl"
    code, out, err = run(capsys, *base, "download", uploaded["id"], "-o", str(target))
    assert code == 0, err
    assert target.read_bytes() == payload
    assert json.loads(out) == {"path": str(target), "bytes": len(payload)}
    assert err == ""  # no progress bar when stderr is not a terminal
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_download_unknown_id_leaves_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    code, _, err = run(capsys, "--mock", "download", MISSING_FILE_ID, "-o", str(target))
    assert code == 1 and "HTTP 404" in err
    assert list(tmp_path.iterdir()) == []


def test_upload_missing_file_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--mock", "upload", str(tmp_path / "nope.txt"))
    assert code == 2 and "no such file" in err


def test_tour(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "tour")
    assert code == 0, err
    assert "Echo: Hello, who are you?" in out
    assert "cosine similarity" in out
    assert "identical bytes" in out
    assert "Echo: What can you do?" in out


def test_missing_key_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "list_models")
    assert code == 2 and out == ""
    assert "MISTRAL_API_KEY" in err and "Traceback" not in err


def test_verbose_logs_requests_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--mock", "-v", "call", "list_models")
    assert code == 0
    assert "> GET http://127.0.0.1:" in err and "< 200" in err and "request id" in err
    assert json.loads(out)["object"] == "list"


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("mistral-lite ")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "fake-server" in out


# --- through a real process ----------------------------------------------------------------


def test_subprocess_call_and_chat() -> None:
    proc = cli("--mock", "call", "get_model", "mistral-small-latest")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["id"] == "mistral-small-latest"
    proc = cli("--mock", "chat", "-", stdin="piped prompt\n")
    assert (proc.returncode, proc.stdout) == (0, "Echo: piped prompt\n")


def test_subprocess_exit_codes_and_no_traceback() -> None:
    usage = cli("call")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    invalid = cli("--mock", "call", "chat", "model=mistral-small-latest", "messages:=[]", "top_p:=7")
    assert invalid.returncode == 2 and "invalid options for chat" in invalid.stderr and "top_p" in invalid.stderr
    not_found = cli("--mock", "call", "get_file", MISSING_FILE_ID)
    assert not_found.returncode == 1 and "request id" in not_found.stderr
    refused = cli("--api-key", "k", "--base-url", "http://127.0.0.1:9", "--no-retry", "--timeout", "5",
                  "call", "list_models")
    assert refused.returncode == 1 and "list_models" in refused.stderr
    no_key = cli("chat", "hi")
    assert no_key.returncode == 2 and "MISTRAL_API_KEY" in no_key.stderr
    for proc in (usage, invalid, not_found, refused, no_key):
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_subprocess_tour() -> None:
    proc = cli("--mock", "tour")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "1. List the models" in proc.stdout and "6. Create an agent" in proc.stdout


def test_batch_run_writes_results_in_input_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text(
        json.dumps({"model": "mistral-small-latest", "messages": [{"role": "user", "content": "first"}]}) + "\n"
        + json.dumps({"custom_id": "second", "body": {"model": "mistral-small-latest",
                                                      "messages": [{"role": "user", "content": "two"}]}}) + "\n")
    out = tmp_path / "results.jsonl"
    code, stdout, err = run(capsys, "--mock", "batch", "run", str(source), "-m", "mistral-small-latest",
                            "-o", str(out), "--interval", "0.05")
    assert code == 0, err
    assert "2 results written" in err and "(0 failed)" in err
    results = lines(out.read_text())
    assert [r["custom_id"] for r in results] == ["0", "second"]
    assert [r["status_code"] for r in results] == [200, 200]
    assert [r["body"]["choices"][0]["message"]["content"] for r in results] == ["Echo: first", "Echo: two"]  # type: ignore[index]


def test_batch_run_rejects_a_bad_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text('{"model": "m"}\nnot json\n')
    code, _, err = run(capsys, "--mock", "batch", "run", str(source))
    assert code == 2 and ":2: not JSON" in err and "Traceback" not in err


# --- found by trying the command line as a new user ------------------------------------------------


def test_fake_server_port_out_of_range_is_a_usage_error() -> None:
    done = cli("fake-server", "--port", "99999")
    assert done.returncode == 2 and "a port is a number from 0 to 65535" in done.stderr
    assert "Traceback" not in done.stderr


def test_empty_stdin_is_not_a_prompt() -> None:
    done = cli("--mock", "chat", stdin="")
    assert done.returncode == 2 and "stdin was empty" in done.stderr and done.stdout == ""


def test_output_file_for_a_json_response(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "models.json"
    code, out, _ = run(capsys, "--mock", "call", "list_models", "-o", str(target))
    assert code == 0 and out == ""
    assert [m["id"] for m in json.loads(target.read_text())["data"]][:2] == ["mistral-small-latest",
                                                                              "mistral-large-latest"]


def test_a_reader_that_goes_away_is_sigpipe_not_an_api_error() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(f"{sys.executable} -m mistral_lite ops | head -1", shell=True, capture_output=True,
                          text=True, env=env, timeout=30, executable="/bin/bash")
    assert done.stdout == "agents\n" and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no requests"), ('{"messages": [{"role": "user", "content": "x"}]}\n', "name no model; pass -m MODEL")],
)
def test_batch_run_checks_its_input_before_uploading(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     content: str, message: str) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text(content)
    code, _, err = run(capsys, "--mock", "batch", "run", str(source))
    assert code == 2 and message in err
    code, _, err = run(capsys, "--mock", "batch", "run", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "No such file" in err


def test_download_to_a_directory_is_refused_before_any_request(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    code, _, err = run(capsys, "--mock", "download", MISSING_FILE_ID, "-o", str(tmp_path))
    assert code == 2 and "is a directory; give a file path" in err
    code, _, err = run(capsys, "--mock", "download", MISSING_FILE_ID, "-o", str(tmp_path / "no" / "x.bin"))
    assert code == 2 and "does not exist" in err
