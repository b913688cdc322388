"""The command line for everyday work: files in and out, typed key=value, shortcuts, retries shown."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from mistral_lite.cli.coerce import parse_params
from mistral_lite.cli.retries import describe_retry
from mistral_lite._methods.embed_many import batches
from mistral_lite._table import load_spec
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral, Fault

SPEC = load_spec()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def served(fake_mistral: FakeMistral) -> tuple[str, ...]:
    """Global options pointing the command line at the fixture's fake."""
    return ("--base-url", fake_mistral.url, "--api-key", "any-key")


def embedded(fake: FakeMistral) -> list[list[str]]:
    return [r.json["input"] for r in fake.requests if r.operation == "embed"]


# --- embed from files ---------------------------------------------------------------------------


def test_embed_file_to_jsonl(capsys: pytest.CaptureFixture[str], tmp_path: Path, fake_mistral: FakeMistral,
                             served: tuple[str, ...]) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("first text\n\nsecond, text\nthird\n", encoding="utf-8")
    target = tmp_path / "vectors.jsonl"
    code, out, err = run(capsys, *served, "embed", "-f", str(source), "-o", str(target), "output_dimension=4")
    assert code == 0 and out == "", err
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(r["index"], r["line"], r["text"]) for r in rows] == [(0, 1, "first text"), (1, 3, "second, text"),
                                                                   (2, 4, "third")]
    assert all(len(r["embedding"]) == 4 for r in rows)
    assert embedded(fake_mistral) == [["first text", "second, text", "third"]]
    assert fake_mistral.requests[-1].json["output_dimension"] == 4  # typed from the pair


def test_embed_stdin_to_csv(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                            served: tuple[str, ...]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a b\nc, \"d\"\n"))
    code, out, err = run(capsys, *served, "embed", "-", "--format", "csv", "--dimension", "3")
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["index", "line", "text", "e0", "e1", "e2"]
    assert [row[:3] for row in table[1:]] == [["0", "1", "a b"], ["1", "2", 'c, "d"']]
    assert all(len(row) == 6 and float(row[3]) == float(row[3]) for row in table[1:])


def test_embed_jsonl_field_batched_within_limits(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 fake_mistral: FakeMistral, served: tuple[str, ...]) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": i, "body": f"text number {i}"}) + "\n" for i in range(7)))
    target = tmp_path / "out.csv"
    code, _, err = run(capsys, *served, "embed", "-f", str(source), "--jsonl", "body", "--batch-size", "3",
                       "-o", str(target), "--dimension", "2")
    assert code == 0, err
    assert sorted(len(batch) for batch in embedded(fake_mistral)) == [1, 3, 3]  # batches run concurrently
    rows = list(csv.DictReader(target.open()))
    assert [r["text"] for r in rows] == [f"text number {i}" for i in range(7)] and rows[6]["line"] == "7"


def test_embed_reports_bad_input_before_sending(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                fake_mistral: FakeMistral, served: tuple[str, ...]) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"body": "ok"}\n{"text": "no body"}\n')
    code, _, err = run(capsys, *served, "embed", "-f", str(source), "--jsonl", "body")
    assert code == 2 and f"{source}:2: --jsonl body: expected a string field 'body', found no field" in err
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n")
    code, _, err = run(capsys, *served, "embed", "-f", str(blank))
    assert code == 2 and "no texts to embed" in err
    code, _, err = run(capsys, *served, "embed", "-f", str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt" in err
    assert fake_mistral.requests == []


def test_embed_batches_respect_the_table_limits() -> None:
    limits = SPEC.defaults["limits"]
    assert (limits["embed_max_inputs"], limits["embed_max_tokens"]) == (512, 16384)
    texts = [10] * 25  # each item's estimated tokens
    assert [len(b) for b in batches(texts, 10, 1000)] == [10, 10, 5]
    assert [len(b) for b in batches(texts, 100, 35)] == [3] * 8 + [1]  # 3 texts of 10 bytes fit 35
    assert [len(b) for b in batches([50, 1], 10, 20)] == [1, 1]  # a long text goes alone
    many = [1] * 1030
    assert [len(b) for b in batches(many, limits["embed_max_inputs"], limits["embed_max_tokens"])] == [512, 512, 6]


def test_embed_output_is_atomic_when_a_batch_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   fake_mistral: FakeMistral, served: tuple[str, ...]) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("a\nb\nc\n")
    target = tmp_path / "out.jsonl"
    fake_mistral.inject("embed", Fault(), Fault(status=400))
    code, _, err = run(capsys, *served, "--no-retry", "embed", "-f", str(source), "--batch-size", "2", "-o",
                       str(target))
    assert code == 1 and "HTTP 400" in err
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


