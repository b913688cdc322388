"""Approvals: a ``function_tool(fn, confirm=True)`` call stops the loop with
``pending_tool_calls``; ``run_tools(messages=..., approvals={id: bool})`` answers them first
(approved: run; denied: an ``"Error: ... denied ..."`` tool message) and goes on. Conversations
answer local calls the same way, and calls the server holds for confirmation
(``confirmation_status: "pending"``) through ``tool_confirmations``. Against the fake."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from _fake_session import MODEL

from mistral_lite import AsyncClient, Client, ValidationError, function_tool
from mistral_lite.fake import FakeMistral

deleted: list[str] = []


def delete_file(path: str) -> str:
    """Delete a file."""
    deleted.append(path)
    return f"deleted {path}"


def list_files(folder: str) -> list[str]:
    """List a folder."""
    return [f"{folder}/a.txt"]


ASK = [{"role": "user", "content": "delete_file and list_files"}]
RISKY = function_tool(delete_file, confirm=True)


@pytest.fixture(autouse=True)
def _reset() -> None:
    deleted.clear()


def test_function_tool_confirm_sends_the_same_dict() -> None:
    assert function_tool(delete_file) == RISKY
    assert dict(RISKY) == function_tool(delete_file) and "confirm" not in RISKY
    with pytest.raises(TypeError, match="confirm"):
        function_tool(delete_file, confirm="yes")  # type: ignore[arg-type]


def test_the_loop_stops_before_a_confirm_call_and_goes_on_when_approved(fake_client: Client,
                                                                        fake: FakeMistral) -> None:
    first = fake_client.run_tools(model=MODEL, messages=ASK, tools=[RISKY, list_files])
    assert deleted == [] and len(fake.requests) == 1
    assert fake.requests[0].json["tools"] == [function_tool(delete_file), function_tool(list_files)]
    answer = fake.requests[0].json  # what was sent; the reply's tool calls:
    model_calls = first["messages"][1]["tool_calls"]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"] and answer["messages"] == ASK
    (pending,) = first["pending_tool_calls"]
    assert pending is model_calls[0] and pending["function"]["name"] == "delete_file"
    saved = copy.deepcopy(first["messages"])

    final = fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[RISKY, list_files],
                                  approvals={pending["id"]: True})
    assert first["messages"] == saved  # the caller's list is not changed
    sent = fake.requests[1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[2] == {"role": "tool", "name": "delete_file", "tool_call_id": pending["id"],
                       "content": f"deleted {deleted[0]}"}
    assert sent[3]["name"] == "list_files"
    assert "pending_tool_calls" not in final
    assert final["choices"][0]["message"]["content"].startswith("Tool result: deleted")
    assert [m["role"] for m in final["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]


def test_a_denied_call_gets_an_error_message_and_does_not_run(fake_client: Client, fake: FakeMistral) -> None:
    first = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "delete_file"}], tools=[RISKY])
    (pending,) = first["pending_tool_calls"]
    final = fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[RISKY],
                                  approvals={pending["id"]: False})
    assert deleted == []
    (tool,) = [m for m in fake.requests[1].json["messages"] if m["role"] == "tool"]
    assert tool["content"].startswith("Error:") and "denied" in tool["content"]
    assert [m["role"] for m in fake.requests[1].json["messages"]] == ["user", "assistant", "tool"]
    assert final["choices"][0]["message"]["content"] == f"Tool result: {tool['content']}"


def test_without_a_decision_the_call_stays_pending_and_nothing_is_sent(fake_client: Client,
                                                                       fake: FakeMistral) -> None:
    first = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "delete_file"}], tools=[RISKY])
    again = fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[RISKY], approvals={"other": True})
    assert again["pending_tool_calls"] == first["pending_tool_calls"] and len(fake.requests) == 1
    with pytest.raises(ValidationError, match="approvals"):
        fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[RISKY], approvals={"x": "yes"})


def test_streamed_approvals(fake_client: Client, fake: FakeMistral) -> None:
    events = list(fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "delete_file"}],
                                        tools=[RISKY], stream=True))
    assert [e["type"] for e in events] == ["tool_call", "done"]
    first = events[-1]["result"]
    (pending,) = first["pending_tool_calls"]
    assert pending["id"] == events[0]["id"]
    events = list(fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[RISKY], stream=True,
                                        approvals={pending["id"]: True}))
    assert events[0] == {"type": "tool_result", "id": pending["id"], "name": "delete_file",
                         "content": f"deleted {deleted[0]}"}
    assert events[-1]["result"]["messages"][2]["role"] == "tool"


def test_async_approvals(fake: FakeMistral) -> None:
    async def main() -> tuple[Any, Any]:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            first = await aclient.run_tools(model=MODEL, messages=ASK, tools=[RISKY, list_files])
            ids = {c["id"]: False for c in first["pending_tool_calls"]}
            return first, await aclient.run_tools(model=MODEL, messages=first["messages"],
                                                  tools=[RISKY, list_files], approvals=ids)
        finally:
            await aclient.aclose()

    first, final = asyncio.run(main())
    assert len(first["pending_tool_calls"]) == 1 and deleted == []
    tools = [m for m in final["messages"] if m["role"] == "tool"]
    assert "denied" in tools[0]["content"] and tools[1]["content"] == "[\"delete_file and list_files/a.txt\"]"


def test_conversation_local_confirm_call(fake_client: Client, fake: FakeMistral) -> None:
    first = fake_client.run_tools(operation="create_conversation", model=MODEL, inputs="delete_file",
                                  tools=[RISKY])
    (pending,) = first["pending_tool_calls"]
    assert pending["type"] == "function.call" and pending is first["outputs"][0]
    assert [e["type"] for e in first["entries"]] == ["message.input", "function.call"]
    final = fake_client.run_tools(operation="append_conversation", conversation_id=first["conversation_id"],
                                  entries=first["entries"], tools=[RISKY],
                                  approvals={pending["tool_call_id"]: True})
    assert fake.requests[1].operation == "append_conversation"
    assert fake.requests[1].json["inputs"] == [{"type": "function.result", "tool_call_id": pending["tool_call_id"],
                                                "result": f"deleted {deleted[0]}"}]
    assert final["outputs"][-1]["type"] == "message.output"
    assert [e["type"] for e in final["entries"]][-2:] == ["function.result", "message.output"]
    with pytest.raises(ValidationError, match="conversation_id"):
        fake_client.run_tools(operation="append_conversation", entries=first["entries"], tools=[RISKY],
                              approvals={pending["tool_call_id"]: True})


def test_conversation_server_confirmation_goes_through_tool_confirmations(fake_client: Client,
                                                                         fake: FakeMistral) -> None:
    held = {"object": "entry", "type": "function.call", "id": "fc_1", "tool_call_id": "t1", "name": "web_search",
            "arguments": '{"query": "x"}', "confirmation_status": "pending"}
    fake.script("create_conversation", {"object": "conversation.response", "conversation_id": "conv_1",
                                        "outputs": [held], "usage": {}})
    first = fake_client.run_tools(operation="create_conversation", model=MODEL, inputs="search",
                                  tools=[{"type": "web_search"}])
    assert first["pending_tool_calls"] == [held]
    fake.script("append_conversation", {"object": "conversation.response", "conversation_id": "conv_1",
                                        "outputs": [{"object": "entry", "type": "message.output",
                                                     "role": "assistant", "content": "Found it."}], "usage": {}})
    final = fake_client.run_tools(operation="append_conversation", conversation_id="conv_1",
                                  entries=first["entries"], tools=[{"type": "web_search"}], approvals={"t1": False})
    sent = fake.requests[-1]
    assert sent.path == "/v1/conversations/conv_1"
    assert sent.json["tool_confirmations"] == [{"tool_call_id": "t1", "confirmation": "deny"}]
    assert sent.json["inputs"] == []
    assert final["outputs"][0]["content"] == "Found it."


def test_readme_approvals_example_runs_against_the_fake(fake: FakeMistral, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from test_tool_stream import readme_blocks

    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    namespace: dict[str, Any] = {"__name__": "readme_approvals"}
    exec(compile(readme_blocks()[1], "README approvals", "exec", dont_inherit=True), namespace)
    out = capsys.readouterr().out.splitlines()
    assert out == ['approve? delete_file {"path": "delete_file notes.txt"}',
                   "Tool result: deleted delete_file notes.txt"]
    assert [m["role"] for m in fake.requests[1].json["messages"]] == ["user", "assistant", "tool"]


def test_a_denial_holds_even_if_the_tool_is_given_without_confirm(fake_client: Client, fake: FakeMistral) -> None:
    first = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "delete_file"}], tools=[RISKY])
    (pending,) = first["pending_tool_calls"]
    fake_client.run_tools(model=MODEL, messages=first["messages"], tools=[delete_file],
                          approvals={pending["id"]: False})
    assert deleted == []
    assert "denied" in fake.requests[1].json["messages"][2]["content"]
