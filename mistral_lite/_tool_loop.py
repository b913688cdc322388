"""The tool loop: call the model, run the functions it asks for, send the results, repeat.

:class:`ToolLoop` is the loop without I/O: it says which operation to call with which options
(:meth:`~ToolLoop.request`), reads each result (:meth:`~ToolLoop.feed`: the tool calls to run,
or None when the model answered), and records the tools' outputs (:meth:`~ToolLoop.answer`).
The row's ``tool_loop`` field says how an exchange continues: ``messages`` (chat-like rows: the
assistant message, then one ``tool`` message per call) or ``entries`` (conversations:
``function.result`` inputs sent to the ``next`` row with the response's ``conversation_id``).

:func:`run_tools` drives it with a :class:`~mistral_lite.Client` (parallel calls on threads)
and :func:`arun_tools` with an :class:`~mistral_lite.AsyncClient` through its public API
(async functions awaited, plain ones on threads). Bad arguments from the model and exceptions
raised by a tool go back to the model as the tool's result (``"Error: ..."``), unless
``raise_tool_errors`` (then :class:`~mistral_lite.exceptions.ToolError`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._table import Endpoint
from .exceptions import MaxTurnsExceeded, MistralError, ToolError, UnknownOperationError, ValidationError

__all__ = ["Call", "ToolLoop", "arun_tools", "make_loop", "run_tools"]


class Call:
    """One tool call requested by the model."""

    __slots__ = ("arguments", "fn", "id", "name")

    def __init__(self, id: str | None, name: str, arguments: Any, fn: Callable[..., Any] | None) -> None:
        self.id, self.name, self.arguments, self.fn = id, name, arguments, fn


class ToolLoop:
    """The state of one tool loop over the row ``endpoint`` (no I/O here)."""

    def __init__(self, endpoint: Endpoint, endpoints: Mapping[str, Endpoint], options: dict[str, Any],
                 tools: Sequence[Any], *, max_turns: int, raise_tool_errors: bool,
                 on_message: Callable[[Any], None] | None) -> None:
        if endpoint.tool_loop is None:
            loops = sorted(name for name, ep in endpoints.items() if ep.tool_loop)
            raise ValidationError(endpoint.name, [("<operation>", f"run_tools works with {', '.join(loops)}")])
        if options.get("stream"):
            raise ValidationError(endpoint.name, [("stream", "run_tools does not stream; call without stream=True")])
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValidationError(endpoint.name, [("max_turns", f"must be an integer >= 1, got {max_turns!r}")])
        self.style = endpoint.tool_loop["style"]
        self.endpoint, self.endpoints = endpoint, endpoints
        self.functions: dict[str, Callable[..., Any]] = {}
        for tool in tools:
            if callable(tool) and not isinstance(tool, Mapping):
                from ._tools import tool_name

                self.functions[tool_name(tool)] = tool
        self.options = dict(options)
        if tools:
            self.options["tools"] = list(tools)  # callables become tool dicts in the dispatcher
        self.max_turns, self.raise_tool_errors, self.on_message = max_turns, raise_tool_errors, on_message
        self.turns = 0
        self.operation = endpoint.name
        self.transcript: list[Any] = []
        self.last: Any = None
        if self.style == "messages":
            self.transcript = list(self.options.get("messages") or ())
        else:
            inputs = self.options.get("inputs")
            self.transcript = [{"type": "message.input", "role": "user", "content": inputs}] \
                if isinstance(inputs, str) else list(inputs or ())

    def request(self) -> tuple[str, dict[str, Any]]:
        """The operation and options of the next call."""
        self.turns += 1
        if self.style == "messages":
            self.options["messages"] = list(self.transcript)
        return self.operation, dict(self.options)

    def feed(self, result: Any) -> list[Call] | None:
        """Read a result: the calls to run, or None when the model answered (the loop ends)."""
        if not isinstance(result, dict):
            raise MistralError(f"{self.operation}: run_tools got {type(result).__name__}, not a response",
                               operation=self.operation)
        self.last = result
        if self.style == "messages":
            message = (result.get("choices") or [{}])[0].get("message") or {}
            raw_calls = message.get("tool_calls") or []
            kept = {k: message[k] for k in ("role", "content", "tool_calls") if message.get(k) is not None}
            self._add(kept)
            calls = [Call(c.get("id"), (c.get("function") or {}).get("name", ""),
                          (c.get("function") or {}).get("arguments"), None) for c in raw_calls]
            if not calls:
                result["messages"] = list(self.transcript)
                return None
        else:
            outputs = result.get("outputs") or []
            for entry in outputs:
                self._add(entry)
            calls = [Call(e.get("tool_call_id"), e.get("name", ""), e.get("arguments"), None)
                     for e in outputs if isinstance(e, dict) and e.get("type") == "function.call"]
            if not calls:
                result["entries"] = list(self.transcript)
                return None
        if self.turns >= self.max_turns:
            raise MaxTurnsExceeded(
                f"{self.endpoint.name}: the model still asked for tools after max_turns={self.max_turns} calls",
                transcript=list(self.transcript), last=result, operation=self.endpoint.name)
        for call in calls:
            call.fn = self.functions.get(call.name)
        return calls

    def answer(self, calls: Sequence[Call], outputs: Sequence[str]) -> None:
        """Record the tools' outputs and prepare the next request."""
        if self.style == "messages":
            for call, output in zip(calls, outputs):
                self._add({"role": "tool", "name": call.name, "tool_call_id": call.id, "content": output})
            return
        results = [{"type": "function.result", "tool_call_id": call.id, "result": output}
                   for call, output in zip(calls, outputs)]
        for entry in results:
            self._add(entry)
        nxt = self.endpoints[self.endpoint.tool_loop["next"]]  # type: ignore[index]
        keep = set(nxt.options) - {"inputs", "conversation_id", "tools"}
        self.operation = nxt.name
        self.options = {k: v for k, v in self.options.items() if k in keep}
        self.options.update(conversation_id=self.last.get("conversation_id"), inputs=results)

    def _add(self, item: Any) -> None:
        self.transcript.append(item)
        if self.on_message is not None:
            self.on_message(item)

    # --- running one call ------------------------------------------------------------------

    def arguments(self, call: Call) -> dict[str, Any]:
        """The keyword arguments of ``call`` (raises ToolError or _ToolFailed)."""
        if call.fn is None:
            known = ", ".join(sorted(self.functions)) or "none"
            raise _ToolFailed(call, f"no tool named {call.name!r} (tools: {known})", None)
        from ._tools import ToolArgumentsError, call_arguments

        try:
            return call_arguments(call.fn, call.arguments)
        except ToolArgumentsError as exc:
            raise _ToolFailed(call, f"invalid arguments for {call.name}: {exc}", exc) from None

    def failed(self, failure: _ToolFailed) -> str:
        """The tool's result for a failure, or the ToolError when errors are raised."""
        if self.raise_tool_errors:
            raise ToolError(f"tool {failure.call.name!r} failed: {failure.text}", tool=failure.call.name,
                            arguments=_text(failure.call.arguments), call_id=failure.call.id,
                            operation=self.endpoint.name) from failure.cause
        return f"Error: {failure.text}"


