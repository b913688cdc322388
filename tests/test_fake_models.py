"""The fake knows its models and the API's limits: wrong models and oversized requests fail as
they would against the real API (through the ``fake_mistral`` fixture and ``--mock``)."""

from __future__ import annotations

from typing import Any

import pytest

from mistral_lite import BadRequestError, Client, MistralError, NotFoundError, ValidationError
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral

HI = [{"role": "user", "content": "hi"}]
INVALID = {"object": "error", "message": "Invalid model: mistral-smal-latest", "type": "invalid_model",
           "param": None, "code": "1500"}


@pytest.fixture
def client(fake_mistral: FakeMistral) -> Client:
    return Client("any-key", base_url=fake_mistral.url, max_retries=0)


def _error(call: Any) -> BadRequestError:
    with pytest.raises(BadRequestError) as info:
        call()
    return info.value


def test_an_unknown_model_is_the_api_s_400(client: Client, fake_mistral: FakeMistral) -> None:
    exc = _error(lambda: client.chat(model="mistral-smal-latest", messages=HI))
    assert exc.status_code == 400 and exc.body == INVALID
    assert fake_mistral.requests[-1].json == {"model": "mistral-smal-latest", "messages": HI}


@pytest.mark.parametrize(("operation", "options", "capability"), [
    ("chat", {"model": "mistral-embed", "messages": HI}, "completion_chat"),
    ("embed", {"model": "mistral-small-latest", "input": ["x"]}, "embeddings"),
    ("fim", {"model": "mistral-small-latest", "prompt": "def f("}, "completion_fim"),
    ("ocr", {"model": "mistral-small-latest", "document": {"type": "document_url",
                                                           "document_url": "https://example.com/a.pdf"}}, "ocr"),
    ("moderate", {"model": "mistral-embed", "input": ["x"]}, "moderation"),
    ("classify", {"model": "codestral-latest", "input": ["x"]}, "classification"),
])
def test_the_wrong_kind_of_model_is_a_400_naming_the_capability(client: Client, operation: str,
                                                                 options: dict[str, Any], capability: str) -> None:
    exc = _error(lambda: client.call(operation, **options))
    assert exc.body["type"] == "invalid_model" and exc.body["code"] == "1500"
    assert exc.body["message"].startswith(f"Invalid model: {options['model']} does not support")
    assert repr(capability) in exc.body["message"]


def test_models_and_aliases_that_fit_are_served(client: Client) -> None:
    assert client.chat(model="mistral-small-2506", messages=HI)["choices"][0]["message"]["content"] == "Echo: hi"
    assert len(client.embed(model="mistral-embed", input=["a", "b"])["data"]) == 2
    assert client.fim(model="codestral-latest", prompt="def f(")["object"] == "chat.completion"
    ids = {m["id"] for m in client.list_models()["data"]}
    assert {"mistral-small-latest", "mistral-embed", "mistral-ocr-latest", "codestral-latest",
            "mistral-moderation-latest", "voxtral-mini-latest"} <= ids


def test_a_test_can_add_a_model(client: Client, fake_mistral: FakeMistral) -> None:
    card = fake_mistral.add_model("my-embedder", ["embeddings"], max_context_length=16)
    assert card["capabilities"]["completion_chat"] is False
    assert client.get_model("my-embedder")["max_context_length"] == 16
    assert len(client.embed(model="my-embedder", input=["hello"])["data"]) == 1
    assert "does not support chat" in _error(lambda: client.chat(model="my-embedder", messages=HI)).message
    fake_mistral.add_model("tiny-chat", ["chat", "tools"], aliases=["tiny"])
    assert client.list_models(model="no-such-model")["data"] == []  # a filter, not a model to use
    assert client.chat(model="tiny", messages=HI)["model"] == "tiny"
    with pytest.raises(ValueError, match="unknown capability 'telepathy'"):
        fake_mistral.add_model("x", ["telepathy"])
    fake_mistral.reset()
    with pytest.raises(NotFoundError):
        client.get_model("my-embedder")


