"""Valid values for JSON schemas, for tests that build calls from the table's option schemas.

``ValueMaker(schemas).value(schema, base)`` returns a value that ``jsonschema`` accepts for
``schema`` (whose ``$ref`` resolve among ``schemas``, file names as in ``schemas/``), or raises
``NoValue``. It follows ``$ref``, ``allOf``, ``anyOf``/``oneOf`` (trying alternatives until one is
valid), ``const``/``enum``, types, bounds, lengths and the common string formats. Objects get their
required properties only (``full=True``: every property it can fill).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import referencing
import referencing.jsonschema
from jsonschema import Draft202012Validator

DRAFT = referencing.jsonschema.DRAFT202012
FORMATS = {
    "uuid": "0198a4b2-6f0e-7c3a-9d41-5e2b8c7a1f00",
    "date-time": "2026-01-02T03:04:05Z",
    "date": "2026-01-02",
    "time": "03:04:05Z",
    "email": "someone@example.com",
    "uri": "https://example.com/x",
    "url": "https://example.com/x",
    "hostname": "example.com",
}


class NoValue(Exception):
    """The maker found no valid value for a schema."""


class ValueMaker:
    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self.schemas = schemas
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resources(
            (name, referencing.Resource.from_contents(dict(doc), default_specification=DRAFT))
            for name, doc in schemas.items()
        )

    def valid(self, value: Any, schema: Any, base: str) -> bool:
        doc = dict(self.schemas[base])  # the probe joins the file's $defs, so its relative refs resolve
        resource = referencing.Resource.from_contents(
            {**doc, "$defs": {**doc.get("$defs", {}), "__probe": schema}},
            default_specification=DRAFT,
        )
        registry = self.registry.with_resource(base, resource)
        validator = Draft202012Validator({"$ref": base + "#/$defs/__probe"}, registry=registry)
        return validator.is_valid(value)

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        file, _, pointer = ref.partition("#")
        file = file or base
        node: Any = self.schemas[file]
        for token in (t for t in pointer.split("/") if t):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node, file

    def value(self, schema: Any, base: str, *, full: bool = False, depth: int = 0) -> Any:
        if depth > 12:
            raise NoValue("too deep")
        if schema is True or not isinstance(schema, Mapping) or not schema:
            return "x"
        if "$ref" in schema:
            target, file = self.resolve(schema["$ref"], base)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if not rest:
                return self.value(target, file, full=full, depth=depth + 1)
            candidate = self.value(target, file, full=full, depth=depth + 1)
            if self.valid(candidate, schema, base):
                return candidate
            raise NoValue("a $ref with siblings")
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                if "$ref" in part:
                    part, _ = self.resolve(part["$ref"], base)
                merged["properties"].update(part.get("properties") or {})
                merged["required"] += list(part.get("required") or ())
            candidate = self.value(merged, base, full=full, depth=depth + 1)
            if self.valid(candidate, schema, base):
                return candidate
            raise NoValue("allOf")
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                alts = sorted(schema[key], key=lambda a: isinstance(a, Mapping) and a.get("type") == "null")
                for alt in alts:
                    try:
                        candidate = self.value({**rest, **alt} if rest and "$ref" not in alt else alt, base,
                                               full=full, depth=depth + 1)
                    except NoValue:
                        continue
                    if self.valid(candidate, schema, base):
                        return candidate
                raise NoValue(key)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            out: dict[str, Any] = {}
            required = set(schema.get("required") or ())
            for name, sub in (schema.get("properties") or {}).items():
                if name in required or full:
                    try:
                        out[name] = self.value(sub, base, full=full, depth=depth + 1)
                    except NoValue:
                        if name in required:
                            raise
            for name in required - set(out):
                extra = schema.get("additionalProperties", True)
                out[name] = self.value(extra if isinstance(extra, Mapping) else {}, base, depth=depth + 1)
            return out
        if kind == "array":
            count = max(int(schema.get("minItems", 1)), 1)
            items = schema.get("items", {})
            made = [self.value(items, base, full=full, depth=depth + 1) for _ in range(count)]
            if schema.get("uniqueItems") and count > 1:
                raise NoValue("unique items")
            return made
        if kind == "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in schema else 0))
            high = schema.get("maximum")
            value = max(int(low), 1)
            return min(value, int(high)) if high is not None else value
        if kind == "number":
            low = float(schema.get("minimum", 0.5))
            high = schema.get("maximum")
            value = max(low, 0.5)
            return min(value, float(high)) if high is not None else value
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        text = FORMATS.get(str(schema.get("format")), "text")
        if "minLength" in schema and len(text) < schema["minLength"]:
            text = text + "x" * (schema["minLength"] - len(text))
        if "maxLength" in schema:
            text = text[: schema["maxLength"]]
        return text
