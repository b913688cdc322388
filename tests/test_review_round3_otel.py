"""Review round 3 of OpenTelemetry tracing (issue 23): defects found by an independent checker,
with the SDK's in-memory exporter against the fake over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mistral_lite import Client
from mistral_lite.fake import FakeMistral

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan
from test_otel import HI, KEY, MODEL, Otel, client, fake, otel  # the same providers, fake and traced client

__all__ = ["client", "fake", "otel"]  # fixtures, used by name


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_client_map_calls_are_children_of_the_callers_span(client: Client, otel: Otel) -> None:
    with otel.tracer.start_as_current_span("caller") as caller:
        results = client.map("chat", [{"model": MODEL, "messages": HI}] * 4, max_workers=4)
    assert not any(isinstance(r, BaseException) for r in results)
    calls = otel.spans(f"chat {MODEL}")
    assert len(calls) == 4
    assert [parent_id(s) for s in calls] == [caller.get_span_context().span_id] * 4
    assert {s.context.trace_id for s in calls} == {caller.get_span_context().trace_id}  # type: ignore[union-attr]


def test_client_submit_call_is_a_child_of_the_callers_span(client: Client, otel: Otel) -> None:
    with otel.tracer.start_as_current_span("caller") as caller:
        client.submit("chat", model=MODEL, messages=HI).result(timeout=30)
    (call,) = otel.spans(f"chat {MODEL}")
    assert parent_id(call) == caller.get_span_context().span_id


def test_a_tool_result_part_carries_its_value_as_response_as_the_conventions_say(
        fake: FakeMistral, otel: Otel) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "rainy"},
    ]
    with Client(KEY, base_url=fake.url, tracing=True, tracer_provider=otel.tracer_provider, trace_content=True) as c:
        c.chat(model=MODEL, messages=messages)
    (span,) = otel.spans()
    recorded = json.loads(span.attributes["gen_ai.input.messages"])  # type: ignore[index, arg-type]
    assert recorded[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                      "response": "rainy"}]}


def test_run_tools_stream_does_not_make_its_span_current_in_the_callers_code(client: Client, otel: Otel) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"rainy in {city}"

    with otel.tracer.start_as_current_span("caller") as caller:
        events = client.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather in Paris?"}],
                                  tools=[get_weather], stream=True)
        next(events)
        with otel.tracer.start_as_current_span("mine"):  # the caller's own work between events
            pass
        for _ in events:
            pass
    (mine,) = otel.spans("mine")
    (parent,) = otel.spans("run_tools")
    assert parent_id(mine) == caller.get_span_context().span_id
    assert parent_id(parent) == caller.get_span_context().span_id
    calls = otel.spans(f"chat {MODEL}")
    assert calls and all(parent_id(s) == parent.context.span_id for s in calls)  # type: ignore[union-attr]


def test_async_run_tools_stream_does_not_make_its_span_current_in_the_callers_code(fake: FakeMistral,
                                                                                   otel: Otel) -> None:
    import asyncio

    from mistral_lite import AsyncClient

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"rainy in {city}"

    async def main() -> int:
        async with AsyncClient(KEY, base_url=fake.url, tracing=True, tracer_provider=otel.tracer_provider) as c:
            with otel.tracer.start_as_current_span("caller") as caller:
                events = await c.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather in Paris?"}],
                                           tools=[get_weather], stream=True)
                await events.__anext__()
                with otel.tracer.start_as_current_span("mine"):  # the caller's own work between events
                    pass
                async for _ in events:
                    pass
            return caller.get_span_context().span_id

    caller_id = asyncio.run(main())
    (mine,) = otel.spans("mine")
    (parent,) = otel.spans("run_tools")
    assert parent_id(mine) == caller_id and parent_id(parent) == caller_id
    calls = otel.spans(f"chat {MODEL}")
    assert len(calls) == 2 and all(parent_id(s) == parent.context.span_id for s in calls)  # type: ignore[union-attr]


def test_a_stream_left_by_break_ends_its_span_without_waiting_for_the_garbage_collector(
        client: Client, otel: Otel) -> None:
    import gc

    gc.disable()  # the cyclic collector would end it at some unknown later time
    try:
        for _chunk in client.chat(model=MODEL, messages=HI, stream=True):
            break
        assert len(otel.spans(f"chat {MODEL}")) == 1
    finally:
        gc.enable()
        gc.collect()
