r"""Spec drift: compare the endpoint table with an OpenAPI document, and extract a compact copy of one.

This module owns the ``python -m mistral_lite.spec`` tool (``diff`` and ``extract``). Nothing in
the client imports it: it is a maintainer's tool, and importing it has no side effects.

``diff OPENAPI_FILE [--table ROOT] [--json] [--allowlist FILE | --no-allowlist]`` reports

* the operations the spec has and the table lacks (a ``<path>#stream`` operation is the SSE
  variant of the same HTTP endpoint and is not counted twice),
* the operations the table has and the spec lacks,
* for every operation both have (matched by method and path template, placeholder names
  normalised), the differences between the request fields: fields only one side has, query vs
  body location, required flags, enum values, ranges of top-level options, simple types, path
  placeholder names and the body's content type.

``$ref`` is resolved on both sides (``#/components/...`` in the spec, relative refs across the
table's schema files), ``anyOf``/``oneOf`` alternatives that are ``null`` are dropped before
comparing, and client-only options (a row's ``client`` list) are ignored. Differences kept on
purpose are listed, each with its reason, in ``spec_allowlist.toml``: they are reported as notes,
not as drift. The exit status is 0
when nothing differs, 1 when something does, 2 on a usage or file error.

``import OPENAPI_FILE [--table ROOT] [--dry-run]`` adds rows and schemas for the operations the
table lacks (see :mod:`mistral_lite._dev.spec_import`).

``extract OPENAPI_FILE [-o OUT.json] [--table ROOT]`` writes a compact OpenAPI-shaped JSON
document that ``diff`` reads like the full spec: the table's operations with their parameters
and request bodies, every other operation reduced to its ``operationId``, and the components
reachable from the table's operations, with descriptions, titles and examples stripped.

YAML input needs PyYAML (imported only when a YAML file is read); JSON always works.

The test data (``tests/test_spec_drift.py``) is regenerated from the repository root with::

    python -m mistral_lite.spec extract ../shared/mistral-openapi/openapi-public-doc.yaml \
        -o tests/data/openapi_compact.json
    python -m mistral_lite.spec diff tests/data/openapi_compact.json --no-allowlist > tests/data/spec_drift_expected.txt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mistral_lite._dev.openapi import (
    STREAM_SUFFIX,
    SpecOp,
    iter_operations,
    load_openapi,
    norm_path,
    placeholders,
    spec_operations,
)
from mistral_lite._dev.spec_import import apply_plan, iter_summary, plan_import
from mistral_lite._table import Endpoint, Spec, load_spec, parse_toml
from mistral_lite.exceptions import SpecError, SpecFileError

__all__ = [
    "Difference",
    "DriftReport",
    "OperationDrift",
    "SpecFileError",
    "diff_spec",
    "extract_spec",
    "load_openapi",
    "main",
    "render_text",
]

#: Marks an operation that ``extract`` kept without its request details.
REDUCED_MARK = "x-mistral-lite-reduced"
RANGE_KEYS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)
#: Order of the kinds of difference inside one field.
KINDS = (
    "reduced",
    "content",
    "placeholder",
    "spec_only",
    "table_only",
    "location",
    "required",
    "type",
    "enum",
    "range",
)
_MAX_DEPTH = 32
#: The field name of a whole request body that is not an object (a row's ``body_option``).
BODY_FIELD = "(body)"

# Schema keywords whose value is a map of name -> schema, a schema, or a list of schemas.
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
    }
)
SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Keywords stripped from schemas by ``extract``: they never constrain a request.
_STRIP = frozenset({"description", "title", "example", "examples", "externalDocs", "xml", "$comment"})


# --- Schemas ---------------------------------------------------------------------------------


class _Resolver:
    """Resolves ``$ref`` in a set of documents keyed by name ("" for the OpenAPI document)."""

    def __init__(self, docs: Mapping[str, Any]) -> None:
        self.docs = docs

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        target, _, pointer = ref.partition("#")
        doc_name = target or base
        if doc_name not in self.docs:
            raise SpecFileError(f"unresolvable $ref {ref!r} (no document {doc_name!r})")
        node: Any = self.docs[doc_name]
        for token in (t for t in pointer.split("/") if t):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SpecFileError(f"unresolvable $ref {ref!r} in {doc_name or 'the spec'}")
        return node, doc_name

    def deref(self, node: Any, base: str) -> tuple[Any, str]:
        """Follow a chain of plain ``$ref`` objects (parameters, request bodies)."""
        for _ in range(_MAX_DEPTH):
            if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
                break
            node, base = self.resolve(node["$ref"], base)
        return node, base

    def alternatives(self, schema: Any, base: str, depth: int = 0) -> list[tuple[dict[str, Any], str]]:
        """The non-null alternatives of a schema, each with ``$ref``/``allOf`` merged in.

        ``anyOf``/``oneOf`` are flattened (their siblings are copied into each alternative),
        ``null`` alternatives and ``"null"`` types and enum values are dropped. An empty list
        means the schema only allows null.
        """
        if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
            return [({}, base)]
        if isinstance(schema.get("$ref"), str):
            target, target_base = self.resolve(schema["$ref"], base)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return [({**alt, **rest}, b) for alt, b in self.alternatives(target, target_base, depth + 1)]
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                alts = self.alternatives(part, base, depth + 1)
                if alts:
                    _merge_into(merged, alts[0][0])
            return self.alternatives(merged, base, depth + 1)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                out: list[tuple[dict[str, Any], str]] = []
                for sub in schema[key]:
                    for alt, b in self.alternatives(sub, base, depth + 1):
                        out.append(({**rest, **alt}, b))
                return out
        alt = dict(schema)
        kinds = alt.get("type")
        if kinds == "null":
            return []
        if isinstance(kinds, list):
            kinds = [k for k in kinds if k != "null"]
            if not kinds:
                return []
            alt["type"] = kinds[0] if len(kinds) == 1 else kinds
        if isinstance(alt.get("enum"), list):
            values = [v for v in alt["enum"] if v is not None]
            if not values and "enum" in schema:
                return []
            alt["enum"] = values
        if "const" in alt and alt["const"] is None:
            return []
        alt.pop("nullable", None)
        return [(alt, base)]


def _merge_into(target: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if key == "properties" and isinstance(target.get("properties"), Mapping):
            target["properties"] = {**target["properties"], **value}
        elif key == "required" and isinstance(target.get("required"), list):
            target["required"] = [*target["required"], *(v for v in value if v not in target["required"])]
        else:
            target.setdefault(key, value)


@dataclass(frozen=True)
class _Facts:
    """What is compared of one field: types, enum values (of the field and of its items), ranges."""

    types: frozenset[str] | None
    enum: frozenset[str] | None  # JSON-encoded values
    items_enum: frozenset[str] | None
    ranges: Mapping[str, Any]
    deprecated: bool = False


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _alt_types(alt: Mapping[str, Any]) -> set[str] | None:
    kinds = alt.get("type")
    if isinstance(kinds, str):
        return {kinds}
    if isinstance(kinds, list):
        return {str(k) for k in kinds}
    if "const" in alt:
        return {_value_type(alt["const"])}
    if isinstance(alt.get("enum"), list) and alt["enum"]:
        return {_value_type(v) for v in alt["enum"]}
    if "properties" in alt:
        return {"object"}
    return None


def _alt_enum(alt: Mapping[str, Any]) -> set[str] | None:
    if "const" in alt:
        return {_enc(alt["const"])}
    if isinstance(alt.get("enum"), list):
        return {_enc(v) for v in alt["enum"]}
    return None


def _enc(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _enum_of(alts: Sequence[tuple[dict[str, Any], str]]) -> frozenset[str] | None:
    values: set[str] = set()
    found = False
    for alt, _ in alts:
        got = _alt_enum(alt)
        if got is not None:
            found = True
            values |= got
    return frozenset(values) if found else None


def _facts(resolver: _Resolver, schema: Any, base: str) -> _Facts:
    alts = resolver.alternatives(schema, base)
    types: set[str] | None = set()
    for alt, _ in alts:
        got = _alt_types(alt)
        if got is None or types is None:
            types = None
        else:
            types |= got
    items: list[tuple[dict[str, Any], str]] = []
    for alt, b in alts:
        if "items" in alt and isinstance(alt["items"], Mapping):
            items.extend(resolver.alternatives(alt["items"], b))
    ranges: dict[str, Any] = {}
    for key in RANGE_KEYS:
        seen = {_enc(alt[key]) for alt, _ in alts if key in alt}
        if len(seen) == 1:
            ranges[key] = next(alt[key] for alt, _ in alts if key in alt)
    deprecated = isinstance(schema, Mapping) and schema.get("deprecated") is True
    enum = _enum_of(alts)
    if enum == frozenset({"true", "false"}):
        enum = None  # every boolean: no constraint
    return _Facts(
        types=frozenset(types) if types else None,
        enum=enum,
        items_enum=_enum_of(items) if items else None,
        ranges=ranges,
        deprecated=deprecated,
    )


# --- The two sides ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    location: str  # "query" or "body"
    required: bool
    schema: Any
    base: str


def _spec_body(resolver: _Resolver, sop: SpecOp) -> tuple[str, dict[str, _Field]]:
    body, base = resolver.deref(sop.op.get("requestBody"), "")
    if not isinstance(body, Mapping) or not isinstance(body.get("content"), Mapping) or not body["content"]:
        return "none", {}
    content = body["content"]
    ctype = next((c for c in content if "json" in c), None) or next(iter(content))
    kind = "json" if "json" in ctype else "multipart" if "multipart" in ctype else ctype
    media = content[ctype] if isinstance(content[ctype], Mapping) else {}
    props: dict[str, Any] = {}
    prop_base: dict[str, str] = {}
    required: set[str] | None = None
    for alt, b in resolver.alternatives(media.get("schema", {}), base):
        for name, sub in (alt.get("properties") or {}).items():
            if name in props and props[name] != sub and prop_base[name] == b:
                props[name] = {"anyOf": [props[name], sub]}  # a field of several body alternatives
            props.setdefault(name, sub)
            prop_base.setdefault(name, b)
        req: set[str] = set(alt.get("required") or ())
        required = req if required is None else required & req
    required = required or set()
    if not props and not any(alt.get("type") in ("object", None) for alt, _ in
                             resolver.alternatives(media.get("schema", {}), base)):
        # a body that is not an object (a JSON array): one field, the whole body
        return kind, {BODY_FIELD: _Field("body", bool(body.get("required")), media.get("schema", {}), base)}
    return kind, {n: _Field("body", n in required, s, prop_base[n]) for n, s in props.items()}


def _spec_fields(resolver: _Resolver, sop: SpecOp) -> tuple[str, dict[str, _Field]]:
    """The request fields of an operation, merged with those of its ``#stream`` variant if any.

    A field both variants have takes either variant's schema (``stream`` is ``false`` in one and
    ``true`` in the other), and is required only when both require it.
    """
    kind, fields = _one_variant_fields(resolver, sop)
    if sop.stream is None or sop.stream.op.get(REDUCED_MARK):
        return kind, fields
    _, stream_fields = _one_variant_fields(resolver, sop.stream)
    merged = dict(stream_fields)
    for name, f in fields.items():
        other = stream_fields.get(name)
        if other is None or other.location != f.location:
            merged[name] = f
        else:
            schema = {"anyOf": [f.schema, other.schema]} if f.schema != other.schema else f.schema
            merged[name] = _Field(f.location, f.required and other.required, schema, f.base)
    return kind, merged


def _one_variant_fields(resolver: _Resolver, sop: SpecOp) -> tuple[str, dict[str, _Field]]:
    kind, fields = _spec_body(resolver, sop)
    params: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
    for raw in [*(sop.item.get("parameters") or ()), *(sop.op.get("parameters") or ())]:
        param, base = resolver.deref(raw, "")
        if isinstance(param, Mapping) and "name" in param and "in" in param:
            params[(str(param["name"]), str(param["in"]))] = (param, base)
    for (name, where), (param, base) in params.items():
        if where != "query":
            continue  # path placeholders are compared by position; headers and cookies are not options
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), Mapping) and param["content"]:
            schema = next(iter(param["content"].values())).get("schema", {})
        if param.get("deprecated") is True and isinstance(schema, Mapping):
            schema = {**schema, "deprecated": True}
        fields[name] = _Field("query", bool(param.get("required", False)), schema or {}, base)
    return kind, fields


def _table_fields(ep: Endpoint) -> dict[str, _Field]:
    required = set(ep.required)
    skip = set(ep.path_params) | set(ep.client)
    return {
        BODY_FIELD if name == ep.body_option else ep.wire.get(name, name):
            _Field("query" if name in ep.query else "body", name in required, schema, ep.schema_name)
        for name, schema in ep.options.items()
        if name not in skip
    }


# --- The report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One difference in one operation: ``kind`` (see ``KINDS``), the field and both sides."""

    kind: str
    field: str
    spec: Any = None
    table: Any = None

    def sort_key(self) -> tuple[str, int, str]:
        return (self.field, KINDS.index(self.kind), _enc(self.spec))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "spec": self.spec, "table": self.table}

    def text(self) -> str:
        spec, table = self.spec, self.table
        if self.kind in ("spec_only", "table_only"):
            side = "spec" if self.kind == "spec_only" else "table"
            info = spec if self.kind == "spec_only" else table
            flags = [info["location"], "required" if info["required"] else "optional"]
            if info.get("deprecated"):
                flags.append("deprecated")
            return f"{self.field}: only in the {side} ({', '.join(flags)})"
        if self.kind == "required":
            return f"{self.field}: required: spec {_yes(spec)}, table {_yes(table)}"
        if self.kind == "enum":
            parts = []
            if spec:
                parts.append("only in the spec " + ", ".join(spec))
            if table:
                parts.append("only in the table " + ", ".join(table))
            return f"{self.field}: enum: " + "; ".join(parts)
        if self.kind == "type":
            return f"{self.field}: type: spec {'|'.join(spec)}, table {'|'.join(table)}"
        if self.kind == "range":
            key, spec_v, table_v = spec["keyword"], spec["value"], table["value"]
            return f"{self.field}: {key}: spec {_num(spec_v)}, table {_num(table_v)}"
        if self.kind == "placeholder":
            return f"{self.field}: placeholder name: spec {{{spec}}}, table {{{table}}}"
        if self.kind == "content":
            return f"(body): content: spec {spec}, table {table}"
        if self.kind == "reduced":
            return "(operation): the extract kept no request details for it: re-run `extract` on the full spec"
        return f"{self.field}: {self.kind}: spec {spec}, table {table}"