def make_loop(endpoints: Mapping[str, Endpoint], operation: str, tools: Sequence[Any], options: dict[str, Any],
              *, max_turns: int, raise_tool_errors: bool, on_message: Callable[[Any], None] | None) -> ToolLoop:
    """The loop for ``operation`` (a row with ``tool_loop``), checked before any I/O."""
    endpoint = endpoints.get(operation)
    if endpoint is None:
        import difflib

        raise UnknownOperationError(operation, difflib.get_close_matches(operation, list(endpoints), n=3, cutoff=0.5))
    if isinstance(tools, Mapping) or callable(tools):
        tools = [tools]
    return ToolLoop(endpoint, endpoints, options, list(tools or ()), max_turns=max_turns,
                    raise_tool_errors=raise_tool_errors, on_message=on_message)


class _ToolFailed(Exception):
    def __init__(self, call: Call, text: str, cause: BaseException | None) -> None:
        super().__init__(text)
        self.call, self.text, self.cause = call, text, cause


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def tool_output(value: Any) -> str:
    """A tool's return value as the text sent to the model (JSON unless it is a string)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=_jsonable, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    import enum

    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def _crash(call: Call, exc: BaseException) -> _ToolFailed:
    return _ToolFailed(call, f"{call.name} raised {type(exc).__name__}: {exc}", exc)


def _run_sync(loop: ToolLoop, call: Call) -> str:
    try:
        kwargs = loop.arguments(call)
        try:
            value = call.fn(**kwargs)  # type: ignore[misc]
            if inspect.isawaitable(value):  # an async tool given to the sync client
                value = asyncio.run(_awaited(value))
        except Exception as exc:
            raise _crash(call, exc) from None
        return tool_output(value)
    except _ToolFailed as failure:
        return loop.failed(failure)


async def _awaited(value: Any) -> Any:
    return await value


def run_tools(client: Any, loop: ToolLoop) -> Any:
    """Drive ``loop`` with a synchronous client; parallel tool calls run on threads."""
    while True:
        operation, options = loop.request()
        calls = loop.feed(client.call(operation, **options))
        if calls is None:
            return loop.last
        if len(calls) == 1:
            outputs = [_run_sync(loop, calls[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(len(calls), 8), thread_name_prefix="mistral-lite-tool") as pool:
                outputs = list(pool.map(lambda c: _run_sync(loop, c), calls))
        loop.answer(calls, outputs)


async def _run_async(loop: ToolLoop, call: Call) -> str:
    try:
        kwargs = loop.arguments(call)
        fn = call.fn
        try:
            if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
                value = await fn(**kwargs)  # type: ignore[misc]
            else:
                value = await asyncio.to_thread(fn, **kwargs)  # type: ignore[arg-type]
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            raise _crash(call, exc) from None
        return tool_output(value)
    except _ToolFailed as failure:
        return loop.failed(failure)


async def arun_tools(aclient: Any, loop: ToolLoop) -> Any:
    """Drive ``loop`` with an async client: ``await aclient.call(...)``, tool calls gathered."""
    while True:
        operation, options = loop.request()
        calls = loop.feed(await aclient.call(operation, **options))
        if calls is None:
            return loop.last
        outputs = await asyncio.gather(*(_run_async(loop, c) for c in calls))
        loop.answer(calls, list(outputs))
