"""OpenTelemetry for every call: one CLIENT span per call, after the GenAI semantic conventions.

Loaded only when tracing is on (``Client(tracing=True)``, ``AsyncClient(tracing=True)`` or
``MISTRAL_LITE_TRACING=1``): this module imports ``opentelemetry`` at its top, and nothing else
in the package imports it. :class:`Tracer` is an :class:`~mistral_lite._core.observe.Observer` of
the dispatcher's call events, so both clients and every transport trace the same way:

* ``call_started`` opens the span, a child of the caller's current context, named
  ``"{gen_ai.operation.name} {gen_ai.request.model}"`` for a row with a ``genai`` column (the
  row's name otherwise); ``attempt_headers`` gives every attempt a W3C ``traceparent`` naming
  it; ``retrying`` adds a ``retry`` event; ``response`` keeps the latest status;
  ``chunk`` gathers a stream's id, model, finish reasons and usage; ``call_ended`` sets the
  response attributes (or ``error.type`` and the ERROR status), records the metrics and ends it.
* Which request options and response fields feed which attributes is the data in
  :data:`GENAI`, keyed by the row's ``genai`` column (``endpoints.toml``), not code per operation.
* Message content is recorded only with ``trace_content=True``, as ``gen_ai.input.messages``
  and ``gen_ai.output.messages`` JSON strings in the conventions' shapes.

Conventions: OpenTelemetry GenAI semantic conventions v1.37.0 (the first with
``gen_ai.provider.name`` and the ``gen_ai.input.messages`` / ``gen_ai.output.messages``
attributes); the names, metric units and bucket advice were checked against the v1.41.0 GenAI
metrics document and the attribute registry of opentelemetry-semantic-conventions 0.66b2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context  # type: ignore[import-not-found, unused-ignore]  # the otel extra
from opentelemetry import metrics, propagate, trace  # type: ignore[import-not-found, unused-ignore]  # the otel extra
from opentelemetry.trace import SpanKind, Status, StatusCode  # type: ignore[import-not-found, unused-ignore]  # the otel extra

from mistral_lite._core.observe import CallRecord, Observer
from mistral_lite._version import __version__

__all__ = ["GENAI", "SCHEMA_URL", "SEMCONV_VERSION", "Tracer"]

SEMCONV_VERSION = "1.37.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
PROVIDER = "mistral_ai"

INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"

#: Attributes whose value is a list of strings (a single value given is wrapped).
LIST_ATTRIBUTES = frozenset({FINISH_REASONS, "gen_ai.request.stop_sequences", "gen_ai.request.encoding_formats"})

_SAMPLING = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "random_seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "n": "gen_ai.request.choice.count",
}
_COMPLETION = {
    "id": "gen_ai.response.id",
    "model": "gen_ai.response.model",
    "choices.*.finish_reason": FINISH_REASONS,
    "usage.prompt_tokens": INPUT_TOKENS,
    "usage.completion_tokens": OUTPUT_TOKENS,
}

#: The GenAI operations a row may name in its ``genai`` column, and for each: ``request``, the
#: request body's fields (dotted paths) -> span attributes; ``response``, the result's (or each
#: stream item's) fields -> span attributes (``*`` is every item of a list); ``input`` and
#: ``output``, how its messages read (for ``trace_content=True``): ``messages`` (chat
#: messages), ``prompt`` (a FIM prompt), ``inputs`` (conversation inputs), ``choices`` (chat
#: choices, or the deltas of a stream's chunks), ``outputs`` (conversation output entries).
GENAI: dict[str, dict[str, Any]] = {
    "chat": {"request": _SAMPLING, "response": _COMPLETION, "input": "messages", "output": "choices"},
    "text_completion": {"request": _SAMPLING, "response": _COMPLETION, "input": "prompt", "output": "choices"},
    "embeddings": {
        "request": {"encoding_format": "gen_ai.request.encoding_formats",
                    "output_dimension": "gen_ai.embeddings.dimension.count"},
        "response": {"id": "gen_ai.response.id", "model": "gen_ai.response.model",
                     "usage.prompt_tokens": INPUT_TOKENS},
    },
    "invoke_agent": {
        "request": {
            **_SAMPLING, **{f"completion_args.{k}": v for k, v in _SAMPLING.items()},
            "agent_id": "gen_ai.agent.id", "agent_version": "gen_ai.agent.version",
            "conversation_id": "gen_ai.conversation.id",
        },
        "response": {**_COMPLETION, "conversation_id": "gen_ai.conversation.id"},
        "input": "messages|inputs", "output": "choices|outputs",
    },
    "create_agent": {
        "request": {"name": "gen_ai.agent.name", "description": "gen_ai.agent.description"},
        "response": {"id": "gen_ai.agent.id", "version": "gen_ai.agent.version"},
    },
}

#: Explicit bucket boundaries the conventions advise for the two client histograms.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


#: ``GENAI`` with its paths split once: kind -> (request fields, response fields, input, output).
_Fields = tuple[tuple[tuple[str, ...], str], ...]
_COMPILED: dict[str, tuple[_Fields, _Fields, str, str]] = {
    kind: (tuple((tuple(path.split(".")), key) for path, key in facts["request"].items()),
           tuple((tuple(path.split(".")), key) for path, key in facts["response"].items()),
           facts.get("input", ""), facts.get("output", ""))
    for kind, facts in GENAI.items()
}


class _State:
    """What one call's span gathers between its events (kept in ``call.scratch``)."""

    __slots__ = ("common", "context", "genai", "outputs", "response", "span")

    def __init__(self, span: trace.Span, genai: tuple[_Fields, _Fields, str, str] | None,
                 common: dict[str, Any]) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.genai = genai
        self.common = common  # the attributes its metrics share with the span
        self.response: dict[str, Any] = {}
        self.outputs: dict[int, dict[str, Any]] | None = None  # a stream's messages, by choice index