def _yes(value: Any) -> str:
    return "required" if value else "optional"


def _num(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)


@dataclass(frozen=True)
class OperationDrift:
    """The differences of one operation that both the table and the spec have."""

    name: str
    method: str
    path: str
    operation_id: str
    differences: tuple[Difference, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "operationId": self.operation_id,
            "differences": [d.to_json() for d in self.differences],
        }


@dataclass(frozen=True)
class DriftReport:
    """Everything ``diff`` found; ``differs`` decides the exit status."""

    spec_info: Mapping[str, Any]
    table_operations: int
    spec_operations: int
    stream_variants: int
    matched: int
    spec_only: tuple[dict[str, Any], ...]
    table_only: tuple[dict[str, str], ...]
    operations: tuple[OperationDrift, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def difference_count(self) -> int:
        return sum(len(op.differences) for op in self.operations)

    @property
    def differs(self) -> bool:
        return bool(self.spec_only or self.table_only or self.operations)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": dict(self.spec_info),
            "counts": {
                "table_operations": self.table_operations,
                "spec_operations": self.spec_operations,
                "stream_variants_ignored": self.stream_variants,
                "matched": self.matched,
                "spec_only_operations": len(self.spec_only),
                "table_only_operations": len(self.table_only),
                "operations_with_differences": len(self.operations),
                "differences": self.difference_count,
            },
            "spec_only_operations": list(self.spec_only),
            "table_only_operations": list(self.table_only),
            "operations": [op.to_json() for op in self.operations],
            "allowed": list(self.notes),
            "differs": self.differs,
        }


