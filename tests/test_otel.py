"""OpenTelemetry tracing (issue 23): one CLIENT span per call after the GenAI semantic
conventions, its traceparent on every attempt, metrics, parent spans, and nothing at all when
tracing is off. Against the fake over real HTTP, with the SDK's in-memory exporter and reader.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mistral_lite import Client, MistralError, NotFoundError, ValidationError
from mistral_lite.fake import FakeMistral, Fault

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

KEY = "sk-otel-secret-0123456789"
MODEL = "mistral-small-latest"
HI = [{"role": "user", "content": "hi"}]
ROOT = Path(__file__).resolve().parent.parent


class Otel:
    """An SDK tracer provider and meter provider, each with an in-memory sink."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.tracer_provider.get_tracer("caller")  # the caller's own spans
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, Any]:
        """Each metric's data points by name."""
        data = self.reader.get_metrics_data()
        out: dict[str, Any] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = (metric.unit, list(metric.data.data_points))
        return out

    def settings(self, **more: Any) -> dict[str, Any]:
        return {"tracing": True, "tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider,
                **more}


@pytest.fixture
def otel() -> Otel:
    return Otel()


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


@pytest.fixture
def client(fake: FakeMistral, otel: Otel) -> Iterator[Client]:
    with Client(KEY, base_url=fake.url, retry_delay=lambda n: 0.0, **otel.settings()) as c:
        yield c


def traceparent_of(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_a_chat_call_is_one_client_span_with_the_genai_attributes(client: Client, fake: FakeMistral,
                                                                   otel: Otel) -> None:
    result = client.chat(model=MODEL, messages=HI, temperature=0.3, max_tokens=50, top_p=0.9)
    span = otel.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.response.model": result["model"],
        "gen_ai.response.id": result["id"],
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": result["usage"]["prompt_tokens"],
        "gen_ai.usage.output_tokens": result["usage"]["completion_tokens"],
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "http.response.status_code": 200,
    }
    assert fake.requests[-1].headers["traceparent"] == traceparent_of(span)


def test_an_embedding_span_and_fim_are_named_by_their_genai_operation(client: Client, fake: FakeMistral,
                                                                       otel: Otel) -> None:
    result = client.embed(model="mistral-embed", input=["first text", "second"])
    span = otel.span()
    assert span.name == "embeddings mistral-embed"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.request.model"] == "mistral-embed"
    assert attributes["gen_ai.response.id"] == result["id"]
    assert attributes["gen_ai.usage.input_tokens"] == result["usage"]["prompt_tokens"]
    assert "gen_ai.usage.output_tokens" not in attributes and "gen_ai.response.finish_reasons" not in attributes
    otel.exporter.clear()
    client.fim(model="codestral-latest", prompt="def f(", suffix="return 1")
    assert otel.span().name == "text_completion codestral-latest"
    assert otel.span().attributes["gen_ai.operation.name"] == "text_completion"  # type: ignore[index]


def test_a_row_that_is_not_a_genai_call_is_named_by_the_row(client: Client, otel: Otel) -> None:
    client.list_files()
    span = otel.span()
    assert span.name == "list_files"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert "gen_ai.operation.name" not in attributes
    assert attributes["http.response.status_code"] == 200
    assert otel.metrics() == {} or "gen_ai.client.operation.duration" not in otel.metrics()


def test_a_404_is_an_error_span_named_after_the_exception(client: Client, otel: Otel) -> None:
    with pytest.raises(NotFoundError):
        client.get_file("file-that-does-not-exist")
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "NotFoundError"  # type: ignore[index]
    assert span.attributes["http.response.status_code"] == 404  # type: ignore[index]


def test_a_503_then_200_is_one_span_with_one_retry_event(client: Client, fake: FakeMistral, otel: Otel) -> None:
    fake.inject("chat", Fault(503, headers={"Retry-After": "0"}))
    client.chat(model=MODEL, messages=HI)
    span = otel.span()
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("retry", {"retry.attempt": 1, "retry.reason": "HTTP 503"})]
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in (span.attributes or {})
    assert span.attributes["http.response.status_code"] == 200  # type: ignore[index]
    sent = [r.headers.get("traceparent") for r in fake.requests if r.operation == "chat"]
    assert sent == [traceparent_of(span)] * 2  # every attempt names the call's one span


