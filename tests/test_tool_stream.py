"""The streaming tool loop: ``run_tools(..., stream=True)`` yields ``text``, ``tool_call``,
``tool_result`` and last ``done`` events as chunks arrive, sync and async, for chat (a scripted
loopback server answering each turn as chunks, or as the JSON ``collect_completion`` makes of
them) and for conversations (the fake's event streams)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from _fake_session import MODEL
from _server import Conn, Request, ScriptedServer

from mistral_lite import AsyncClient, Client, collect_completion
from mistral_lite.fake import FakeMistral


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


async def get_time(zone: str) -> dict[str, str]:
    """Time in a zone."""
    return {"zone": zone, "time": "12:00"}


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        out["usage"] = usage
    return out


TURN_1 = [
    chunk({"role": "assistant", "content": "Let me "}),
    chunk({"content": "check."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "get_weather", "arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                           "function": {"name": "get_time", "arguments": '{"zone": "UTC"}'}}]}),
    chunk({"content": ""}, finish="tool_calls", usage={"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}),
]
TURN_2 = [
    chunk({"role": "assistant", "content": "Sunny, "}),
    chunk({"content": "noon."}, finish="stop", usage={"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}),
]


def turn(chunks: list[dict[str, Any]]) -> Any:
    """A handler answering a streamed request with ``chunks``, any other with their collected JSON."""

    def handler(conn: Conn, req: Request) -> None:
        if req.json().get("stream"):
            conn.sse_chunked([f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"])
        else:
            conn.json(collect_completion(chunks))

    return handler


ASK = [{"role": "user", "content": "Weather in Paris, and the time?"}]
EXPECTED_EVENTS = [
    {"type": "text", "delta": "Let me "},
    {"type": "text", "delta": "check."},
    {"type": "tool_call", "id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"type": "tool_call", "id": "call_b", "name": "get_time", "arguments": '{"zone": "UTC"}'},
    {"type": "tool_result", "id": "call_a", "name": "get_weather", "content": "sunny in Paris"},
    {"type": "tool_result", "id": "call_b", "name": "get_time", "content": '{"zone": "UTC", "time": "12:00"}'},
    {"type": "text", "delta": "Sunny, "},
    {"type": "text", "delta": "noon."},
]


def test_sync_stream_yields_events_in_order_and_done_equals_the_plain_run() -> None:
    with ScriptedServer() as server, Client("k", base_url=server.url) as client:
        server.script(turn(TURN_1), turn(TURN_2), turn(TURN_1), turn(TURN_2))
        events = client.run_tools(model=MODEL, messages=ASK, tools=[get_weather, get_time], stream=True)
        seen = []
        for event in events:
            seen.append(event)
            if len(seen) == 1:  # yielded while the first turn is still being read
                assert len(server.requests) == 1
        plain = client.run_tools(model=MODEL, messages=ASK, tools=[get_weather, get_time])
        bodies = [r.json() for r in server.requests]
    assert seen[:-1] == EXPECTED_EVENTS
    assert seen[-1] == {"type": "done", "result": plain}
    assert plain["choices"][0]["message"]["content"] == "Sunny, noon."
    assert [b.get("stream") for b in bodies] == [True, True, None, None]
    assert bodies[1]["messages"] == bodies[3]["messages"] == plain["messages"][:4]
    assert [m["role"] for m in plain["messages"]] == ["user", "assistant", "tool", "tool", "assistant"]
    assert plain["messages"][1]["content"] == "Let me check."


def test_async_stream_yields_the_same_events() -> None:
    async def main(url: str) -> tuple[list[dict[str, Any]], Any]:
        aclient = AsyncClient("k", base_url=url)
        try:
            events = await aclient.run_tools(model=MODEL, messages=ASK, tools=[get_weather, get_time], stream=True)
            seen = [event async for event in events]
            plain = await aclient.run_tools(model=MODEL, messages=ASK, tools=[get_weather, get_time])
        finally:
            await aclient.aclose()
        return seen, plain

    with ScriptedServer() as server:
        server.script(turn(TURN_1), turn(TURN_2), turn(TURN_1), turn(TURN_2))
        seen, plain = asyncio.run(main(server.url))
    assert seen[:-1] == EXPECTED_EVENTS
    assert seen[-1] == {"type": "done", "result": plain}


def test_on_message_and_a_plain_answer_stream_too(fake: FakeMistral) -> None:
    added: list[Any] = []
    with Client("k", base_url=fake.url) as client:
        events = list(client.run_tools(model=MODEL, messages=[{"role": "user", "content": "hello there"}],
                                       tools=[get_weather], tool_choice="none", stream=True, on_message=added.append))
    assert "".join(e["delta"] for e in events if e["type"] == "text") == "Echo: hello there"
    assert [e["type"] for e in events][-1] == "done"
    assert events[-1]["result"]["messages"][-1] == {"role": "assistant", "content": "Echo: hello there"}
    assert added == [{"role": "assistant", "content": "Echo: hello there"}]


def test_conversation_stream_from_its_event_stream(fake: FakeMistral) -> None:
    with Client("k", base_url=fake.url) as client:
        events = list(client.run_tools(operation="create_conversation", model=MODEL, inputs="get_weather please",
                                       tools=[get_weather], stream=True))
    kinds = [e["type"] for e in events]
    call = events[0]
    assert kinds[:2] == ["tool_call", "tool_result"] and kinds[-1] == "done" and set(kinds[2:-1]) == {"text"}
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "get_weather please"}
    assert events[1] == {"type": "tool_result", "id": call["id"], "name": "get_weather",
                         "content": "sunny in get_weather please"}
    text = "".join(e["delta"] for e in events if e["type"] == "text")
    assert text.startswith("Tool result: sunny in get_weather please")
    result = events[-1]["result"]
    assert result["object"] == "conversation.response" and result["conversation_id"].startswith("conv_")
    assert result["outputs"][-1]["type"] == "message.output" and result["outputs"][-1]["content"] == text
    assert [e["type"] for e in result["entries"]] == ["message.input", "function.call", "function.result",
                                                      "message.output"]
    assert result["entries"][1]["arguments"] == call["arguments"]
    sent = [(r.operation, r.json) for r in fake.requests]
    assert [op for op, _ in sent] == ["create_conversation", "append_conversation"]
    assert sent[0][1]["stream"] is True and sent[1][1]["stream"] is True
    assert fake.requests[1].path == f"/v1/conversations/{result['conversation_id']}"
    assert sent[1][1]["inputs"] == [{"type": "function.result", "tool_call_id": call["id"],
                                     "result": "sunny in get_weather please"}]


def test_async_conversation_stream(fake: FakeMistral) -> None:
    async def main() -> list[dict[str, Any]]:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            events = await aclient.run_tools(operation="create_conversation", model=MODEL,
                                             inputs="get_time please", tools=[get_time], stream=True)
            return [e async for e in events]
        finally:
            await aclient.aclose()

    events = asyncio.run(main())
    assert [e["type"] for e in events][:2] == ["tool_call", "tool_result"]
    assert events[1]["content"] == '{"zone": "get_time please", "time": "12:00"}'
    assert events[-1]["result"]["entries"][-1]["type"] == "message.output"


def readme_blocks() -> list[str]:
    """The Python blocks of the README's tool loop section, in order."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Tool loop: streaming, approvals, MCP servers")
    end = readme.index("\n## ", start + 10)
    return re.findall(r"```python\n(.*?)```", readme[start:end], re.S)


