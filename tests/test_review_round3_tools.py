"""Adversarial review of the tool loop (round 3): streaming, approvals, MCP. Each test pins a
defect found by an independent check (see each docstring)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _server import ScriptedServer
from test_tool_stream import chunk, get_weather, turn

from mistral_lite import AsyncClient, Client

MODEL = "mistral-small-latest"
ASK = [{"role": "user", "content": "Weather in Paris?"}]
TURN_1 = [
    chunk({"role": "assistant", "content": "Let me check."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}, "tool_calls"),
]
TURN_2 = [chunk({"role": "assistant", "content": "Sunny."}, "stop")]


# --- tracing: a streamed loop's turns are children of its run_tools span -----------------------

def _otel() -> Any:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, {"tracing": True, "tracer_provider": provider}


def _check_parent(exporter: Any) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import StatusCode

    spans = exporter.get_finished_spans()
    (parent,) = [s for s in spans if s.name == "run_tools"]
    calls = [s for s in spans if s.name == f"chat {MODEL}"]
    assert len(calls) == 2
    assert all(s.parent is not None and s.parent.span_id == parent.context.span_id for s in calls)
    assert parent.end_time >= max(s.end_time for s in calls)
    assert parent.status.status_code is not StatusCode.ERROR
    assert trace.get_current_span() is trace.INVALID_SPAN  # the scope was left


def test_streamed_run_tools_span_covers_its_turns_sync() -> None:
    """The run_tools scope ended when the iterator was returned: the streamed turns' spans were
    not its children."""
    exporter, settings = _otel()
    with ScriptedServer() as server, Client("k", base_url=server.url, **settings) as client:
        server.script(turn(TURN_1), turn(TURN_2))
        events = list(client.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True))
    assert events[-1]["type"] == "done"
    _check_parent(exporter)


def test_streamed_run_tools_span_covers_its_turns_async() -> None:
    """The same for AsyncClient.run_tools(stream=True)."""
    exporter, settings = _otel()

    async def main(url: str) -> list[Any]:
        async with AsyncClient("k", base_url=url, **settings) as aclient:
            events = await aclient.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True)
            return [e async for e in events]

    with ScriptedServer() as server:
        server.script(turn(TURN_1), turn(TURN_2))
        events = asyncio.run(main(server.url))
    assert events[-1]["type"] == "done"
    _check_parent(exporter)


def test_a_streamed_run_tools_left_early_ends_its_span_without_error() -> None:
    """Leaving the stream with break closes the scope (not an error)."""
    exporter, settings = _otel()
    with ScriptedServer() as server, Client("k", base_url=server.url, **settings) as client:
        server.script(turn(TURN_1), turn(TURN_2))
        events = client.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True)
        for _ in events:
            break
        events.close()
    from opentelemetry.trace import StatusCode

    (parent,) = [s for s in exporter.get_finished_spans() if s.name == "run_tools"]
    assert parent.status.status_code is not StatusCode.ERROR
    (call,) = [s for s in exporter.get_finished_spans() if s.name == f"chat {MODEL}"]
    assert call.parent is not None and call.parent.span_id == parent.context.span_id


# --- MCP: a server that dies mid-call ---------------------------------------------------------

def _crash_loop(fake: Any) -> Any:
    pytest.importorskip("mcp")
    import sys
    from pathlib import Path

    from mistral_lite import mcp
    from mistral_lite.fake import chat_completion

    fake.script("chat", chat_completion("", tool_calls=[{"name": "crash", "arguments": {"code": 3}}]))
    script = str(Path(__file__).parent / "mcp_servers" / "crash_server.py")
    return dict(model=MODEL, messages=[{"role": "user", "content": "go"}],
                tools=[mcp.stdio(sys.executable, [script])], tool_timeout=30)


def _crash_message(result: Any) -> str:
    (tool,) = [m for m in result["messages"] if m["role"] == "tool"]
    assert tool["content"].startswith("Error: crash raised ")
    return str(tool["content"])


def test_an_mcp_server_that_dies_mid_call_is_a_tool_error_sync() -> None:
    """The session's own exception (mcp.shared.exceptions.MCPError "Connection closed") left
    run_tools: not a MistralError. Now it goes back to the model as the call's "Error: ..."
    (a ToolError with raise_tool_errors=True), as a crashing function does."""
    from mistral_lite import ToolError
    from mistral_lite.fake import FakeMistral

    with FakeMistral() as fake, Client("k", base_url=fake.url) as client:
        result = client.run_tools(**_crash_loop(fake))
        assert "Connection closed" in _crash_message(result)
        with pytest.raises(ToolError, match="crash"):
            client.run_tools(**_crash_loop(fake), raise_tool_errors=True)


def test_an_mcp_server_that_dies_mid_call_is_a_tool_error_async() -> None:
    """The same with AsyncClient."""
    from mistral_lite.fake import FakeMistral

    async def main(url: str) -> Any:
        async with AsyncClient("k", base_url=url) as aclient:
            return await aclient.run_tools(**_crash_loop(fake))

    with FakeMistral() as fake:
        result = asyncio.run(main(fake.url))
    assert "Connection closed" in _crash_message(result)


def test_an_mcp_server_that_cannot_be_reached_says_why() -> None:
    """The MistralError for an HTTP MCP server that refuses connections said only
    "ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)"; it now names the cause."""
    pytest.importorskip("mcp")
    import socket

    from mistral_lite import MistralError, mcp

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ScriptedServer() as server, Client("k", base_url=server.url) as client:
        with pytest.raises(MistralError) as info:
            client.run_tools(model=MODEL, messages=ASK, tools=[mcp.http(f"http://127.0.0.1:{port}/mcp")])
        assert server.requests == []
    text = str(info.value)
    assert "ExceptionGroup" not in text and "TaskGroup" not in text
    assert "ConnectError" in text
