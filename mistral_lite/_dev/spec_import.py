"""``python -m mistral_lite.spec import``: rows and option schemas for the spec's operations the table lacks.

Maintainer tooling; the client never imports it. For every operation of an OpenAPI document that
has no row (matched by method and path template, as ``diff`` matches them), it derives:

* the name (:mod:`mistral_lite._dev.naming`, curated in ``spec_overrides.toml``) and the group
  (the operation's first tag);
* the option schema ``schemas/<name>.json``: path parameters, query parameters and body fields
  under the API's names (a name Python cannot take, such as ``from`` or ``sort.field``, becomes
  ``from_``/``sort_field`` and the row's ``wire`` maps it back), with the spec's components
  copied once into shared ``schemas/_api_<area>.json`` files (``$defs``), descriptions, titles and
  examples left out;
* the row: body kind (``json``, ``multipart``, ``none``; a body that is not an object travels in
  one option named by ``body_option``), response kind (``json``, ``bytes`` for audio and octet
  streams, ``empty`` for a success without content), stream kind and its end and error events,
  ``always_stream`` for endpoints that only stream, the retry class (by method; a ``POST`` that
  reads, such as a search, is ``idempotent``, other ``POST`` are ``create``), ``paginate`` from
  ``x-speakeasy-pagination`` or ``page``/``page_size`` parameters, ``wait`` for a job whose
  ``status`` enum has terminal states, and ``deprecated`` with its replacement.

Rows already in the table are never rewritten, except that a missing ``group`` (and a missing
``deprecated`` for an operation the spec deprecates) is added to them. New rows are appended to
``endpoints.toml`` grouped by tag; schemas are written only when absent. The output is a pure
function of the spec, the table and the overrides: a second run changes nothing. Header
parameters (``Last-Event-ID``) are not options: pass them with ``extra_headers``.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mistral_lite._dev.naming import derive_name
from mistral_lite._dev.openapi import SpecOp, norm_path, spec_operations
from mistral_lite._table import CALL_KEYWORDS, Spec, parse_toml
from mistral_lite.exceptions import SpecFileError

__all__ = ["ImportPlan", "apply_plan", "plan_import"]

OVERRIDES = Path(__file__).resolve().parent / "spec_overrides.toml"
SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: Ends the description of every imported option schema (its options carry no prose of their own).
IMPORTED_NOTE = "imported from the OpenAPI spec, whose prose is not copied"
_COMPONENT = "#/components/schemas/"
#: Schema keywords left out of imported schemas: prose, examples and OpenAPI-only annotations.
_DROP = frozenset({"description", "title", "example", "examples", "externalDocs", "xml", "$comment",
                   "discriminator"})
_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_READ_VERBS = frozenset({"search", "count", "aggregate", "get", "list", "query"})
_TERMINAL = frozenset({"success", "succeeded", "completed", "complete", "done", "failed", "failure", "error",
                       "cancelled", "canceled", "terminated", "timed_out", "timeout", "timeout_exceeded",
                       "expired", "aborted", "skipped"})
_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


@dataclass
class NewRow:
    """One row to add: its name, its TOML fields in order, and its option schema."""

    name: str
    group: str
    method: str
    path: str
    fields: dict[str, Any]
    schema: dict[str, Any]


@dataclass
class ImportPlan:
    """Everything ``import`` would write."""

    rows: list[NewRow] = field(default_factory=list)
    #: shared definition files: file name -> {component name: schema} (only new components)
    defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: existing rows: name -> {field: value} to add where the row lacks the field
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_overrides(path: Path = OVERRIDES) -> dict[str, dict[str, Any]]:
    data = parse_toml(path.read_bytes()) if path.is_file() else {}
    sections = ("names", "body_option", "deprecated", "retry", "groups", "fields", "properties")
    return {k: dict(data.get(k, {})) for k in sections}


def _key(sop: SpecOp) -> str:
    return f"{sop.method} {sop.path}"


def _area(group: str) -> str:
    parts = group.removeprefix("beta.").split(".")
    return re.sub(r"[^a-z0-9]+", "_", parts[0].lower())


def option_name(wire: str) -> str:
    """A Python keyword argument for an API field name (``from`` -> ``from_``, ``sort.field`` -> ``sort_field``)."""
    name = re.sub(r"\W+", "_", wire).strip("_") or "value"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or name in CALL_KEYWORDS:
        name += "_"
    return name


class _Components:
    """Copies the spec's components into shared ``_api_<area>.json`` files, each once."""

    def __init__(self, openapi: Mapping[str, Any], existing: Mapping[str, Mapping[str, Any]]) -> None:
        self.all: Mapping[str, Any] = (openapi.get("components") or {}).get("schemas") or {}
        self.home: dict[str, str] = {}  # component -> file
        for file, doc in sorted(existing.items()):
            for name in (doc.get("$defs") or {}):
                self.home.setdefault(name, file)
        self.new: dict[str, dict[str, Any]] = {}

    def ref(self, component: str, area: str) -> str:
        if component not in self.home:
            if component not in self.all:
                raise SpecFileError(f"unresolvable $ref {_COMPONENT + component!r}")
            file = f"_api_{area}.json"
            self.home[component] = file
            self.new.setdefault(file, {})[component] = None  # placeholder against recursion
            self.new[file][component] = self.convert(self.all[component], file, area)
        return self.home[component]

    def convert(self, schema: Any, current: str, area: str) -> Any:
        """A spec schema as a table schema: prose dropped, component refs pointed at the shared files."""
        if isinstance(schema, list):
            return [self.convert(s, current, area) for s in schema]
        if not isinstance(schema, Mapping):
            return schema
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROP or key.startswith("x-"):
                continue
            if key == "nullable":  # OpenAPI 3.0's spelling of a null type
                kinds = schema.get("type")
                if value is True and isinstance(kinds, str):
                    out["type"] = [kinds, "null"]
                continue
            if key == "type" and isinstance(out.get("type"), list):
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith(_COMPONENT):
                component = value[len(_COMPONENT):]
                file = self.ref(component, area)
                out[key] = ("" if file == current else file) + "#/$defs/" + component
            elif key in _MAPS and isinstance(value, Mapping):
                out[key] = {k: self.convert(v, current, area) for k, v in value.items()}
            elif key in ("enum", "const", "default", "required"):
                out[key] = value
            else:
                out[key] = self.convert(value, current, area)
        return out

    def resolve(self, schema: Any) -> Any:
        """Follow component refs of the spec (for reading facts, not for writing)."""
        for _ in range(32):
            if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and \
                    schema["$ref"].startswith(_COMPONENT):
                schema = self.all.get(schema["$ref"][len(_COMPONENT):], {})
            else:
                break
        return schema

    def object_alternatives(self, schema: Any) -> list[Mapping[str, Any]]:
        """The object alternatives of a body schema (``allOf`` merged, ``null`` dropped)."""
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping):
            return []
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                for alt in self.object_alternatives(part)[:1]:
                    merged["properties"].update(alt.get("properties") or {})
                    merged["required"] += [r for r in alt.get("required") or () if r not in merged["required"]]
            return [merged]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return [alt for sub in schema[key] for alt in self.object_alternatives(sub)]
        if schema.get("type") == "null":
            return []
        return [schema]