def test_a_connection_failure_is_an_api_connection_error_span(otel: Otel) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(KEY, base_url=f"http://127.0.0.1:{port}", retry=False, **otel.settings()) as c, \
            pytest.raises(MistralError) as caught:
        c.chat(model=MODEL, messages=HI)
    span = otel.span()
    assert type(caught.value).__name__ == "APIConnectionError"
    assert span.attributes["error.type"] == "APIConnectionError"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["server.port"] == port  # type: ignore[index]


def test_a_stream_span_ends_after_its_last_chunk_with_what_the_chunks_said(client: Client, otel: Otel) -> None:
    chunks = []
    with client.chat(model=MODEL, messages=HI, stream=True, max_tokens=20) as stream:
        for chunk in stream:
            chunks.append(chunk)
            assert otel.spans() == [], "the span is open while the stream is read"
    span = otel.span()
    attributes = dict(span.attributes or {})
    assert span.name == f"chat {MODEL}"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == chunks[-1]["id"]
    assert attributes["gen_ai.response.model"] == chunks[-1]["model"]
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == chunks[-1]["usage"]["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == chunks[-1]["usage"]["completion_tokens"]
    assert span.status.status_code is StatusCode.UNSET


def test_a_stream_closed_early_ends_its_span_and_a_cut_one_is_an_error(client: Client, fake: FakeMistral,
                                                                      otel: Otel) -> None:
    stream = client.chat(model=MODEL, messages=HI, stream=True)
    next(stream)
    assert otel.spans() == []
    stream.close()
    assert otel.span().status.status_code is StatusCode.UNSET
    otel.exporter.clear()
    fake.inject("chat", Fault(cut_after=1))
    with pytest.raises(MistralError) as caught, client.chat(model=MODEL, messages=HI, stream=True) as stream:
        list(stream)
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(caught.value).__name__  # type: ignore[index]


def test_no_key_no_authorization_and_no_content_in_spans_by_default(client: Client, fake: FakeMistral,
                                                                     otel: Otel) -> None:
    client.chat(model=MODEL, messages=[{"role": "user", "content": "the-secret-question"}])
    with client.chat(model=MODEL, messages=[{"role": "user", "content": "the-secret-question"}],
                     stream=True) as stream:
        list(stream)
    fake.inject("chat", Fault(401))
    with pytest.raises(MistralError):
        client.chat(model=MODEL, messages=HI)
    dumped = "\n".join(span.to_json() for span in otel.spans())
    assert len(otel.spans()) == 3
    for secret in (KEY, "Bearer", "the-secret-question", "Echo:"):
        assert secret not in dumped
    assert "gen_ai.input.messages" not in dumped and "gen_ai.output.messages" not in dumped


def test_content_is_recorded_when_asked_in_the_conventions_shapes(fake: FakeMistral, otel: Otel) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]
    with Client(KEY, base_url=fake.url, **otel.settings(trace_content=True)) as c:
        c.chat(model=MODEL, messages=messages)
        with c.chat(model=MODEL, messages=HI, stream=True) as stream:
            list(stream)
    plain, streamed = otel.spans()
    assert json.loads(plain.attributes["gen_ai.input.messages"]) == [  # type: ignore[index, arg-type]
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    expected_output = [{"role": "assistant", "parts": [{"type": "text", "content": "Echo: hi"}],
                        "finish_reason": "stop"}]
    assert json.loads(plain.attributes["gen_ai.output.messages"]) == expected_output  # type: ignore[index, arg-type]
    assert json.loads(streamed.attributes["gen_ai.output.messages"]) == expected_output  # type: ignore[index, arg-type]
    assert KEY not in plain.to_json() + streamed.to_json()


def test_tool_calls_and_results_are_parts_of_the_recorded_messages(fake: FakeMistral, otel: Otel) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "rainy"},
    ]
    with Client(KEY, base_url=fake.url, **otel.settings(trace_content=True)) as c:
        c.chat(model=MODEL, messages=messages)
    assert json.loads(otel.span().attributes["gen_ai.input.messages"]) == [  # type: ignore[index, arg-type]
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]},
    ]