def test_readme_streaming_example_runs_against_the_fake(fake: FakeMistral, monkeypatch: Any,
                                                        capsys: Any) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    namespace: dict[str, Any] = {"__name__": "readme_tool_stream"}
    exec(compile(readme_blocks()[0], "README tool loop streaming", "exec", dont_inherit=True), namespace)
    out = capsys.readouterr().out
    assert out.startswith('[calling get_weather({"city": "get_weather for Paris?"})]\n'
                          "[get_weather -> sunny in get_weather for Paris?]\n")
    assert out.endswith("Tool result: sunny in get_weather for Paris?\n")
    assert namespace["final"]["choices"][0]["message"]["content"] == "Tool result: sunny in get_weather for Paris?"


def conversation_turn(*events: dict[str, Any]) -> Any:
    def handler(conn: Conn, req: Request) -> None:
        conn.sse_chunked([f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events])

    return handler


def test_conversation_stream_assembles_server_entries_and_held_calls() -> None:
    """The server's own tool runs (tool.execution.*) become one entry each, and a function call the
    server holds for confirmation stops the streamed loop with it pending."""
    first = conversation_turn(
        {"type": "conversation.response.started", "conversation_id": "conv_9"},
        {"type": "tool.execution.started", "output_index": 0, "id": "te_1", "name": "web_search",
         "arguments": '{"query": '},
        {"type": "tool.execution.delta", "output_index": 0, "id": "te_1", "name": "web_search", "arguments": '"x"}'},
        {"type": "tool.execution.done", "output_index": 0, "id": "te_1", "name": "web_search", "info": {"n": 1}},
        {"type": "message.output.delta", "output_index": 1, "id": "m_1", "role": "assistant", "content": "Found "},
        {"type": "message.output.delta", "output_index": 1, "id": "m_1", "role": "assistant",
         "content": {"type": "text", "text": "it."}},
        {"type": "function.call.delta", "output_index": 2, "id": "fc_1", "tool_call_id": "t1", "name": "send_mail",
         "arguments": "{}", "confirmation_status": "pending"},
        {"type": "conversation.response.done", "usage": {"total_tokens": 3}})
    with ScriptedServer() as server, Client("k", base_url=server.url) as client:
        server.script(first)
        events = list(client.run_tools(operation="create_conversation", model=MODEL, inputs="go",
                                       tools=[{"type": "web_search"}], stream=True))
    assert events[:3] == [{"type": "text", "delta": "Found "}, {"type": "text", "delta": "it."},
                          {"type": "tool_call", "id": "t1", "name": "send_mail", "arguments": "{}"}]
    result = events[-1]["result"]
    execution, message, held = result["outputs"]
    assert execution == {"object": "entry", "type": "tool.execution", "id": "te_1", "name": "web_search",
                         "arguments": '{"query": "x"}', "info": {"n": 1}}
    assert message == {"object": "entry", "type": "message.output", "id": "m_1", "role": "assistant",
                       "content": "Found it."}
    assert held["confirmation_status"] == "pending" and result["pending_tool_calls"] == [held]
    assert result["conversation_id"] == "conv_9" and result["usage"] == {"total_tokens": 3}
    assert [e["type"] for e in result["entries"]] == ["message.input", "tool.execution", "message.output",
                                                      "function.call"]


