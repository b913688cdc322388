"""Generated methods: real signatures, readable docstrings, the same dispatcher."""

from __future__ import annotations

import inspect
import pydoc

import pytest

from mistral_lite import Client
from mistral_lite._table import load_spec

SPEC = load_spec()


@pytest.mark.parametrize("name", sorted(SPEC.endpoints))
def test_every_row_has_a_method_with_a_real_signature(name: str) -> None:
    ep = SPEC.endpoints[name]
    method = getattr(Client, name)
    assert method.__name__ == name
    sig = inspect.signature(method)
    params = list(sig.parameters.values())
    assert params[0].name == "self"
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD][1:]
    assert positional == list(ep.path_params)
    keyword = {p.name: p for p in params if p.kind is p.KEYWORD_ONLY}
    assert set(ep.options) - set(ep.path_params) <= set(keyword)
    for option in ep.required:
        if option not in ep.path_params and option not in ep.fill:
            assert keyword[option].default is inspect.Parameter.empty
    for option in set(keyword) & set(ep.options) - set(ep.required):
        assert keyword[option].default is None
    assert {"extra_body", "extra_query", "extra_headers", "timeout"} <= set(keyword)
    assert ("stream_timeout" in keyword) == (ep.stream != "none")


@pytest.mark.parametrize("name", sorted(SPEC.endpoints))
def test_docstring_lists_every_option(name: str) -> None:
    ep = SPEC.endpoints[name]
    doc = getattr(Client, name).__doc__
    assert doc.splitlines()[0] == ep.summary
    assert f"{ep.method} {ep.path}" in doc
    for option in ep.options:
        assert f"\n    {option} (" in doc
    assert "Returns:" in doc and "Raises:" in doc


def test_help_reads_like_hand_written_docs() -> None:
    text = pydoc.render_doc(Client(api_key="k").chat, renderer=pydoc.plaintext)
    assert "chat(*, model: 'str', messages: 'Sequence[MessageParam]', temperature: 'float | None' = None" in text
    assert "model (str): Required." in text
    assert "temperature (float | None, optional):" in text and "range 0..1.5" in text
    assert "With ``stream=True``, a Stream of chunk dicts" in text
    assert "ValidationError" in text


def test_embed_signature_shows_the_filled_default() -> None:
    sig = inspect.signature(Client.embed)
    assert sig.parameters["model"].default == "mistral-embed"
    assert "default 'mistral-embed' (filled in by the client)" in Client.embed.__doc__


def test_docstrings_document_locations_and_enums() -> None:
    doc = Client.create_or_update_agent_alias.__doc__
    assert "alias (str): Required." in doc and "sent in the query" in doc
    assert "one of 'fine-tune', 'batch', 'ocr'" in Client.upload_file.__doc__
    assert "used by the client, never sent" in Client.download_file.__doc__


def test_methods_and_call_are_the_same_dispatcher() -> None:
    assert Client.call.__qualname__ == "Operations.call"
    assert inspect.signature(Client.call).parameters["operation"].kind is inspect.Parameter.POSITIONAL_ONLY
