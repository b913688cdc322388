"""Deterministic "model" output: completions, tool calls, JSON, embeddings, scores, OCR.

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
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MODERATION_CATEGORIES",
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
    """The assistant's answer: ``Echo: <last user message>`` (or the last tool result)."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            return f"Tool result: {message_text(message.get('content'))}"
        if role == "user":
            return f"Echo: {message_text(message.get('content'))}"
    return "Echo:"


def fim_text(prompt: str, suffix: str | None) -> str:
    """The fill-in-the-middle answer: a comment naming the line being completed."""
    last = prompt.rstrip("\n").splitlines()[-1].strip() if prompt.strip() else ""
    tail = f" before {suffix.strip().splitlines()[0]}" if suffix and suffix.strip() else ""
    return f"\n    # completes: {last}{tail}\n"


def instance_for_schema(schema: Any, text: str, depth: int = 0) -> Any:
    """A value valid for a (simple) JSON schema, derived from ``text``."""
    if not isinstance(schema, Mapping) or depth > 6:
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, Mapping) and s.get("type") == "null")]
            return instance_for_schema(options[0] if options else schema[key][0], text, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance_for_schema(sub, text, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        return [instance_for_schema(schema.get("items", {}), text, depth + 1) for _ in range(count)]
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
