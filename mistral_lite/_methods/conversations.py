"""Results people use: a collected stream (conversation or chat), the final text, citations, tool files.

* :func:`collect_conversation` turns a conversation's event stream (create, append, restart,
  agents too) into the ``conversation.response`` the same turn returns without ``stream=True``:
  outputs in ``output_index`` order, message deltas joined (a plain string when every delta
  was text; else chunks, text deltas sharing a ``content_index`` joined into one text chunk),
  function-call arguments joined, tool executions and agent handoffs rebuilt from their
  started/done events, ``conversation_id`` and ``usage``.
* :func:`collect_completion` (and :func:`acollect_completion`) turns chat completion chunks into
  the non-streamed response (the tool loop collects its streamed turns with it).
* :func:`text_delta` is the text an event adds (chat/agent chunks, conversation message
  deltas, transcription deltas; thinking chunks skipped): ``stream.text()`` yields it.
* :func:`output_text` and :func:`citations` read a result; :func:`tool_files` plans
  ``download_outputs``: where each ``tool_file`` chunk's file goes, its name made safe.

Everything here is transport-free; both clients and both stream classes call it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mistral_lite.exceptions import MistralError

if TYPE_CHECKING:
    from mistral_lite.types import ChatCompletionResponse

__all__ = ["acollect_completion", "acollect_conversation", "citations", "collect_completion", "collect_conversation",
           "output_text", "place_file", "text_delta", "tool_files"]

#: Keys of an event that describe its entry (kept on the rebuilt entry when an event carried them).
_WHO = ("agent_id", "model")
#: Entry type of each event type that builds one.
_ENTRY_OF = {
    "message.output.delta": "message.output",
    "function.call.delta": "function.call",
    "tool.execution.started": "tool.execution",
    "tool.execution.delta": "tool.execution",
    "tool.execution.done": "tool.execution",
    "agent.handoff.started": "agent.handoff",
    "agent.handoff.done": "agent.handoff",
}
#: Fields an event of this type copies onto its entry as they are (the last one wins).
_COPIED = {
    "function.call.delta": ("tool_call_id", "name", "confirmation_status"),
    "tool.execution.started": ("name",),
    "tool.execution.done": ("name", "info"),
    "agent.handoff.started": ("previous_agent_id", "previous_agent_name"),
    "agent.handoff.done": ("next_agent_id", "next_agent_name"),
}
#: Events whose ``arguments`` pieces are joined into the entry's.
_JOINED = frozenset(("function.call.delta", "tool.execution.started", "tool.execution.delta"))


class _Entry:
    __slots__ = ("content", "fields", "texts")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.content: list[Any] = []  # str pieces and chunk dicts, in arrival order
        self.texts: dict[int, int] = {}  # content_index -> position of its text chunk in content


class _Collector:
    """The state of one conversation stream being collected."""

    def __init__(self) -> None:
        self.result: dict[str, Any] = {"object": "conversation.response"}
        self.entries: dict[int, _Entry] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        if "choices" in event:
            raise MistralError("collect_conversation: this is a completion stream; use collect_completion")
        kind = event.get("type")
        if kind == "conversation.response.started":
            if event.get("conversation_id") is not None:
                self.result["conversation_id"] = event["conversation_id"]
            return
        if kind == "conversation.response.done":
            if "usage" in event:
                self.result["usage"] = event["usage"]
            return
        entry_type = _ENTRY_OF.get(kind) if isinstance(kind, str) else None
        if entry_type is None:
            return  # an event type this version does not know: not part of the response
        index = event.get("output_index", 0)
        entry = self.entries.get(index)
        if entry is None:
            entry = self.entries[index] = _Entry()
            fields = entry.fields
            fields["object"] = "entry"
            fields["type"] = entry_type
            if "created_at" in event:
                fields["created_at"] = event["created_at"]
            for key in _WHO:
                if key in event:
                    fields[key] = event[key]
            fields["id"] = event.get("id")
            if entry_type == "message.output":
                fields["role"] = event.get("role", "assistant")
            if kind in _JOINED:
                fields["arguments"] = ""
        fields = entry.fields
        if "created_at" in event:
            fields["completed_at"] = event["created_at"]
        for key in _WHO:
            if fields.get(key) is None and event.get(key) is not None:
                fields[key] = event[key]
        for key in _COPIED.get(str(kind), ()):
            if key in event and (event[key] is not None or key not in fields):
                fields[key] = event[key]
        if kind in _JOINED:
            args = event.get("arguments")
            if isinstance(args, str):
                fields["arguments"] = fields.get("arguments", "") + args
        elif kind == "message.output.delta":
            self._content(entry, event)

    @staticmethod
    def _content(entry: _Entry, event: Mapping[str, Any]) -> None:
        piece = event.get("content")
        if isinstance(piece, Mapping) and piece.get("type") == "text" and isinstance(piece.get("text"), str):
            piece = piece["text"]
        if not isinstance(piece, str):
            if piece is not None:
                entry.content.append(dict(piece))
            return
        at = event.get("content_index", 0)
        slot = entry.texts.get(at)
        if slot is None:
            entry.texts[at] = len(entry.content)
            entry.content.append(piece)
        else:
            entry.content[slot] += piece

    def response(self) -> dict[str, Any]:
        outputs = []
        for index in sorted(self.entries):
            entry = self.entries[index]
            fields = entry.fields
            if fields["type"] == "message.output":
                parts = entry.content
                if all(isinstance(p, str) for p in parts):
                    fields["content"] = "".join(parts)
                else:
                    fields["content"] = [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]
            outputs.append(fields)
        result = self.result
        result["outputs"] = outputs
        result.setdefault("conversation_id", None)
        return result


def collect_conversation(events: Iterable[Mapping[str, Any]]) -> Any:
    """Turn a conversation's event stream into the response the same turn gives without ``stream``.

    Works for ``create_conversation``, ``append_conversation``, ``restart_conversation`` and
    their agent forms. A stream of a call whose ``response_format`` was a type gives each
    ``message.output`` entry its ``parsed`` value.
    """
    collector = _Collector()
    for event in events:
        collector.add(event)
    result = collector.response()
    finish = getattr(events, "finish", None)
    return result if finish is None else finish(result)


async def acollect_conversation(events: AsyncIterable[Mapping[str, Any]]) -> Any:
    """:func:`collect_conversation` for an :class:`~mistral_lite.AsyncStream`."""
    collector = _Collector()
    async for event in events:
        collector.add(event)
    result = collector.response()
    finish = getattr(events, "finish", None)
    return result if finish is None else finish(result)


def is_conversation_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` belongs to a conversation stream (``collect_completion`` refuses it)."""
    kind = event.get("type")
    return isinstance(kind, str) and "choices" not in event and (
        kind.startswith("conversation.") or kind in _ENTRY_OF)


