"""help() and ``mistral-lite ops NAME`` end with what comes back: the result's top-level fields."""

from __future__ import annotations

import pydoc

import pytest

from mistral_lite import Client
from mistral_lite.cli import app as cli
from mistral_lite._table import load_spec

SPEC = load_spec()


def test_help_ends_with_the_result_fields() -> None:
    text = pydoc.render_doc(Client(api_key="k").chat, renderer=pydoc.plaintext)
    tail = text.rstrip().splitlines()[-7:]
    assert tail[0].strip() == "Result: ChatCompletionResponse, with the fields:"
    assert tail[-1].strip() == "choices (list[ChatCompletionChoice]): required."
    assert "usage (UsageInfo): required." in text


def test_ops_ends_with_the_result_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "list_agents"]) == 0
    out = capsys.readouterr().out
    assert "Result: ListAgentsResult (each item: Agent), with the fields:" in out
    assert "    object (Literal[\"agent\"]): optional; always 'agent'." in out
    assert "    instructions (str | None): optional; may be null." in out
    assert out.rstrip().endswith("versions (list[int]): required.")


@pytest.mark.parametrize("name", sorted(SPEC.endpoints))
def test_every_row_says_what_it_returns(name: str) -> None:
    doc = cli.describe(SPEC.endpoints[name], SPEC)
    result = doc[doc.rindex("\nResult: "):]
    assert result.splitlines()[1].startswith("Result: ")
    ep = SPEC.endpoints[name]
    if ep.response == "bytes":
        assert result.strip() == "Result: bytes"
    for line in result.splitlines()[2:]:
        assert line.startswith("    ") and line.endswith(".") and ("required" in line or "optional" in line)