def _compare_field(
    name: str, spec_f: _Field, spec_r: _Resolver, table_f: _Field, table_r: _Resolver
) -> Iterator[Difference]:
    if spec_f.location != table_f.location:
        yield Difference("location", name, spec_f.location, table_f.location)
    if spec_f.required != table_f.required:
        yield Difference("required", name, spec_f.required, table_f.required)
    sf = _facts(spec_r, spec_f.schema, spec_f.base)
    tf = _facts(table_r, table_f.schema, table_f.base)
    if sf.types is not None and tf.types is not None and sf.types != tf.types:
        yield Difference("type", name, sorted(sf.types), sorted(tf.types))
    for label, s_enum, t_enum in ((name, sf.enum, tf.enum), (name + "[]", sf.items_enum, tf.items_enum)):
        if s_enum is None and t_enum is None:
            continue
        s_set, t_set = s_enum or frozenset(), t_enum or frozenset()
        if s_set != t_set:
            yield Difference("enum", label, sorted(s_set - t_set), sorted(t_set - s_set))
    for key in RANGE_KEYS:
        s_v, t_v = sf.ranges.get(key), tf.ranges.get(key)
        if _enc(s_v) != _enc(t_v) and not (_is_num(s_v) and _is_num(t_v) and s_v == t_v):
            yield Difference("range", name, {"keyword": key, "value": s_v}, {"keyword": key, "value": t_v})


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare_operation(ep: Endpoint, sop: SpecOp, spec_r: _Resolver, table_r: _Resolver) -> list[Difference]:
    out: list[Difference] = []
    if sop.op.get(REDUCED_MARK):
        return [Difference("reduced", "")]
    for spec_name, table_name in zip(placeholders(sop.path.removesuffix(STREAM_SUFFIX)), ep.path_params):
        if spec_name != table_name:
            out.append(Difference("placeholder", "{" + table_name + "}", spec_name, table_name))
    kind, spec_fields = _spec_fields(spec_r, sop)
    table_fields = _table_fields(ep)
    table_kind = ep.body if any(f.location == "body" for f in table_fields.values()) or ep.body != "none" else "none"
    if kind != table_kind and not (kind != "none" and not spec_fields and table_kind == "none"):
        out.append(Difference("content", "", kind, table_kind))
    for name in sorted(set(spec_fields) | set(table_fields)):
        s, t = spec_fields.get(name), table_fields.get(name)
        if s is not None and t is not None:
            out.extend(_compare_field(name, s, spec_r, t, table_r))
        elif s is not None:
            info = {
                "location": s.location,
                "required": s.required,
                "deprecated": _facts(spec_r, s.schema, s.base).deprecated,
            }
            out.append(Difference("spec_only", name, info, None))
        elif t is not None:
            out.append(Difference("table_only", name, None, {"location": t.location, "required": t.required}))
    return sorted(out, key=Difference.sort_key)


