"""Generic, table-driven behaviour for every row that has no hand-made handler.

Each row gets a *role* from its method and path template alone (never from its name):

* a collection is a path ``/x`` that has item rows ``/x/{id}``; it is *stored* when a row
  ``POST /x`` creates its items and that row has no hand-made handler;
* ``POST /x`` **creates** an item (its id: the option named like the item's path parameter
  when given, e.g. a deployment's ``name``; else a counter when the response types the id as
  an integer; else a UUID), ``GET /x`` **lists** the items (``page``/``page_size`` or cursor
  pagination when the row declares it; a scalar query option named like an item field
  filters), ``GET /x/{id}`` **gets**, ``PATCH``/``PUT /x/{id}`` **updates** (the request's
  body fields are merged into the item) and ``DELETE /x/{id}`` **deletes** it (and
  everything stored under it); an unknown id, or an unknown parent id in ``/x/{parent}/y``,
  is a 404 in the API's error shape;
* a ``PUT`` (``PATCH``) row on the path of a hand-made ``PATCH`` (``PUT``) row shares its
  handler, so it updates the hand-made resources;
* every other row (actions, searches, reads of collections the table cannot create) answers
  a synthesized response: a full, spec-valid instance of the row's response schema, with the
  request's path parameters laid over the fields of the same name.

Items are kept as plain JSON dicts in ``State.store`` (``{collection path: {id: item}}``);
an answer is the row's response template with the item's fields laid over it (see
:mod:`.shapes`), so it is valid for the row's response schema whatever the item holds.
Invalid requests never get here: the server answers 422 from the row's option schema first.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mistral_lite._table import Endpoint, Spec
from mistral_lite.fake.libraries import decode_cursor, encode_cursor
from mistral_lite.fake.replies import BytesReply, EmptyReply, JsonReply, Reply, StreamReply, api_error, not_found
from mistral_lite.fake.shapes import RESPONSES, Shapes
from mistral_lite.fake.sse import DONE, completion_event, named_event
from mistral_lite.fake.state import State

__all__ = ["Generic", "Role", "id_fields", "roles"]

Handler = Callable[[State, dict[str, Any]], Reply]
_ITEM = re.compile(r"^(.*)/\{([^{}/]+)\}$")
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
#: Names under which a list response commonly holds its items, best first.
_ITEM_KEYS = ("data", "items", "results")
_TOTAL_KEYS = ("total", "total_count", "count", "total_items")
_ANY: Mapping[str, Any] = {}


def _norm(path: str) -> str:
    return _PLACEHOLDER.sub("{}", path)


@dataclass(frozen=True)
class Role:
    """What a row does to the store: ``kind`` is create, list, get, update, delete or other."""

    kind: str
    collection: str = ""  # the collection's path template
    param: str = ""  # the item's path parameter (item rows)


def id_fields(param: str) -> tuple[str, ...]:
    """The response fields that may carry the id a path parameter names: the parameter's own
    name, ``id``, and its last word (``uuid`` for ``workspace_uuid``)."""
    return tuple(dict.fromkeys((param, "id", param.rsplit("_", 1)[-1])))


def roles(endpoints: Mapping[str, Endpoint], handmade: Collection[str],
          shows_id: Callable[[Endpoint, str], bool] = lambda ep, param: True) -> dict[str, Role]:
    """The role of every row, derived from methods and path templates only.

    A collection is stored when a row without a hand-made handler creates its items and
    ``shows_id(create row, item parameter)`` says its answer tells the new item's id.
    """
    params: dict[str, str] = {}
    for ep in endpoints.values():
        if (m := _ITEM.match(ep.path)) is not None:
            params.setdefault(_norm(m.group(1)), m.group(2))
    stored = {_norm(ep.path) for ep in endpoints.values()
              if ep.method == "POST" and _norm(ep.path) in params and ep.name not in handmade
              and shows_id(ep, params[_norm(ep.path)])}
    out: dict[str, Role] = {}
    for ep in endpoints.values():
        item = _ITEM.match(ep.path)
        if item is None and _norm(ep.path) in stored and ep.method in ("POST", "GET"):
            out[ep.name] = Role("create" if ep.method == "POST" else "list", ep.path, params[_norm(ep.path)])
        elif item is not None and _norm(item.group(1)) in stored and ep.method != "POST":
            kind = {"GET": "get", "DELETE": "delete"}.get(ep.method, "update")
            out[ep.name] = Role(kind, item.group(1), item.group(2))
        else:
            out[ep.name] = Role("other")
    return out


def _fill(template: str, options: Mapping[str, Any]) -> str:
    return re.sub(r"\{([^{}]+)\}", lambda m: str(options.get(m.group(1), "")), template)


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _fresh(template: Any) -> Any:
    """An item template for one item of a list: a shallow copy (items are laid over at the top
    level only, so the items of one answer may share their nested template parts)."""
    return dict(template) if isinstance(template, dict) else template


def _required(schema: Any, shapes: Shapes, value: Any) -> Collection[str]:
    found = shapes.object_schema(schema, value)
    return tuple(found.get("required", ())) if found else ()


def _silent_wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    """A valid, silent, mono 16-bit WAV file."""
    frames = int(seconds * rate)
    data = b"\x00\x00" * frames
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(data)) + data)


class Generic:
    """Generic handlers for the rows of one table without a hand-made handler."""

    def __init__(self, spec: Spec, handmade: Mapping[str, Handler]) -> None:
        self.spec = spec
        self.handmade = handmade
        self._twins: dict[str, str] | None = None
        self.shapes = Shapes.of(spec)
        self._roles: dict[str, Role] | None = None
        self._stored: set[str] = set()
        self._streams: dict[str, list[bytes]] = {}

    @property
    def roles(self) -> dict[str, Role]:
        """Every row's role (worked out on first use)."""
        if self._roles is None:
            found = roles(self.spec.endpoints, self.handmade, self._shows_id)
            self._stored = {_norm(r.collection) for r in found.values() if r.kind == "create"}
            self._roles = found
        return self._roles

    def _shows_id(self, ep: Endpoint, param: str) -> bool:
        entry = self.shapes.entry(ep.name)
        if entry is None or not entry.get("schema"):
            return False
        props = self.shapes.properties(entry["schema"], self.shapes.body(ep.name))
        return any(name in props for name in id_fields(param))

    def twins(self) -> dict[str, str]:
        """Rows that replace or update the same item as a hand-made row (``PUT`` and ``PATCH`` on
        one path): they share its handler, so they see the hand-made resources."""
        if self._twins is None:
            by_path = {(_norm(ep.path), ep.method): ep.name for ep in self.spec.endpoints.values()
                       if ep.name in self.handmade}
            other = {"PUT": "PATCH", "PATCH": "PUT"}
            self._twins = {ep.name: by_path[(_norm(ep.path), other[ep.method])] for ep in self.spec.endpoints.values()
                           if ep.name not in self.handmade and (_norm(ep.path), other.get(ep.method)) in by_path}
        return self._twins

    def answer(self, operation: str, state: State, o: dict[str, Any], sse: bool = False) -> Reply:
        """Answer one request to ``operation`` (``sse``: the client asked for an event stream)."""
        twin = self.twins().get(operation)
        if twin is not None:
            return self.handmade[twin](state, o)
        ep = self.spec.endpoints[operation]
        return self._answer(ep, self.roles[operation], state, o, sse)

    # --- one request --------------------------------------------------------------------------

    def _answer(self, ep: Endpoint, role: Role, state: State, o: dict[str, Any], sse: bool) -> Reply:
        entry = self.shapes.entry(ep.name)
        if entry is None:
            raise api_error(501, f"The fake has no response schema for {ep.name}")
        if ep.stream != "none" and (sse or o.get("stream") is True or (entry.get("media") == "text/event-stream")):
            return self._stream(ep, entry)
        if role.kind == "other":
            return self._reply(ep, entry, self._synthesized(ep, entry, o))
        with state.lock:
            if role.kind == "create":
                body = self._create(ep, role, entry, state, o)
            elif role.kind == "list":
                body = self._list(ep, role, entry, state, o)
            else:
                body = self._item(ep, role, entry, state, o)
        return self._reply(ep, entry, body)

    def _reply(self, ep: Endpoint, entry: Mapping[str, Any], body: Any) -> Reply:
        media = entry.get("media")
        status = int(entry.get("status") or 200)
        if ep.response == "bytes" or (media and not media.endswith("json") and media != "text/event-stream"):
            data = _silent_wav() if str(media).startswith("audio/") else f"{ep.name} content\n".encode()
            return BytesReply(data, content_type=media or "application/octet-stream", status=status)
        if ep.response == "empty" or media is None:
            return EmptyReply(status if status in (201, 202, 204) else 204)
        return JsonReply(body, status)

    def _synthesized(self, ep: Endpoint, entry: Mapping[str, Any], o: Mapping[str, Any]) -> Any:
        body = self.shapes.body(ep.name)
        values = {name: o[name] for name in ep.path_params}
        item = _ITEM.match(ep.path)
        if item is not None:
            values.setdefault("id", o.get(item.group(2)))
        return self.shapes.fit(entry.get("schema"), body, values)

    # --- the store ----------------------------------------------------------------------------

    def _items(self, role: Role, state: State, o: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The stored items of the role's collection (404 when its parent item is unknown)."""
        key = _fill(role.collection, o)
        parent = _ITEM.match(role.collection.rsplit("/", 1)[0])
        if parent is not None and _norm(parent.group(1)) in self._stored:
            siblings = state.store.get(_fill(parent.group(1), o), {})
            if o.get(parent.group(2)) not in siblings:
                raise not_found(parent.group(2).replace("_", " ").capitalize(), o.get(parent.group(2)))
        return state.store.setdefault(key, {})

    def _render(self, schema: Any, template: Any, item: Mapping[str, Any], param: str,
                extra: Mapping[str, Any] | None = None) -> Any:
        """``template`` (valid for ``schema``) with the item's fields and id laid over it."""
        props = self.shapes.properties(schema, template)
        values = dict(item["fields"])
        values.update(extra or {})
        ident = item["id"]
        for name in id_fields(param):
            if name in props:
                typed = int(ident) if ident.isdigit() and not self.shapes.check(props[name], RESPONSES, ident) \
                    else ident
                values[name] = typed
        return self.shapes.fit_props(props, template, values)

    def _create(self, ep: Endpoint, role: Role, entry: Mapping[str, Any], state: State,
                o: Mapping[str, Any]) -> Any:
        items = self._items(role, state, o)
        fields = {k: v for k, v in o.items() if (k in ep.body_options or k in ep.path_params) and _jsonable(v)}
        param = role.param
        body = self.shapes.body(ep.name)
        schema = entry.get("schema")
        props = self.shapes.properties(schema, body)
        id_schema = next((props[name] for name in id_fields(param) if name in props), None)
        given = o.get(param)
        if isinstance(given, (str, int)) and not isinstance(given, bool):
            ident = str(given)
        elif isinstance(id_schema, Mapping) and self.shapes.check(id_schema, RESPONSES, 1) \
                and not self.shapes.check(id_schema, RESPONSES, "x"):
            ident = str(len(items) + 1)
        else:
            ident = str(uuid.uuid4())
        if ident in items:
            raise api_error(409, f"{param or 'id'} {ident!r} already exists", code="conflict")
        item = {"id": ident, "fields": fields}
        items[ident] = item
        return self._render(schema, body, item, param)

    def _list(self, ep: Endpoint, role: Role, entry: Mapping[str, Any], state: State,
              o: Mapping[str, Any]) -> Any:
        page = ep.paginate or {}
        paging = {"page", "page_size", "limit", "offset", page.get("cursor")}
        wanted = {k: o[k] for k in ep.query if k in o and k not in paging and isinstance(o[k], (str, int, float, bool))}
        items = [it for it in self._items(role, state, o).values()
                 if all(it["fields"].get(k, v) == v for k, v in wanted.items())]
        start, size = 0, len(items)
        if page.get("style") == "page":
            size = int(o.get("page_size") or len(items) or 1)
            start = int(o.get("page") or 0) * size
        elif page.get("style") == "cursor":
            start = decode_cursor(o.get(page["cursor"]))
            size = int(o.get("page_size") or o.get("limit") or len(items) or 1)
        chosen = items[start:start + size]
        following = encode_cursor(start + size) if start + size < len(items) else None
        body = self.shapes.body(ep.name)
        found = self._locate_list(entry.get("schema"), body, page.get("items"))
        if found is None:
            return body
        path, item_schema = found
        template = self.shapes.template(item_schema, f"{ep.name}:item")
        item_props = self.shapes.properties(item_schema, template)
        rendered = [self._render(item_schema, _fresh(template), it, role.param)
                    for it in chosen] if item_props else []
        if not path:
            return rendered
        # the dicts along the path: the list under the last key, counts and the cursor beside it
        holders = [body]
        for key in path[:-1]:
            holders.append(holders[-1][key])
        schemas = self._schemas_along(entry.get("schema"), body, path)
        for holder, (holder_schema, props) in zip(holders, schemas):
            extra: dict[str, Any] = {k: len(items) for k in _TOTAL_KEYS}
            if page.get("style") == "cursor" or holder is holders[-1]:
                for key in ({page["next"]} if page.get("next") else set()) | {"next", "next_cursor", "next_page_token"}:
                    if key in holder:
                        if following is not None and page.get("next") == key:
                            extra[key] = following
                        elif self.shapes.check(props.get(key, _ANY), RESPONSES, None):
                            extra[key] = None
                        elif key not in _required(holder_schema, self.shapes, holder):
                            holder.pop(key)
            self.shapes.fit_props(props, holder, extra)
        holders[-1][path[-1]] = rendered
        return body

    def _locate_list(self, schema: Any, body: Any, preferred: str | None) -> tuple[list[str], Any] | None:
        """Where a list response holds its items (a key path, empty for a bare array) and the
        items' schema: the row's ``paginate.items``, else a usual name, else the only array,
        looked for in the body and, one level down, in its objects."""
        if isinstance(body, list):
            return [], self._items_schema(schema)
        frontier: list[tuple[list[str], Any, Any]] = [([], schema, body)]
        for _ in range(3):
            following: list[tuple[list[str], Any, Any]] = []
            for path, sub_schema, value in frontier:
                if not isinstance(value, dict):
                    continue
                props = self.shapes.properties(sub_schema, value)
                arrays = [k for k, v in value.items() if isinstance(v, list) and k in props]
                key = next((k for k in (preferred, *_ITEM_KEYS) if k in arrays), None) or (
                    arrays[0] if len(arrays) == 1 else None)
                if key is not None:
                    return [*path, key], self._items_schema(props[key])
                following += [([*path, k], props[k], v) for k, v in value.items() if isinstance(v, dict) and k in props]
            frontier = following
        return None

    def _items_schema(self, schema: Any) -> Any:
        """The ``items`` schema of an array schema (through ``$ref`` and a nullable ``anyOf``)."""
        resolved = self.shapes.sampler.deref(schema, RESPONSES)[0]
        if not isinstance(resolved, Mapping):
            return _ANY
        for branch in resolved.get("anyOf") or resolved.get("oneOf") or ():
            branch = self.shapes.sampler.deref(branch, RESPONSES)[0]
            if isinstance(branch, Mapping) and "items" in branch:
                return branch["items"]
        return resolved.get("items", _ANY)

    def _schemas_along(self, schema: Any, body: Any, path: list[str]) -> list[tuple[Any, Mapping[str, Any]]]:
        """The schema and properties of each dict on ``path`` from the body down."""
        out = []
        value = body
        for key in path:
            props = self.shapes.properties(schema, value)
            out.append((schema, props))
            schema, value = props.get(key, _ANY), value.get(key)
        return out

    def _item(self, ep: Endpoint, role: Role, entry: Mapping[str, Any], state: State,
              o: Mapping[str, Any]) -> Any:
        items = self._items(role, state, o)
        ident = str(o.get(role.param))
        item = items.get(ident)
        if item is None:
            raise not_found(role.param.replace("_", " ").capitalize(), ident)
        extra: dict[str, Any] = {}
        if role.kind == "update":
            item["fields"].update({k: v for k, v in o.items() if k in ep.body_options and _jsonable(v)})
        elif role.kind == "delete":
            del items[ident]
            prefix = _fill(role.collection, o) + "/" + ident + "/"
            for key in [k for k in state.store if k.startswith(prefix)]:
                del state.store[key]
            extra["deleted"] = True
        return self._render(entry.get("schema"), self.shapes.body(ep.name), item, role.param, extra)

    # --- streams ------------------------------------------------------------------------------

    def _stream(self, ep: Endpoint, entry: Mapping[str, Any]) -> StreamReply:
        events = self._streams.get(ep.name)
        if events is None:
            events = self._streams[ep.name] = self._events(ep, entry)
        return StreamReply("completion" if ep.stream == "completion" else "conversation", list(events),
                           DONE if ep.stream == "completion" else b"")

    def _events(self, ep: Endpoint, entry: Mapping[str, Any]) -> list[bytes]:
        """The encoded events of one synthesized stream: an event, then the row's end event."""
        schema = entry.get("events") or entry.get("schema")
        event = self.shapes.template(schema, f"{ep.name}:events")
        if ep.stream == "completion":
            return [completion_event(event)]
        events = [self._event(event)]
        end = ep.stream_end
        if end and self._event_type(event) != end:
            forced = {"allOf": [schema, {"properties": {"type": {"const": end}}}]}
            last = self.shapes.template(forced, f"{ep.name}:events:{end}")
            if not self.shapes.check(schema, RESPONSES, last):
                last = event
            events.append(self._event(last, end))
        return events

    @staticmethod
    def _event_type(event: Any) -> Any:
        if isinstance(event, dict) and "data" in event and "event" in event:
            return event["event"]
        return event.get("type") if isinstance(event, dict) else None

    @staticmethod
    def _event(event: Any, name: str | None = None) -> bytes:
        if isinstance(event, dict) and "data" in event and "event" in event:  # an SSE envelope
            return named_event(name or str(event["event"]), event["data"])
        kind = name or (event.get("type") if isinstance(event, dict) else None) or "message"
        return named_event(str(kind), event)
