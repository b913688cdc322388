"""The endpoint table: loading ``endpoints.toml`` and ``schemas/``, and checking them.

This module owns the data model every other part reads: an :class:`Endpoint` per row, the
defaults, and the option schemas. The table is parsed once per process (``load_spec`` is
memoised) and linted while it loads, so a typo in the table fails at import, not at a user's
first call. Another table can be loaded from any folder (``load_spec(root)``) for tests and
overrides.
"""

from __future__ import annotations

import functools
import json
import keyword
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Endpoint", "Spec", "SpecError", "load_spec"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
BODY_KINDS = frozenset({"json", "multipart", "none"})
RESPONSE_KINDS = frozenset({"json", "bytes", "empty"})
STREAM_KINDS = frozenset({"none", "completion", "events"})
RETRY_CLASSES = frozenset({"idempotent", "create", "never"})
PAGINATE_STYLES = frozenset({"page"})
ROW_KEYS = frozenset(
    {"method", "path", "summary", "schema", "query", "client", "body", "response", "stream",
     "cache", "retry", "fill", "invalidates", "paginate", "wait", "stream_end", "stream_error"}
)
#: Keyword arguments every operation takes besides its options; no option may use these names.
CALL_KEYWORDS = frozenset({"extra_body", "extra_query", "extra_headers", "timeout", "stream_timeout"})
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class SpecError(Exception):
    """The table or a schema is malformed (raised while loading, naming the row and field)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One row of the table, with everything the dispatcher derives from it."""

    name: str
    method: str
    path: str
    summary: str
    schema_name: str
    schema: Mapping[str, Any]
    path_params: tuple[str, ...]
    query: tuple[str, ...] = ()
    client: tuple[str, ...] = ()
    body: str = "json"
    response: str = "json"
    stream: str = "none"
    stream_end: str | None = None
    stream_error: str | None = None
    cache: bool = False
    retry: str = "idempotent"
    fill: Mapping[str, Any] = field(default_factory=dict)
    invalidates: tuple[str, ...] = ()
    paginate: Mapping[str, Any] | None = None
    wait: Mapping[str, Any] | None = None

    @property
    def options(self) -> Mapping[str, Any]:
        """The schema's properties: every option this operation takes."""
        props: Mapping[str, Any] = self.schema.get("properties", {})
        return props

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))

    @property
    def body_options(self) -> tuple[str, ...]:
        skip = set(self.path_params) | set(self.query) | set(self.client)
        return tuple(name for name in self.options if name not in skip)


@dataclass(frozen=True, slots=True)
class Spec:
    """The whole table: defaults, endpoints by name, and every schema file by file name."""

    defaults: Mapping[str, Any]
    endpoints: Mapping[str, Endpoint]
    schemas: Mapping[str, Mapping[str, Any]]
    root: str


def _data_root() -> Any:
    return resources.files("mistral_lite")