def diff_spec(openapi: Mapping[str, Any], table: Spec) -> DriftReport:
    """Compare an OpenAPI document with the endpoint table."""
    spec_ops, stream_variants = spec_operations(openapi)
    spec_r, table_r = _Resolver({"": openapi}), _Resolver(table.schemas)
    matched_keys: set[tuple[str, str]] = set()
    table_only: list[dict[str, str]] = []
    drifts: list[OperationDrift] = []
    for name, ep in table.endpoints.items():
        key = (ep.method, norm_path(ep.path))
        sop = spec_ops.get(key)
        if sop is None:
            table_only.append({"name": name, "method": ep.method, "path": ep.path})
            continue
        matched_keys.add(key)
        diffs = _compare_operation(ep, sop, spec_r, table_r)
        if diffs:
            drifts.append(OperationDrift(name, ep.method, ep.path, sop.operation_id, tuple(diffs)))
    spec_only = [
        {"method": sop.method, "path": sop.path, "operationId": sop.operation_id}
        | ({"deprecated": True} if sop.op.get("deprecated") is True else {})
        for key, sop in spec_ops.items()
        if key not in matched_keys
    ]
    info: Mapping[str, Any] = openapi["info"] if isinstance(openapi.get("info"), Mapping) else {}
    return DriftReport(
        spec_info={
            "openapi": str(openapi.get("openapi", "")),
            "title": str(info.get("title", "")),
            "version": str(info.get("version", "")),
        },
        table_operations=len(table.endpoints),
        spec_operations=len(spec_ops),
        stream_variants=stream_variants,
        matched=len(matched_keys),
        spec_only=tuple(sorted(spec_only, key=lambda o: (o["path"], o["method"], o["operationId"]))),
        table_only=tuple(sorted(table_only, key=lambda o: (o["path"], o["method"], o["name"]))),
        operations=tuple(sorted(drifts, key=lambda o: (o.path, o.method, o.name))),
    )


