"""Handlers of the inference operations: chat, FIM, agent completions, embeddings,
classification, moderation and OCR.

Each handler takes the fake's :class:`~.state.State` and the validated options of one request
and returns a reply; the content comes from ``generate.py``, so it is deterministic.

The fake model (chat, agent completions and conversation turns, :func:`complete`): it answers
``Echo: <last user message>``. Given function tools and a ``tool_choice`` other than ``"none"``,
it first calls every tool whose name the last user message contains (parallel calls), or the
first tool when it names none (a forced function: that one), with arguments generated from
the tool's parameter schema (finish reason ``tool_calls``); once tool results follow, it answers
``Tool result: <result>``, one line per result. With a ``json_schema`` response format it
answers JSON valid for the schema; with ``json_object``, ``{"answer": ...}``. ``max_tokens`` and
``stop`` cut plain text (finish reason ``length``). Tests script other answers with
``FakeMistral.script`` (see ``scripted.py``; :func:`chat_completion` builds a canned body).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mistral_lite.fake import generate as gen
from mistral_lite.fake.replies import JsonReply, Reply, StreamReply, not_found
from mistral_lite.fake.sse import DONE, completion_event
from mistral_lite.fake.state import State, iso_now

__all__ = ["HANDLERS", "builtin_tools", "chat_completion", "complete", "conversation_reply", "stream_completion",
           "stream_entries"]


def _uid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _function_tools(tools: Any) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for tool in tools or ():
        if isinstance(tool, Mapping) and tool.get("type", "function") == "function":
            fn = tool.get("function")
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                out.append(fn)
    return out


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return gen.message_text(message.get("content"))
    return ""


def _pick_tools(messages: Sequence[Mapping[str, Any]], tools: list[Mapping[str, Any]],
                choice: Any) -> list[Mapping[str, Any]]:
    """The tools the fake model calls: none once tool results follow the last user turn or
    with ``tool_choice="none"``; the forced one; else every tool the last user message names
    (parallel calls), or the first tool when it names none."""
    if not tools or not messages or messages[-1].get("role") == "tool" or choice == "none":
        return []
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        return [next((t for t in tools if t["name"] == name), {"name": name, "parameters": {}})]
    text = _last_user_text(messages).lower()
    named = [t for t in tools if t["name"].lower() in text]
    return named or [tools[0]]


def _truncate(text: str, max_tokens: Any, stop: Any) -> tuple[str, str]:
    finish = "stop"
    stops = [stop] if isinstance(stop, str) else list(stop or ())
    for marker in stops:
        if marker and marker in text:
            text = text[: text.index(marker)]
    if isinstance(max_tokens, int) and gen.count_tokens(text) > max_tokens:
        kept = ""
        for word in gen.split_words(text):
            if gen.count_tokens(kept + word) > max_tokens:
                break
            kept += word
        text, finish = kept, "length"
    return text, finish


def complete(model: str, messages: Sequence[Mapping[str, Any]], o: Mapping[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` body for ``messages`` under the options ``o``."""
    prompt_tokens = sum(gen.count_tokens(gen.message_text(m.get("content"))) + 2 for m in messages)
    tools = _pick_tools(messages, _function_tools(o.get("tools")), o.get("tool_choice"))
    message: dict[str, Any] = {"role": "assistant", "content": "", "tool_calls": None, "prefix": False}
    if tools:
        calls, completion_tokens = [], 0
        for index, tool in enumerate(tools):
            args = json.dumps(gen.instance_for_schema(tool.get("parameters") or {"type": "object"},
                                                      _last_user_text(messages)))
            call_id = gen.stable_id("", tool["name"], args, str(len(messages)), length=9)
            calls.append({"id": call_id, "type": "function", "index": index,
                          "function": {"name": tool["name"], "arguments": args}})
            completion_tokens += gen.count_tokens(args) + 3
        message["tool_calls"], finish = calls, "tool_calls"
    else:
        text, finish = gen.reply_text(messages), "stop"
        fmt = o.get("response_format") or {}
        if fmt.get("type") == "json_object":
            text = json.dumps({"answer": text})
        elif fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            text = json.dumps(gen.instance_for_schema(schema, text))
        else:
            text, finish = _truncate(text, o.get("max_tokens"), o.get("stop"))
        message["content"] = text
        completion_tokens = gen.count_tokens(text)
    n = o.get("n") or 1
    return {
        "id": _uid(""), "object": "chat.completion", "model": model, "created": int(time.time()),
        "choices": [{"index": i, "message": dict(message), "finish_reason": finish} for i in range(n)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens * n,
                  "total_tokens": prompt_tokens + completion_tokens * n},
    }


