"""Command-line ``key=value`` pairs typed by the option's schema.

``temperature=0.5`` becomes a number, ``stream=true`` a boolean, ``max_tokens=null`` None, and
``stop=a,b`` stays a string because ``stop`` accepts one; a value splits on commas only when
the schema wants an array and no string. Objects (and arrays of objects) still need the JSON
form ``key:=...``; a value that fits none of the option's types is a :class:`UsageError`
naming the option, the types wanted and the ``:=`` form. Unknown options stay strings (the
validator then reports them, with the closest names).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mistral_lite._core.hints import branches, closest
from mistral_lite._table import Endpoint, Spec, load_spec
from mistral_lite.cli.base import UsageError, loads

__all__ = ["coerce", "json_types", "parse_params"]

PAIR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(:=|=)(.*)$", re.DOTALL)

_EXAMPLE = {"number": "0.7", "integer": "10", "boolean": "true", "object": '\'{"key": "value"}\'',
            "array": '\'["a", "b"]\'', "null": "null"}
_INTEGER = re.compile(r"[+-]?\d+")
#: The longest integer a pair may spell (Python refuses to convert more than 4,300 digits; no
#: option of the API wants a number anywhere near this long).
_MAX_DIGITS = 1000


def json_types(schema: Any, spec: Spec, current: str) -> tuple[list[str], Any]:
    """The JSON types a schema accepts (refs and alternatives followed), and its array items."""
    types: list[str] = []
    items: Any = None
    for part, _where in branches(schema, spec.schemas, current):
        if part.get("x-file"):
            types.append("string")
        kind = part.get("type")
        for name in [kind] if isinstance(kind, str) else list(kind or ()):
            if name not in types:
                types.append(name)
        if ("enum" in part or "const" in part) and "string" not in types and any(
                isinstance(v, str) for v in part.get("enum", [part.get("const")])):
            types.append("string")
        if items is None and "items" in part:
            items = part["items"]
    return types, items


def _scalar(raw: str, types: list[str]) -> tuple[bool, Any]:
    integral = _INTEGER.fullmatch(raw) is not None and len(raw.lstrip("+-")) <= _MAX_DIGITS
    if "integer" in types and integral:
        return True, int(raw)
    if "number" in types:
        try:
            value = float(raw)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return True, int(raw) if integral else value
    if "boolean" in types and raw.lower() in ("true", "false"):
        return True, raw.lower() == "true"
    if "null" in types and raw == "null":
        return True, None
    return False, None


def coerce(endpoint: Endpoint, spec: Spec, key: str, raw: str) -> Any:
    """The value of ``key=raw`` for ``endpoint``, typed by the option's schema."""
    schema = endpoint.options.get(key)
    if schema is None:
        return raw
    types, items = json_types(schema, spec, endpoint.schema_name)
    if not types or "string" in types:
        return raw
    ok, value = _scalar(raw, types)
    if ok:
        return value
    if "array" in types and items is not None:
        item_types, _ = json_types(items, spec, endpoint.schema_name)
        if not item_types or "string" in item_types:
            return [part.strip() for part in raw.split(",")] if raw else []
        values = []
        for part in raw.split(","):
            ok, value = _scalar(part.strip(), item_types)
            if not ok:
                break
            values.append(value)
        else:
            return values
    wanted = " or ".join(_noun(t) for t in types)
    example = next((_EXAMPLE[t] for t in types if t != "null" and t in _EXAMPLE), "<json>")
    shown = raw if len(raw) <= 60 else f"{raw[:40]}...({len(raw):,} characters)"
    raise UsageError(f"{key}={shown!r}: option `{key}` of {endpoint.name} wants {wanted}; "
                        f"give JSON with `{key}:=...`, e.g. {key}:={example}")


def _noun(kind: str) -> str:
    return {"integer": "an integer", "number": "a number", "boolean": "a boolean (true or false)",
            "object": "a JSON object", "array": "an array", "null": "null"}.get(kind, kind)


def parse_params(items: Sequence[str], data: Mapping[str, Any] | None = None, endpoint: Endpoint | None = None,
                 *, known_only: bool = False) -> tuple[list[str], dict[str, Any]]:
    """``key=value`` / ``key:=json`` items over ``data`` → (bare positional values, options).

    With ``endpoint``, each ``key=value`` is typed by the option's schema. With ``known_only``
    (a shortcut's free text), a ``key=value`` whose key is no option of ``endpoint`` stays a
    positional value.
    """
    options: dict[str, Any] = dict(data or {})
    positional: list[str] = []
    for item in items:
        match = PAIR.match(item)
        if match is not None and known_only and endpoint is not None and match.group(2) == "=" \
                and match.group(1) not in endpoint.options:
            close = closest(match.group(1), sorted(endpoint.options))
            if close:  # a misspelled option, not free text
                raise UsageError(f"{endpoint.name} has no option `{match.group(1)}`; did you mean "
                                 + " or ".join(f"`{c}`" for c in close) + "?")
            match = None
        if match is None:
            if "=" in item and not known_only:
                raise UsageError(f"bad option {item!r}: expected key=value or key:=json with an identifier key")
            positional.append(item)
            continue
        key, sep, raw = match.groups()
        if sep == "=":
            options[key] = raw if endpoint is None else _typed(endpoint, key, raw)
            continue
        try:
            options[key] = loads(raw)
        except ValueError as exc:
            raise UsageError(
                f"bad JSON for {key}: {exc} (strings need quotes: {key}:='\"text\"', or use {key}=text)"
            ) from None
    return positional, options


def _typed(endpoint: Endpoint, key: str, raw: str) -> Any:
    return coerce(endpoint, load_spec(), key, raw)