def _resolve_param(openapi: Mapping[str, Any], param: Any) -> Mapping[str, Any]:
    for _ in range(32):
        if isinstance(param, Mapping) and isinstance(param.get("$ref"), str):
            node: Any = openapi
            for token in param["$ref"].lstrip("#/").split("/"):
                node = node.get(token, {}) if isinstance(node, Mapping) else {}
            param = node
        else:
            break
    return param if isinstance(param, Mapping) else {}


def _body(openapi: Mapping[str, Any], sop: SpecOp) -> tuple[str, Any, bool]:
    """(kind, schema, required) of the request body; kind is json, multipart or none."""
    body = _resolve_param(openapi, sop.op.get("requestBody"))
    content = body.get("content") if isinstance(body, Mapping) else None
    if not isinstance(content, Mapping) or not content:
        return "none", None, False
    ctype = next((c for c in content if "json" in c), None) or next(iter(content))
    kind = "json" if "json" in ctype else "multipart" if "multipart" in ctype else ctype
    media = content[ctype] if isinstance(content[ctype], Mapping) else {}
    return kind, media.get("schema", {}), bool(body.get("required", False))


def _success_media(openapi: Mapping[str, Any], sop: SpecOp) -> dict[str, Any]:
    """Content type -> schema of the operation's 2xx responses (its stream variant's too)."""
    out: dict[str, Any] = {}
    for op in (sop.op, sop.stream.op if sop.stream else None):
        if op is None:
            continue
        for code, resp in sorted((op.get("responses") or {}).items()):
            if not str(code).startswith("2"):
                continue
            resp = _resolve_param(openapi, resp)
            for ctype, media in (resp.get("content") or {}).items():
                out.setdefault(ctype, (media or {}).get("schema", {}))
    return out