def chat_completion(content: str = "", *, tool_calls: Sequence[Mapping[str, Any]] | None = None,
                    finish_reason: str | None = None, model: str = "mistral-small-latest") -> dict[str, Any]:
    """A ``chat.completion`` body with this content or these tool calls (``{"name", "arguments"}``
    or full tool call dicts): a canned reply for ``FakeMistral.script("chat", ...)``."""
    calls = [dict(c) if "function" in c else
             {"id": gen.stable_id("", str(c["name"]), str(i), length=9), "type": "function", "index": i,
              "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str)
                           else json.dumps(c["arguments"])}}
             for i, c in enumerate(tool_calls or ())] or None
    tokens = gen.count_tokens(content)
    return {"id": _uid(""), "object": "chat.completion", "model": model, "created": int(time.time()),
            "choices": [{"index": 0, "finish_reason": finish_reason or ("tool_calls" if calls else "stop"),
                         "message": {"role": "assistant", "content": content, "tool_calls": calls, "prefix": False}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}}


def stream_completion(body: Mapping[str, Any]) -> StreamReply:
    """Turn a ``chat.completion`` body into SSE-A ``chat.completion.chunk`` events."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
            "model": body["model"]}
    choice = body["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}], **extra)
        return completion_event(payload)

    events = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        events.append(chunk({"tool_calls": message["tool_calls"]}))
    else:
        events.extend(chunk({"content": word}) for word in gen.split_words(message["content"]) if word)
    events.append(chunk({"content": ""}, choice["finish_reason"], usage=body["usage"]))
    return StreamReply("completion", events, DONE)


def _answer(body: dict[str, Any], o: Mapping[str, Any]) -> Reply:
    return stream_completion(body) if o.get("stream") else JsonReply(body)


def chat(state: State, o: dict[str, Any]) -> Reply:
    return _answer(complete(o["model"], o["messages"], o), o)


def fim(state: State, o: dict[str, Any]) -> Reply:
    prompt, suffix = o["prompt"], o.get("suffix")
    text, finish = _truncate(gen.fim_text(prompt, suffix), o.get("max_tokens"), o.get("stop"))
    prompt_tokens = gen.count_tokens(prompt) + gen.count_tokens(suffix or "")
    tokens = gen.count_tokens(text)
    body = {"id": _uid(""), "object": "chat.completion", "model": o["model"], "created": int(time.time()),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text, "tool_calls": None, "prefix": False}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                      "total_tokens": prompt_tokens + tokens}}
    return _answer(body, o)


def agent_settings(state: State, agent_id: str, version: Any = None) -> dict[str, Any]:
    """The snapshot of an agent (current version, or ``version``: a number or alias)."""
    with state.lock:
        record = state.agents.get(agent_id)
        if record is None:
            raise not_found("Agent", agent_id)
        if version is None:
            return record.versions[record.current]
        if isinstance(version, str) and not version.isdigit():
            alias = record.aliases.get(version)
            if alias is None:
                raise not_found("Agent alias", version)
            version = alias["version"]
        snap = record.versions.get(int(version))
        if snap is None:
            raise not_found("Agent version", version)
        return snap


def agent_completion(state: State, o: dict[str, Any]) -> Reply:
    agent = agent_settings(state, o["agent_id"])
    messages = list(o["messages"])
    if agent.get("instructions"):
        messages.insert(0, {"role": "system", "content": agent["instructions"]})
    merged: dict[str, Any] = dict(agent.get("completion_args") or {})
    merged.setdefault("tools", agent.get("tools"))
    merged.update({k: v for k, v in o.items() if v is not None})
    return _answer(complete(agent["model"], messages, merged), o)


def conversation_reply(model: str | None, instructions: str | None, messages: list[dict[str, Any]],
                       args: Mapping[str, Any]) -> dict[str, Any]:
    """Run a conversation turn; returns the ``chat.completion`` body (used by ``resources``)."""
    full = ([{"role": "system", "content": instructions}] if instructions else []) + messages
    return complete(model or "mistral-small-latest", full, args)


#: The built-in connectors the fake runs in a conversation, and the chunk each adds to the answer.
BUILTIN_TOOLS = ("web_search", "web_search_premium", "code_interpreter", "image_generation", "document_library")
#: A 1x1 transparent PNG: what the fake's image_generation "draws".
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c"
                    "63000100000500010d0a2db40000000049454e44ae426082")


def builtin_tools(state: State, tools: Any, messages: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The built-in tools a conversation turn runs: ``(tool executions, chunks for the answer)``.

    ``web_search`` (and premium) and ``document_library`` cite a source (a ``tool_reference``
    chunk); ``image_generation`` and ``code_interpreter`` make a file (stored in the files
    store, a ``tool_file`` chunk)."""
    query = _last_user_text(messages)
    ran: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    for tool in tools or ():
        name = tool.get("type") if isinstance(tool, Mapping) else None
        if name not in BUILTIN_TOOLS:
            continue
        slug = gen.stable_id("", name, query, length=8)
        ran.append({"name": name, "arguments": json.dumps({"query": query}), "info": {}})
        if name in ("image_generation", "code_interpreter"):
            file_name = "image.png" if name == "image_generation" else "result.txt"
            data = PNG if name == "image_generation" else f"Result for {query}\n".encode()
            stored = state.add_file(file_name, data, None, source="mistral")
            chunks.append({"type": "tool_file", "tool": name, "file_id": stored.id, "file_name": file_name,
                           "file_type": file_name.rsplit(".", 1)[-1]})
        else:
            chunks.append({"type": "tool_reference", "tool": name, "title": f"Result {slug} for {query}"[:120],
                           "url": f"https://example.com/{slug}", "favicon": None,
                           "description": f"A page about {query}"[:200]})
    return ran, chunks


def _pieces(text: str, parts: int = 3) -> list[str]:
    """``text`` cut into (up to) ``parts`` non-empty pieces that join back to it."""
    size = max(1, -(-len(text) // parts))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def stream_entries(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The conversation events that stream ``response`` (a ``conversation.response`` body)."""
    events: list[dict[str, Any]] = [{"type": "conversation.response.started",
                                     "created_at": time_iso(response),
                                     "conversation_id": response.get("conversation_id")}]
    for index, output in enumerate(response.get("outputs") or ()):
        base = {"created_at": output.get("created_at"), "output_index": index, "id": output.get("id"),
                **{k: output[k] for k in ("agent_id", "model") if k in output}}
        kind = output.get("type")
        if kind == "function.call":
            for piece in _pieces(str(output.get("arguments") or "")):
                events.append({"type": "function.call.delta", **base, "name": output.get("name"),
                               "tool_call_id": output.get("tool_call_id"), "arguments": piece})
        elif kind == "tool.execution":
            events.append({"type": "tool.execution.started", **base, "name": output.get("name"),
                           "arguments": output.get("arguments") or ""})
            events.append({"type": "tool.execution.done", **{k: v for k, v in base.items() if k != "agent_id"},
                           "name": output.get("name"), "info": output.get("info") or {}})
        elif kind == "message.output":
            content = output.get("content")
            chunks = [content] if isinstance(content, str) else list(content or ())
            for at, chunk in enumerate(chunks):
                text = chunk if isinstance(chunk, str) else chunk.get("text") if chunk.get("type") == "text" else None
                if text is None:
                    events.append({"type": "message.output.delta", **base, "content_index": at,
                                   "role": "assistant", "content": chunk})
                    continue
                for word in gen.split_words(text):
                    events.append({"type": "message.output.delta", **base, "content_index": at,
                                   "role": "assistant", "content": word})
    events.append({"type": "conversation.response.done", "created_at": time_iso(response),
                   "usage": response.get("usage") or {}})
    return events


def time_iso(response: Mapping[str, Any]) -> str:
    """The time of the last output of a response, or now."""
    for output in reversed(response.get("outputs") or ()):
        if isinstance(output, Mapping) and isinstance(output.get("created_at"), str):
            return str(output["created_at"])
    return iso_now()


def _inputs(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}


def embed(state: State, o: dict[str, Any]) -> Reply:
    model = o.get("model") or "mistral-embed"
    card = state.models.get(model, {})
    dimension = o.get("output_dimension") or card.get("dimension") or 1024
    texts = _inputs(o["input"])
    data = [{"object": "embedding", "index": i,
             "embedding": gen.encode_embedding(gen.embedding(t, model, dimension),
                                               o.get("output_dtype") or "float",
                                               o.get("encoding_format") or "float")}
            for i, t in enumerate(texts)]
    tokens = sum(gen.count_tokens(t) for t in texts)
    return JsonReply({"id": _uid("embd-"), "object": "list", "data": data, "model": model,
                      "usage": _usage(tokens)})


def _moderation(texts: list[str]) -> list[dict[str, Any]]:
    results = []
    for text in texts:
        cat_scores = gen.scores(text, gen.MODERATION_CATEGORIES)
        results.append({"categories": {k: v > 0.5 for k, v in cat_scores.items()},
                        "category_scores": cat_scores})
    return results


def _chat_texts(value: Any) -> list[str]:
    """One text per conversation: ``value`` is messages, a list of them, or instruct requests."""
    if isinstance(value, Mapping):
        value = [value]
    convs: list[Any] = []
    if value and all(isinstance(v, list) for v in value):
        convs = list(value)
    elif value and all(isinstance(v, Mapping) and "messages" in v for v in value):
        convs = [v["messages"] for v in value]
    else:
        convs = [value]
    return [" ".join(gen.message_text(m.get("content")) for m in conv if isinstance(m, Mapping))
            for conv in convs]


def moderate(state: State, o: dict[str, Any]) -> Reply:
    return JsonReply({"id": _uid("mod-"), "model": o["model"], "results": _moderation(_inputs(o["input"]))})


def moderate_chat(state: State, o: dict[str, Any]) -> Reply:
    return JsonReply({"id": _uid("mod-"), "model": o["model"], "results": _moderation(_chat_texts(o["input"]))})


def _classify(model: str, texts: list[str]) -> Reply:
    results = [{"moderation": {"scores": gen.scores(t, gen.MODERATION_CATEGORIES)}} for t in texts]
    return JsonReply({"id": _uid("cls-"), "model": model, "results": results})


def classify(state: State, o: dict[str, Any]) -> Reply:
    return _classify(o["model"], _inputs(o["input"]))


def classify_chat(state: State, o: dict[str, Any]) -> Reply:
    return _classify(o["model"], _chat_texts(o["input"]))


def _page_numbers(pages: Any, default: int) -> list[int]:
    if pages is None:
        return list(range(default))
    if isinstance(pages, str):
        out: list[int] = []
        for part in pages.split(","):
            lo, _, hi = part.strip().partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
        return out
    return [int(p) for p in pages]


def ocr(state: State, o: dict[str, Any]) -> Reply:
    doc = o["document"]
    size: int | None = None
    kind = doc.get("type")
    if kind == "file":
        stored = state.files.get(doc.get("file_id", ""))
        if stored is None:
            raise not_found("File", doc.get("file_id"))
        ref, size = stored.filename, len(stored.data)
    elif kind == "image_url":
        image = doc.get("image_url")
        ref = image.get("url", "") if isinstance(image, Mapping) else str(image)
    else:
        ref = str(doc.get("document_url", ""))
    is_image = kind == "image_url" or ref.startswith("data:image")
    numbers = _page_numbers(o.get("pages"), 1 if is_image else 2)
    bbox = _annotation_schema(o.get("bbox_annotation_format"))
    pages: list[dict[str, Any]] = [{"index": n, "markdown": f"# Page {n + 1}\n\nText of {ref}, page {n + 1}.",
              "images": [], "tables": [], "hyperlinks": [], "header": None, "footer": None,
              "dimensions": {"dpi": 200, "height": 2200, "width": 1700}} for n in numbers]
    if bbox is not None:  # one figure a page, annotated as the bbox format asks
        for page in pages:
            image_id = f"img-{page['index']}.jpeg"
            page["markdown"] += f"\n\n![{image_id}]({image_id})"
            page["images"] = [{"id": image_id, "top_left_x": 100, "top_left_y": 200, "bottom_right_x": 900,
                               "bottom_right_y": 700, "image_base64": None,
                               "image_annotation": json.dumps(gen.instance_for_schema(bbox, image_id))}]
    annotation = None
    schema = _annotation_schema(o.get("document_annotation_format"))
    if schema is not None:
        annotation = json.dumps(gen.instance_for_schema(schema, ref))
    return JsonReply({"pages": pages, "model": o.get("model") or "mistral-ocr-latest",
                      "document_annotation": annotation,
                      "usage_info": {"pages_processed": len(pages), "doc_size_bytes": size}})


def _annotation_schema(fmt: Any) -> Any:
    """The JSON schema an OCR annotation format asks for (None: no annotation)."""
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    return None


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {
    "chat": chat, "fim": fim, "agent_completion": agent_completion, "embed": embed,
    "moderate": moderate, "moderate_chat": moderate_chat, "classify": classify,
    "classify_chat": classify_chat, "ocr": ocr,
}
