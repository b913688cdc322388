"""Structured outputs: a Python type as ``response_format``, and ``parsed`` results.

Runs against the fake (its JSON answers follow the schema sent; canned replies come from
``FakeMistral.script``). The formats sent are checked against the spec's ``ResponseFormat``
(``tests/data/spec_response_format_tool.json``) and against strict mode's rules.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal, TypedDict

import jsonschema
import pytest
from _fake_session import MODEL, spec_check
from typing_extensions import NotRequired

import mistral_lite
from mistral_lite import Client, OutputParseError, ValidationError, collect_completion, response_format_for
from mistral_lite.fake import FakeMistral, chat_completion

pydantic = pytest.importorskip("pydantic")

ASK = [{"role": "user", "content": "Tell me about Ada"}]



def assert_strict(schema: Any) -> None:
    """Every object schema lists all its properties as required and forbids others."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            assert schema["required"] == list(schema["properties"]), schema
            assert schema["additionalProperties"] is False, schema
        for value in schema.values():
            assert_strict(value)
    elif isinstance(schema, list):
        for value in schema:
            assert_strict(value)


# --- the types ----------------------------------------------------------------------------


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@dataclasses.dataclass
class Address:
    city: str
    zip_code: str | None = None


@dataclasses.dataclass
class Person:
    """Someone the model describes."""

    name: str
    age: int
    address: Address
    mood: Mood = Mood.HAPPY
    tags: list[str] = dataclasses.field(default_factory=list)
    friends: list[Person] = dataclasses.field(default_factory=list)


class PetModel(pydantic.BaseModel):
    name: str
    legs: int = 4


class OwnerModel(pydantic.BaseModel):
    name: str
    pets: list[PetModel]
    best: PetModel | None = None
    level: Literal["low", "high"] = "low"


class Book(TypedDict):
    title: str
    pages: int
    subtitle: NotRequired[str]


def sent(fake: FakeMistral) -> Any:
    return fake.requests[-1].json


# --- the format sent ----------------------------------------------------------------------


def test_a_dataclass_is_sent_as_a_strict_json_schema(fake_client: Client, fake: FakeMistral) -> None:
    fake_client.chat(model=MODEL, messages=ASK, response_format=Person)
    fmt = sent(fake)["response_format"]
    spec_check("ResponseFormat", fmt)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["description"] == "Someone the model describes."
    schema = fmt["json_schema"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert_strict(schema)
    assert schema["required"] == ["name", "age", "address", "mood", "tags", "friends"]
    assert schema["properties"]["address"] == {"$ref": "#/$defs/Address"}
    # optional fields are nullable, with their default kept as an annotation
    assert schema["properties"]["mood"] == {"anyOf": [{"$ref": "#/$defs/Mood"}, {"type": "null"}], "default": "happy"}
    assert schema["$defs"]["Mood"] == {"title": "Mood", "enum": ["happy", "sad"], "type": "string"}
    assert schema["$defs"]["Address"]["required"] == ["city", "zip_code"]
    assert "Person" in schema["$defs"]  # recursive: friends refer to it


def test_a_pydantic_model_and_completion_args_are_converted(fake_client: Client, fake: FakeMistral) -> None:
    fake_client.chat(model=MODEL, messages=ASK, response_format=OwnerModel)
    schema = sent(fake)["response_format"]["json_schema"]["schema"]
    spec_check("ResponseFormat", sent(fake)["response_format"])
    assert_strict(schema)
    assert schema["properties"]["pets"]["items"] == {"$ref": "#/$defs/PetModel"}
    assert schema["$defs"]["PetModel"]["required"] == ["name", "legs"]
    assert schema["properties"]["best"]["anyOf"] == [{"$ref": "#/$defs/PetModel"}, {"type": "null"}]
    args = {"temperature": 0.1, "response_format": OwnerModel}
    fake_client.create_conversation(model=MODEL, inputs="hi", completion_args=args)
    body = sent(fake)
    spec_check("ResponseFormat", body["completion_args"]["response_format"])
    assert body["completion_args"]["temperature"] == 0.1
    assert args["response_format"] is OwnerModel  # the caller's dict is not changed


def test_dict_formats_are_sent_unchanged(fake_client: Client, fake: FakeMistral) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    reply = fake_client.chat(model=MODEL, messages=ASK, response_format=fmt)
    assert sent(fake)["response_format"] == fmt
    assert "parsed" not in reply["choices"][0]["message"]


def test_response_format_for_is_public() -> None:
    fmt = response_format_for(Book)
    spec_check("ResponseFormat", fmt)
    assert fmt["json_schema"]["schema"]["properties"]["subtitle"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]}


