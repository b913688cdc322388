"""The tool loop holds to the core's standard: return values that cannot become a tool message,
malformed responses, a tool that never returns (``tool_timeout``, Ctrl-C), bad arguments and
tools that cannot be run or described, all checked before any request (issue 18 items 21-22,
issue 22 item 12). Against the fake, whose chat calls the tool the user message names."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest
from _fake_session import MODEL

from mistral_lite import AsyncClient, Client, MistralError, ToolError, ValidationError, function_tool
from mistral_lite.fake import FakeMistral

ASK = [{"role": "user", "content": "use get_value"}]


class Loud:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def _cycle() -> Any:
    value: list[Any] = []
    value.append(value)
    return value


BAD_VALUES = {
    "cycle": (_cycle, "cycle"),
    "int key": (lambda: {1: "a"}, "key 1 is not a string"),
    "huge int": (lambda: 10 ** 5000, "more than 4300 digits"),
    "raising __str__": (lambda: {"x": Loud()}, "no text for you"),
    "nan": (lambda: [float("nan")], "not a JSON number"),
}


def tool_messages(fake: FakeMistral) -> list[dict[str, Any]]:
    return [m for m in fake.requests[-1].json["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_value_that_cannot_be_a_tool_message_goes_back_as_an_error(fake_client: Client, fake: FakeMistral,
                                                                     case: str) -> None:
    make, words = BAD_VALUES[case]

    def get_value() -> Any:
        """A value."""
        return make()

    result = fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value])
    (message,) = tool_messages(fake)
    assert message["content"].startswith("Error: get_value returned a value that cannot be sent as a tool message")
    assert words in message["content"]
    assert result["choices"][0]["message"]["content"] == f"Tool result: {message['content']}"
    with pytest.raises(ToolError, match="cannot be sent as a tool message") as info:
        fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value], raise_tool_errors=True)
    assert info.value.tool == "get_value"


def test_plain_values_still_become_json(fake_client: Client, fake: FakeMistral) -> None:
    def get_value() -> Any:
        """A value."""
        return {"a": (1, 2.5), "b": {"c": None, "d": "é"}, "e": 10 ** 30}

    fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value])
    expected = '{"a": [1, 2.5], "b": {"c": null, "d": "é"}, "e": ' + str(10 ** 30) + "}"
    assert tool_messages(fake)[0]["content"] == expected


@pytest.mark.parametrize("reply", [{"choices": ["x"]}, {"choices": []}, {"choices": [{"message": "x"}]},
                                   {"choices": [{"message": {"role": "assistant", "tool_calls": "x"}}]},
                                   {"choices": [{"message": {"role": "assistant", "tool_calls": ["x"]}}]}])
def test_a_malformed_response_is_a_mistral_error(reply: dict[str, Any]) -> None:
    import responses

    def get_value() -> str:
        """A value."""
        return "v"

    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://api.test/v1/chat/completions", json=reply)
        client = Client("k", base_url="https://api.test", max_retries=0)
        with pytest.raises(MistralError, match=r"run_tools|tool call|tool_calls") as info:
            client.run_tools(model=MODEL, messages=ASK, tools=[get_value])
    assert type(info.value) is MistralError
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://api.test/v1/conversations", json={"outputs": ["x"]})
        with pytest.raises(MistralError, match="outputs are not a list of entries"):
            client.run_tools(operation="create_conversation", model=MODEL, inputs="x", tools=[get_value])


def test_tool_timeout_bounds_a_hung_tool(fake_client: Client, fake: FakeMistral) -> None:
    release = threading.Event()

    def get_value() -> str:
        """Never returns (until the test ends)."""
        release.wait(30)
        return "late"

    started = time.monotonic()
    try:
        result = fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value], tool_timeout=0.2)
        assert time.monotonic() - started < 5
        (message,) = tool_messages(fake)
        assert message["content"] == "Error: get_value did not finish within tool_timeout=0.2 s"
        assert result["messages"][-1]["role"] == "assistant"
        with pytest.raises(ToolError, match="tool_timeout"):
            fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value], tool_timeout=0.2,
                                  raise_tool_errors=True)
    finally:
        release.set()


def test_async_tool_timeout_bounds_sync_and_async_tools(fake: FakeMistral) -> None:
    release = threading.Event()

    def get_value() -> str:
        """Hangs on a thread."""
        release.wait(30)
        return "late"

    async def get_other() -> str:
        """Hangs on the event loop."""
        await asyncio.sleep(30)
        return "late"

    async def main() -> list[str]:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "get_value and get_other"}],
                                    tools=[get_value, get_other], tool_timeout=0.2)
        finally:
            await aclient.aclose()
        return [m["content"] for m in tool_messages(fake)]

    started = time.monotonic()
    try:
        contents = asyncio.run(main())  # the hung thread does not hold up asyncio.run's end either
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert contents == ["Error: get_value did not finish within tool_timeout=0.2 s",
                        "Error: get_other did not finish within tool_timeout=0.2 s"]


def test_ctrl_c_does_not_wait_for_a_hung_tool(fake_client: Client) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    release, running = threading.Event(), threading.Event()

    def get_value() -> str:
        """Hangs."""
        running.set()
        release.wait(30)
        return "late"

    def interrupt() -> None:
        running.wait(10)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            fake_client.run_tools(model=MODEL, messages=ASK, tools=[get_value])
        assert time.monotonic() - started < 5
    finally:
        release.set()


def documented(city: str) -> str:
    """Weather."""
    return city


def test_bad_arguments_are_validation_errors_before_any_request(fake_client: Client, fake: FakeMistral) -> None:
    with pytest.raises(ValidationError) as info:
        fake_client.run_tools(model=MODEL, messages=ASK, tools=[documented], max_turns=True,  # type: ignore[arg-type]
                              raise_tool_errors="yes", on_message=5, tool_timeout=-1,  # type: ignore[arg-type]
                              approvals={"id": "yes"})  # type: ignore[dict-item]
    text = str(info.value)
    for name in ("max_turns", "raise_tool_errors", "on_message", "tool_timeout", "approvals"):
        assert name in text
    for bad in ({"max_turns": 0}, {"max_turns": 1.5}, {"tool_timeout": float("nan")}, {"tool_timeout": True},
                {"operation": 5}, {"approvals": [1]}):
        with pytest.raises(ValidationError):
            fake_client.run_tools(model=MODEL, messages=ASK, tools=[documented], **bad)  # type: ignore[arg-type]
    for tools in (None, "documented", 5, [5]):
        with pytest.raises(ValidationError, match="tool"):
            fake_client.run_tools(model=MODEL, messages=ASK, tools=tools)  # type: ignore[arg-type]
    assert fake.requests == []


def test_tools_are_checked_up_front(fake_client: Client, fake: FakeMistral) -> None:
    def bare(city):  # type: ignore[no-untyped-def]
        return city

    def described(city):  # type: ignore[no-untyped-def]
        """Weather of a city."""
        return city

    orphan = function_tool(documented, name="orphan")
    plain = dict(function_tool(documented))  # a dict: no function behind it
    with pytest.raises(ValidationError) as info:
        fake_client.run_tools(model=MODEL, messages=ASK, tools=[bare, plain])
    assert "tools[0]" in str(info.value) and "neither annotations nor a docstring" in str(info.value)
    assert "tools[1]" in str(info.value) and "'documented' has no Python function to run" in str(info.value)
    assert fake.requests == []
    # a described callable and a function_tool dict (it remembers its function) are fine
    fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "orphan"}], tools=[described, orphan])
    calls = [m for m in fake.requests[0].json["messages"]]
    assert fake.requests[0].json["tools"][1] == {"type": "function", "function": {
        "name": "orphan", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    assert calls == [{"role": "user", "content": "orphan"}]
    assert [m["name"] for m in fake.requests[1].json["messages"] if m["role"] == "tool"] == ["orphan"]


def test_cancelling_the_async_loop_does_not_wait_for_a_hung_tool(fake: FakeMistral) -> None:
    release = threading.Event()

    def get_value() -> str:
        """Hangs on a thread."""
        release.wait(30)
        return "late"

    async def main() -> None:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(aclient.run_tools(model=MODEL, messages=ASK, tools=[get_value]), 0.5)
        finally:
            await aclient.aclose()

    started = time.monotonic()
    try:
        asyncio.run(main())  # asyncio.run's end does not join the tool's thread either
        assert time.monotonic() - started < 5
    finally:
        release.set()
