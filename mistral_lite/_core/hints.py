"""Hints for a validation report: the closest valid names, and where a misplaced field belongs.

Both read only the schema's structure: :func:`closest` compares a name with the names the
object allows (as a misspelled operation is already matched), and :func:`belongs_in` finds the
sibling property whose own object schema declares a field given one level too high
(``response_format={"type": "json_schema", "schema": {...}}``: ``schema`` belongs in
``json_schema``). Loaded only when a report is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["belongs_in", "branches", "closest", "unknown_name_message"]


def closest(name: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The valid names closest to ``name`` (case-insensitive), best first."""
    lowered = {candidate.lower(): candidate for candidate in names}
    return [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)]


def branches(schema: Any, schemas: Mapping[str, Any], current: str, depth: int = 0) -> Iterator[tuple[Any, str]]:
    """``schema`` and its ``$ref`` / ``anyOf`` / ``oneOf`` / ``allOf`` branches, refs resolved."""
    if not isinstance(schema, Mapping) or depth > 8:
        return
    yield schema, current
    ref = schema.get("$ref")
    if isinstance(ref, str):
        file, _, pointer = ref.partition("#")
        files = [file] if file else [current, *(name for name in schemas if name != current)]
        for name in files:  # a local ref of a schema whose file is unknown: the first file that has it
            target = _pointer(schemas.get(name), pointer)
            if target is not None:
                yield from branches(target, schemas, name, depth + 1)
                break
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            yield from branches(branch, schemas, current, depth + 1)


def _pointer(document: Any, pointer: str) -> Any:
    target = document
    for part in [p for p in pointer.split("/") if p]:
        target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
    return target


def _properties(schema: Any, schemas: Mapping[str, Any], current: str) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for part, where in branches(schema, schemas, current):
        for name, sub in (part.get("properties") or {}).items():
            out.setdefault(name, (sub, where))
    return out


def belongs_in(key: str, given: Mapping[str, Any], schema: Any, schemas: Mapping[str, Any],
               current: str) -> str | None:
    """The property of ``schema`` (not given) whose object schema declares ``key``, if one does."""
    for name, (sub, where) in _properties(schema, schemas, current).items():
        if name == key or name in given:
            continue
        if key in _properties(sub, schemas, where):
            return name
    return None


def unknown_name_message(noun: str, key: str, allowed: Sequence[str], home: str | None) -> str:
    """``unknown option; did you mean `temperature`? valid options: ...`` and friends."""
    valid = ", ".join(allowed) if allowed else "none"
    if home is not None:
        return f"unknown {noun}; `{key}` belongs inside `{home}` ({home} is missing); valid {noun}s: {valid}"
    close = closest(key, allowed)
    hint = f" did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
    return f"unknown {noun};{hint} valid {noun}s: {valid}"