def test_empty_inputs_are_refused(client: Client, fake_mistral: FakeMistral) -> None:
    assert _error(lambda: client.embed(model="mistral-embed", input=[])).body["message"] == "input must not be empty"
    assert _error(lambda: client.embed(model="mistral-embed", input=["a", ""])).status_code == 400
    assert fake_mistral.call("moderate", {"model": "mistral-moderation-latest", "input": " "})[0] == 400
    with pytest.raises(ValidationError):  # the schema says so: the client refuses before sending
        client.chat(model="mistral-small-latest", messages=[])
    assert fake_mistral.call("chat", {"model": "mistral-small-latest", "messages": []})[0] == 422


def test_embedding_batch_limits(client: Client, fake_mistral: FakeMistral) -> None:
    assert fake_mistral.limits.embed_max_inputs == 512 and fake_mistral.limits.embed_max_tokens == 16384
    fake_mistral.limits.embed_max_inputs = 3
    exc = _error(lambda: client.embed(model="mistral-embed", input=["x"] * 4))
    assert exc.body["message"] == "Too many inputs in request, split into more batches." and exc.body["code"] == "3210"
    assert len(client.embed(model="mistral-embed", input=["x"] * 3)["data"]) == 3
    fake_mistral.limits.embed_max_tokens = 10
    exc = _error(lambda: client.embed(model="mistral-embed", input=["one two three four five six"] * 2))
    assert exc.body["message"] == "Too many tokens in batch. Max is 10 got 12"
    fake_mistral.add_model("short-embed", ["embeddings"], max_context_length=3)
    fake_mistral.limits.embed_max_tokens = None
    exc = _error(lambda: client.embed(model="short-embed", input=["a b", "a b c d"]))
    assert exc.body["message"] == "Input 1 is too long: 4 tokens; the model's maximum is 3"


def test_max_tokens_against_the_context_length(client: Client, fake_mistral: FakeMistral) -> None:
    fake_mistral.add_model("small-ctx", ["chat"], max_context_length=50)
    assert client.chat(model="small-ctx", messages=HI, max_tokens=40)["object"] == "chat.completion"
    exc = _error(lambda: client.chat(model="small-ctx", messages=HI, max_tokens=48))
    assert exc.body["message"] == ("Prompt contains 3 tokens and max_tokens 48: too large for model with 50 "
                                   "maximum context length")
    fake_mistral.limits.context_length = False
    assert client.chat(model="small-ctx", messages=HI, max_tokens=48)["object"] == "chat.completion"


def test_upload_size_limit(client: Client, fake_mistral: FakeMistral) -> None:
    assert fake_mistral.limits.upload_max_bytes == 512 * 1024 * 1024
    fake_mistral.limits.upload_max_bytes = 10
    assert client.upload_file(file=("ok.jsonl", b"0123456789"), purpose="batch")["bytes"] == 10
    with pytest.raises(MistralError) as info:
        client.upload_file(file=("big.jsonl", b"0123456789A"), purpose="batch")
    assert getattr(info.value, "status_code", None) == 413
    assert "'big.jsonl' is 11 bytes; the maximum is 10 bytes" in info.value.message


def test_batch_lines_meet_the_same_models(client: Client, fake_mistral: FakeMistral) -> None:
    results = client.run_batch([{"custom_id": "good", "body": {"messages": HI}},
                                {"custom_id": "bad", "body": {"messages": HI, "model": "nope"}}],
                               model="mistral-small-latest", interval=0.01)
    by_id = {r["custom_id"]: r for r in results}
    assert by_id["good"]["status_code"] == 200
    assert by_id["bad"]["status_code"] == 400 and by_id["bad"]["body"]["message"] == "Invalid model: nope"


def test_mock_command_line_reports_model_mistakes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--mock", "chat", "-m", "mistral-smal-latest", "--no-stream", "hi"])
    err = capsys.readouterr().err
    assert code == 1 and "Invalid model: mistral-smal-latest" in err
    code = main(["--mock", "embed", "-m", "mistral-small-latest", "hello"])
    err = capsys.readouterr().err
    assert code == 1 and "does not support embeddings" in err


def test_the_readme_fake_section_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Testing your code: `FakeMistral`")
    block = re.findall(r"```python\n(.*?)```", readme[start:], re.S)[0]
    exec(compile(block, "README FakeMistral", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == ["invalid_model Invalid model: mistral-embed does not support chat completions (capability "
                   "'completion_chat')", "Too many inputs in request, split into more batches.", "Paris."]