def _sse_events(comp: _Components, schema: Any) -> list[str]:
    """The event names an SSE response schema declares (``event`` enum), if any."""
    schema = comp.resolve(schema)
    event = (schema.get("properties") or {}).get("event") if isinstance(schema, Mapping) else None
    if not isinstance(event, Mapping):
        return []
    if isinstance(event.get("$ref"), str) and event["$ref"].startswith("#/$defs/"):
        event = (schema.get("$defs") or {}).get(event["$ref"][len("#/$defs/"):], {})
    event = comp.resolve(event)
    return [str(v) for v in event.get("enum") or () if isinstance(v, str)]


def _items_key(comp: _Components, schema: Any) -> str | None:
    """The one array property of a list response (the page's items), if exactly one."""
    alts = comp.object_alternatives(schema)
    if len(alts) != 1:
        return None
    arrays = [n for n, s in (alts[0].get("properties") or {}).items()
              if isinstance(comp.resolve(s), Mapping) and comp.resolve(s).get("type") == "array"]
    return arrays[0] if len(arrays) == 1 else None


def _terminal_states(comp: _Components, schema: Any) -> list[str]:
    for alt in comp.object_alternatives(schema):
        status = comp.resolve((alt.get("properties") or {}).get("status"))
        values: list[Any] = []
        for sub in [status, *(status.get("anyOf") or () if isinstance(status, Mapping) else ())]:
            sub = comp.resolve(sub)
            if isinstance(sub, Mapping):
                values += list(sub.get("enum") or ())
        terminal = [v for v in values if isinstance(v, str) and v.lower() in _TERMINAL]
        if terminal:
            return terminal
    return []


def _jsonpath(value: str) -> str:
    return value.removeprefix("$.").removeprefix("$")