# --- text ------------------------------------------------------------------------------------


def _chunk_text(content: Any) -> str:
    """The text of a content value: a string, a text chunk, or a list of chunks (thinking skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        text = content.get("text")
        return text if content.get("type", "text") == "text" and isinstance(text, str) else ""
    if isinstance(content, list):
        return "".join(_chunk_text(part) for part in content if not isinstance(part, str) or part)
    return ""


def text_delta(event: Mapping[str, Any]) -> str:
    """The text an event of a chat, agent, conversation or transcription stream adds ("" if none)."""
    choices = event.get("choices")
    if choices is not None:
        for choice in choices or ():
            if choice.get("index", 0) == 0:
                return _chunk_text((choice.get("delta") or {}).get("content"))
        return ""
    kind = event.get("type")
    if kind == "message.output.delta":
        return _chunk_text(event.get("content"))
    if kind == "transcription.text.delta":
        text = event.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _final_text(content: Any) -> str | None:
    """The joined text of a message's content; None when it is null or a list without a text chunk."""
    if isinstance(content, list) and not any(
            isinstance(c, str) or (isinstance(c, Mapping) and c.get("type", "text") == "text") for c in content):
        return None
    return None if content is None else _chunk_text(content)


def output_text(result: Mapping[str, Any]) -> str | None:
    """The final text of a result: a chat or agent completion's first choice, a conversation's
    last ``message.output`` entry (even when function calls follow it), a transcription's text.
    Text chunks are joined; None when there is no text."""
    choices = result.get("choices")
    if isinstance(choices, list):
        if not choices:
            return None
        return _final_text((choices[0].get("message") or {}).get("content"))
    outputs = result.get("outputs")
    if isinstance(outputs, list):
        for entry in reversed(outputs):
            if isinstance(entry, Mapping) and entry.get("type") == "message.output":
                return _final_text(entry.get("content"))
        return None
    text = result.get("text")
    return text if isinstance(text, str) else None