class Tracer(Observer):
    """Spans and metrics for every call of the clients it observes (see the module docstring)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, trace_content: bool = False) -> None:
        self.tracer = trace.get_tracer("mistral_lite", __version__, tracer_provider, schema_url=SCHEMA_URL)
        meter = metrics.get_meter("mistral_lite", __version__, meter_provider, schema_url=SCHEMA_URL)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.trace_content = trace_content

    # -- call events ------------------------------------------------------------------------
    def call_started(self, call: CallRecord) -> None:
        operation = call.endpoint.genai
        genai = _COMPILED.get(operation) if operation else None
        common: dict[str, Any] = {"gen_ai.provider.name": PROVIDER, "server.address": call.server_address,
                                  "server.port": call.server_port}
        name = call.operation
        if call.model:
            common["gen_ai.request.model"] = call.model
        attributes = dict(common)
        if genai is not None:
            common["gen_ai.operation.name"] = attributes["gen_ai.operation.name"] = operation
            name = f"{operation} {call.model}" if call.model else str(operation)
            if call.stream:
                attributes["gen_ai.request.stream"] = True
            if call.body:
                for path, key in genai[0]:
                    _put(attributes, key, _dig(call.body, path))
                if self.trace_content and genai[2]:
                    messages = _input_messages(genai[2], call.body)
                    if messages:
                        attributes["gen_ai.input.messages"] = _json(messages)
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        call.scratch[self] = _State(span, genai, common)

    def attempt_headers(self, call: CallRecord, attempt: int) -> Mapping[str, str]:
        state: _State | None = call.scratch.get(self)
        if state is None:
            return {}
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=state.context)
        return carrier

    def retrying(self, call: CallRecord, attempt: int, reason: str) -> None:
        state: _State | None = call.scratch.get(self)
        if state is not None:
            state.span.add_event("retry", {"retry.attempt": attempt, "retry.reason": reason})

    def response(self, call: CallRecord, status: int, headers: Mapping[str, str]) -> None:
        state: _State | None = call.scratch.get(self)
        if state is not None:
            state.span.set_attribute("http.response.status_code", status)

    def chunk(self, call: CallRecord, item: Any) -> None:
        state: _State | None = call.scratch.get(self)
        if state is None or state.genai is None or not isinstance(item, Mapping):
            return
        _gather(state.response, state.genai[1], item)
        if self.trace_content and state.genai[3]:
            if state.outputs is None:
                state.outputs = {}
            _gather_output(state.outputs, item)

    def call_ended(self, call: CallRecord, result: Any, error: BaseException | None) -> None:
        state: _State | None = call.scratch.pop(self, None)
        if state is None:
            return
        span, genai = state.span, state.genai
        gathered = state.response
        if genai is not None and not call.stream and isinstance(result, Mapping):
            _gather(gathered, genai[1], result)
        span.set_attributes(gathered)
        if self.trace_content and genai is not None and genai[3] and error is None:
            messages = _stream_messages(state.outputs) if call.stream else _output_messages(genai[3], result)
            if messages:
                span.set_attribute("gen_ai.output.messages", _json(messages))
        error_type = type(error).__name__ if error is not None else None
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()
        if genai is not None:
            self._measure(call, state.common, gathered, error_type)

    def _measure(self, call: CallRecord, attributes: dict[str, Any], gathered: Mapping[str, Any],
                 error_type: str | None) -> None:
        if gathered.get("gen_ai.response.model"):
            attributes["gen_ai.response.model"] = gathered["gen_ai.response.model"]
        if error_type is not None:
            attributes["error.type"] = error_type
        self.duration.record(max(0.0, time.perf_counter() - call.started), attributes)
        for key, kind in ((INPUT_TOKENS, "input"), (OUTPUT_TOKENS, "output")):
            count = gathered.get(key)
            if isinstance(count, int):
                self.tokens.record(count, {**attributes, "gen_ai.token.type": kind})

    # -- parent spans (bulk runs, run_tools, embed_many) -----------------------------------------
    def scope_started(self, name: str, attrs: Mapping[str, Any]) -> Any:
        attributes: dict[str, Any] = {"gen_ai.provider.name": PROVIDER}
        for key, value in attrs.items():  # the scope's own settings, e.g. mistral_lite.engine = "live"
            _put(attributes, key if "." in key else f"mistral_lite.{key}", value)
        span = self.tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span))

    def scope_ended(self, token: Any, error: BaseException | None) -> None:
        span, attached = token
        otel_context.detach(attached)
        if error is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


# -- the data walk -------------------------------------------------------------------------------
def _dig(value: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (``*``: each item of a list, the values gathered in a list)."""
    for i, part in enumerate(path):
        if part == "*":
            if not isinstance(value, list):
                return None
            rest = path[i + 1:]
            found = [_dig(item, rest) if rest else item for item in value]
            return [v for v in found if v is not None]
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` when ``value`` is something an attribute can carry (lists as lists of strings)."""
    if value is None:
        return
    if key in LIST_ATTRIBUTES:
        values = value if isinstance(value, list) else [value]
        if values and all(isinstance(v, str) for v in values):
            attributes[key] = list(values)
    elif isinstance(value, (str, bool, int, float)):
        attributes[key] = value


def _gather(into: dict[str, Any], fields: _Fields, item: Mapping[str, Any]) -> None:
    """Response fields of ``item`` into ``into``: scalars keep the latest, finish reasons add up
    (a stream's chunks each carry the finish reasons of the choices that ended in it)."""
    for path, key in fields:
        value = _dig(item, path)
        if value is None:
            continue
        if key in LIST_ATTRIBUTES:
            value = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
            if value:
                into[key] = [*into.get(key, ()), *value]
        else:
            _put(into, key, value)


# -- message content (trace_content=True) ----------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _input_messages(style: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's messages as ``[{"role", "parts": [...]}]``, in the order sent."""
    for kind in style.split("|"):
        if kind == "prompt" and isinstance(body.get("prompt"), str):
            return [{"role": "user", "parts": [{"type": "text", "content": body["prompt"]}]}]
        if kind in ("messages", "inputs"):
            messages = body.get(kind)
            if isinstance(messages, str):
                return [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
            if isinstance(messages, list):
                return [_message(m) for m in messages if isinstance(m, Mapping)]
    return []


def _message(message: Mapping[str, Any], role: str = "user") -> dict[str, Any]:
    role = str(message.get("role") or role)
    parts = _parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                      "arguments": _arguments(function.get("arguments"))})
    if role == "tool" or message.get("type") == "function.result":
        result = message.get("content", message.get("result"))
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                                           "response": result}]}
    return {"role": role, "parts": parts}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for chunk in content if isinstance(content, list) else ():
        if isinstance(chunk, Mapping):
            kind = chunk.get("type", "text")
            parts.append({"type": "text", "content": chunk.get("text", "")} if kind == "text" else {"type": kind})
    return parts


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _output_messages(style: str, result: Any) -> list[dict[str, Any]]:
    """A result's messages as ``[{"role": "assistant", "parts", "finish_reason"}]``."""
    if not isinstance(result, Mapping):
        return []
    out = []
    for kind in style.split("|"):
        if kind == "choices":
            for choice in result.get("choices") or ():
                if isinstance(choice, Mapping) and isinstance(choice.get("message"), Mapping):
                    message = _message(choice["message"], "assistant")
                    out.append({**message, "finish_reason": choice.get("finish_reason") or ""})
        elif kind == "outputs":
            for entry in result.get("outputs") or ():
                if isinstance(entry, Mapping) and entry.get("type", "message.output") == "message.output":
                    out.append({**_message(entry, "assistant"), "finish_reason": "stop"})
    return out


def _gather_output(outputs: dict[int, dict[str, Any]], item: Mapping[str, Any]) -> None:
    """A stream chunk's deltas added to the messages being streamed (by choice index)."""
    for choice in item.get("choices") or ():
        if not isinstance(choice, Mapping):
            continue
        message = outputs.setdefault(int(choice.get("index") or 0), {"text": [], "tool_calls": [], "finish": ""})
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            delta = {}
        content = delta.get("content")
        for part in _parts(content):
            if part["type"] == "text":
                message["text"].append(part["content"])
        message["tool_calls"].extend(c for c in delta.get("tool_calls") or () if isinstance(c, Mapping))
        if choice.get("finish_reason"):
            message["finish"] = choice["finish_reason"]
    if item.get("type") == "message.output.delta" and isinstance(item.get("content"), str):
        outputs.setdefault(0, {"text": [], "tool_calls": [], "finish": "stop"})["text"].append(item["content"])


def _stream_messages(outputs: Mapping[int, Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    messages = []
    for index in sorted(outputs or {}):
        gathered = outputs[index]  # type: ignore[index]
        text = "".join(gathered["text"])
        message = _message({"role": "assistant", "content": text, "tool_calls": gathered["tool_calls"]})
        messages.append({**message, "finish_reason": gathered["finish"]})
    return messages