def test_metrics_duration_and_token_usage_with_their_attributes(client: Client, fake: FakeMistral,
                                                                otel: Otel) -> None:
    result = client.chat(model=MODEL, messages=HI)
    fake.inject("chat", Fault(404))
    with pytest.raises(NotFoundError):
        client.chat(model=MODEL, messages=HI)
    metrics = otel.metrics()
    unit, durations = metrics["gen_ai.client.operation.duration"]
    assert unit == "s"
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "mistral_ai", "gen_ai.request.model": MODEL,
            "server.address": "127.0.0.1", "server.port": fake.port}
    by_attributes = {json.dumps(dict(p.attributes), sort_keys=True): p for p in durations}
    ok = by_attributes[json.dumps({**base, "gen_ai.response.model": result["model"]}, sort_keys=True)]
    failed = by_attributes[json.dumps({**base, "error.type": "NotFoundError"}, sort_keys=True)]
    assert (ok.count, failed.count) == (1, 1)
    assert 0 < ok.sum < 5
    assert list(ok.explicit_bounds)[:3] == [0.01, 0.02, 0.04] and list(ok.explicit_bounds)[-1] == 81.92
    unit, tokens = metrics["gen_ai.client.token.usage"]
    assert unit == "{token}"
    assert {p.attributes["gen_ai.token.type"]: (p.count, p.sum) for p in tokens} == {
        "input": (1, result["usage"]["prompt_tokens"]), "output": (1, result["usage"]["completion_tokens"])}
    assert list(tokens[0].explicit_bounds)[:3] == [1, 4, 16]
    assert all(p.attributes["server.port"] == fake.port for p in tokens)


def test_twenty_concurrent_async_calls_are_each_a_child_of_their_callers_span(fake: FakeMistral,
                                                                               otel: Otel) -> None:
    pytest.importorskip("aiohttp")
    from mistral_lite import AsyncClient

    tracer = otel.tracer_provider.get_tracer("test")

    async def caller(aclient: AsyncClient, n: int) -> None:
        with tracer.start_as_current_span(f"caller {n}"):
            await aclient.chat(model=MODEL, messages=[{"role": "user", "content": f"n{n}"}])

    async def main() -> None:
        async with AsyncClient(KEY, base_url=fake.url, **otel.settings()) as aclient:
            with tracer.start_as_current_span("all"):
                await asyncio.gather(*(caller(aclient, n) for n in range(20)))

    asyncio.run(main())
    callers = {s.name: s for s in otel.spans() if s.name.startswith("caller ")}
    calls = otel.spans(f"chat {MODEL}")
    assert len(callers) == 20 and len(calls) == 20
    sent = {r.json["messages"][0]["content"]: r.headers["traceparent"] for r in fake.requests}
    for n in range(20):
        parent = callers[f"caller {n}"].get_span_context()
        (child,) = [s for s in calls if s.parent is not None and s.parent.span_id == parent.span_id]
        assert child.context.trace_id == parent.trace_id  # type: ignore[union-attr]
        assert sent[f"n{n}"] == traceparent_of(child), "each request names its own call's span"


def test_an_async_stream_span_ends_after_its_last_chunk(fake: FakeMistral, otel: Otel) -> None:
    pytest.importorskip("aiohttp")
    from mistral_lite import AsyncClient

    async def main() -> list[Any]:
        async with AsyncClient(KEY, base_url=fake.url, **otel.settings()) as aclient:
            fake.inject("chat", Fault(503, headers={"Retry-After": "0"}))
            stream = await aclient.chat(model=MODEL, messages=HI, stream=True)
            chunks = []
            async for chunk in stream:
                chunks.append(chunk)
                assert otel.spans() == []
            return chunks

    chunks = asyncio.run(main())
    span = otel.span()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1]["usage"]["completion_tokens"]  # type: ignore[index]
    assert [e.name for e in span.events] == ["retry"]
    assert [r.headers["traceparent"] for r in fake.requests] == [traceparent_of(span)] * 2


def test_a_conversation_is_an_invoke_agent_span_with_its_conversation_id(client: Client, otel: Otel) -> None:
    result = client.create_conversation(model=MODEL, inputs="hello", completion_args={"temperature": 0.5})
    span = otel.span()
    attributes = dict(span.attributes or {})
    assert span.name == f"invoke_agent {MODEL}"
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.conversation.id"] == result["conversation_id"]
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.usage.input_tokens"] == result["usage"]["prompt_tokens"]
    otel.exporter.clear()
    with client.with_options(timeout=30).append_conversation(result["conversation_id"], inputs="again",
                                                              stream=True) as stream:
        events = list(stream)
    span = otel.span()  # a with_options copy traces too
    assert span.attributes["gen_ai.conversation.id"] == result["conversation_id"]  # type: ignore[index]
    assert span.attributes["gen_ai.usage.output_tokens"] == events[-1]["usage"]["completion_tokens"]  # type: ignore[index]


