"""Tools from Python functions and the tool loop (``run_tools``), sync, async and conversations.

Against the fake: with tools it calls every tool the last user message names (or the first),
with arguments generated from each tool's schema, then answers ``Tool result: ...`` once the
results are in; ``FakeMistral.script`` queues canned replies. The tool dicts sent are checked
against the spec's ``Tool`` / ``FunctionTool`` (``tests/data/spec_response_format_tool.json``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import threading
from typing import Any, Literal, TypedDict

import jsonschema
import pytest
from _fake_session import MODEL, spec_check

import mistral_lite
from mistral_lite import Client, MaxTurnsExceeded, ToolError, ValidationError, function_tool
from mistral_lite.fake import FakeMistral, chat_completion


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Place:
    city: str
    country: str = "FR"


class Window(TypedDict):
    start: int
    end: int


def get_weather(place: Place, unit: Unit = Unit.C, days: int = 1,
                detail: Literal["low", "high"] | None = None) -> dict[str, Any]:
    """Get the weather forecast for a place.

    Args:
        place: Where to look.
        unit (Unit): Temperature unit,
            Celsius unless asked.
        days: How many days ahead.

    Returns:
        The forecast.
    """
    return {"city": place.city, "country": place.country, "unit": unit.value, "days": days}


def get_time(zone: str, window: Window | None = None, weights: dict[str, float] | None = None) -> str:
    """Current time in a zone.

    Parameters
    ----------
    zone : str
        An IANA zone name,
        such as Europe/Paris.
    window : Window, optional
        Hours of interest.
    """
    raise RuntimeError("the clock is broken")




def bodies(fake: FakeMistral, operation: str) -> list[Any]:
    return [r.json for r in fake.requests if r.operation == operation]


# --- function_tool ---------------------------------------------------------------------------


def test_function_tool_reads_signature_and_google_docstring() -> None:
    tool = function_tool(get_weather)
    spec_check("Tool", tool)
    spec_check("FunctionTool", tool)
    fn = tool["function"]
    assert fn["name"] == "get_weather" and fn["description"] == "Get the weather forecast for a place."
    params = fn["parameters"]
    jsonschema.Draft202012Validator.check_schema(params)
    assert params["required"] == ["place"]
    assert params["properties"]["place"] == {
        "type": "object", "title": "Place", "description": "Where to look.",
        "properties": {"city": {"type": "string"}, "country": {"type": "string", "default": "FR"}},
        "required": ["city"], "additionalProperties": False}
    assert params["properties"]["unit"] == {
        "$ref": "#/$defs/Unit", "description": "Temperature unit, Celsius unless asked.", "default": "celsius"}
    assert params["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert params["properties"]["days"] == {"type": "integer", "description": "How many days ahead.", "default": 1}
    assert params["properties"]["detail"] == {
        "anyOf": [{"type": "string", "enum": ["low", "high"]}, {"type": "null"}], "default": None}
    assert "strict" not in fn


def test_function_tool_numpy_docstring_typeddict_dict_and_strict() -> None:
    tool = function_tool(get_time, name="clock", description="What time is it?", strict=True)
    spec_check("Tool", tool)
    fn = tool["function"]
    assert (fn["name"], fn["description"], fn["strict"]) == ("clock", "What time is it?", True)
    params = fn["parameters"]
    assert params["required"] == ["zone", "window", "weights"] and params["additionalProperties"] is False
    assert params["properties"]["zone"] == {"type": "string", "description": "An IANA zone name, such as Europe/Paris."}
    window = params["properties"]["window"]
    assert window["description"] == "Hours of interest."
    assert window["anyOf"] == [{"$ref": "#/$defs/Window"}, {"type": "null"}]
    assert params["$defs"]["Window"]["properties"] == {"start": {"type": "integer"}, "end": {"type": "integer"}}
    assert params["$defs"]["Window"]["required"] == ["start", "end"]
    assert params["properties"]["weights"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "number"}}


def test_function_tool_refuses_what_json_cannot_say() -> None:
    def bad(x: complex) -> None:
        pass

    with pytest.raises(mistral_lite.MistralError, match=r"bad\(x\): cannot describe complex"):
        function_tool(bad)


def test_callables_are_accepted_wherever_tools_are(fake_client: Client, fake: FakeMistral) -> None:
    fake_client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[get_weather, get_time],
                tool_choice="none")
    sent = bodies(fake, "chat")[-1]["tools"]
    assert sent == [function_tool(get_weather), function_tool(get_time)]
    agent = fake_client.create_agent(model=MODEL, name="forecaster", tools=[get_weather, {"type": "web_search"}])
    assert bodies(fake, "create_agent")[-1]["tools"] == [function_tool(get_weather), {"type": "web_search"}]
    assert agent["tools"][0]["function"]["name"] == "get_weather"


def test_a_bad_callable_is_reported_before_any_io(fake_client: Client, fake: FakeMistral) -> None:
    def bad(x: complex) -> None:
        pass

    with pytest.raises(ValidationError) as info:
        fake_client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[get_weather, bad])
    assert info.value.errors[0][0] == "tools[1]"
    assert fake.requests == []


# --- the loop ------------------------------------------------------------------------------------


def test_two_tools_one_raising_reach_a_final_answer(fake_client: Client, fake: FakeMistral) -> None:
    seen: list[Any] = []
    ask = [{"role": "user", "content": "get_weather and get_time please"}]
    result = fake_client.run_tools(model=MODEL, messages=ask,
                              tools=[get_weather, get_time], on_message=seen.append, temperature=0.2)
    chats = bodies(fake, "chat")
    assert len(chats) == 2
    assert all(body["temperature"] == 0.2 and len(body["tools"]) == 2 for body in chats)
    assistant, weather, clock = chats[1]["messages"][1:]
    calls = assistant["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    args = json.loads(calls[0]["function"]["arguments"])
    expected = {"city": args["place"]["city"], "country": args["place"]["country"],
                "unit": args["unit"], "days": args["days"]}
    assert weather == {"role": "tool", "name": "get_weather", "tool_call_id": calls[0]["id"],
                       "content": json.dumps(expected)}
    assert clock == {"role": "tool", "name": "get_time", "tool_call_id": calls[1]["id"],
                     "content": "Error: get_time raised RuntimeError: the clock is broken"}
    final = result["choices"][0]["message"]
    assert final["content"] == f"Tool result: {json.dumps(expected)}\nTool result: {clock['content']}"
    assert result["messages"] == [*chats[1]["messages"], {"role": "assistant", "content": final["content"]}]
    assert seen == result["messages"][1:]


def test_raise_tool_errors_raises_tool_error(fake_client: Client) -> None:
    with pytest.raises(ToolError) as info:
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "get_time"}],
                         tools=[get_weather, get_time], raise_tool_errors=True)
    err = info.value
    assert err.tool == "get_time" and isinstance(err.__cause__, RuntimeError)
    assert json.loads(err.arguments)["zone"] == "get_time"


def test_bad_arguments_go_back_to_the_model(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion(tool_calls=[
        {"name": "get_weather", "arguments": "{not json"},
        {"name": "get_weather", "arguments": {"place": {"city": 3}}},
        {"name": "get_weather", "arguments": {"place": {"city": "Oslo"}, "hour": 3}},
        {"name": "launch", "arguments": {}},
    ]))
    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather"}], tools=[get_weather])
    replies = [m["content"] for m in result["messages"] if m["role"] == "tool"]
    assert replies[0].startswith("Error: invalid arguments for get_weather: the arguments are not valid JSON")
    assert replies[1] == "Error: invalid arguments for get_weather: place.city: expected a string, got an integer"
    assert replies[2] == ("Error: invalid arguments for get_weather: unexpected argument(s) ['hour']; "
                          "the parameters are ['days', 'detail', 'place', 'unit']")
    assert replies[3] == "Error: no tool named 'launch' (tools: get_weather)"
    assert result["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(ToolError, match="not valid JSON"):
        fake.script("chat", chat_completion(tool_calls=[{"name": "get_weather", "arguments": "{"}]))
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather"}], tools=[get_weather],
                         raise_tool_errors=True)


def test_max_turns_exceeded_carries_the_transcript(fake_client: Client, fake: FakeMistral) -> None:
    def again(options: dict[str, Any]) -> Any:
        return chat_completion(tool_calls=[{"name": "get_weather", "arguments": {"place": {"city": "Rome"}}}])

    fake.script("chat", again, again, again)
    with pytest.raises(MaxTurnsExceeded) as info:
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather"}], tools=[get_weather],
                         max_turns=3)
    transcript = info.value.transcript
    assert len(bodies(fake, "chat")) == 3
    assert [m["role"] for m in transcript] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert info.value.last["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_calls_run_concurrently_on_threads(fake_client: Client) -> None:
    barrier = threading.Barrier(2, timeout=10)  # both calls must be in flight at once

    def ping(host: str) -> str:
        barrier.wait()
        return "up"

    def pong(host: str) -> str:
        barrier.wait()
        return "down"

    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "ping and pong"}],
                                   tools=[ping, pong])
    assert result["choices"][0]["message"]["content"] == "Tool result: up\nTool result: down"


def test_run_tools_checks_its_input_before_any_io(fake_client: Client, fake: FakeMistral) -> None:
    with pytest.raises(ValidationError, match="run_tools works with"):
        fake_client.run_tools(operation="embed", tools=[get_weather], input="x")
    with pytest.raises(ValidationError, match="stream"):
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[get_weather],
                              stream="yes")
    with pytest.raises(mistral_lite.UnknownOperationError):
        fake_client.run_tools(operation="chatt", tools=[get_weather])
    assert fake.requests == []


def test_structured_final_answer_in_the_loop(fake_client: Client) -> None:
    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "get_weather"}],
                              tools=[get_weather], response_format=Place)
    assert isinstance(result["choices"][0]["message"]["parsed"], Place)


# --- conversations ---------------------------------------------------------------------------------


def test_conversation_loop_answers_function_calls_with_function_results(fake_client: Client, fake: FakeMistral) -> None:
    result = fake_client.run_tools(operation="create_conversation", model=MODEL, inputs="get_weather in Paris",
                              tools=[get_weather], completion_args={"temperature": 0.3})
    created = bodies(fake, "create_conversation")
    appended = bodies(fake, "append_conversation")
    assert len(created) == 1 and len(appended) == 1
    spec_check("FunctionTool", created[0]["tools"][0])
    call = fake.requests[-2]
    assert call.operation == "create_conversation"
    conv_id = result["conversation_id"]
    assert fake.requests[-1].path == f"/v1/conversations/{conv_id}"
    assert appended[0]["completion_args"] == {"temperature": 0.3}
    results = appended[0]["inputs"]
    assert len(results) == 1 and results[0]["type"] == "function.result"
    kinds = [e["type"] for e in result["entries"]]
    assert kinds == ["message.input", "function.call", "function.result", "message.output"]
    assert results[0]["tool_call_id"] == result["entries"][1]["tool_call_id"]
    assert result["outputs"][0]["content"] == f"Tool result: {results[0]['result']}"
    history = fake_client.get_conversation_history(conv_id)
    assert [e["type"] for e in history["entries"]] == kinds


# --- asyncio -----------------------------------------------------------------------------------------


def test_async_loop_awaits_async_tools_and_threads_sync_ones(fake: FakeMistral) -> None:
    threads: dict[str, str] = {}

    async def get_time(zone: str) -> str:
        threads["get_time"] = threading.current_thread().name
        await asyncio.sleep(0)
        return "noon"

    def lookup(term: str) -> list[str]:
        threads["lookup"] = threading.current_thread().name
        return [term.upper()]

    async def main() -> Any:
        async with mistral_lite.AsyncClient("k", base_url=fake.url) as aclient:
            return await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "get_time and lookup"}],
                                           tools=[get_time, lookup])

    result = asyncio.run(main())
    assert result["choices"][0]["message"]["content"] == (
        'Tool result: noon\nTool result: ["GET_TIME AND LOOKUP"]')
    assert threads["get_time"] == "MainThread" and threads["lookup"] != "MainThread"
    assert [m["role"] for m in result["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]


def test_sync_loop_runs_an_async_tool(fake_client: Client) -> None:
    async def get_time(zone: str) -> str:
        return f"noon in {zone}"

    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "time?"}], tools=[get_time])
    assert result["choices"][0]["message"]["content"] == "Tool result: noon in time?"


# --- the fake's scripted replies --------------------------------------------------------------------


def test_scripted_replies_are_served_in_order_then_the_fake_answers(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", chat_completion("first"), lambda options: chat_completion(f"saw {len(options['messages'])}"))
    ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert fake_client.chat(**ask)["choices"][0]["message"]["content"] == "first"
    assert fake_client.chat(**ask)["choices"][0]["message"]["content"] == "saw 1"
    assert fake_client.chat(**ask)["choices"][0]["message"]["content"] == "Echo: hi"
    fake.script("chat", chat_completion("streamed answer"))
    chunks = list(fake_client.chat(**ask, stream=True))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "streamed answer"
    with pytest.raises(KeyError):
        fake.script("chatt", {})


# --- the README ---------------------------------------------------------------------------------------


def test_readme_section_runs_against_the_fake(fake: FakeMistral, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Structured outputs and tools")
    code = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert code is not None
    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    namespace: dict[str, Any] = {"__name__": "readme_structured"}
    exec(compile(code.group(1), "README structured outputs", "exec", dont_inherit=True), namespace)
    city = namespace["city"]
    assert type(city).__name__ == "City" and isinstance(city.population, int)
    weather = {"city": "get_weather for Paris?", "temperature": 21, "unit": "C"}
    assert capsys.readouterr().out == f"Tool result: {json.dumps(weather)}\n"
    assert [m["role"] for m in namespace["transcript"]] == ["user", "assistant", "tool", "assistant"]
    assert bodies(fake, "chat")[0]["response_format"]["json_schema"]["name"] == "City"


def test_a_lambda_needs_a_name_the_api_accepts() -> None:
    from mistral_lite import MistralError, function_tool

    with pytest.raises(MistralError, match="is not one the API accepts"):
        function_tool(lambda city: city)
    tool = function_tool(lambda city: city, name="echo_city")
    assert tool["function"]["name"] == "echo_city"
    assert tool["function"]["parameters"]["required"] == ["city"]
