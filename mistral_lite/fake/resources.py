"""Handlers of the resource operations: models, files, agents and conversations.

They read and change :class:`~.state.State` under its lock and answer in the API's shapes
(``BaseModelCard``/``FTModelCard``, file objects, ``Agent``, ``AgentAliasResponse``,
``ConversationResponse`` and the conversation SSE events).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mistral_lite.fake.inference import agent_settings, builtin_tools, conversation_reply, stream_entries
from mistral_lite.fake.libraries import decode_cursor, encode_cursor
from mistral_lite.fake.replies import BytesReply, EmptyReply, JsonReply, Reply, StreamReply, api_error, find, not_found
from mistral_lite.fake.sse import conversation_event
from mistral_lite.fake.state import AgentRecord, State, StoredFile, iso_now

__all__ = ["HANDLERS", "conversation_stream", "page"]


def page(items: Sequence[Any], o: Mapping[str, Any], default_size: int) -> list[Any]:
    """The ``page`` / ``page_size`` slice of ``items`` (pages start at 0)."""
    number, size = int(o.get("page") or 0), int(o.get("page_size") or default_size)
    return list(items[number * size:(number + 1) * size])


def _metadata_match(meta: Any, wanted: Any) -> bool:
    if not isinstance(wanted, Mapping):
        return True
    meta = meta or {}
    return all(meta.get(k) == v for k, v in wanted.items())


# --- models -------------------------------------------------------------------------------


def _model(state: State, model_id: str) -> dict[str, Any]:
    return find(state.models, model_id, "Model")


def _ft_model(state: State, model_id: str) -> dict[str, Any]:
    card = _model(state, model_id)
    if card.get("type") != "fine-tuned":
        raise api_error(403, f"Model {model_id!r} is not a fine-tuned model you own", code="forbidden")
    return card


def list_models(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        cards = [c for c in state.models.values() if not o.get("model") or c["id"] == o["model"]]
        if o.get("provider"):
            cards = [c for c in cards if c.get("owned_by") == o["provider"]]
        return JsonReply({"object": "list", "data": cards})


def get_model(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(_model(state, o["model_id"]))


def delete_model(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _ft_model(state, o["model_id"])
        del state.models[o["model_id"]]
        return JsonReply({"id": o["model_id"], "object": "model", "deleted": True})


def _ft_out(card: Mapping[str, Any]) -> dict[str, Any]:
    caps = card["capabilities"]
    return {
        "id": card["id"], "object": "model", "created": card["created"], "owned_by": card["owned_by"],
        "workspace_id": "00000000-0000-4000-8000-00000000fa4e", "root": card["root"],
        "root_version": "2506", "archived": card.get("archived", False), "name": card.get("name"),
        "description": card.get("description"),
        "capabilities": {k: caps.get(k, False) for k in
                         ("completion_chat", "completion_fim", "function_calling", "fine_tuning",
                          "classification")},
        "max_context_length": card["max_context_length"], "aliases": card["aliases"], "job": card["job"],
        "model_type": "completion",
    }


def update_fine_tuned_model(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        card = _ft_model(state, o["model_id"])
        for key in ("name", "description"):
            if key in o:
                card[key] = o[key]
        return JsonReply(_ft_out(card))


def _set_archived(state: State, model_id: str, archived: bool) -> Reply:
    with state.lock:
        _ft_model(state, model_id)["archived"] = archived
        return JsonReply({"id": model_id, "object": "model", "archived": archived})


def archive_fine_tuned_model(state: State, o: dict[str, Any]) -> Reply:
    return _set_archived(state, o["model_id"], True)


def unarchive_fine_tuned_model(state: State, o: dict[str, Any]) -> Reply:
    return _set_archived(state, o["model_id"], False)


# --- files --------------------------------------------------------------------------------


def upload_file(state: State, o: dict[str, Any]) -> Reply:
    upload = o["file"]
    filename, data, ctype = upload if isinstance(upload, tuple) else ("upload.bin", bytes(upload), None)
    if ctype in (None, "application/octet-stream"):
        ctype = None
    stored = state.add_file(filename, data, o.get("purpose") or "fine-tune", mimetype=ctype,
                            visibility=o.get("visibility") or "workspace", expiry_hours=o.get("expiry"))
    return JsonReply(stored.card())


def _file(state: State, file_id: str) -> Any:
    return find(state.files, file_id, "File")


def list_files(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        files = sorted(state.files.values(), key=lambda f: (f.created_at, f.id), reverse=True)
    checks: list[tuple[str, Callable[[StoredFile, Any], bool]]] = [
              ("purpose", lambda f, v: f.purpose == v),
              ("search", lambda f, v: v.lower() in f.filename.lower()),
              ("sample_type", lambda f, v: f.sample_type in v),
              ("source", lambda f, v: f.source in v),
              ("mimetypes", lambda f, v: f.mimetype in v)]
    for key, check in checks:
        if o.get(key) is not None:
            files = [f for f in files if check(f, o[key])]
    body: dict[str, Any] = {"data": [f.card() for f in page(files, o, 100)], "object": "list"}
    body["total"] = len(files) if o.get("include_total", True) else None
    return JsonReply(body)


def get_file(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(_file(state, o["file_id"]).card(deleted=False))


def delete_file(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _file(state, o["file_id"])
        del state.files[o["file_id"]]
        return JsonReply({"id": o["file_id"], "object": "file", "deleted": True})


def download_file(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        stored = _file(state, o["file_id"])
    return BytesReply(stored.data, headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'})


def get_file_url(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        stored = _file(state, o["file_id"])
        token = secrets.token_urlsafe(16)
        state.signatures[token] = stored.id
    return JsonReply({"url": f"{state.base_url}/signed/{token}/{stored.filename}"})


# --- agents -------------------------------------------------------------------------------

_AGENT_FIELDS = ("name", "model", "instructions", "tools", "completion_args", "guardrails",
                 "description", "handoffs", "metadata", "version_message")


def _agent_view(record: AgentRecord, snap: Mapping[str, Any]) -> dict[str, Any]:
    return dict(snap, versions=sorted(record.versions))


def _record(state: State, agent_id: str) -> AgentRecord:
    return find(state.agents, agent_id, "Agent")


def create_agent(state: State, o: dict[str, Any]) -> Reply:
    now = iso_now()
    agent_id = "ag_" + uuid.uuid4().hex
    snap: dict[str, Any] = {"object": "agent", "id": agent_id, "tools": [], "completion_args": {},
                            "instructions": None, "guardrails": None, "description": None,
                            "handoffs": None, "metadata": None, "version_message": None}
    snap.update({k: o[k] for k in _AGENT_FIELDS if k in o})
    snap.update(version=0, created_at=now, updated_at=now, deployment_chat=False, source="api")
    record = AgentRecord(agent_id, {0: snap}, 0)
    with state.lock:
        state.agents[agent_id] = record
        return JsonReply(_agent_view(record, snap))


def get_agent(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        snap = agent_settings(state, o["agent_id"], o.get("agent_version"))
        return JsonReply(_agent_view(state.agents[o["agent_id"]], snap))


def get_agent_version(state: State, o: dict[str, Any]) -> Reply:
    return get_agent(state, {"agent_id": o["agent_id"], "agent_version": o["version"]})


def update_agent(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _record(state, o["agent_id"])
        snap = dict(record.versions[max(record.versions)])
        snap.update({k: o[k] for k in (*_AGENT_FIELDS, "deployment_chat") if k in o})
        snap.update(version=max(record.versions) + 1, updated_at=iso_now())
        record.versions[snap["version"]] = snap
        record.current = snap["version"]
        return JsonReply(_agent_view(record, snap))


def update_agent_version(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _record(state, o["agent_id"])
        if o["version"] not in record.versions:
            raise not_found("Agent version", o["version"])
        record.current = o["version"]
        return JsonReply(_agent_view(record, record.versions[record.current]))


def delete_agent(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _record(state, o["agent_id"])
        del state.agents[o["agent_id"]]
    return EmptyReply()


def _agents(state: State, o: dict[str, Any]) -> list[dict[str, Any]]:
    """Every agent matching the list filters of ``o``, newest first."""
    with state.lock:
        agents = [_agent_view(r, r.versions[r.current]) for r in state.agents.values()]
    agents.sort(key=lambda a: a["created_at"], reverse=True)
    checks: list[tuple[str, Callable[[dict[str, Any], Any], bool]]] = [
              ("deployment_chat", lambda a, v: a["deployment_chat"] == v),
              ("sources", lambda a, v: a["source"] in v),
              ("name", lambda a, v: a["name"] == v),
              ("id", lambda a, v: a["id"] == v),
              ("search", lambda a, v: v.lower() in (a["name"] + " " + (a["description"] or "")).lower()),
              ("metadata", lambda a, v: _metadata_match(a["metadata"], v))]
    for key, check in checks:
        if o.get(key) is not None:
            agents = [a for a in agents if check(a, o[key])]
    return agents


def list_agents(state: State, o: dict[str, Any]) -> Reply:
    return JsonReply(page(_agents(state, o), o, 20))


def list_agents_pages(state: State, o: dict[str, Any]) -> Reply:
    agents = _agents(state, o)
    start, size = decode_cursor(o.get("page_token")), int(o.get("page_size") or 20)
    following = encode_cursor(start + size) if start + size < len(agents) else None
    return JsonReply({"object": "list", "data": agents[start:start + size], "next_page_token": following})


def list_agent_versions(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _record(state, o["agent_id"])
        snaps = [_agent_view(record, record.versions[v]) for v in sorted(record.versions, reverse=True)]
    return JsonReply(page(snaps, o, 20))


def create_or_update_agent_alias(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _record(state, o["agent_id"])
        if o["version"] not in record.versions:
            raise not_found("Agent version", o["version"])
        now = iso_now()
        alias = record.aliases.get(o["alias"]) or {"alias": o["alias"], "created_at": now}
        alias.update(version=o["version"], updated_at=now)
        record.aliases[o["alias"]] = alias
        return JsonReply(dict(alias))


def list_agent_aliases(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply([dict(a) for a in _record(state, o["agent_id"]).aliases.values()])


def delete_agent_alias(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _record(state, o["agent_id"])
        if o["alias"] not in record.aliases:
            raise not_found("Agent alias", o["alias"])
        del record.aliases[o["alias"]]
    return EmptyReply()


# --- conversations ------------------------------------------------------------------------


def _entry(kind: str, **fields: Any) -> dict[str, Any]:
    prefix = "fc_" if kind.startswith("function") else "msg_"
    now = iso_now()
    return {"object": "entry", "type": kind, "created_at": now, "completed_at": now,
            "id": prefix + uuid.uuid4().hex, **fields}


def _input_entries(inputs: Any) -> list[dict[str, Any]]:
    if isinstance(inputs, str):
        return [_entry("message.input", role="user", content=inputs, prefix=False)]
    out = []
    for item in inputs or ():
        if item.get("type") == "function.result":
            out.append(_entry("function.result", tool_call_id=item["tool_call_id"], result=item["result"]))
        else:
            out.append(_entry("message.input", role=item.get("role", "user"), content=item.get("content"),
                              prefix=bool(item.get("prefix", False))))
    return out


def _as_messages(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for entry in entries:
        if entry["type"] == "message.input":
            messages.append({"role": entry["role"], "content": entry["content"]})
        elif entry["type"] == "message.output":
            messages.append({"role": "assistant", "content": entry["content"]})
        elif entry["type"] == "function.result":
            messages.append({"role": "tool", "content": entry["result"]})
    return messages


def _run_turn(state: State, conv: dict[str, Any], inputs: Any, o: Mapping[str, Any],
              store: bool) -> Reply:
    """Append ``inputs`` to ``conv``, generate the answer, store it, answer JSON or SSE-B."""
    new_entries = _input_entries(inputs)
    meta = conv["meta"]
    settings = conv["settings"]
    args = dict(settings.get("completion_args") or {})
    args.update(o.get("completion_args") or {})
    args["tools"] = settings.get("tools")
    body = conversation_reply(settings.get("model"), settings.get("instructions"),
                              _as_messages(conv["entries"] + new_entries), args)
    message = body["choices"][0]["message"]
    who = {"agent_id": meta.get("agent_id"), "model": settings.get("model")}
    if message.get("tool_calls"):
        outputs = [_entry("function.call", tool_call_id=call["id"], name=call["function"]["name"],
                          arguments=call["function"]["arguments"], **who) for call in message["tool_calls"]]
    else:
        ran, chunks = builtin_tools(state, settings.get("tools"), _as_messages(conv["entries"] + new_entries))
        content = [{"type": "text", "text": message["content"]}, *chunks] if chunks else message["content"]
        outputs = [*(_entry("tool.execution", **tool, **who) for tool in ran),
                   _entry("message.output", role="assistant", content=content, **who)]
    usage = dict(body["usage"], connector_tokens=None, connectors=None)
    if store:
        with state.lock:
            conv["entries"].extend([*new_entries, *outputs])
            meta["updated_at"] = iso_now()
            state.conversations[meta["id"]] = conv
    response = {"object": "conversation.response", "conversation_id": meta["id"], "outputs": outputs,
                "usage": usage}
    return conversation_stream(response) if o.get("stream") else JsonReply(response)


def conversation_stream(response: Mapping[str, Any]) -> StreamReply:
    """A ``conversation.response`` body as the SSE-B events that stream it, as the API does:
    text split over several ``message.output.delta`` events (``content_index`` per chunk, other
    chunks such as ``tool_reference`` as they are), function-call arguments split over several
    ``function.call.delta`` events, ``tool.execution.started``/``done`` around a built-in tool."""
    events = [conversation_event(e) for e in stream_entries(response)]
    return StreamReply("conversation", events)


def _conversation(state: State, conversation_id: str) -> dict[str, Any]:
    return find(state.conversations, conversation_id, "Conversation")


def create_conversation(state: State, o: dict[str, Any]) -> Reply:
    now = iso_now()
    meta: dict[str, Any] = {"object": "conversation", "id": "conv_" + uuid.uuid4().hex, "created_at": now,
                            "updated_at": now, "name": o.get("name"), "description": o.get("description"),
                            "metadata": o.get("metadata")}
    if o.get("agent_id"):
        agent = agent_settings(state, o["agent_id"], o.get("agent_version"))
        meta.update(agent_id=o["agent_id"], agent_version=o.get("agent_version", agent["version"]))
        settings = {k: agent.get(k) for k in ("model", "instructions", "tools", "completion_args")}
    elif o.get("model"):
        settings = {"model": o["model"], "instructions": o.get("instructions"),
                    "tools": o.get("tools") or [], "completion_args": o.get("completion_args") or {}}
        meta.update(settings, guardrails=o.get("guardrails"))
    else:
        raise api_error(400, "Either model or agent_id must be given")
    conv = {"meta": meta, "settings": settings, "entries": []}
    return _run_turn(state, conv, o["inputs"], o, o.get("store", True))


def append_conversation(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        conv = _conversation(state, o["conversation_id"])
    return _run_turn(state, conv, o.get("inputs") or [], o, o.get("store", True))


def restart_conversation(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        old = _conversation(state, o["conversation_id"])
        ids = [e["id"] for e in old["entries"]]
        if o["from_entry_id"] not in ids:
            raise not_found("Entry", o["from_entry_id"])
        kept = [dict(e) for e in old["entries"][: ids.index(o["from_entry_id"]) + 1]]
    now = iso_now()
    meta = dict(old["meta"], id="conv_" + uuid.uuid4().hex, created_at=now, updated_at=now)
    if o.get("metadata") is not None:
        meta["metadata"] = o["metadata"]
    conv = {"meta": meta, "settings": dict(old["settings"]), "entries": kept}
    return _run_turn(state, conv, o.get("inputs") or [], o, o.get("store", True))


def get_conversation(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(dict(_conversation(state, o["conversation_id"])["meta"]))


def get_conversation_history(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        conv = _conversation(state, o["conversation_id"])
        return JsonReply({"object": "conversation.history", "conversation_id": o["conversation_id"],
                          "entries": list(conv["entries"])})


def get_conversation_messages(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        conv = _conversation(state, o["conversation_id"])
        messages = [e for e in conv["entries"] if e["type"] in ("message.input", "message.output")]
        return JsonReply({"object": "conversation.messages", "conversation_id": o["conversation_id"],
                          "messages": messages})


def list_conversations(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        metas = [dict(c["meta"]) for c in state.conversations.values()]
    metas = [m for m in metas if _metadata_match(m.get("metadata"), o.get("metadata"))]
    metas.sort(key=lambda m: m["created_at"], reverse=True)
    return JsonReply(page(metas, o, 100))


def delete_conversation(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _conversation(state, o["conversation_id"])
        del state.conversations[o["conversation_id"]]
    return EmptyReply()


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {fn.__name__: fn for fn in (
    list_models, get_model, delete_model, update_fine_tuned_model, archive_fine_tuned_model,
    unarchive_fine_tuned_model, upload_file, list_files, get_file, delete_file, download_file,
    get_file_url, create_agent, get_agent, get_agent_version, update_agent, update_agent_version,
    delete_agent, list_agents, list_agent_versions, create_or_update_agent_alias, list_agent_aliases,
    delete_agent_alias, list_agents_pages,
    create_conversation, append_conversation, restart_conversation, get_conversation,
    get_conversation_history, get_conversation_messages, list_conversations, delete_conversation,
)}