def test_an_async_error_is_an_error_span(fake: FakeMistral, otel: Otel) -> None:
    pytest.importorskip("aiohttp")
    from mistral_lite import AsyncClient

    async def main() -> None:
        fake.inject("embed", Fault(404))
        async with AsyncClient(KEY, base_url=fake.url, **otel.settings()) as aclient:
            with pytest.raises(NotFoundError):
                await aclient.embed(model="mistral-embed", input=["x"])

    asyncio.run(main())
    span = otel.span()
    assert span.name == "embeddings mistral-embed"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "NotFoundError"  # type: ignore[index]
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"][1]
    assert duration.attributes["error.type"] == "NotFoundError"


def test_a_cache_hit_makes_no_span_and_a_thread_backed_async_client_traces_as_its_client(
        fake: FakeMistral, otel: Otel) -> None:
    pytest.importorskip("aiohttp")
    from mistral_lite import AsyncClient

    tracer = otel.tracer_provider.get_tracer("test")
    with Client(KEY, base_url=fake.url, cache=True, **otel.settings()) as c:
        c.embed(model="mistral-embed", input=["same"])
        c.embed(model="mistral-embed", input=["same"])
        assert len(otel.spans()) == 1 and len(fake.requests) == 1

        async def main() -> None:
            aclient = AsyncClient(client=c)
            with tracer.start_as_current_span("caller"):
                await aclient.chat(model=MODEL, messages=HI)

        asyncio.run(main())
    (caller,) = otel.spans("caller")
    (call,) = otel.spans(f"chat {MODEL}")
    assert call.parent is not None and call.parent.span_id == caller.context.span_id  # type: ignore[union-attr]
    assert fake.requests[-1].headers["traceparent"] == traceparent_of(call)


def test_the_table_says_which_rows_are_genai_calls() -> None:
    from mistral_lite._core import otel as _otel
    from mistral_lite._table import GENAI_OPERATIONS, load_spec

    assert set(_otel.GENAI) == GENAI_OPERATIONS
    kinds = {name: ep.genai for name, ep in load_spec().endpoints.items() if ep.genai}
    assert kinds["chat"] == "chat" and kinds["fim"] == "text_completion" and kinds["embed"] == "embeddings"
    assert set(kinds.values()) <= GENAI_OPERATIONS