@pytest.mark.parametrize("bad", [int, "Person", Mood, 3])
def test_a_non_object_type_is_refused_before_any_io(fake_client: Client, fake: FakeMistral, bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        fake_client.chat(model=MODEL, messages=ASK, response_format=bad)
    assert info.value.errors[0][0] == "response_format"
    assert "pydantic model, dataclass or TypedDict" in info.value.errors[0][1]
    assert fake.requests == []


def test_an_unsupported_field_type_is_refused_before_any_io(fake_client: Client, fake: FakeMistral) -> None:
    @dataclasses.dataclass
    class Odd:
        when: complex

    with pytest.raises(ValidationError, match=r"Odd.when: cannot describe complex"):
        fake_client.chat(model=MODEL, messages=ASK, response_format=Odd)
    assert fake.requests == []


# --- parsed results ----------------------------------------------------------------------


def test_nested_dataclasses_are_parsed(fake_client: Client) -> None:
    reply = fake_client.chat(model=MODEL, messages=ASK, response_format=Person)
    message = reply["choices"][0]["message"]
    person, content = message["parsed"], json.loads(message["content"])
    assert isinstance(person, Person) and isinstance(person.address, Address)
    assert (person.name, person.age, person.tags) == (content["name"], content["age"], content["tags"])
    assert person.address == Address(content["address"]["city"], content["address"]["zip_code"])
    assert person.mood is Mood(content["mood"])
    assert person.friends and all(isinstance(f, Person) for f in person.friends)
    assert person.friends[0].friends == []  # null in the JSON: the default factory applies


def test_nested_pydantic_models_are_parsed_and_nulls_take_defaults(fake_client: Client, fake: FakeMistral) -> None:
    content = {"name": "Ann", "pets": [{"name": "Rex", "legs": None}], "best": None, "level": None}
    fake.script("chat", chat_completion(json.dumps(content)))
    owner = fake_client.chat(model=MODEL, messages=ASK, response_format=OwnerModel)["choices"][0]["message"]["parsed"]
    assert owner == OwnerModel(name="Ann", pets=[PetModel(name="Rex", legs=4)], best=None, level="low")
    generated = fake_client.chat(model=MODEL, messages=ASK, response_format=OwnerModel)
    parsed = generated["choices"][0]["message"]["parsed"]
    assert isinstance(parsed, OwnerModel) and isinstance(parsed.pets[0], PetModel)
    assert parsed.model_dump() == json.loads(generated["choices"][0]["message"]["content"])


def test_a_typeddict_gives_a_checked_dict(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion('{"title": "Dune", "pages": 412, "subtitle": null}'))
    reply = fake_client.chat(model=MODEL, messages=ASK, response_format=Book)
    assert reply["choices"][0]["message"]["parsed"] == {"title": "Dune", "pages": 412}
    fake.script("chat", chat_completion('{"title": "Dune", "pages": "many", "subtitle": null}'))
    with pytest.raises(OutputParseError, match=r"\$\.pages: expected an integer, got a string"):
        fake_client.chat(model=MODEL, messages=ASK, response_format=Book)


def test_invalid_json_raises_with_the_raw_content_and_response(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion("Sure! Here is Ada: {"))
    with pytest.raises(OutputParseError) as info:
        fake_client.chat(model=MODEL, messages=ASK, response_format=Person)
    err = info.value
    assert isinstance(err, mistral_lite.MistralError)
    assert err.content == "Sure! Here is Ada: {" and err.finish_reason == "stop"
    assert err.response["choices"][0]["message"]["content"] == err.content
    assert "not valid JSON" in str(err) and "length" not in str(err)


def test_a_mismatch_raises_naming_the_path(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion('{"name": "Ada", "age": 36, "address": {"town": "London"}}'))
    with pytest.raises(OutputParseError, match=r"does not match Person: \$\.address: unexpected field"):
        fake_client.chat(model=MODEL, messages=ASK, response_format=Person)
    fake.script("chat", chat_completion('{"name": "Rex"}'))
    with pytest.raises(OutputParseError, match=r"does not match OwnerModel: .*pets: Field required"):
        fake_client.chat(model=MODEL, messages=ASK, response_format=OwnerModel)


def test_a_cut_output_says_so(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion('{"name": "Ada", "ag', finish_reason="length"))
    with pytest.raises(OutputParseError, match="output was cut at max_tokens") as info:
        fake_client.chat(model=MODEL, messages=ASK, response_format=Person, max_tokens=5)
    assert info.value.finish_reason == "length"


def test_a_tool_call_instead_of_an_answer_parses_to_none(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion(tool_calls=[{"name": "lookup", "arguments": {"q": "Ada"}}]))
    reply = fake_client.chat(model=MODEL, messages=ASK, response_format=Person)
    assert reply["choices"][0]["message"]["parsed"] is None


def test_streams_give_parsed_through_collect_completion(fake_client: Client, fake: FakeMistral) -> None:
    stream = fake_client.chat(model=MODEL, messages=ASK, response_format=Person, stream=True)
    done = collect_completion(stream)
    assert isinstance(done["choices"][0]["message"]["parsed"], Person)
    assert sent(fake)["stream"] is True
    fake.script("chat", chat_completion('{"name": "Ada"', finish_reason="length"))
    with pytest.raises(OutputParseError, match="cut"):
        collect_completion(fake_client.chat(model=MODEL, messages=ASK, response_format=Person, stream=True))


def test_conversation_outputs_are_parsed(fake_client: Client, fake: FakeMistral) -> None:
    result = fake_client.create_conversation(model=MODEL, inputs="hi",
                                        completion_args={"response_format": PetModel})
    output = result["outputs"][0]
    assert isinstance(output["parsed"], PetModel)
    assert output["parsed"].model_dump() == json.loads(output["content"])


def test_agent_completion_takes_a_type(fake_client: Client, fake: FakeMistral) -> None:
    agent = fake_client.create_agent(model=MODEL, name="a")
    reply = fake_client.agent_completion(agent_id=agent["id"], messages=ASK, response_format=Address)
    assert isinstance(reply["choices"][0]["message"]["parsed"], Address)
    spec_check("ResponseFormat", sent(fake)["response_format"])


def test_async_client_parses_too(fake: FakeMistral) -> None:
    import asyncio

    async def main() -> Any:
        async with mistral_lite.AsyncClient("k", base_url=fake.url) as aclient:
            return await aclient.chat(model=MODEL, messages=ASK, response_format=PetModel)

    reply = asyncio.run(main())
    assert isinstance(reply["choices"][0]["message"]["parsed"], PetModel)

    async def streamed() -> Any:
        async with mistral_lite.AsyncClient("k", base_url=fake.url) as aclient:
            stream = await aclient.chat(model=MODEL, messages=ASK, response_format=PetModel, stream=True)
            return await mistral_lite.acollect_completion(stream)

    done = asyncio.run(streamed())
    assert isinstance(done["choices"][0]["message"]["parsed"], PetModel)
    assert done["choices"][0]["message"]["parsed"].model_dump() == json.loads(done["choices"][0]["message"]["content"])


# --- optional dependency and import cost ------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, cwd=str(Path(__file__).parent))


def test_import_loads_neither_pydantic_nor_the_type_machinery() -> None:
    done = _run("""
        import sys
        import mistral_lite
        heavy = ["pydantic", "inspect", "mistral_lite._core.pytypes", "mistral_lite._core.tools", "mistral_lite._methods.tool_loop"]
        print([m for m in heavy if m in sys.modules])
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_pydantic_plain_types_work_and_a_model_names_the_extra() -> None:
    done = _run("""
        import sys, dataclasses, json
        sys.modules["pydantic"] = None  # as if it were not installed
        from typing import TypedDict
        import mistral_lite
        from mistral_lite import Client, ValidationError, function_tool
        from mistral_lite.fake import FakeMistral

        @dataclasses.dataclass
        class Point:
            x: int
            y: int

        class Box(TypedDict):
            corner: Point

        def area(width: float, height: float = 1.0) -> float:
            "Area of a box."
            return width * height

        # a class that looks like a pydantic model (pydantic itself cannot be imported here)
        Base = type("BaseModel", (), {"__module__": "pydantic.main"})
        Model = type("Model", (Base,), {})

        with FakeMistral() as fake, Client("k", base_url=fake.url) as client:
            ask = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
            point = client.chat(**ask, response_format=Point)["choices"][0]["message"]["parsed"]
            box = client.chat(**ask, response_format=Box)["choices"][0]["message"]["parsed"]
            tool = function_tool(area)
            try:
                client.chat(**ask, response_format=Model)
            except ValidationError as exc:
                print("ERR", exc.errors[0][1])
        print(type(point).__name__, type(box["corner"]).__name__, tool["function"]["parameters"]["required"])
        print("pydantic" in sys.modules and sys.modules["pydantic"] is not None)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == ('ERR pydantic models need pydantic installed: pip install "mistral-lite[pydantic]" '
                        '(or pip install ".[pydantic]" from a clone of the repository)')
    assert lines[1] == "Point Point ['width']"
    assert lines[2] == "False"


def test_parsed_is_typed_by_the_type_given(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    sample = tmp_path / "use.py"
    sample.write_text(textwrap.dedent("""
        import dataclasses
        from mistral_lite import Client

        @dataclasses.dataclass
        class Point:
            x: int

        def area(w: float) -> float:
            return w

        c = Client("k")
        reply = c.chat(model="m", messages=[], response_format=Point, tools=[area, {"type": "web_search"}])
        ok: Point | None = reply["choices"][0]["message"]["parsed"]
        wrong: int = reply["choices"][0]["message"]["parsed"]
        loose = c.chat(model="m", messages=[], response_format={"type": "json_object"})
    """))
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(sample)],
                         capture_output=True, text=True, cwd=root)
    assert out.stdout.count("error:") == 1, out.stdout
    assert 'Incompatible types in assignment (expression has type "Point | None", variable has type "int")' \
        in out.stdout, out.stdout
