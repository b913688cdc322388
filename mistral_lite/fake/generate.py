"""Deterministic "model" output (completions, tool calls, JSON, embeddings, scores, OCR) and
valid values for any schema of the table (:class:`Sampler`).

Everything here is a pure function of its input, so equal requests give equal answers. The
reply to a conversation is ``"Echo: <last user text>"``; tokens are words and punctuation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "MODERATION_CATEGORIES",
    "Sampler",
    "count_tokens",
    "embedding",
    "encode_embedding",
    "fim_text",
    "instance_for_schema",
    "message_text",
    "reply_text",
    "scores",
    "split_words",
    "stable_id",
]

MODERATION_CATEGORIES = (
    "sexual", "hate_and_discrimination", "violence_and_threats", "dangerous_and_criminal_content",
    "selfharm", "health", "financial", "law", "pii",
)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def stable_id(prefix: str, *parts: str, length: int = 24) -> str:
    """An id derived from ``parts`` (same input, same id)."""
    return prefix + _digest(*parts).hex()[:length]


def count_tokens(text: str) -> int:
    """The fake tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def split_words(text: str) -> list[str]:
    """Split into stream deltas that concatenate back to ``text``."""
    parts = re.findall(r"\S+\s*|\s+", text)
    return parts or [""]


def message_text(content: Any) -> str:
    """The text of a message ``content``: a string or a list of chunks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts: list[str] = []
        for chunk in content:
            if isinstance(chunk, Mapping):
                for key in ("text", "content"):
                    if isinstance(chunk.get(key), str):
                        texts.append(chunk[key])
                        break
                else:
                    if chunk.get("type") == "image_url":
                        texts.append("[image]")
            elif isinstance(chunk, str):
                texts.append(chunk)
        return " ".join(texts)
    return json.dumps(content, sort_keys=True)


def reply_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The assistant's answer: ``Echo: <last user message>``, or, after tool results, ``Tool
    result: <result>`` (one per line when the model called several tools)."""
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, f"Tool result: {message_text(message.get('content'))}")
    if results:
        return "\n".join(results)
    for message in reversed(messages):
        if message.get("role") == "user":
            return f"Echo: {message_text(message.get('content'))}"
    return "Echo:"


def fim_text(prompt: str, suffix: str | None) -> str:
    """The fill-in-the-middle answer: a comment naming the line being completed."""
    last = prompt.rstrip("\n").splitlines()[-1].strip() if prompt.strip() else ""
    tail = f" before {suffix.strip().splitlines()[0]}" if suffix and suffix.strip() else ""
    return f"\n    # completes: {last}{tail}\n"


def instance_for_schema(schema: Any, text: str, depth: int = 0, root: Any = None) -> Any:
    """A value valid for a (simple) JSON schema, derived from ``text``; local ``$ref``s
    (``#/$defs/...``) are followed, and a recursive type stops at its optional parts."""
    root = schema if root is None else root
    if not isinstance(schema, Mapping) or depth > 12:
        return text
    if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return instance_for_schema(target, text, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, Mapping) and s.get("type") == "null")]
            if depth > 4 and len(options) < len(schema[key]):
                return None  # deep in a recursive type: take the null
            return instance_for_schema(options[0] if options else schema[key][0], text, depth + 1, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance_for_schema(sub, text, depth + 1, root) for name, sub in props.items()}
    if kind == "array":
        count = 0 if depth > 4 else max(int(schema.get("minItems", 1)), 1)
        count = max(count, int(schema.get("minItems", 0)))
        return [instance_for_schema(schema.get("items", {}), text, depth + 1, root) for _ in range(count)]
    if kind == "integer":
        return max(int(schema.get("minimum", 0)), count_tokens(text))
    if kind == "number":
        return float(max(schema.get("minimum", 0), count_tokens(text)))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text


def embedding(text: str, model: str, dimension: int) -> list[float]:
    """A unit vector of ``dimension`` floats seeded from a hash of ``model`` and ``text``."""
    rng = random.Random(int.from_bytes(_digest(model, text)[:8], "big"))
    vec = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [round(x / norm, 8) for x in vec]


def encode_embedding(vec: list[float], dtype: str, encoding: str) -> Any:
    """Apply ``output_dtype`` and ``encoding_format`` to a float vector."""
    values: list[Any]
    if dtype == "int8":
        values = [max(-128, min(127, round(x * 127))) for x in vec]
        packed = struct.pack(f"{len(values)}b", *values)
    elif dtype == "uint8":
        values = [max(0, min(255, round((x + 1) * 127.5))) for x in vec]
        packed = struct.pack(f"{len(values)}B", *values)
    elif dtype in ("binary", "ubinary"):
        bits = [1 if x > 0 else 0 for x in vec]
        raw = [int("".join(map(str, bits[i:i + 8])).ljust(8, "0"), 2) for i in range(0, len(bits), 8)]
        values = [b - 128 for b in raw] if dtype == "binary" else raw
        packed = struct.pack(f"{len(values)}{'b' if dtype == 'binary' else 'B'}", *values)
    else:
        values = vec
        packed = struct.pack(f"<{len(vec)}f", *vec)
    if encoding == "base64":
        return base64.b64encode(packed).decode()
    return values


