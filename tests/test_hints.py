"""Validation errors that hint: the closest option names, and a field given one level too high."""

from __future__ import annotations

import pytest

from mistral_lite import Client, ValidationError
from mistral_lite._core.hints import closest
from mistral_lite.fake import FakeMistral

HI = [{"role": "user", "content": "hi"}]


def _problems(client: Client, **options: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        client.chat(model="mistral-small-latest", messages=HI, **options)
    return dict(info.value.errors)


def test_a_misspelled_option_names_the_closest(fake_mistral: FakeMistral) -> None:
    client = Client("k", base_url=fake_mistral.url)
    message = _problems(client, temperatur=0.5)["temperatur"]
    assert message.startswith("unknown option; did you mean `temperature`? valid options: ")
    assert _problems(client, Top_P=1)["Top_P"].startswith("unknown option; did you mean `top_p` or `stop`?")
    assert "did you mean" not in _problems(client, zzzzzz=1)["zzzzzz"]
    assert fake_mistral.requests == []  # reported before any I/O


def test_a_misspelled_nested_field_names_the_closest(fake_mistral: FakeMistral) -> None:
    client = Client("k", base_url=fake_mistral.url)
    message = _problems(client, response_format={"typ": "json_object"})["response_format.typ"]
    assert message.startswith("unknown field; did you mean `type`? valid fields: json_schema, type")


def test_response_format_without_its_json_schema_says_so(fake_mistral: FakeMistral) -> None:
    client = Client("k", base_url=fake_mistral.url)
    problems = _problems(client, response_format={"type": "json_schema", "schema": {"type": "object"}})
    assert problems["response_format.json_schema"] == "required field is missing"
    assert problems["response_format.schema"].startswith(
        "unknown field; `schema` belongs inside `json_schema` (json_schema is missing)")
    assert _problems(client, response_format={"type": "json_schema"}) == {
        "response_format.json_schema": "required field is missing"}
    # the same rule on another operation that shares the schema, and the valid forms still pass
    with pytest.raises(ValidationError, match=r"response_format\.json_schema: required field is missing"):
        client.agent_completion(agent_id="a", messages=HI, response_format={"type": "json_schema"})
    ok = client.chat(model="mistral-small-latest", messages=HI, response_format={
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}})
    assert ok["choices"][0]["message"]["content"].startswith("{")
    assert client.chat(model="mistral-small-latest", messages=HI, response_format={"type": "text"})["choices"]


def test_the_fake_applies_the_same_rule(fake_mistral: FakeMistral) -> None:
    status, body = fake_mistral.call("chat", {"model": "mistral-small-latest", "messages": HI,
                                              "response_format": {"type": "json_schema"}})
    assert status == 422
    assert body["message"]["detail"][0]["loc"] == ["body", "response_format", "json_schema"]


def test_closest_is_case_insensitive_and_bounded() -> None:
    assert closest("MAX_TOKEN", ["max_tokens", "n", "stop"]) == ["max_tokens"]
    assert closest("q", ["max_tokens", "n", "stop"]) == []