def test_tracing_settings_are_checked_in_the_constructor(fake: FakeMistral, otel: Otel,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        Client(KEY, base_url=fake.url, tracing="yes", tracer_provider=object(),  # type: ignore[arg-type]
               meter_provider=42, trace_content=1)  # type: ignore[arg-type]
    assert {path for path, _ in caught.value.errors} == {"tracing", "tracer_provider", "meter_provider",
                                                          "trace_content"}
    with pytest.raises(ValidationError, match="tracing=False, but a tracer_provider"):
        Client(KEY, base_url=fake.url, tracing=False, tracer_provider=otel.tracer_provider)
    monkeypatch.setenv("MISTRAL_LITE_TRACING", "maybe")
    with pytest.raises(ValidationError, match="MISTRAL_LITE_TRACING"):
        Client(KEY, base_url=fake.url)
    monkeypatch.setenv("MISTRAL_LITE_TRACING", "1")
    with Client(KEY, base_url=fake.url, tracing=False) as c:  # the argument wins over the variable
        c.list_models()
    assert "traceparent" not in fake.requests[-1].headers


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MISTRAL", "OTEL"))}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**clean, **env})


def test_tracing_off_imports_nothing_of_opentelemetry_and_sends_no_traceparent(fake: FakeMistral) -> None:
    done = _run(f"""
        import sys
        import mistral_lite
        client = mistral_lite.Client("{KEY}", base_url="{fake.url}")
        client.chat(model="{MODEL}", messages=[{{"role": "user", "content": "hi"}}])
        with client.chat(model="{MODEL}", messages=[{{"role": "user", "content": "hi"}}], stream=True) as s:
            list(s)
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry") or m == "mistral_lite._core.otel"))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert len(fake.requests) == 2
    assert all("traceparent" not in r.headers for r in fake.requests)


def test_tracing_without_opentelemetry_is_a_validation_error_naming_the_extra(fake: FakeMistral) -> None:
    done = _run(f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        import mistral_lite
        try:
            mistral_lite.Client("{KEY}", base_url="{fake.url}", tracing=True)
        except mistral_lite.ValidationError as exc:
            print(exc)
    """)
    assert done.returncode == 0, done.stderr
    assert 'pip install "mistral-lite[otel]"' in done.stdout
    assert "tracing" in done.stdout


def test_the_environment_variable_turns_tracing_on_with_the_global_providers(fake: FakeMistral) -> None:
    done = _run(f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        import mistral_lite
        mistral_lite.Client("{KEY}", base_url="{fake.url}").chat(
            model="{MODEL}", messages=[{{"role": "user", "content": "hi"}}])
        print([s.name for s in exporter.get_finished_spans()])
    """, MISTRAL_LITE_TRACING="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"['chat {MODEL}']"
    assert "traceparent" in fake.requests[-1].headers


def test_run_tools_is_a_parent_span_of_its_calls(client: Client, otel: Otel) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"rainy in {city}"

    client.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather in Paris?"}], tools=[get_weather])
    (parent,) = otel.spans("run_tools")
    calls = otel.spans(f"chat {MODEL}")
    assert len(calls) == 2
    assert all(s.parent is not None and s.parent.span_id == parent.context.span_id for s in calls)  # type: ignore[union-attr]


def test_a_bulk_run_is_a_parent_span_of_its_calls(client: Client, otel: Otel, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": str(n), "body": {"model": MODEL, "messages": HI}}) + "\n"
                              for n in range(5)))
    client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=3)
    (parent,) = otel.spans("run_jsonl")
    assert parent.kind is SpanKind.INTERNAL
    assert parent.attributes["mistral_lite.operation"] == "chat"  # type: ignore[index]
    assert parent.attributes["mistral_lite.engine"] == "live"  # type: ignore[index]
    calls = otel.spans(f"chat {MODEL}")
    assert len(calls) == 5
    assert all(s.parent is not None and s.parent.span_id == parent.context.span_id for s in calls)  # type: ignore[union-attr]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the scope was left


def test_run_batch_is_a_parent_span_of_its_calls(client: Client, otel: Otel) -> None:
    results = client.run_batch([{"input": "x"}, {"input": "y"}], endpoint="/v1/embeddings", model="mistral-embed",
                               interval=0.05, timeout=30)
    assert [r["custom_id"] for r in results] == ["0", "1"]
    (parent,) = otel.spans("run_batch")
    assert parent.attributes["mistral_lite.endpoint"] == "/v1/embeddings"  # type: ignore[index]
    calls = [s for s in otel.spans() if s.kind is SpanKind.CLIENT]
    assert {"upload_file", "create_batch_job", "get_batch_job", "download_file"} <= {s.name for s in calls}
    assert all(s.parent is not None and s.parent.span_id == parent.context.span_id for s in calls)  # type: ignore[union-attr]


def test_embed_many_is_a_parent_span_of_its_batches(client: Client, otel: Otel) -> None:
    vectors = client.embed_many([f"text {n}" for n in range(5)], batch_size=2, concurrency=2)
    assert len(vectors) == 5
    (parent,) = otel.spans("embed_many")
    assert parent.attributes["mistral_lite.model"] == "mistral-embed"  # type: ignore[index]
    batches = otel.spans("embeddings mistral-embed")
    assert len(batches) == 3
    assert all(s.parent is not None and s.parent.span_id == parent.context.span_id for s in batches)  # type: ignore[union-attr]


def test_async_bulk_runs_and_tool_loops_are_parent_spans_too(fake: FakeMistral, otel: Otel, tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    from mistral_lite import AsyncClient

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": str(n), "body": {"model": MODEL, "messages": HI}}) + "\n"
                              for n in range(4)))

    async def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"rainy in {city}"

    async def main() -> None:
        async with AsyncClient(KEY, base_url=fake.url, **otel.settings()) as aclient:
            await aclient.run_jsonl(source, tmp_path / "out.jsonl", concurrency=2)
            await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "weather in Paris?"}],
                                    tools=[get_weather])
            await aclient.embed_many(["a", "b", "c"], batch_size=1)

    asyncio.run(main())
    for name, count in (("run_jsonl", 4), ("run_tools", 2), ("embed_many", 3)):
        (parent,) = otel.spans(name)
        children = [s for s in otel.spans() if s.kind is SpanKind.CLIENT and s.parent is not None
                    and s.parent.span_id == parent.context.span_id]  # type: ignore[union-attr]
        assert len(children) == count, name


def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Tracing (OpenTelemetry)")
    block = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert block is not None
    exec(compile(block.group(1), "README tracing", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"chat {MODEL}"
    assert "'gen_ai.request.temperature': 0.2" in out[1] and "any-key" not in "\n".join(out)
    assert out[2] == "[('retry', {'retry.attempt': 1, 'retry.reason': 'HTTP 503'})]"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]", out[3])