ALLOWLIST = Path(__file__).resolve().parent / "spec_allowlist.toml"


def load_allowlist(path: str | Path = ALLOWLIST) -> list[dict[str, str]]:
    """The entries of an allow-list file (each with ``operation``, ``kind``, ``reason``, maybe ``field``)."""
    try:
        data = parse_toml(Path(path).read_bytes())
    except (OSError, SpecError) as exc:
        raise SpecFileError(f"{path}: cannot read the allow-list: {exc}") from None
    entries = data.get("allow", [])
    for i, entry in enumerate(entries):
        if not (isinstance(entry, dict) and entry.get("operation") and entry.get("kind") and entry.get("reason")):
            raise SpecFileError(f"{path}: allow entry {i + 1} needs operation, kind and reason")
    return [{k: str(v) for k, v in e.items()} for e in entries]


def apply_allowlist(report: DriftReport, entries: Sequence[Mapping[str, str]]) -> DriftReport:
    """The report without the differences the allow-list keeps on purpose; those become ``notes``."""
    used: set[int] = set()

    def allowed(operation: str, kind: str, field_name: str = "") -> bool:
        for i, e in enumerate(entries):
            if e["operation"] == operation and e["kind"] == kind and e.get("field", "") == field_name:
                used.add(i)
                return True
        return False

    table_only = tuple(o for o in report.table_only if not allowed(o["name"], "table_only_operation"))
    operations = []
    for op in report.operations:
        kept = tuple(d for d in op.differences if not allowed(op.name, d.kind, d.field))
        if kept:
            operations.append(replace(op, differences=kept))
    notes = []
    for i, e in enumerate(entries):
        what = f"{e['operation']}" + (f" {e['field']}" if e.get("field") else "") + f" ({e['kind']})"
        notes.append(f"{what}: {e['reason']}" if i in used else f"{what}: not found (stale entry)")
    return replace(report, table_only=table_only, operations=tuple(operations), notes=tuple(notes))