def scores(text: str, labels: Sequence[str]) -> dict[str, float]:
    """Deterministic scores in [0, 1) per label; text containing a label name scores high."""
    out: dict[str, float] = {}
    lowered = text.lower()
    for label in labels:
        base = int.from_bytes(_digest(label, text)[:4], "big") / 2**32 * 0.1
        hit = label.split("_")[0] in lowered
        out[label] = round(0.9 + base if hit else base, 6)
    return out


# --- valid values for any schema of the table ---------------------------------------------

#: ``check(schema, base, value) -> bool``: whether ``value`` is valid for ``schema`` (read in file ``base``).
Checker = Callable[[Any, str, Any], bool]

_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "time": "00:00:00",
    "uri": "https://example.com/resource", "url": "https://example.com/resource",
    "email": "user@example.com", "hostname": "example.com", "ipv4": "127.0.0.1",
    "duration": "P1D", "binary": "", "byte": "",
}
_MAX_DEPTH = 12
#: How deep ``full=True`` fills optional properties (deeper objects get their required ones).
_FULL_DEPTH = 4


class Sampler:
    """Deterministic values valid for JSON schemas spread over several files.

    ``files`` maps a file name to its schema (``$ref`` is ``file#/pointer`` or ``#/pointer``);
    ``check`` (optional) judges candidates, so that the first valid one of a ``oneOf``, an
    ``example`` or a ``default`` is taken. ``sample(schema, base, full=False)`` gives the
    smallest useful value (required properties only, one item per array); ``full=True`` also
    fills optional properties (used for responses). Equal inputs give equal outputs; string
    values are derived from the property's name, so they read well in a test.
    """

    def __init__(self, files: Mapping[str, Any], check: Checker | None = None) -> None:
        self.files = files
        self.check = check

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        """The schema ``ref`` points at, and the file it lives in."""
        file, _, pointer = ref.partition("#")
        file = file or base
        target: Any = self.files[file]
        for part in (p for p in pointer.split("/") if p):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target, file

    def deref(self, schema: Any, base: str) -> tuple[Any, str]:
        """Follow ``$ref`` chains and merge ``allOf`` into one schema (keywords of later parts win)."""
        for _ in range(32):
            if not isinstance(schema, Mapping):
                return schema, base
            if "$ref" in schema:
                target, base2 = self.resolve(schema["$ref"], base)
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                if not rest or set(rest) <= {"description", "title", "default", "examples", "example"}:
                    schema, base = target, base2
                    if rest.get("default") is not None and isinstance(schema, Mapping):
                        schema = {**schema, "default": rest["default"]}
                    continue
                schema = {"allOf": [{"$ref": schema["$ref"]}, rest]}
                continue
            if "allOf" in schema:
                merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    sub, where = self.deref(part, base)
                    if not isinstance(sub, Mapping):
                        continue
                    sub = self.localise(sub, where, base)
                    for key, value in sub.items():
                        if key == "properties":
                            merged["properties"] = {**merged.get("properties", {}), **value}
                        elif key == "required":
                            merged["required"] = sorted({*merged.get("required", ()), *value})
                        else:
                            merged.setdefault(key, value)
                return merged, base
            return schema, base
        return schema, base

    def localise(self, schema: Mapping[str, Any], where: str, base: str) -> Mapping[str, Any]:
        """``schema`` (read in file ``where``) with its local ``$ref``s made usable from ``base``."""
        if where == base:
            return schema

        def fix(node: Any) -> Any:
            if isinstance(node, list):
                return [fix(n) for n in node]
            if not isinstance(node, Mapping):
                return node
            out = {k: fix(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                out["$ref"] = where + ref
            return out

        result: Mapping[str, Any] = fix(schema)
        return result

    def _valid(self, schema: Any, base: str, value: Any) -> bool:
        return self.check is None or self.check(schema, base, value)

    def sample(self, schema: Any, base: str, *, full: bool = False, name: str = "value", depth: int = 0) -> Any:
        """A value valid for ``schema`` (read in file ``base``)."""
        schema, base = self.deref(schema, base)
        if schema is True or not isinstance(schema, Mapping):
            return name
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("example", "default"):
            if schema.get(key) is not None and self._valid(schema, base, schema[key]):
                return schema[key]
        examples = schema.get("examples")
        if isinstance(examples, list) and examples and self._valid(schema, base, examples[0]):
            return examples[0]
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                return self._choice(schema, key, base, full, name, depth)
        kind = _kind_of(schema)
        if kind == "object":
            return self._object(schema, base, full, name, depth)
        if kind == "array":
            return self._array(schema, base, full, name, depth)
        if kind in ("integer", "number"):
            return _number(schema, kind)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        if kind == "string":
            return self._string(schema, base, name)
        if schema.get("x-file"):
            return (f"{name}.txt", f"{name} content\n".encode())
        return {} if full else name

    def _choice(self, schema: Mapping[str, Any], key: str, base: str, full: bool, name: str, depth: int) -> Any:
        branches = list(schema[key])
        # null last (a value is more useful); the first branch whose value is valid for the whole schema wins
        branches.sort(key=lambda b: isinstance(b, Mapping) and b.get("type") == "null")
        rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
        first: Any = None
        for number, branch in enumerate(branches):
            sub = {"allOf": [rest, branch]} if rest.keys() - {"title", "description"} else branch
            value = self.sample(sub, base, full=full, name=name, depth=depth + 1)
            if number == 0:
                first = value
            if self.check is None or self._valid(schema, base, value):
                return value
        return first

    def _object(self, schema: Mapping[str, Any], base: str, full: bool, name: str, depth: int) -> Any:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        wanted = [p for p in props if p in required or (full and depth < _FULL_DEPTH)]
        out: dict[str, Any] = {}
        for prop in wanted:
            if depth >= _MAX_DEPTH and prop not in required:
                continue
            out[prop] = self.sample(props[prop], base, full=full, name=prop, depth=depth + 1)
        for prop in sorted(required - set(props)):
            extra = schema.get("additionalProperties", True)
            out[prop] = self.sample(extra if isinstance(extra, Mapping) else {}, base, full=full, name=prop,
                                    depth=depth + 1)
        minimum = int(schema.get("minProperties") or 0)
        extra = schema.get("additionalProperties")
        while len(out) < minimum:
            key = f"{name}_{len(out) + 1}"
            out[key] = self.sample(extra if isinstance(extra, Mapping) else {"type": "string"}, base, full=full,
                                   name=key, depth=depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], base: str, full: bool, name: str, depth: int) -> Any:
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        count = max(low, 1 if depth < _MAX_DEPTH else 0)
        if high is not None:
            count = min(count, int(high))
        prefix = list(schema.get("prefixItems") or ())
        items = schema.get("items", {})
        out = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            value = self.sample(sub, base, full=full, name=name, depth=depth + 1)
            if index and isinstance(value, str) and schema.get("uniqueItems"):
                value = f"{value}{index}"
            out.append(value)
        return out

    def _string(self, schema: Mapping[str, Any], base: str, name: str) -> str:
        fmt = schema.get("format")
        if fmt == "uuid" or (fmt is None and (name.endswith("uuid") or name == "uuid")):
            text = str(uuid.UUID(bytes=_digest("uuid", name)[:16], version=4))
        elif isinstance(fmt, str) and fmt in _FORMATS:
            text = _FORMATS[fmt]
        else:
            text = name
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not re.search(pattern, text):
            candidates = (*_pattern_candidates(name), _from_pattern(pattern))
            text = next((c for c in candidates if re.search(pattern, c)), text)
        low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
        if len(text) < low:
            text = text + "x" * (low - len(text))
        if high is not None and len(text) > int(high):
            text = text[: int(high)]
        return text


def _kind_of(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def _number(schema: Mapping[str, Any], kind: str) -> int | float:
    value: float = 1 if kind == "integer" else 0.5
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and value <= low:
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        if kind == "number" and high is not None and value >= high:
            value = (low + high) / 2
    if high is not None and value >= high:
        value = high - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
        if kind == "number" and low is not None and value <= low:
            value = (low + high) / 2
    return int(value) if kind == "integer" else float(value)


def _pattern_candidates(name: str) -> list[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"
    return [slug, slug.replace("-", "_"), slug.upper(), "a", "A", "0", "1", "a1", "x-1",
            str(uuid.UUID(bytes=_digest("uuid", name)[:16], version=4)), "2025-01-01", "https://example.com",
            "#000000", "user@example.com", "+33100000000", "en", "v1", "1.0.0"]


_ATOM = re.compile(r"\\(.)|\[(\^?)((?:\\.|[^\]])*)\]|\((?:\?:)?|\)|([^\\\[\](){}*+?|^$.])|(\.)")
_QUANT = re.compile(r"\{(\d+)(?:,(\d*))?\}|[*+?]")
_CLASS_ESCAPES = {"d": "0", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}


def _from_pattern(pattern: str) -> str:
    """A string for a simple regular expression (classes, escapes, literals, quantifiers), or ""."""
    out: list[str] = []
    pos = 0
    body = pattern[1:] if pattern.startswith("^") else pattern
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    while pos < len(body):
        m = _ATOM.match(body, pos)
        if m is None:
            return ""
        pos = m.end()
        if m.group(0) in ("(", "(?:", ")"):
            continue
        if m.group(1) is not None:
            char = _CLASS_ESCAPES.get(m.group(1), m.group(1))
        elif m.group(3) is not None:
            if m.group(2):
                char = "g"
            else:
                inner = m.group(3)
                char = _CLASS_ESCAPES.get(inner[1], inner[1]) if inner.startswith("\\") else inner[0]
        else:
            char = m.group(4) or "a"
        q = _QUANT.match(body, pos)
        count = 1
        if q is not None:
            pos = q.end()
            count = int(q.group(1)) if q.group(1) else (0 if q.group(0) in ("*", "?") else 1)
        out.append(char * count)
    return "".join(out)
