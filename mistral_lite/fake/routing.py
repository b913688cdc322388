"""Routing generated from the endpoint table, and request options rebuilt and validated.

Every row of ``mistral_lite._table`` becomes a route (method + compiled path template). A
request's options are rebuilt from its path parameters, query string (coerced with the
option's schema type) and body, then checked with ``mistral_lite._core.validate``; problems come
back as the pydantic-style ``detail`` list of the API's 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mistral_lite._core.validate import validate
from mistral_lite._table import Endpoint, Spec, load_spec
from mistral_lite.exceptions import ValidationError

__all__ = ["Match", "Router", "build_options", "coerce_form", "validation_details"]


@dataclass(frozen=True)
class Match:
    endpoint: Endpoint
    path_params: dict[str, str]


class Router:
    """Matches ``(method, path)`` against the table's templates (literal segments first)."""

    def __init__(self, spec: Spec | None = None) -> None:
        self.spec = spec or load_spec()
        routes = []
        for ep in self.spec.endpoints.values():
            pattern = re.sub(r"\\\{([^{}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(ep.path))
            routes.append((len(ep.path_params), re.compile(f"^{pattern}$"), ep))
        routes.sort(key=lambda r: r[0])
        self._routes = [(rx, ep) for _, rx, ep in routes]
        self.by_path = {(ep.method, ep.path): ep for ep in self.spec.endpoints.values()}

    def match(self, method: str, path: str) -> Match | str:
        """The matched route, or ``"not_found"`` / ``"method_not_allowed"``."""
        path_seen = False
        for rx, ep in self._routes:
            m = rx.match(path)
            if m is None:
                continue
            if ep.method == method:
                return Match(ep, dict(m.groupdict()))
            path_seen = True
        return "method_not_allowed" if path_seen else "not_found"


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    kind = schema.get("type")
    out = [kind] if isinstance(kind, str) else list(kind or [])
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            out.extend(_types(sub))
    return out


def _coerce_one(value: str, types: Sequence[str]) -> Any:
    if "integer" in types and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types:
        try:
            return float(value)
        except ValueError:
            pass
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "null" in types and value in ("null", ""):
        return None
    if "object" in types:
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def coerce_query(ep: Endpoint, name: str, values: list[str]) -> Any:
    """A query parameter's value as the schema types it (repeated keys make a list)."""
    schema = ep.options.get(name, {})
    types = _types(schema)
    if name == "metadata" and values:
        try:
            return json.loads(values[-1])
        except ValueError:
            return values[-1]
    if "array" in types:
        items = _types(schema.get("items", {})) if isinstance(schema, Mapping) else []
        flat = [v for raw in values for v in (raw.split(",") if len(values) == 1 and "," in raw else [raw])]
        return [_coerce_one(v, items) for v in flat]
    return _coerce_one(values[-1], types)


def coerce_form(ep: Endpoint, name: str, values: list[str]) -> Any:
    """A multipart form field's value as the schema types it: an array is the list of the
    field's repeated parts (each coerced to the item type), anything else the last part.

    Unlike a query string, a form value is never split on commas: one part ``["a","b"]``
    stays one string, as the API's form parser reads it.
    """
    schema = ep.options.get(name, {})
    types = _types(schema)
    if "array" in types and isinstance(schema, Mapping):
        items = _types(schema.get("items", {}))
        return [_coerce_one(v, items) for v in values]
    return _coerce_one(values[-1], types)


def build_options(ep: Endpoint, path_params: Mapping[str, str], query: Mapping[str, list[str]],
                  body: Any) -> dict[str, Any]:
    """The options dict of one request: path params, then query, then body fields.

    Path and query values are typed by the option's schema; the row's ``wire`` names (the API's
    name of an option that is not a Python identifier) map back to option names, and a row's
    ``body_option`` receives the whole body when it is an array.
    """
    options: dict[str, Any] = {name: _coerce_one(value, _types(ep.options.get(name)))
                               for name, value in path_params.items()}
    wire: Mapping[str, str] = getattr(ep, "wire", None) or {}
    option_of = {api: name for name, api in wire.items()}
    for key, values in query.items():
        name = option_of.get(key, key)
        if name in ep.query:  # like the real API (FastAPI), unknown query parameters are ignored
            options[name] = coerce_query(ep, name, values)
    body_option = getattr(ep, "body_option", None)
    if isinstance(body, Mapping):
        for key, value in body.items():  # JSON object keys are strings
            options[option_of.get(str(key), str(key))] = value
    elif body_option is not None and body is not None:
        options[body_option] = body
    return options


def _loc(ep: Endpoint, path: str) -> list[Any]:
    parts: list[Any] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    head = parts[0] if parts else None
    where = "path" if head in ep.path_params else "query" if head in ep.query else "body"
    return [where, *parts]


def _lookup(options: Any, loc: Sequence[Any]) -> Any:
    value = options
    for part in loc[1:]:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _kind(message: str) -> tuple[str, str]:
    if message.startswith("unknown"):
        return "extra_forbidden", "Extra inputs are not permitted"
    if "missing" in message:
        return "missing", "Field required"
    if message.startswith("expected"):
        return "type_error", message
    if message.startswith("must be one of"):
        return "enum", message
    return "value_error", message


def _json_safe(value: Any) -> Any:
    """``value`` with bytes (uploaded file content) replaced by a short description."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def validation_details(ep: Endpoint, options: Mapping[str, Any],
                       spec: Spec | None = None) -> list[dict[str, Any]]:
    """The 422 ``detail`` entries for ``options`` (empty when they are valid)."""
    problems: list[tuple[str, str]] = [(name, "unknown option (client-only)") for name in ep.client
                                       if name in options]
    try:
        validate(ep, options, spec)
    except ValidationError as exc:
        problems.extend(exc.errors)
    details = []
    for path, message in problems:
        loc = _loc(ep, path)
        kind, msg = _kind(message)
        details.append({"type": kind, "loc": loc, "msg": msg, "input": _json_safe(_lookup(options, loc))})
    return details