def _derive(openapi: Mapping[str, Any], sop: SpecOp, name: str, comp: _Components,
            overrides: Mapping[str, Mapping[str, Any]], names_by_id: Mapping[str, str]) -> NewRow:
    key = _key(sop)
    where = f"{key} ({name})"
    group = str((sop.op.get("tags") or ["untagged"])[0])
    area = _area(group)
    path = sop.path.split("#")[0]
    fields: dict[str, Any] = {"method": sop.method, "path": path,
                              "summary": " ".join(str(sop.op.get("summary") or name).split()), "group": group}
    if sop.op.get("deprecated") is True:
        replacement = overrides["deprecated"].get(key) or names_by_id.get(
            str(sop.op.get("x-speakeasy-deprecation-replacement", "")))
        fields["deprecated"] = replacement or True
    props: dict[str, Any] = {}
    required: list[str] = []
    query: list[str] = []
    wire: dict[str, str] = {}

    def add(wire_name: str, schema: Any, is_required: bool, location: str) -> str:
        opt = option_name(wire_name)
        while opt != wire_name and (opt in props or opt in reserved):
            opt += "_"  # `sort.direction` beside `sort_direction`: the API has both
        if opt in props:
            raise SpecFileError(f"{where}: option {opt!r} comes twice (path, query or body)")
        if opt != wire_name:
            wire[opt] = wire_name
        props[opt] = schema
        if is_required:
            required.append(opt)
        if location == "query":
            query.append(opt)
        return opt

    params: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*(sop.item.get("parameters") or ()), *(sop.op.get("parameters") or ())]:
        param = _resolve_param(openapi, raw)
        if "name" in param and "in" in param:
            params[(str(param["name"]), str(param["in"]))] = param
    reserved = {n for n, _ in params}
    for placeholder in re.findall(r"\{([^{}]+)\}", path):
        param = params.get((placeholder, "path"), {})
        schema = comp.convert(param.get("schema") or {"type": "string"}, "", area)
        alts = schema.get("anyOf") if isinstance(schema, Mapping) else None
        if isinstance(alts, list) and alts and all(isinstance(a, Mapping) and a.get("type") == "string" for a in alts):
            schema = {"type": "string"}  # uuid-or-name: any string goes in the path
        add(placeholder, schema, True, "path")
    for (pname, location), param in params.items():
        if location != "query":
            continue  # path placeholders are above; header and cookie parameters are not options
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), Mapping) and param["content"]:
            schema = next(iter(param["content"].values())).get("schema", {})
        schema = comp.convert(schema or {}, "", area)
        if param.get("deprecated") is True and isinstance(schema, dict):
            schema["deprecated"] = True
        add(pname, schema, bool(param.get("required", False)), "query")
    kind, body_schema, body_required = _body(openapi, sop)
    variants: list[dict[str, Any]] = []
    body_option = overrides["body_option"].get(key)
    if kind != "none":
        alts = comp.object_alternatives(body_schema)
        if body_option or not alts:
            opt = add(body_option or "body", comp.convert(body_schema, "", area), body_required, "body")
            fields["body_option"] = opt
        else:
            seen: dict[str, list[Any]] = {}
            common: set[str] | None = None
            for alt in alts:
                for pname, sub in (alt.get("properties") or {}).items():
                    seen.setdefault(pname, [])
                    converted = comp.convert(sub, "", area)
                    if converted not in seen[pname]:
                        seen[pname].append(converted)
                req: set[str] = set(alt.get("required") or ())
                common = req if common is None else common & req
            opts: dict[str, str] = {}
            for pname, schemas in seen.items():
                schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
                if kind == "multipart" and _is_binary(schema):
                    schema = {"x-file": True}
                opts[pname] = add(pname, schema, body_required and pname in (common or set()), "body")
            for pname in sorted((common or set()) - set(seen)):
                # the spec requires a field it does not declare (SharingDelete's `level`): an optional,
                # unconstrained option lets a caller send it; spec_allowlist.toml says why
                opts[pname] = add(pname, {}, False, "body")
            if len(alts) > 1:
                # several body shapes (online or offline metrics): the call must match one of them
                variants = [{"properties": {opts[n]: comp.convert(sub, "", area)
                                            for n, sub in (alt.get("properties") or {}).items()},
                             "required": [opts[n] for n in alt.get("required") or () if n in opts]}
                            for alt in alts]
            if not seen:
                kind = "none"
    method_body_default = "none" if sop.method in ("GET", "DELETE") else "json"
    if query:
        fields["query"] = query
    if wire:
        fields["wire"] = wire
    if kind != method_body_default:
        fields["body"] = kind
    if "body_option" in fields:
        fields["body_option"] = fields.pop("body_option")
    media = _success_media(openapi, sop)
    if any("json" in c for c in media):
        response = "json"
    elif any(c.startswith("audio/") or c == "application/octet-stream" for c in media):
        response = "bytes"
    elif media and all(c == "text/event-stream" for c in media):
        response = "json"
    else:
        response = "empty"
    if response != "json":
        fields["response"] = response
    if "text/event-stream" in media:
        events = _sse_events(comp, media["text/event-stream"])
        has_event = _has_event_field(comp, media["text/event-stream"])
        fields["stream"] = "events" if has_event else "completion"
        if "stream" not in props or "stream" in query:  # no body flag turns streaming on: it always streams
            fields["always_stream"] = True
        ends = [e for e in events if e.split(".")[-1] == "done"]
        errors = [e for e in events if e.split(".")[-1] == "error"]
        if fields["stream"] == "events" and len(ends) == 1:
            fields["stream_end"] = ends[0]
        if fields["stream"] == "events" and len(errors) == 1:
            fields["stream_error"] = errors[0]
    verb = name.split("_")[0]
    retry = overrides["retry"].get(key)
    if retry is None and sop.method == "POST" and verb in _READ_VERBS:
        retry = "idempotent"
    if retry is not None:
        fields["retry"] = retry
    pagination = sop.op.get("x-speakeasy-pagination")
    if isinstance(pagination, Mapping):
        outputs = pagination.get("outputs") or {}
        inputs = {str(i.get("type")): str(i.get("name")) for i in pagination.get("inputs") or ()}
        items = _jsonpath(str(outputs.get("results", "")))
        if pagination.get("type") == "cursor" and "cursor" in inputs and outputs.get("nextCursor"):
            fields["paginate"] = {"style": "cursor", "items": items, "cursor": option_name(inputs["cursor"]),
                                  "next": _jsonpath(str(outputs["nextCursor"]))}
        elif pagination.get("type") == "offsetLimit" and "offset" in inputs and "limit" in inputs:
            fields["paginate"] = {"style": "offset", "items": items, "offset": option_name(inputs["offset"]),
                                  "limit": option_name(inputs["limit"])}
    elif sop.method == "GET" and "page" in query and "page_size" in query and "json" in "".join(media):
        items_key = _items_key(comp, next(s for c, s in media.items() if "json" in c))
        if items_key is not None:
            fields["paginate"] = {"style": "page", "items": items_key}
    if sop.method == "GET" and path.endswith("}") and response == "json" and "json" in "".join(media):
        terminal = _terminal_states(comp, next(s for c, s in media.items() if "json" in c))
        if terminal:
            fields["wait"] = {"status_field": "status", "terminal": terminal}
    option_schema: dict[str, Any] = {
        "$schema": SCHEMA_DRAFT,
        "description": f"Options of {name} ({sop.method} {path}); {IMPORTED_NOTE}.",
        "type": "object",
        "properties": props,
    }
    if required:
        option_schema["required"] = required
    if variants and body_required:
        option_schema["anyOf"] = variants
    option_schema["additionalProperties"] = False
    fields.update(overrides.get("fields", {}).get(name, {}))  # hand columns the spec cannot say (to_field, ...)
    for option, extra in overrides.get("properties", {}).get(name, {}).items():  # client options, x-python marks
        props[option] = {**props.get(option, {}), **extra}
    return NewRow(name, group, sop.method, path, fields, option_schema)