def render_text(report: DriftReport) -> str:
    """The report as grouped, sorted, deterministic text."""
    info = report.spec_info
    lines = [
        f"Spec drift: OpenAPI {info['openapi']} {info['title']!r} version {info['version']!r}",
        f"Spec: {report.spec_operations} operations ({report.stream_variants} #stream variants ignored); "
        f"table: {report.table_operations} operations; matched: {report.matched}.",
        "",
        f"Operations in the spec that the table lacks ({len(report.spec_only)}):",
    ]
    lines += [
        f"  {o['method']:<6} {o['path']}  {o['operationId']}" + ("  (deprecated)" if o.get("deprecated") else "")
        for o in report.spec_only
    ] or ["  (none)"]
    lines += ["", f"Operations in the table that the spec lacks ({len(report.table_only)}):"]
    lines += [f"  {o['method']:<6} {o['path']}  {o['name']}" for o in report.table_only] or ["  (none)"]
    lines += ["", f"Request differences ({report.difference_count} in {len(report.operations)} operations):"]
    if not report.operations:
        lines.append("  (none)")
    for op in report.operations:
        lines.append(f"  {op.name}: {op.method} {op.path}  [{op.operation_id}]")
        lines += [f"    {d.text()}" for d in op.differences]
    if report.notes:
        lines += ["", f"Kept on purpose (the allow-list, {len(report.notes)}):"]
        lines += [f"  {note}" for note in report.notes]
    lines += [
        "",
        f"Summary: {len(report.spec_only)} spec-only operations, {len(report.table_only)} table-only "
        f"operations, {report.difference_count} request differences in {len(report.operations)} operations.",
    ]
    return "\n".join(lines) + "\n"


# --- Extract ---------------------------------------------------------------------------------


def _strip_schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strip_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _STRIP or key.startswith("x-"):
            continue
        if key in SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _strip_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_ONE or key in SCHEMA_LIST:
            out[key] = _strip_schema(value)
        else:
            out[key] = value
    return out


def _strip_media(content: Any) -> Any:
    if not isinstance(content, Mapping):
        return content
    out: dict[str, Any] = {}
    for ctype, media in content.items():
        out[ctype] = (
            {k: (_strip_schema(v) if k == "schema" else v) for k, v in media.items() if k in ("schema", "encoding")}
            if isinstance(media, Mapping)
            else media
        )
    return out


def _strip_body(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_strip_media(v) if k == "content" else v) for k, v in body.items() if k in ("required", "content")}


def _strip_parameter(param: Any) -> Any:
    if not isinstance(param, Mapping) or "$ref" in param:
        return param
    keep = ("name", "in", "required", "deprecated", "style", "explode", "allowEmptyValue", "schema", "content")
    out = {k: param[k] for k in keep if k in param}
    if "schema" in out:
        out["schema"] = _strip_schema(out["schema"])
    if "content" in out:
        out["content"] = _strip_media(out["content"])
    return out


#: What ``extract --import-sample`` keeps besides the request: what ``import`` derives rows from.
_IMPORT_KEYS = ("tags", "summary", "x-speakeasy-pagination", "x-speakeasy-deprecation-replacement")