# --- key=value typed by the schema ------------------------------------------------------------


def test_pairs_are_typed_by_the_option_schema() -> None:
    chat = SPEC.endpoints["chat"]
    _, options = parse_params(["temperature=0.5", "stream=true", "stop=a,b", "max_tokens=7", "random_seed=null",
                               "model=42", "n:=2", "safe_prompt=false"], None, chat)
    assert options == {"temperature": 0.5, "stream": True, "stop": "a,b", "max_tokens": 7, "random_seed": None,
                       "model": "42", "n": 2, "safe_prompt": False}
    _, options = parse_params(["status=QUEUED,RUNNING", "page=2"], None, SPEC.endpoints["list_batch_jobs"])
    assert options == {"status": ["QUEUED", "RUNNING"], "page": 2}
    _, options = parse_params(["pages=0,2"], None, SPEC.endpoints["ocr"])
    assert options == {"pages": "0,2"}  # ocr's pages also takes a string: it stays one


@pytest.mark.parametrize(("pair", "message"), [
    ("temperature=hot", "temperature='hot': option `temperature` of chat wants a number or null; give JSON with "
                        "`temperature:=...`, e.g. temperature:=0.7"),
    ("stream=yes", "option `stream` of chat wants a boolean (true or false)"),
    ("max_tokens=1.5", "option `max_tokens` of chat wants an integer or null; give JSON with `max_tokens:=...`"),
    ("response_format=json", "option `response_format` of chat wants a JSON object; give JSON with "
                             "`response_format:=...`, e.g. response_format:='{\"key\": \"value\"}'"),
    ("temperature=nan", "wants a number or null"),
])
def test_a_pair_that_does_not_fit_names_option_type_and_json_form(capsys: pytest.CaptureFixture[str], pair: str,
                                                                  message: str) -> None:
    code, _, err = run(capsys, "--mock", "call", "chat", "model=mistral-small-latest",
                       'messages:=[{"role":"user","content":"hi"}]', pair)
    assert code == 2 and message in err


def test_call_sends_typed_pairs(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                served: tuple[str, ...]) -> None:
    code, _, err = run(capsys, *served, "call", "chat", "model=mistral-small-latest",
                         'messages:=[{"role":"user","content":"hi"}]', "temperature=0.5", "max_tokens=2",
                         "stop=a,b")
    assert code == 0, err
    assert fake_mistral.requests[-1].json == {"model": "mistral-small-latest", "temperature": 0.5, "max_tokens": 2,
                                              "stop": "a,b", "messages": [{"role": "user", "content": "hi"}]}


def test_shortcut_pairs_and_misspelled_options(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                               served: tuple[str, ...]) -> None:
    code, out, err = run(capsys, *served, "chat", "hi", "there", "temperature=0.2", "--no-stream")
    assert code == 0 and out == "Echo: hi there\n", err
    assert fake_mistral.requests[-1].json["temperature"] == 0.2
    code, _, err = run(capsys, *served, "chat", "hi", "temprature=1")
    assert code == 2 and "chat has no option `temprature`; did you mean `temperature`?" in err
    code, _, err = run(capsys, *served, "call", "chat", "model=mistral-small-latest",
                       'messages:=[{"role":"user","content":"hi"}]', "temprature=1")
    assert code == 2 and "temprature: unknown option; did you mean `temperature`?" in err


# --- shortcuts --------------------------------------------------------------------------------


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--mock", "models")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "CAPABILITIES", "CONTEXT"]
    row = next(line for line in lines if line.startswith("codestral-latest "))
    assert "completion_fim" in row and row.split()[-1] == "256000"
    code, out, _ = run(capsys, "--mock", "models", "--json")
    assert json.loads(out.splitlines()[0])["id"] == "mistral-small-latest"


def test_ls_tables_all_pages_and_json(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                      served: tuple[str, ...], tmp_path: Path) -> None:
    for i in range(3):
        fake_mistral.state.add_file(f"f{i}.jsonl", b"{}\n", "batch")
    code, out, err = run(capsys, *served, "ls", "files", "page_size=2")
    assert code == 0 and len(out.splitlines()) == 3 and "--all for every page" in err
    assert out.splitlines()[0].split()[:2] == ["ID", "FILENAME"]
    code, out, _ = run(capsys, *served, "ls", "files", "--all", "page_size=2", "--json")
    assert sorted(json.loads(line)["filename"] for line in out.splitlines()) == ["f0.jsonl", "f1.jsonl", "f2.jsonl"]
    pages = [r.query.get("page") for r in fake_mistral.requests if r.operation == "list_files"]
    assert pages[-2:] == [["0"], ["1"]]
    code, _, err = run(capsys, *served, "ls", "batch")
    assert code == 0 and "(no batch)" in err
    code, _, err = run(capsys, *served, "ls", "nothing")
    assert code == 2 and "no list operation for 'nothing'; try one of: " in err and "files" in err