def _chunks(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every content chunk of a result's messages, in order."""
    contents: list[Any] = []
    for entry in result.get("outputs") or ():
        if isinstance(entry, Mapping) and entry.get("type") == "message.output":
            contents.append(entry.get("content"))
    for choice in result.get("choices") or ():
        if isinstance(choice, Mapping):
            contents.append((choice.get("message") or {}).get("content"))
    return [c for content in contents if isinstance(content, list) for c in content if isinstance(c, Mapping)]


def citations(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``tool_reference`` chunks of a result's messages, in order (``[]`` when there are none)."""
    return [dict(c) for c in _chunks(result) if c.get("type") == "tool_reference"]


# --- tool files --------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:]")


def safe_name(name: Any, fallback: str) -> str:
    """A file name that stays in its directory: no separators, control characters or dot names."""
    for candidate in (name, fallback):
        if not isinstance(candidate, str):
            continue
        # the last path component, whichever separator the name used
        base = re.split(r"[/\\]", candidate)[-1]
        base = _UNSAFE.sub("_", base).strip().lstrip(".") if base not in ("", ".", "..") else ""
        base = os.fsencode(base)[:200].decode("utf-8", "ignore")
        if base:
            return base
    return "file"


def tool_files(result: Mapping[str, Any], directory: str | os.PathLike[str], *,
               overwrite: bool = False) -> list[tuple[str, Path]]:
    """``(file_id, target path)`` of every ``tool_file`` chunk, checked before any download.

    Each name is the chunk's ``file_name`` (or, when null or unusable, its ``file_id``) made
    safe; two chunks with one name get ``name (2).ext``; an existing target raises a
    :class:`MistralError` naming it unless ``overwrite``.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise MistralError(f"download_outputs: {str(folder)!r} is not a directory")
    planned: list[tuple[str, Path]] = []
    taken: set[str] = set()
    seen: set[str] = set()
    for chunk in _chunks(result):
        if chunk.get("type") != "tool_file" or not isinstance(chunk.get("file_id"), str):
            continue
        file_id = chunk["file_id"]
        if file_id in seen:
            continue
        seen.add(file_id)
        name = safe_name(chunk.get("file_name"), file_id)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        number = 1
        while name.lower() in taken:
            number += 1
            name = f"{stem} ({number}){dot}{ext}"
        taken.add(name.lower())
        target = folder / name
        if not overwrite and os.path.lexists(target):
            raise MistralError(f"download_outputs: {str(target)!r} exists; pass overwrite=True to replace it")
        planned.append((file_id, target))
    return planned


def temporary_for(target: Path) -> Path:
    """A fresh name beside ``target`` for its download (removed by :func:`place_file`)."""
    return target.with_name(f".{target.name[:64]}.{secrets.token_hex(4)}.download")


def place_file(tmp: Path, target: Path, overwrite: bool) -> Path:
    """Move a finished download into place: atomically; without ``overwrite`` never over a file."""
    try:
        if overwrite:
            os.replace(tmp, target)
            return target
        try:
            os.link(tmp, target)  # fails if target exists, even one created meanwhile
        except FileExistsError:
            raise MistralError(f"download_outputs: {str(target)!r} exists; pass overwrite=True to replace it") \
                from None
        except OSError:  # a file system without hard links
            if os.path.lexists(target):
                raise MistralError(f"download_outputs: {str(target)!r} exists; pass overwrite=True to replace "
                                   "it") from None
            os.replace(tmp, target)
        return target
    finally:
        if tmp.exists():
            tmp.unlink()


# -- chat completion streams ---------------------------------------------------------------------
def collect_completion(chunks: Iterable[Mapping[str, Any]]) -> ChatCompletionResponse:
    """Turn completion chunks into the equivalent non-streamed response.

    Content is joined per choice, tool calls merged by index (arguments concatenated), and
    the finish reason, usage, id, model and created time kept. A stream of a call whose
    ``response_format`` was a type gives each message its ``parsed`` value (the stream's
    ``finish`` step).
    """
    result: dict[str, Any] = {"object": "chat.completion"}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if "choices" not in chunk and chunk.get("type"):
            _refuse_events(chunk)
        for key in ("id", "model", "created"):
            if key in chunk and key not in result:
                result[key] = chunk[key]
        if chunk.get("usage"):
            result["usage"] = chunk["usage"]
        for delta_choice in chunk.get("choices", ()):
            index = delta_choice.get("index", 0)
            choice = choices.setdefault(
                index, {"index": index, "message": {"role": "assistant", "content": ""}, "finish_reason": None}
            )
            delta = delta_choice.get("delta") or {}
            message = choice["message"]
            if delta.get("role"):
                message["role"] = delta["role"]
            content = delta.get("content")
            if isinstance(content, str):
                message["content"] += content
            elif isinstance(content, list):
                message["content"] += "".join(
                    part.get("text", "") for part in content if isinstance(part, dict)
                )
            for call in delta.get("tool_calls") or ():
                calls = message.setdefault("tool_calls", [])
                slot = call.get("index", len(calls))
                while len(calls) <= slot:
                    calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                merged = calls[slot]
                if call.get("id"):
                    merged["id"] = call["id"]
                fn = call.get("function") or {}
                if fn.get("name"):
                    merged["function"]["name"] = fn["name"]
                args = fn.get("arguments")
                if isinstance(args, str):
                    merged["function"]["arguments"] += args
                elif args is not None:
                    merged["function"]["arguments"] = args
            if delta_choice.get("finish_reason"):
                choice["finish_reason"] = delta_choice["finish_reason"]
    result["choices"] = [choices[i] for i in sorted(choices)]
    finish = getattr(chunks, "finish", None)
    return cast("ChatCompletionResponse", result if finish is None else finish(result))


def _refuse_events(chunk: Mapping[str, Any]) -> None:
    if is_conversation_event(chunk):
        raise MistralError(f"collect_completion got a conversation event ({chunk.get('type')!r}); "
                           "collect a conversation stream with collect_conversation (or acollect_conversation)")


async def acollect_completion(chunks: AsyncIterable[Mapping[str, Any]]) -> ChatCompletionResponse:
    """:func:`collect_completion` for an :class:`~mistral_lite.AsyncStream` (``parsed`` included)."""
    collected = [chunk async for chunk in chunks]
    result = collect_completion(collected)
    finish = getattr(chunks, "finish", None)
    return result if finish is None else cast("ChatCompletionResponse", finish(result))