def _strip_responses(responses: Mapping[str, Any]) -> dict[str, Any]:
    """The 2xx responses: their media types and schemas (descriptions, headers and examples dropped)."""
    return {code: ({"content": _strip_media(resp["content"])} if isinstance(resp, Mapping) and "content" in resp
                   else {} if isinstance(resp, Mapping) and "$ref" not in resp else resp)
            for code, resp in responses.items() if str(code).startswith("2")}


def _strip_operation(op: Mapping[str, Any], item: Mapping[str, Any], for_import: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.get("operationId", "")}
    if for_import:
        out.update({k: op[k] for k in _IMPORT_KEYS if k in op})
        out["responses"] = _strip_responses(op.get("responses") or {})
    params = [*(item.get("parameters") or ()), *(op.get("parameters") or ())]
    if params:
        out["parameters"] = [_strip_parameter(p) for p in params]
    body = op.get("requestBody")
    if isinstance(body, Mapping):
        out["requestBody"] = dict(body) if "$ref" in body else _strip_body(body)
    if op.get("deprecated") is True:
        out["deprecated"] = True
    return out


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "mapping" and isinstance(value, Mapping):
                yield from (v for v in value.values() if isinstance(v, str) and v.startswith("#/"))
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _components(openapi: Mapping[str, Any], roots: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Every ``#/components/<section>/<name>`` reachable from ``roots``, stripped."""
    found: dict[str, dict[str, Any]] = {}
    todo = [ref for root in roots for ref in _refs(root)]
    components = openapi.get("components") or {}
    while todo:
        ref = todo.pop()
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"]:
            continue
        section, name = parts[2].replace("~1", "/").replace("~0", "~"), parts[3].replace("~1", "/").replace("~0", "~")
        if name in found.get(section, {}):
            continue
        raw = (components.get(section) or {}).get(name)
        if raw is None:
            raise SpecFileError(f"unresolvable $ref {ref!r}")
        if section == "schemas":
            value = _strip_schema(raw)
        elif section == "parameters":
            value = _strip_parameter(raw)
        elif section == "requestBodies":
            value = _strip_body(raw)
        else:
            value = raw
        found.setdefault(section, {})[name] = value
        todo.extend(_refs(value))
    return {section: dict(sorted(items.items())) for section, items in sorted(found.items())}


def extract_spec(openapi: Mapping[str, Any], table: Spec, source: str = "", sha256: str = "",
                 import_sample: Sequence[str] = ()) -> dict[str, Any]:
    """A compact OpenAPI document: what ``diff`` needs to compare ``table`` with ``openapi``.

    ``import_sample`` (row names) instead keeps only those operations, with what ``import``
    derives their rows from (tags, summary, 2xx responses, pagination): a test fixture.
    """
    spec_ops, _ = spec_operations(openapi)
    wanted = {(ep.method, norm_path(ep.path)) for ep in table.endpoints.values()}
    if import_sample:
        wanted = {(table.endpoints[n].method, norm_path(table.endpoints[n].path)) for n in import_sample}
    full = {id(sop.op) for key, sop in spec_ops.items() if key in wanted}
    full |= {id(sop.stream.op) for key, sop in spec_ops.items() if key in wanted and sop.stream is not None}
    paths: dict[str, dict[str, Any]] = {}
    for path, item, method, op in iter_operations(openapi):
        if id(op) in full:
            entry = _strip_operation(op, item, for_import=bool(import_sample))
        elif import_sample:
            continue
        else:
            entry = {"operationId": op.get("operationId", ""), REDUCED_MARK: True}
            if op.get("deprecated") is True:
                entry["deprecated"] = True
        paths.setdefault(path, {})[method] = entry
    kept = [op for item in paths.values() for op in item.values() if not op.get(REDUCED_MARK)]
    info: Mapping[str, Any] = openapi["info"] if isinstance(openapi.get("info"), Mapping) else {}
    doc: dict[str, Any] = {
        "openapi": openapi.get("openapi", "3.1.0"),
        "info": {"title": info.get("title", ""), "version": info.get("version", "")},
        "x-mistral-lite-extract": {
            "source": source,
            "sha256": sha256,
            "note": "Written by `python -m mistral_lite.spec extract`: the table's operations in full, the "
            f"others reduced to their operationId (marked {REDUCED_MARK}), descriptions and examples stripped.",
        },
        "paths": dict(sorted(paths.items())),
        "components": _components(openapi, kept),
    }
    return doc


def dump_extract(doc: Mapping[str, Any]) -> str:
    """The extract as compact JSON with sorted keys and one path or component per line (small, diffable)."""

    def enc(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def block(items: Mapping[str, Any]) -> str:
        return "{\n" + ",\n".join(f"{enc(k)}:{enc(v)}" for k, v in sorted(items.items())) + "\n}"

    parts = []
    for key, value in sorted(doc.items()):
        if key == "paths" and isinstance(value, Mapping):
            text = block(value)
        elif key == "components" and isinstance(value, Mapping):
            text = "{" + ",\n".join(f"{enc(k)}:{block(v)}" for k, v in sorted(value.items())) + "}"
        else:
            text = enc(value)
        parts.append(f"{enc(key)}:{text}")
    return "{" + ",\n".join(parts) + "}\n"


# --- Command line ----------------------------------------------------------------------------


_TABLE_HELP = "folder with endpoints.toml and schemas/ (default: the package's)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mistral_lite.spec",
        description="Compare the endpoint table with an OpenAPI document, or extract a compact copy of one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    diff = sub.add_parser("diff", help="report the drift between an OpenAPI document and the table")
    diff.add_argument("openapi", help="OpenAPI 3.x document (JSON, or YAML with PyYAML installed)")
    diff.add_argument("--table", metavar="ROOT", help=_TABLE_HELP)
    diff.add_argument("--json", action="store_true", help="print the report as JSON")
    diff.add_argument("--allowlist", metavar="FILE", help="differences kept on purpose (default: the package's)")
    diff.add_argument("--no-allowlist", action="store_true", help="report every difference")
    extract = sub.add_parser("extract", help="write a compact OpenAPI JSON document for the table's operations")
    extract.add_argument("openapi", help="OpenAPI 3.x document (JSON, or YAML with PyYAML installed)")
    extract.add_argument("-o", "--output", metavar="OUT", help="where to write the JSON (default: stdout)")
    extract.add_argument("--table", metavar="ROOT", help=_TABLE_HELP)
    extract.add_argument("--import-sample", metavar="ROW,...",
                         help="keep only these rows' operations, with what `import` reads (a test fixture)")
    imp = sub.add_parser("import", help="add rows and schemas for the spec's operations the table lacks")
    imp.add_argument("openapi", help="OpenAPI 3.x document (JSON, or YAML with PyYAML installed)")
    imp.add_argument("--table", metavar="ROOT", help="folder with endpoints.toml and schemas/ (default: the package's)")
    imp.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; returns the exit status (0 same, 1 differs, 2 usage or file error)."""
    args = _parser().parse_args(argv)
    try:
        table = load_spec(str(Path(args.table).resolve()) if args.table else None)
    except (OSError, SpecError, ValueError) as exc:
        print(f"error: cannot load the table: {exc}", file=sys.stderr)
        return 2
    try:
        openapi = load_openapi(args.openapi)
        if args.command == "import":
            return _run_import(openapi, table, args)
        if args.command == "extract":
            raw = Path(args.openapi).read_bytes()
            sample = [n for n in (args.import_sample or "").split(",") if n]
            doc = extract_spec(openapi, table, Path(args.openapi).name, hashlib.sha256(raw).hexdigest(), sample)
            text = dump_extract(doc)
            if args.output:
                Path(args.output).write_text(text, encoding="utf-8")
                print(f"{args.output}: {len(text.encode()) / 1024:.1f} KiB", file=sys.stderr)
            else:
                sys.stdout.write(text)
            return 0
        report = diff_spec(openapi, table)
        if not args.no_allowlist:
            report = apply_allowlist(report, load_allowlist(args.allowlist or ALLOWLIST))
    except (SpecFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return 1 if report.differs else 0


def _run_import(openapi: Mapping[str, Any], table: Spec, args: argparse.Namespace) -> int:
    if not args.dry_run and not args.table and not (Path(table.root).parent / "setup.cfg").is_file():
        print(f"error: import writes the table, and {table.root} is an installed copy (no checkout around it): "
              "pass --table with a checkout's mistral_lite folder, or --dry-run to see the plan", file=sys.stderr)
        return 2
    plan = plan_import(openapi, table)
    for line in iter_summary(plan):
        print(line)
    if args.dry_run:
        return 0
    changed = apply_plan(plan, Path(table.root))
    print(f"{len(plan.rows)} operation(s) added, {len(plan.annotations)} row(s) annotated, "
          f"{len(changed)} file(s) written", file=sys.stderr)
    if changed:
        print("now run: python -m mistral_lite._dev.stubgen", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