@functools.lru_cache(maxsize=8)
def load_spec(root: str | None = None) -> Spec:
    """Load and lint the table under ``root`` (default: the installed package's data)."""
    base: Any = Path(root) if root is not None else _data_root()
    table = tomllib.loads(base.joinpath("endpoints.toml").read_text(encoding="utf-8"))
    schemas: dict[str, Mapping[str, Any]] = {}
    for entry in base.joinpath("schemas").iterdir():
        if entry.name.endswith(".json"):
            try:
                schemas[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise SpecError(f"schemas/{entry.name}: not valid JSON: {exc}") from None
    defaults = table.get("defaults", {})
    rows = table.get("endpoints", {})
    if not isinstance(rows, dict) or not rows:
        raise SpecError("endpoints.toml: no [endpoints.*] rows")
    endpoints = {name: _endpoint(name, row, schemas) for name, row in rows.items()}
    for ep in endpoints.values():
        for other in ep.invalidates:
            if other not in endpoints:
                raise SpecError(f"endpoints.{ep.name}.invalidates: unknown operation {other!r}")
    return Spec(defaults=defaults, endpoints=endpoints, schemas=schemas, root=str(base))


def _endpoint(name: str, row: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> Endpoint:
    where = f"endpoints.{name}"

    def fail(msg: str) -> SpecError:
        return SpecError(f"{where}: {msg}")

    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise fail("the name must be a public Python identifier")
    unknown = set(row) - ROW_KEYS
    if unknown:
        raise fail(f"unknown field(s) {sorted(unknown)}")
    method = str(row.get("method", "")).upper()
    if method not in METHODS:
        raise fail(f"method must be one of {sorted(METHODS)}")
    path = row.get("path", "")
    if not isinstance(path, str) or not path.startswith("/v"):
        raise fail("path must be a template starting with /v1 or /v2")
    schema_name = row.get("schema", f"{name}.json")
    if schema_name not in schemas:
        raise fail(f"schema file schemas/{schema_name} does not exist")
    schema = schemas[schema_name]
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    path_params = tuple(_PLACEHOLDER.findall(path))
    for param in path_params:
        prop = props.get(param)
        types = prop.get("type") if isinstance(prop, Mapping) else None
        types = [types] if isinstance(types, str) else types or []
        if param not in required or "string" not in types:
            raise fail(f"path placeholder {{{param}}} must be a required string option")
    query = tuple(row.get("query", ()))
    client = tuple(row.get("client", ()))
    for opt in (*query, *client):
        if opt not in props:
            raise fail(f"option {opt!r} is not in schemas/{schema_name}")
    for opt in props:
        if not opt.isidentifier() or keyword.iskeyword(opt) or opt in CALL_KEYWORDS:
            raise fail(f"option {opt!r} must be an identifier that is not a keyword or {sorted(CALL_KEYWORDS)}")
    rest = [o for o in props if o not in path_params and o not in query and o not in client]
    body = row.get("body", "json" if rest else "none")
    if body not in BODY_KINDS:
        raise fail(f"body must be one of {sorted(BODY_KINDS)}")
    if body == "none" and rest:
        raise fail(f"body is none but options {rest} have no location")
    response = row.get("response", "json")
    if response not in RESPONSE_KINDS:
        raise fail(f"response must be one of {sorted(RESPONSE_KINDS)}")
    stream = row.get("stream", "none")
    if stream not in STREAM_KINDS:
        raise fail(f"stream must be one of {sorted(STREAM_KINDS)}")
    stream_end, stream_error = row.get("stream_end"), row.get("stream_error")
    if (stream == "events") != (stream_end is not None):
        raise fail("stream_end is required for, and only for, stream = \"events\"")
    cache = row.get("cache", False)
    if not isinstance(cache, bool) or (cache and stream != "none"):
        raise fail("cache must be a boolean, and a streaming operation is never cached")
    if cache and response == "bytes":
        raise fail("byte responses are not cached")
    retry = row.get("retry", "create" if method == "POST" else "idempotent")
    if retry not in RETRY_CLASSES:
        raise fail(f"retry must be one of {sorted(RETRY_CLASSES)}")
    fill = dict(row.get("fill", {}))
    for opt in fill:
        if opt not in props:
            raise fail(f"fill option {opt!r} is not in schemas/{schema_name}")
    paginate = row.get("paginate")
    if paginate is not None and (paginate.get("style") not in PAGINATE_STYLES or "items" not in paginate):
        raise fail("paginate needs a known style and an items key")
    wait = row.get("wait")
    if wait is not None and not (wait.get("status_field") and wait.get("terminal")):
        raise fail("wait needs status_field and terminal")
    summary = row.get("summary", "")
    if not summary:
        raise fail("summary is required")
    return Endpoint(
        name=name, method=method, path=path, summary=summary, schema_name=schema_name,
        schema=schema, path_params=path_params, query=query, client=client, body=body,
        response=response, stream=stream, stream_end=stream_end, stream_error=stream_error,
        cache=cache, retry=retry, fill=fill,
        invalidates=tuple(row.get("invalidates", ())), paginate=paginate, wait=wait,
    )
