"""The tool loop: call the model, run the functions it asks for, send the results, repeat.

:class:`ToolLoop` is the loop without I/O: it checks its arguments and tools (before any
request), says which operation to call with which options (:meth:`~ToolLoop.request`), reads
each result (:meth:`~ToolLoop.feed`: the tool calls to run, or None when the loop ends: the
model answered, or a call waits for approval), and records the tools' outputs
(:meth:`~ToolLoop.answer`). The row's ``tool_loop`` field says how an exchange continues:
``messages`` (chat-like rows: the assistant message, then one ``tool`` message per call) or
``entries`` (conversations: ``function.result`` inputs, and ``tool_confirmations`` for calls the
server holds for approval, sent to the ``next`` row with the response's ``conversation_id``).
With ``stream=True`` each turn is streamed; :class:`TurnEvents` turns its chunks into the
loop's events and assembles the turn's result as ``collect_completion`` (completion rows) or
``collect_conversation`` (conversations) does.

:func:`drive` runs the loop with a :class:`~mistral_lite.Client` as a generator of events
(tools on daemon threads, each bounded by ``tool_timeout``; the calling thread never waits on a
hung tool after Ctrl-C), :func:`adrive` with an :class:`~mistral_lite.AsyncClient` (async
functions awaited, plain ones on daemon threads). Bad arguments from the model, exceptions
raised by a tool and return values that cannot become a message go back to the model as the
tool's result (``"Error: ..."``), unless ``raise_tool_errors`` (then
:class:`~mistral_lite.exceptions.ToolError`). MCP servers (:mod:`mistral_lite.mcp`) in
``tools`` are opened when the loop starts and closed when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import enum
import inspect
import json
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

from mistral_lite._core.call import find_endpoint
from mistral_lite._core.jsoncodec import loads
from mistral_lite._core.tools import call_arguments, function_tool, tool_name
from mistral_lite._methods.conversations import _Collector, collect_completion, text_delta
from mistral_lite._table import Endpoint
from mistral_lite.exceptions import (
    MaxTurnsExceeded,
    MistralError,
    ToolArgumentsError,
    ToolError,
    UnsupportedTypeError,
    ValidationError,
)
from mistral_lite.mcp import open_async, open_sync

__all__ = ["Call", "ToolLoop", "TurnEvents", "adrive", "arun_tools", "drive", "make_loop", "run_tools"]

#: Integers with more digits than this are not sent (Python's own int-to-text limit).
MAX_INT_DIGITS = 4300
#: Nesting deeper than this in a tool's return value is not sent.
MAX_DEPTH = 500
_DENIED = "Error: the user denied this call to {name}; it was not run"


class Call:
    """One tool call requested by the model (``raw``: the model's dict, unchanged)."""

    __slots__ = ("arguments", "confirm", "decision", "fn", "id", "name", "raw", "remote")

    def __init__(self, id: str | None, name: str, arguments: Any, raw: Any) -> None:
        self.id, self.name, self.arguments, self.raw = id, name, arguments, raw
        self.fn: Callable[..., Any] | None = None
        self.remote: Any = None  # (hub, server index) of an MCP tool
        self.confirm = False  # waits for approval (a confirm=True tool, or the server asks)
        self.decision: bool | None = None  # the approval given, if any


def _is_source(tool: Any) -> bool:
    return bool(getattr(tool, "_mistral_lite_tool_source", False))


class ToolLoop:
    """The state of one tool loop over the row ``endpoint`` (no I/O here)."""

    def __init__(self, endpoint: Endpoint, endpoints: Mapping[str, Endpoint], options: dict[str, Any],
                 tools: Sequence[Any], *, max_turns: Any, raise_tool_errors: Any,
                 on_message: Any, tool_timeout: Any = None, approvals: Any = None) -> None:
        name = endpoint.name
        if endpoint.tool_loop is None:
            loops = sorted(n for n, ep in endpoints.items() if ep.tool_loop)
            raise ValidationError(name, [("<operation>", f"run_tools works with {', '.join(loops)}")])
        problems: list[tuple[str, str]] = []
        stream = options.pop("stream", False)
        if not isinstance(stream, bool):
            problems.append(("stream", f"must be True or False, got {stream!r}"))
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            problems.append(("max_turns", f"must be an integer >= 1, got {max_turns!r}"))
        if not isinstance(raise_tool_errors, bool):
            problems.append(("raise_tool_errors", f"must be True or False, got {raise_tool_errors!r}"))
        if on_message is not None and not callable(on_message):
            problems.append(("on_message", f"must be a function of one message, got {type(on_message).__name__}"))
        if tool_timeout is not None and (isinstance(tool_timeout, bool) or not isinstance(tool_timeout, (int, float))
                                         or not math.isfinite(tool_timeout) or tool_timeout <= 0):
            problems.append(("tool_timeout", f"must be a number of seconds > 0 (or None), got {tool_timeout!r}"))
        if approvals is not None and not (isinstance(approvals, Mapping) and all(
                isinstance(k, str) and isinstance(v, bool) for k, v in approvals.items())):
            problems.append(("approvals", "must map tool call ids to True (run) or False (deny), "
                                          "e.g. {result['pending_tool_calls'][0]['id']: True}"))
        self.style = endpoint.tool_loop["style"]
        entries = options.pop("entries", None) if self.style == "entries" else None
        self.functions: dict[str, Callable[..., Any]] = {}
        self.confirmed: set[str] = set()  # the tools that wait for approval
        self.sources: list[Any] = []  # MCP servers, opened by the driver
        self.remote: dict[str, Any] = {}
        sent = self._read_tools(tools, problems)
        if problems:
            raise ValidationError(name, problems)
        self.stream = stream
        self.endpoint, self.endpoints = endpoint, endpoints
        self.options = dict(options)
        self.options.pop("tools", None)
        if sent:
            self.options["tools"] = sent
        self.max_turns, self.raise_tool_errors, self.on_message = max_turns, raise_tool_errors, on_message
        self.tool_timeout: float | None = tool_timeout
        self.approvals: Mapping[str, bool] = approvals or {}
        self.turns = 0
        self.operation = name
        self.last: Any = None
        if self.style == "messages":
            self.transcript: list[Any] = list(self.options.get("messages") or ())
        elif entries is not None:
            self.transcript = list(entries)
        else:
            inputs = self.options.get("inputs")
            self.transcript = [{"type": "message.input", "role": "user", "content": inputs}] \
                if isinstance(inputs, str) else list(inputs or ())

    def _read_tools(self, tools: Sequence[Any], problems: list[tuple[str, str]]) -> list[Any]:
        """The tools to send; functions, confirm flags and MCP sources recorded; problems listed."""
        sent: list[Any] = []
        unmatched: list[tuple[str, str]] = []
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if _is_source(tool):
                self.sources.append(tool)
                sent.append(tool)  # replaced by its tools once the driver has listed them
            elif isinstance(tool, Mapping):
                fn = getattr(tool, "fn", None)
                function = tool.get("function")
                fname = function.get("name") if isinstance(function, Mapping) else None
                if fn is not None and isinstance(fname, str):
                    self._register(fname, fn, bool(getattr(tool, "confirm", False)), where, problems)
                elif tool.get("type") == "function" and isinstance(fname, str):
                    unmatched.append((where, fname))
                sent.append(dict(tool) if fn is not None else tool)
            elif callable(tool):
                reason = _undescribable(tool)
                if reason:
                    problems.append((where, reason))
                    continue
                try:
                    sent.append(function_tool(tool))
                except UnsupportedTypeError as exc:
                    problems.append((where, exc.message))
                    continue
                self._register(tool_name(tool), tool, False, where, problems)
            else:
                problems.append((where, f"{type(tool).__name__} is not a tool: pass a function, a tool dict "
                                        "(function_tool(fn)) or an MCP server (mistral_lite.mcp.stdio / http)"))
        for where, fname in unmatched:
            if fname not in self.functions and not self.sources:
                problems.append((where, f"the tool {fname!r} has no Python function to run: pass the function "
                                        "itself, or function_tool(fn), instead of its dict"))
        return sent

    def _register(self, name: str, fn: Callable[..., Any], confirm: bool, where: str,
                  problems: list[tuple[str, str]]) -> None:
        if name in self.functions and self.functions[name] is not fn:
            problems.append((where, f"two tools are named {name!r}; rename one with function_tool(fn, name=...)"))
        self.functions[name] = fn
        if confirm:
            self.confirmed.add(name)

    def add_remote(self, server: Any, where: Any, tools: Sequence[Mapping[str, Any]]) -> None:
        """Put an MCP server's tools (their dicts) where it stands in ``tools``; ``where`` is
        how to reach them."""
        for tool in tools:
            name = tool["function"]["name"]
            if name in self.functions or name in self.remote:
                raise MistralError(f"{self.endpoint.name}: two tools are named {name!r} (an MCP server's and another)",
                                   operation=self.endpoint.name)
            self.remote[name] = where
        sent = self.options["tools"]
        at = next(i for i, tool in enumerate(sent) if tool is server)
        sent[at:at + 1] = [dict(tool) for tool in tools]

    def request(self) -> tuple[str, dict[str, Any]]:
        """The operation and options of the next call."""
        self.turns += 1
        if self.style == "messages":
            self.options["messages"] = list(self.transcript)
        options = dict(self.options)
        if self.stream:
            options["stream"] = True
        return self.operation, options

    def start(self) -> list[Call] | None:
        """The calls a resumed transcript leaves unanswered (run before the first request), or None."""
        raw: list[Any] = []
        if self.style == "messages":
            answered: set[Any] = set()
            for message in reversed(self.transcript):
                if not isinstance(message, Mapping):
                    break
                if message.get("role") == "tool":
                    answered.add(message.get("tool_call_id"))
                    continue
                if message.get("role") == "assistant" and isinstance(message.get("tool_calls"), list):
                    raw = [c for c in message["tool_calls"] if isinstance(c, Mapping) and c.get("id") not in answered]
                break
            calls = [_chat_call(c, self.endpoint.name) for c in raw]
        else:
            answered = set()
            for entry in reversed(self.transcript):
                if not isinstance(entry, Mapping) or entry.get("type") not in ("function.call", "function.result"):
                    break
                if entry.get("type") == "function.result":
                    answered.add(entry.get("tool_call_id"))
                elif entry.get("tool_call_id") not in answered:
                    raw.insert(0, entry)
            calls = [Call(e.get("tool_call_id"), e.get("name", ""), e.get("arguments"), e) for e in raw]
            if calls and not self.options.get("conversation_id"):
                raise ValidationError(self.endpoint.name, [(
                    "conversation_id", "resuming a conversation's pending calls needs its conversation_id "
                                       "(result['conversation_id']) with operation='append_conversation'")])
        if not calls:
            return None
        return self._decide(calls, None)

    def feed(self, result: Any) -> list[Call] | None:
        """Read a result: the calls to run, or None when the loop ends (an answer, or calls pending)."""
        op = self.operation
        if not isinstance(result, dict):
            raise MistralError(f"{op}: run_tools got {type(result).__name__}, not a response", operation=op)
        self.last = result
        if self.style == "messages":
            choices = result.get("choices")
            if not (isinstance(choices, list) and choices and isinstance(choices[0], Mapping)
                    and isinstance(choices[0].get("message"), Mapping)):
                raise MistralError(f"{op}: the response has no choices[0].message for run_tools to read "
                                   f"(choices: {_short(choices)})", operation=op)
            message = choices[0]["message"]
            raw_calls = message.get("tool_calls") or []
            if not isinstance(raw_calls, list):
                raise MistralError(f"{op}: the response's tool_calls is not a list ({_short(raw_calls)})", operation=op)
            kept = {k: message[k] for k in ("role", "content", "tool_calls") if message.get(k) is not None}
            self._add(kept)
            calls = [_chat_call(c, op) for c in raw_calls]
        else:
            outputs = result.get("outputs") or []
            if not isinstance(outputs, list) or not all(isinstance(e, Mapping) for e in outputs):
                raise MistralError(f"{op}: the response's outputs are not a list of entries ({_short(outputs)})",
                                   operation=op)
            for entry in outputs:
                self._add(entry)
            calls = [Call(e.get("tool_call_id"), e.get("name", ""), e.get("arguments"), e)
                     for e in outputs if e.get("type") == "function.call"]
            if result.get("conversation_id"):
                self.options["conversation_id"] = result["conversation_id"]
        if not calls:
            self._finish(result)
            return None
        return self._decide(calls, result)

    def _decide(self, calls: list[Call], result: Any) -> list[Call] | None:
        """Attach each call's function; stop (None) when a call waits for an approval not given."""
        for call in calls:
            call.fn = self.functions.get(call.name)
            call.remote = self.remote.get(call.name)
            call.confirm = call.name in self.confirmed or (
                isinstance(call.raw, Mapping) and call.raw.get("confirmation_status") == "pending")
            call.decision = self.approvals.get(call.id) if call.id is not None else None
        pending = [c.raw for c in calls if c.confirm and c.decision is None]
        if pending:
            self.last = result = result if result is not None else {}
            self._finish(result)
            result["pending_tool_calls"] = pending
            if self.style == "entries" and self.options.get("conversation_id"):
                result.setdefault("conversation_id", self.options["conversation_id"])
            return None
        if result is not None and self.turns >= self.max_turns:
            raise MaxTurnsExceeded(
                f"{self.endpoint.name}: the model still asked for tools after max_turns={self.max_turns} calls",
                transcript=list(self.transcript), last=result, operation=self.endpoint.name)
        return calls

    def _finish(self, result: dict[str, Any]) -> None:
        result["messages" if self.style == "messages" else "entries"] = list(self.transcript)
        self.last = result

    def answer(self, calls: Sequence[Call], outputs: Sequence[str | None]) -> None:
        """Record the tools' outputs (None: a call the server runs, once confirmed) and prepare
        the next request."""
        if self.style == "messages":
            for call, output in zip(calls, outputs):
                self._add({"role": "tool", "name": call.name, "tool_call_id": call.id, "content": output})
            return
        results = [{"type": "function.result", "tool_call_id": call.id, "result": output}
                   for call, output in zip(calls, outputs) if output is not None]
        confirmations = [{"tool_call_id": call.id, "confirmation": "allow" if call.decision else "deny"}
                         for call, output in zip(calls, outputs) if output is None]
        for entry in results:
            self._add(entry)
        conversation = (self.last.get("conversation_id") if isinstance(self.last, Mapping) else None) \
            or self.options.get("conversation_id")
        nxt = self.endpoints[self.endpoint.tool_loop["next"]]  # type: ignore[index]
        keep = set(nxt.options) - {"inputs", "conversation_id", "tools", "tool_confirmations"}
        self.operation = nxt.name
        self.options = {k: v for k, v in self.options.items() if k in keep}
        self.options.update(conversation_id=conversation, inputs=results)
        if confirmations:
            self.options["tool_confirmations"] = confirmations

    def _add(self, item: Any) -> None:
        self.transcript.append(item)
        if self.on_message is not None:
            self.on_message(item)

    # --- running one call ------------------------------------------------------------------

    def arguments(self, call: Call) -> dict[str, Any]:
        """The keyword arguments of ``call`` (raises the call's :func:`_failure` when they are bad)."""
        if call.remote is not None:
            return _remote_arguments(call)
        if call.fn is None:
            known = ", ".join(sorted([*self.functions, *self.remote])) or "none"
            raise _failure(call, f"no tool named {call.name!r} (tools: {known})", None)
        try:
            return call_arguments(call.fn, call.arguments)
        except ToolArgumentsError as exc:
            raise _failure(call, f"invalid arguments for {call.name}: {exc}", exc) from exc

    def server_runs(self, call: Call) -> bool:
        """True for a call the server holds for confirmation (answered by tool_confirmations)."""
        return self.style == "entries" and call.confirm and call.fn is None and call.remote is None

    def denied(self, call: Call) -> str:
        return _DENIED.format(name=call.name)

    def failed(self, failure: ToolError) -> str:
        """The tool's result for a failure (from :func:`_failure`), or the failure raised when errors are."""
        if self.raise_tool_errors:
            failure.operation = self.endpoint.name
            raise failure  # its __cause__ is the original exception
        return f"Error: {failure.message[len(_failed_prefix(failure.tool)):]}"

    def timed_out(self, call: Call) -> str:
        return self.failed(_failure(call, f"{call.name} did not finish within tool_timeout={self.tool_timeout} s",
                                       None))

    def output(self, call: Call, value: Any) -> str:
        """The tool message text of a tool's return value (a failure when it cannot be one)."""
        try:
            return tool_output(value)
        except Exception as exc:  # cycles, non-string keys, huge ints, a __str__ that raises...
            return self.failed(_failure(
                call, f"{call.name} returned a value that cannot be sent as a tool message "
                      f"({type(exc).__name__}: {_safe_str(exc)})", exc))

    def remote_output(self, call: Call, text: str, is_error: bool) -> str:
        if is_error:
            return self.failed(_failure(call, text, None))
        return text


def _chat_call(raw: Any, operation: str) -> Call:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(function, Mapping):
        raise MistralError(f"{operation}: a tool call without a function ({_short(raw)})", operation=operation)
    name = function.get("name", "")
    return Call(raw.get("id"), name if isinstance(name, str) else str(name), function.get("arguments"), raw)


def _short(value: Any) -> str:
    text = _safe_str(value, repr)
    return text if len(text) <= 200 else text[:200] + "..."


def _safe_str(value: Any, how: Callable[[Any], str] = str) -> str:
    try:
        return how(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _undescribable(fn: Any) -> str | None:
    """Why ``fn`` cannot be described to the model (no annotations and no docstring), or None."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # function_tool says what is wrong
    annotated = sig.return_annotation is not inspect.Signature.empty or any(
        p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())
    if annotated or inspect.getdoc(fn):
        return None
    return (f"{_safe_str(tool_name(fn))} has neither annotations nor a docstring, so the model cannot be told "
            "what it does or takes: annotate its parameters (city: str) or give it a docstring")


def make_loop(endpoints: Mapping[str, Endpoint], operation: Any, tools: Any, options: dict[str, Any],
              *, max_turns: Any, raise_tool_errors: Any, on_message: Any, tool_timeout: Any = None,
              approvals: Any = None) -> ToolLoop:
    """The loop for ``operation`` (a row with ``tool_loop``), checked before any I/O."""
    if not isinstance(operation, str):
        raise ValidationError("run_tools", [("operation", f"must be an operation name, got {operation!r}")])
    endpoint = find_endpoint(endpoints, operation)
    if isinstance(tools, Mapping) or callable(tools) or _is_source(tools):
        tools = [tools]
    elif tools is None or isinstance(tools, (str, bytes)) or not isinstance(tools, (list, tuple)):
        raise ValidationError(operation, [("tools", f"must be a list of tools, got {type(tools).__name__}")])
    return ToolLoop(endpoint, endpoints, options, list(tools), max_turns=max_turns,
                    raise_tool_errors=raise_tool_errors, on_message=on_message, tool_timeout=tool_timeout,
                    approvals=approvals)


def _failed_prefix(name: str) -> str:
    return f"tool {name!r} failed: "


def _failure(call: Call, text: str, cause: BaseException | None) -> ToolError:
    """A failed tool call: answered to the model as ``Error: <text>``, or raised (raise_tool_errors)."""
    error = ToolError(_failed_prefix(call.name) + text, tool=call.name, arguments=_text(call.arguments),
                      call_id=call.id)
    error.__cause__ = cause
    return error


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def tool_output(value: Any) -> str:
    """A tool's return value as the text sent to the model (JSON unless it is a string).

    Raises ``ValueError``/``TypeError`` for what JSON cannot carry: cycles, non-string keys,
    NaN, integers beyond Python's text limit, nesting deeper than ``MAX_DEPTH``.
    """
    if isinstance(value, str):
        return str(value)
    return json.dumps(_plain(value, set(), 0), ensure_ascii=False, allow_nan=False)


def _plain(value: Any, seen: set[int], depth: int) -> Any:
    """``value`` as plain JSON data, checked."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        if value.bit_length() > 14_000:  # near the limit: count the digits
            try:
                digits = len(str(abs(int(value))))
            except ValueError:  # beyond this interpreter's own int-to-text limit
                digits = MAX_INT_DIGITS + 1
            if digits > MAX_INT_DIGITS:
                raise ValueError(f"an integer of more than {MAX_INT_DIGITS} digits")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        return float(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in seen:
            raise ValueError("the value contains itself (a cycle)")
        seen.add(id(value))
        try:
            if isinstance(value, Mapping):
                out: dict[str, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TypeError(f"the key {_short(key)} is not a string")
                    out[str(key)] = _plain(item, seen, depth + 1)
                return out
            return [_plain(item, seen, depth + 1) for item in value]
        finally:
            seen.discard(id(value))
    return _plain(_jsonable(value), seen, depth + 1)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _remote_arguments(call: Call) -> dict[str, Any]:
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise _failure(call, f"invalid arguments for {call.name}: not valid JSON ({exc})", exc) from exc
    if not isinstance(arguments, dict):
        raise _failure(call, f"invalid arguments for {call.name}: not a JSON object", None)
    return arguments


# --- events of a streamed turn ---------------------------------------------------------------


class TurnEvents:
    """One streamed turn: its chunks in, the loop's events out, and the assembled result
    (``collect_completion``'s for completion rows, ``collect_conversation``'s for conversations)."""

    def __init__(self, kind: str | None, finish: Callable[[Any], Any] | None) -> None:
        self.kind, self.finish = kind, finish
        self.chunks: list[Any] = []
        self.emitted = 0  # completion rows: tool calls already reported
        self.collector = _Collector() if kind != "completion" else None
        self.open: Any = None  # conversations: the output a function call is being written to

    def feed(self, chunk: Any) -> list[dict[str, Any]]:
        if not isinstance(chunk, Mapping):
            return []
        events: list[dict[str, Any]] = []
        if self.collector is not None:
            index = chunk.get("output_index", 0)
            if self.open is not None and (index != self.open or chunk.get("type") == "conversation.response.done"):
                events += self._flush()  # a later output began: the call is whole
            self.collector.add(chunk)
            if chunk.get("type") == "function.call.delta":
                self.open = index
        else:
            self.chunks.append(chunk)
        text = text_delta(chunk)
        if text:
            events.append({"type": "text", "delta": text})
        if self.collector is None:
            events += self._complete_calls(chunk)
        return events

    def _complete_calls(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The tool calls this chunk shows to be whole: those before a new index, all at the finish."""
        upto = None
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            for call in (choice.get("delta") or {}).get("tool_calls") or ():
                index = call.get("index") if isinstance(call, Mapping) else None
                if isinstance(index, int) and index > self.emitted:
                    upto = max(upto or 0, index)
            if choice.get("finish_reason"):
                upto = 1 << 30
        return [] if upto is None else self._calls(upto)

    def _calls(self, upto: int) -> list[dict[str, Any]]:
        collected: Any = collect_completion(self.chunks)
        choices = collected.get("choices") or [{}]
        calls = choices[0].get("message", {}).get("tool_calls") or []
        out = [{"type": "tool_call", "id": c.get("id"), "name": c["function"]["name"],
                "arguments": c["function"]["arguments"]} for c in calls[self.emitted:upto]]
        self.emitted += len(out)
        return out

    def _flush(self) -> list[dict[str, Any]]:
        assert self.collector is not None
        fields = self.collector.entries[self.open].fields
        self.open = None
        return [{"type": "tool_call", "id": fields.get("tool_call_id"), "name": fields.get("name"),
                 "arguments": fields.get("arguments", "")}]

    def end(self) -> list[dict[str, Any]]:
        if self.collector is not None:
            return self._flush() if self.open is not None else []
        return self._calls(1 << 30)

    def result(self) -> dict[str, Any]:
        result = self.collector.response() if self.collector is not None else dict(collect_completion(self.chunks))
        return result if self.finish is None else self.finish(result)


# --- the synchronous driver ------------------------------------------------------------------


def _call_sync(loop: ToolLoop, call: Call) -> str:
    """Run one call in this thread: its tool message text (a failure's text included)."""
    try:
        kwargs = loop.arguments(call)
        if call.remote is not None:
            hub, server = call.remote
            try:
                text, is_error = hub.call_sync(server, call.name, kwargs)
            except Exception as exc:  # the server died or broke the session (mcp's own errors)
                raise _crash(call, exc) from exc
            return loop.remote_output(call, text, is_error)
        try:
            value = call.fn(**kwargs)  # type: ignore[misc]
            if inspect.isawaitable(value):  # an async tool given to the sync client
                value = asyncio.run(_awaited(value))
        except Exception as exc:
            raise _crash(call, exc) from exc
        return loop.output(call, value)
    except ToolError as failure:  # a _failure; failed() may raise the same one again
        return loop.failed(failure)


def _crash(call: Call, exc: BaseException) -> ToolError:
    return _failure(call, f"{call.name} raised {type(exc).__name__}: {_safe_str(exc)}", exc)


async def _awaited(value: Any) -> Any:
    return await value


class _Job:
    """A call running on a daemon thread (abandoned, never joined, if it hangs)."""

    def __init__(self, target: Callable[[], Any], on_done: Callable[[], None] | None = None) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self._target, self._on_done = target, on_done
        threading.Thread(target=self._run, name="mistral-lite-tool", daemon=True).start()

    def _run(self) -> None:
        try:
            self.value = self._target()
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc
        self.done.set()
        if self._on_done is not None:
            self._on_done()


def _wait(job: _Job, deadline: float | None) -> bool:
    """Wait for ``job`` in short slices (so Ctrl-C reaches the calling thread at once)."""
    while not job.done.wait(0.05):
        if deadline is not None and time.monotonic() >= deadline:
            return False
    return True


def _run_calls(loop: ToolLoop, calls: Sequence[Call]) -> Generator[dict[str, Any], None, list[str | None]]:
    jobs: list[_Job | None] = []
    for call in calls:
        if call.decision is False or loop.server_runs(call):
            jobs.append(None)
        else:
            jobs.append(_Job(lambda c=call: _call_sync(loop, c)))  # type: ignore[misc]
    deadline = None if loop.tool_timeout is None else time.monotonic() + loop.tool_timeout
    outputs: list[str | None] = []
    for call, job in zip(calls, jobs):
        if job is None:
            output = None if loop.server_runs(call) else loop.denied(call)
        elif _wait(job, deadline):
            if job.error is not None:
                raise job.error
            output = job.value
        else:
            output = loop.timed_out(call)
        outputs.append(output)
        if output is not None:
            yield {"type": "tool_result", "id": call.id, "name": call.name, "content": output}
    return outputs


def _stream_turn(loop: ToolLoop, stream: Any) -> Generator[dict[str, Any], None, Any]:
    turn = TurnEvents(loop.endpoint.stream, getattr(stream, "finish", None))
    with stream:
        for chunk in stream:
            yield from turn.feed(chunk)
    yield from turn.end()
    return turn.result()


def drive(client: Any, loop: ToolLoop) -> Iterator[dict[str, Any]]:
    """The loop's events with a synchronous client; the last is ``{"type": "done", "result"}``."""
    hub = None
    try:
        if loop.sources:
            hub = open_sync(loop)
        calls = loop.start()
        while True:
            if calls is None:
                if loop.last is not None and "pending_tool_calls" in loop.last:
                    break
                operation, options = loop.request()
                if loop.stream:
                    result = yield from _stream_turn(loop, client.call(operation, **options))
                else:
                    result = client.call(operation, **options)
                calls = loop.feed(result)
                if calls is None:
                    break
            outputs = yield from _run_calls(loop, calls)
            loop.answer(calls, outputs)
            calls = None
        yield {"type": "done", "result": loop.last}
    finally:
        if hub is not None:
            hub.close()


def run_tools(client: Any, loop: ToolLoop, scope: Callable[[], contextlib.AbstractContextManager[Any]]) -> Any:
    """Drive ``loop`` with a synchronous client: the final result, or an iterator of events.
    ``scope()`` (a parent span for tracing) covers the whole run: a stream's whole iteration."""
    if loop.stream:
        return _scoped(client, loop, scope)
    result = None
    with scope():
        for event in drive(client, loop):
            result = event.get("result")
    return result


def _scoped(client: Any, loop: ToolLoop,
            scope: Callable[[], contextlib.AbstractContextManager[Any]]) -> Iterator[dict[str, Any]]:
    """The events, each step run in a context of its own: the scope (its span made current) covers
    the loop's calls but not the caller's code between events."""
    context = contextvars.copy_context()
    events = _in_scope(client, loop, scope)
    try:
        while True:
            try:
                event = context.run(next, events)
            except StopIteration:
                return
            yield event
    finally:
        context.run(events.close)


def _in_scope(client: Any, loop: ToolLoop, scope: Callable[[], contextlib.AbstractContextManager[Any]]
              ) -> Generator[dict[str, Any], None, None]:
    with scope():  # opened at the first next(), closed when the events end or the iterator is closed
        yield from drive(client, loop)


# --- the asyncio driver ----------------------------------------------------------------------


async def _call_async(loop: ToolLoop, call: Call) -> str:
    try:
        kwargs = loop.arguments(call)
        if call.remote is not None:
            hub, server = call.remote
            try:
                text, is_error = await hub.call(server, call.name, kwargs)
            except Exception as exc:  # the server died or broke the session (mcp's own errors)
                raise _crash(call, exc) from exc
            return loop.remote_output(call, text, is_error)
        fn = call.fn
        try:
            if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
                value = await fn(**kwargs)  # type: ignore[misc]
            else:
                value = await _on_thread(lambda: fn(**kwargs))  # type: ignore[misc]
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            raise _crash(call, exc) from exc
        return loop.output(call, value)
    except ToolError as failure:  # a _failure; failed() may raise the same one again
        return loop.failed(failure)


async def _on_thread(target: Callable[[], Any]) -> Any:
    """``target()`` on a daemon thread (never joined: a hung tool does not hold up the loop's end)."""
    aio = asyncio.get_running_loop()
    future: asyncio.Future[Any] = aio.create_future()

    def settle() -> None:
        if not future.done():
            if job.error is not None:
                future.set_exception(job.error)
            else:
                future.set_result(job.value)

    def done() -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits any more
            aio.call_soon_threadsafe(settle)

    job = _Job(target, done)
    return await future


async def _bounded(loop: ToolLoop, call: Call) -> str | None:
    if loop.server_runs(call):
        return None
    if call.decision is False:
        return loop.denied(call)
    try:
        return await asyncio.wait_for(_call_async(loop, call), loop.tool_timeout)
    except asyncio.TimeoutError:
        return loop.timed_out(call)


async def adrive(aclient: Any, loop: ToolLoop) -> AsyncGenerator[dict[str, Any], None]:
    """:func:`drive` for an async client (the calls of a turn run concurrently)."""
    hub = None
    try:
        if loop.sources:
            hub = await open_async(loop)
        calls = loop.start()
        while True:
            if calls is None:
                if loop.last is not None and "pending_tool_calls" in loop.last:
                    break
                operation, options = loop.request()
                result = await aclient.call(operation, **options)
                if loop.stream:
                    turn = TurnEvents(loop.endpoint.stream, getattr(result, "finish", None))
                    async with result:
                        async for chunk in result:
                            for event in turn.feed(chunk):
                                yield event
                    for event in turn.end():
                        yield event
                    result = turn.result()
                calls = loop.feed(result)
                if calls is None:
                    break
            tasks = [asyncio.ensure_future(_bounded(loop, call)) for call in calls]
            outputs: list[str | None] = []
            try:
                for call, task in zip(calls, tasks):
                    output = await task
                    outputs.append(output)
                    if output is not None:
                        yield {"type": "tool_result", "id": call.id, "name": call.name, "content": output}
            finally:
                for task in tasks:
                    task.cancel()
            loop.answer(calls, outputs)
            calls = None
        yield {"type": "done", "result": loop.last}
    finally:
        if hub is not None:
            await hub.aclose()


async def arun_tools(aclient: Any, loop: ToolLoop, scope: Callable[[], contextlib.AbstractContextManager[Any]]) -> Any:
    """Drive ``loop`` with an async client: the final result, or an async iterator of events
    (``scope()`` covering the whole iteration, as in :func:`run_tools`)."""
    if loop.stream:
        return _ascoped(aclient, loop, scope)
    result = None
    with scope():
        async for event in adrive(aclient, loop):
            result = event.get("result")
    return result


async def _ascoped(aclient: Any, loop: ToolLoop,
                   scope: Callable[[], contextlib.AbstractContextManager[Any]]) -> AsyncIterator[dict[str, Any]]:
    """As :func:`_scoped`: each step in a context of its own, not the caller's task's."""
    context = contextvars.copy_context()
    events = _ain_scope(aclient, loop, scope)
    try:
        while True:
            try:
                event = await _in_context(context, events.__anext__())
            except StopAsyncIteration:
                return
            yield event
    finally:
        await _in_context(context, events.aclose())


class _Pass:
    """Hands what a coroutine yields (a future it waits on) up to the task driving the caller."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def _in_context(context: contextvars.Context, awaitable: Any) -> Any:
    """``await awaitable`` with its code run in ``context`` (a task runs a coroutine in its own)."""
    steps = awaitable.__await__()
    send, arg = steps.send, None
    while True:
        try:
            yielded = context.run(send, arg)
        except StopIteration as done:
            return done.value
        try:
            arg, send = await _Pass(yielded), steps.send
        except BaseException as exc:  # thrown into the awaitable, as a task would
            arg, send = exc, steps.throw


async def _ain_scope(aclient: Any, loop: ToolLoop, scope: Callable[[], contextlib.AbstractContextManager[Any]]
                     ) -> AsyncGenerator[dict[str, Any], None]:
    with scope():
        events = adrive(aclient, loop)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # the MCP sessions close inside the scope