CONVERSATION_TURNS = (
    {"object": "conversation.response", "conversation_id": "conv_1", "usage": {"total_tokens": 3}, "outputs": [
        {"object": "entry", "type": "function.call", "created_at": "2026-01-01T00:00:00Z",
         "completed_at": "2026-01-01T00:00:00Z", "id": "fc_1", "tool_call_id": "t1", "name": "get_weather",
         "arguments": '{"city": "Paris"}', "agent_id": None, "model": MODEL}]},
    {"object": "conversation.response", "conversation_id": "conv_1", "usage": {"total_tokens": 9}, "outputs": [
        {"object": "entry", "type": "message.output", "created_at": "2026-01-01T00:00:01Z",
         "completed_at": "2026-01-01T00:00:01Z", "id": "m_1", "role": "assistant",
         "content": "It is sunny in Paris.", "agent_id": None, "model": MODEL}]},
)


def test_conversation_done_equals_the_plain_run(fake: FakeMistral) -> None:
    def script() -> None:
        fake.script("create_conversation", CONVERSATION_TURNS[0])
        fake.script("append_conversation", CONVERSATION_TURNS[1])

    options: dict[str, Any] = {"operation": "create_conversation", "model": MODEL, "inputs": "weather?",
                               "tools": [get_weather]}
    with Client("k", base_url=fake.url) as client:
        script()
        plain = client.run_tools(**options)
        script()
        events = list(client.run_tools(**options, stream=True))

    async def main() -> list[dict[str, Any]]:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            return [e async for e in await aclient.run_tools(**options, stream=True)]
        finally:
            await aclient.aclose()

    script()
    async_events = asyncio.run(main())
    assert events == async_events
    assert events[-1] == {"type": "done", "result": plain}
    assert [e["type"] for e in events[:2]] == ["tool_call", "tool_result"]
    assert "".join(e["delta"] for e in events if e["type"] == "text") == "It is sunny in Paris."
    assert [e["type"] for e in plain["entries"]] == ["message.input", "function.call", "function.result",
                                                     "message.output"]