def _has_event_field(comp: _Components, schema: Any) -> bool:
    schema = comp.resolve(schema)
    return isinstance(schema, Mapping) and "event" in (schema.get("properties") or {})


def _is_binary(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return True
    return any(_is_binary(s) for s in schema.get("anyOf") or ())


def plan_import(openapi: Mapping[str, Any], table: Spec, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                ) -> ImportPlan:
    """What ``import`` adds: new rows and schemas, and group/deprecated marks on existing rows."""
    overrides = overrides if overrides is not None else load_overrides()
    spec_ops, _ = spec_operations(openapi)
    by_key = {(ep.method, norm_path(ep.path)): name for name, ep in table.endpoints.items()}
    names: dict[tuple[str, str], str] = {}
    taken = set(table.endpoints)
    missing = sorted(
        (k for k in spec_ops if k not in by_key),
        key=lambda k: (str((spec_ops[k].op.get("tags") or [""])[0]), spec_ops[k].path.split("#")[0],
                       _METHOD_ORDER.get(k[0], 9)),
    )
    for k in missing:
        sop = spec_ops[k]
        name = overrides["names"].get(_key(sop)) or derive_name(sop.method, sop.path, str(sop.op.get("summary", "")))
        if name in taken:
            raise SpecFileError(f"{_key(sop)}: the name {name!r} is taken; curate one in {OVERRIDES.name} [names]")
        taken.add(name)
        names[k] = name
    names_by_id = {sop.operation_id: (names.get(k) or by_key.get(k, "")) for k, sop in spec_ops.items()}
    existing = {n: table.schemas[n] for n in table.schemas if n.startswith("_api_")}
    comp = _Components(openapi, existing)
    plan = ImportPlan()
    for k in missing:
        plan.rows.append(_derive(openapi, spec_ops[k], names[k], comp, overrides, names_by_id))
    plan.defs = {f: dict(sorted(d.items())) for f, d in sorted(comp.new.items())}
    group_of = {by_key[k]: str((sop.op.get("tags") or [""])[0]) for k, sop in spec_ops.items() if k in by_key}
    group_of.update(overrides["groups"])
    for name, ep in table.endpoints.items():
        marks: dict[str, Any] = {}
        if not ep.group and name in group_of:
            marks["group"] = group_of[name]
        key = next((k for k, n in by_key.items() if n == name), None)
        found = spec_ops.get(key) if key else None
        if found is not None and found.op.get("deprecated") is True and ep.deprecated is None:
            marks["deprecated"] = overrides["deprecated"].get(_key(found)) or names_by_id.get(
                str(found.op.get("x-speakeasy-deprecation-replacement", ""))) or True
        if marks:
            plan.annotations[name] = marks
    return plan


# --- Writing ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def render_rows(rows: list[NewRow]) -> str:
    """The new rows as TOML, one section comment per group."""
    out: list[str] = []
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            out += ["", f"# --- {group} (imported from the spec) " + "-" * max(3, 60 - len(group)), ""]
        out.append(f"[endpoints.{row.name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in row.fields.items()]
        out.append("")
    return "\n".join(out)


def _annotate(text: str, annotations: Mapping[str, Mapping[str, Any]]) -> str:
    for name, marks in annotations.items():
        header = re.search(rf"^\[endpoints\.{re.escape(name)}\]\n", text, re.M)
        if header is None:
            continue
        path_line = re.compile(r"^path = .*\n", re.M).search(text, header.end())
        at = path_line.end() if path_line else header.end()
        lines = "".join(f"{k} = {_toml_value(v)}\n" for k, v in marks.items())
        text = text[:at] + lines + text[at:]
    return text


def dump_schema(schema: Any) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def apply_plan(plan: ImportPlan, root: Path) -> list[str]:
    """Write the plan under ``root`` (a folder with endpoints.toml and schemas/); returns what changed."""
    changed: list[str] = []
    toml_path = root / "endpoints.toml"
    text = toml_path.read_text(encoding="utf-8")
    new_text = _annotate(text, plan.annotations)
    if plan.rows:
        new_text = new_text.rstrip("\n") + "\n" + render_rows(plan.rows)
    if new_text != text:
        toml_path.write_text(new_text, encoding="utf-8")
        changed.append(str(toml_path))
    schemas = root / "schemas"
    for file, defs in plan.defs.items():
        target = schemas / file
        doc: dict[str, Any] = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {
            "$schema": SCHEMA_DRAFT, "description": "Definitions imported from the OpenAPI spec's components."}
        merged = {**(doc.get("$defs") or {}), **defs}
        doc["$defs"] = dict(sorted(merged.items()))
        target.write_text(dump_schema(doc), encoding="utf-8")
        changed.append(str(target))
    for row in plan.rows:
        target = schemas / f"{row.name}.json"
        if not target.exists():
            target.write_text(dump_schema(row.schema), encoding="utf-8")
            changed.append(str(target))
    return changed


def iter_summary(plan: ImportPlan) -> Iterator[str]:
    for row in plan.rows:
        yield f"  + {row.name}: {row.method} {row.path}  [{row.group}]"
    for name, marks in plan.annotations.items():
        yield f"  ~ {name}: " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in marks.items())