def test_ocr_url_and_local_file(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                served: tuple[str, ...], tmp_path: Path) -> None:
    code, out, err = run(capsys, *served, "ocr", "https://example.com/a.pdf", "--pages", "1")
    assert code == 0, err
    assert out == "# Page 2\n\nText of https://example.com/a.pdf, page 2.\n"
    assert fake_mistral.requests[-1].json["document"] == {"type": "document_url",
                                                          "document_url": "https://example.com/a.pdf"}
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 fake")
    code, out, err = run(capsys, *served, "ocr", str(scan), "table_format=html")
    assert code == 0, err
    upload, ocr = fake_mistral.requests[-2:]
    assert upload.operation == "upload_file" and b"%PDF-1.4 fake" in upload.body and b"ocr" in upload.body
    assert ocr.json["document"]["type"] == "file" and ocr.json["table_format"] == "html"
    assert out.startswith("# Page 1\n\nText of scan.pdf, page 1.\n\n# Page 2")
    code, _, err = run(capsys, *served, "ocr", str(tmp_path / "nope.pdf"))
    assert code == 2 and "no such file" in err


def test_transcribe_file_and_url(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                 served: tuple[str, ...], tmp_path: Path) -> None:
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"\x00" * 32000)
    code, out, err = run(capsys, *served, "transcribe", str(audio), "--language", "fr")
    assert code == 0, err
    assert out.startswith("This is the transcription of call.wav.")
    assert b'name="language"' in fake_mistral.requests[-1].body
    code, out, _ = run(capsys, *served, "transcribe", "https://example.com/a.mp3", "--json")
    assert json.loads(out)["model"] == "voxtral-mini-latest"


def test_conversation_start_append_history(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                           served: tuple[str, ...]) -> None:
    code, out, err = run(capsys, *served, "conversation", "start", "Hello there")
    assert code == 0 and out == "Echo: Hello there\n", err
    conversation_id = err.split()[1]
    assert fake_mistral.requests[-1].json == {"inputs": "Hello there", "model": "mistral-small-latest"}
    code, out, err = run(capsys, *served, "conversation", "append", conversation_id, "And then?")
    assert code == 0 and out == "Echo: And then?\n", err
    code, out, _ = run(capsys, *served, "conversation", "history", conversation_id)
    assert code == 0
    assert out.splitlines() == ["user: Hello there", "assistant: Echo: Hello there", "user: And then?",
                                "assistant: Echo: And then?"]


# --- retries shown ----------------------------------------------------------------------------


def test_retries_are_shown_without_verbose(capsys: pytest.CaptureFixture[str], fake_mistral: FakeMistral,
                                           served: tuple[str, ...]) -> None:
    fake_mistral.inject("list_models", Fault(status=503, headers={"Retry-After": "0"}),
                        Fault(status=503, headers={"Retry-After": "0"}))
    code, _, err = run(capsys, *served, "models")
    assert code == 0
    assert err.splitlines() == ["retrying in 0.0 s (503 Service Unavailable, attempt 2/4)",
                                "retrying in 0.0 s (503 Service Unavailable, attempt 3/4)"]
    assert not [h for h in logging.getLogger("mistral_lite").handlers  # removed when the command ends
                if type(h).__name__ == "RetryNotice"]


def test_retry_lines_and_the_python_log(caplog: pytest.LogCaptureFixture, fake_mistral: FakeMistral) -> None:
    assert describe_retry({"reason": "HTTP 503", "delay": 2.26, "attempt": 2, "attempts": 4}) == \
        "retrying in 2.3 s (503 Service Unavailable, attempt 2/4)"
    assert describe_retry({"reason": "connection refused", "delay": 1, "attempt": 3, "attempts": 4}) == \
        "retrying in 1.0 s (connection refused, attempt 3/4)"
    from mistral_lite._dev.testing import make_client

    fake_mistral.inject("list_models", Fault(status=503, headers={"Retry-After": "0"}))
    with caplog.at_level(logging.WARNING, logger="mistral_lite"):
        make_client("k", base_url=fake_mistral.url, sleep=lambda s: None).list_models()
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.name == "mistral_lite"
    assert record.getMessage().startswith("retrying list_models (retry 1 of 3) after HTTP 503")
