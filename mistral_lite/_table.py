"""The endpoint table: loading ``endpoints.toml`` and ``schemas/``, and checking them.

This module owns the data model every other part reads: an :class:`Endpoint` per row, the
defaults, and the option schemas. The table is parsed once per process (``load_spec`` is
memoised); each row is built and checked when first used (the test suite lints them all), so
a table of ~300 rows costs little more at import than one of 60. Another table can be loaded
from any folder (``load_spec(root)``) for tests and overrides.
"""

from __future__ import annotations

import functools
import hashlib
import json
import keyword
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mistral_lite.exceptions import SpecError

__all__ = ["Endpoint", "Spec", "SpecError", "lint_spec", "load_spec", "warn_deprecated"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
BODY_KINDS = frozenset({"json", "multipart", "none"})
RESPONSE_KINDS = frozenset({"json", "bytes", "empty"})
STREAM_KINDS = frozenset({"none", "completion", "events"})
RETRY_CLASSES = frozenset({"idempotent", "create", "never"})
PAGINATE_STYLES = frozenset({"page", "cursor", "offset"})
TOOL_LOOP_STYLES = frozenset({"messages", "entries"})
#: The GenAI operations (OpenTelemetry ``gen_ai.operation.name``) a row's ``genai`` may name;
#: what each records is the data of ``mistral_lite._core.otel.GENAI``.
GENAI_OPERATIONS = frozenset({"chat", "text_completion", "embeddings", "invoke_agent", "create_agent"})
ROW_KEYS = frozenset(
    {"method", "path", "summary", "schema", "query", "client", "body", "response", "stream",
     "cache", "retry", "fill", "invalidates", "paginate", "wait", "stream_end", "stream_error", "parsed",
     "parsed_fields", "to_field", "tool_loop", "group", "deprecated", "wire", "body_option", "always_stream",
     "genai"}
)
#: Keyword arguments every operation takes besides its options; no option may use these names.
COMPILED_TABLE = "_table.json"
CALL_KEYWORDS = frozenset(
    {"extra_body", "extra_query", "extra_headers", "timeout", "stream_timeout", "on_progress"}
)
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class Endpoint:
    """One row of the table, with everything the dispatcher derives from it (treat as read-only)."""

    __slots__ = ("always_stream", "body", "body_option", "cache", "client", "deprecated", "fill", "genai", "group",
                 "invalidates", "method", "name", "paginate", "parsed", "parsed_fields", "path", "path_params", "query",
                 "response",
                 "retry", "schema_name", "schemas", "stream", "stream_end", "stream_error", "summary", "to_field",
                 "tool_loop", "wait", "wire")

    name: str
    method: str
    path: str
    summary: str
    schema_name: str
    schemas: Mapping[str, Mapping[str, Any]]
    path_params: tuple[str, ...]
    query: tuple[str, ...]
    client: tuple[str, ...]
    body: str
    response: str
    stream: str
    stream_end: str | None
    stream_error: str | None
    cache: bool
    retry: str
    fill: Mapping[str, Any]
    invalidates: tuple[str, ...]
    paginate: Mapping[str, Any] | None
    wait: Mapping[str, Any] | None
    parsed: tuple[str, ...]
    parsed_fields: Mapping[str, tuple[str, ...]]
    to_field: str | None
    tool_loop: Mapping[str, Any] | None
    group: str
    deprecated: str | bool | None
    wire: Mapping[str, str]
    body_option: str | None
    always_stream: bool
    genai: str | None

    def __init__(
        self, *, name: str, method: str, path: str, summary: str, schema_name: str,
        schemas: Mapping[str, Mapping[str, Any]], path_params: tuple[str, ...], query: tuple[str, ...] = (),
        client: tuple[str, ...] = (), body: str = "json", response: str = "json", stream: str = "none",
        stream_end: str | None = None, stream_error: str | None = None, cache: bool = False,
        retry: str = "idempotent", fill: Mapping[str, Any] | None = None, invalidates: tuple[str, ...] = (),
        paginate: Mapping[str, Any] | None = None, wait: Mapping[str, Any] | None = None,
        parsed: tuple[str, ...] = (), tool_loop: Mapping[str, Any] | None = None, group: str = "",
        deprecated: str | bool | None = None, wire: Mapping[str, str] | None = None, body_option: str | None = None,
        always_stream: bool = False, parsed_fields: Mapping[str, tuple[str, ...]] | None = None,
        genai: str | None = None, to_field: str | None = None,
    ) -> None:
        self.name, self.method, self.path, self.summary = name, method, path, summary
        self.schema_name, self.schemas, self.path_params = schema_name, schemas, path_params
        self.query, self.client, self.body, self.response = query, client, body, response
        self.stream, self.stream_end, self.stream_error = stream, stream_end, stream_error
        self.cache, self.retry, self.fill, self.invalidates = cache, retry, fill or {}, invalidates
        self.paginate, self.wait = paginate, wait
        self.parsed, self.tool_loop, self.parsed_fields = parsed, tool_loop, parsed_fields or {}
        self.to_field = to_field
        self.group, self.deprecated, self.wire = group, deprecated, wire or {}
        self.body_option, self.always_stream = body_option, always_stream
        self.genai = genai  # the OpenTelemetry gen_ai.operation.name of its spans, if a GenAI call

    def __repr__(self) -> str:
        return f"<Endpoint {self.name}: {self.method} {self.path}>"

    @property
    def schema(self) -> Mapping[str, Any]:
        """The option schema (``schemas/<schema_name>``), read on first use."""
        return self.schemas[self.schema_name]

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


class Spec:
    """The whole table: defaults, endpoints by name, and every schema file by file name.

    ``memo`` keeps values derived from this table (compiled validators, ...).
    """

    __slots__ = ("defaults", "endpoints", "memo", "root", "schemas")

    def __init__(
        self, *, defaults: Mapping[str, Any], endpoints: Mapping[str, Endpoint],
        schemas: Mapping[str, Mapping[str, Any]], root: str, memo: dict[str, Any] | None = None,
    ) -> None:
        self.defaults, self.endpoints, self.schemas, self.root = defaults, endpoints, schemas, root
        self.memo: dict[str, Any] = {} if memo is None else memo

    def replace(self, **changes: Any) -> Spec:
        """A copy with some fields changed (and nothing derived carried over)."""
        fields = {"defaults": self.defaults, "endpoints": self.endpoints, "schemas": self.schemas,
                  "root": self.root, **changes}
        return Spec(**fields)


def warn_deprecated(endpoint: Endpoint) -> None:
    """Warn that ``endpoint`` is deprecated by the API, naming its replacement (at the caller's line)."""
    instead = f"; use {endpoint.deprecated} instead" if isinstance(endpoint.deprecated, str) else ""
    warnings.warn(f"{endpoint.name} is deprecated by the API{instead}", DeprecationWarning, stacklevel=5)


def _data_root() -> Any:
    return resources.files("mistral_lite")


def read_table(base: Any) -> dict[str, Any]:
    """The parsed ``endpoints.toml`` under ``base``.

    The TOML file is the source; ``_table.json`` beside it is a compiled copy (written by
    ``python -m mistral_lite._dev.stubgen``) that carries the SHA-256 of the TOML it came from. It
    is used only when that hash matches, so an edited table is never read stale; it saves the
    TOML parser's import and parse on every ``import mistral_lite``.
    """
    source = base.joinpath("endpoints.toml").read_bytes()
    compiled = base.joinpath(COMPILED_TABLE)
    if compiled.is_file():
        try:
            cached = json.loads(compiled.read_bytes())
        except ValueError:
            cached = None
        if isinstance(cached, dict) and cached.get("sha256") == hashlib.sha256(source).hexdigest():
            table: dict[str, Any] = cached["table"]
            return table
    return parse_toml(source)


def parse_toml(source: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib  # only when the compiled table is stale (import cost)
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # the same, on Python 3.10 (a dependency there)
    try:
        table: dict[str, Any] = tomllib.loads(source.decode("utf-8"))
        return table
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"endpoints.toml: {exc}") from None


def compiled_table(base: Any) -> str:
    """The text of ``_table.json`` for the table under ``base``."""
    source = base.joinpath("endpoints.toml").read_bytes()
    body = {"sha256": hashlib.sha256(source).hexdigest(), "table": parse_toml(source)}
    return json.dumps(body, indent=1) + "\n"  # keeps the rows in table order


if TYPE_CHECKING:
    _SchemaMap = Mapping[str, Mapping[str, Any]]
    _EndpointMap = Mapping[str, Endpoint]
else:  # subscripting a generic ABC at import costs more than this whole module
    _SchemaMap = _EndpointMap = Mapping


class _Schemas(_SchemaMap):
    """The ``schemas/`` folder as a mapping of file name to schema, each read on first use."""

    def __init__(self, folder: Any) -> None:
        self._folder = folder
        self._listed: list[str] | None = None  # the folder is listed only when iterated
        self._loaded: dict[str, Mapping[str, Any]] = {}

    @property
    def _names(self) -> list[str]:
        if self._listed is None:
            self._listed = sorted(e.name for e in self._folder.iterdir() if e.name.endswith(".json"))
        return self._listed

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        try:
            return self._loaded[name]
        except KeyError:
            pass
        if name not in self:
            raise KeyError(name)
        try:
            schema = json.loads(self._folder.joinpath(name).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SpecError(f"schemas/{name}: not valid JSON: {exc}") from None
        return self._loaded.setdefault(name, schema)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        if self._listed is not None:
            return name in self._listed
        return (isinstance(name, str) and name.endswith(".json") and "/" not in name and "\\" not in name
                and self._folder.joinpath(name).is_file())


class _Endpoints(_EndpointMap):
    """The rows as a mapping of name to :class:`Endpoint`, each built (and checked) on first use.

    With ~300 rows, building them all at import would cost more than the rest of
    ``import mistral_lite``; a call builds one. The test suite lints every row.
    """

    def __init__(self, rows: dict[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self._rows, self._schemas = rows, schemas
        self._built: dict[str, Endpoint] = {}

    def __getitem__(self, name: str) -> Endpoint:
        try:
            return self._built[name]
        except KeyError:
            pass
        ep = _endpoint(name, self._rows[name], self._schemas)
        for other in ep.invalidates:
            if other not in self._rows:
                raise SpecError(f"endpoints.{ep.name}.invalidates: unknown operation {other!r}")
        if ep.tool_loop and ep.tool_loop.get("next", ep.name) not in self._rows:
            raise SpecError(f"endpoints.{ep.name}.tool_loop: unknown operation {ep.tool_loop['next']!r}")
        return self._built.setdefault(name, ep)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows


@functools.lru_cache(maxsize=8)
def load_spec(root: str | None = None, *, lint: bool = False) -> Spec:
    """Load the table under ``root`` (default: the installed package's data).

    Each row is built and checked on first use, and the schemas are read when first needed.
    ``lint=True`` builds every row now, reads every schema and checks the rows against them
    (see :func:`lint_spec`).
    """
    base: Any = Path(root) if root is not None else _data_root()
    table = read_table(base)
    schemas = _Schemas(base.joinpath("schemas"))
    defaults = table.get("defaults", {})
    rows = table.get("endpoints", {})
    if not isinstance(rows, dict) or not rows:
        raise SpecError("endpoints.toml: no [endpoints.*] rows")
    endpoints = _Endpoints(rows, schemas)
    spec = Spec(defaults=defaults, endpoints=endpoints, schemas=schemas, root=str(base), memo={})
    if lint:
        lint_spec(spec)
    return spec


def lint_spec(spec: Spec) -> None:
    """Check every row against its schema; raise :class:`SpecError` naming row and field.

    Path placeholders must be required string options; ``query``, ``client``, ``fill`` and
    ``paginate`` must name options of the schema; options must be identifiers that are not
    Python keywords or the call keywords; a row whose body is ``none`` must place every option.
    """
    for ep in spec.endpoints.values():
        _lint_endpoint(ep, spec.endpoints)


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
    body = row.get("body", "none" if method in ("GET", "DELETE") else "json")
    if body not in BODY_KINDS:
        raise fail(f"body must be one of {sorted(BODY_KINDS)}")
    response = row.get("response", "json")
    if response not in RESPONSE_KINDS:
        raise fail(f"response must be one of {sorted(RESPONSE_KINDS)}")
    stream = row.get("stream", "none")
    if stream not in STREAM_KINDS:
        raise fail(f"stream must be one of {sorted(STREAM_KINDS)}")
    stream_end, stream_error = row.get("stream_end"), row.get("stream_error")
    always_stream = row.get("always_stream", False)
    if stream_end is not None and stream != "events":
        raise fail("stream_end is only for stream = \"events\"")
    if stream == "events" and stream_end is None and not always_stream:
        raise fail("stream_end is required for stream = \"events\" (unless always_stream: the server's close ends it)")
    if not isinstance(always_stream, bool) or (always_stream and stream == "none"):
        raise fail("always_stream is a boolean, for a streaming row only")
    cache = row.get("cache", False)
    if not isinstance(cache, bool) or (cache and stream != "none"):
        raise fail("cache must be a boolean, and a streaming operation is never cached")
    if cache and response == "bytes":
        raise fail("byte responses are not cached")
    retry = row.get("retry", "create" if method == "POST" else "idempotent")
    if retry not in RETRY_CLASSES:
        raise fail(f"retry must be one of {sorted(RETRY_CLASSES)}")
    paginate = row.get("paginate")
    if paginate is not None:
        style = paginate.get("style")
        if style not in PAGINATE_STYLES or "items" not in paginate:
            raise fail(f"paginate needs a style in {sorted(PAGINATE_STYLES)} and an items key")
        if style == "cursor" and not (paginate.get("cursor") and paginate.get("next")):
            raise fail("a cursor paginate needs `cursor` (the option) and `next` (the response field)")
        if style == "offset" and not (paginate.get("offset") and paginate.get("limit")):
            raise fail("an offset paginate needs `offset` and `limit` (the options)")
    wait = row.get("wait")
    if wait is not None and not (wait.get("status_field") and wait.get("terminal")):
        raise fail("wait needs status_field and terminal")
    parsed = row.get("parsed", "")
    if not isinstance(parsed, str):
        raise fail("parsed must be a dotted path such as \"choices.message\"")
    parsed_fields = row.get("parsed_fields", {})
    if not isinstance(parsed_fields, dict) or not all(isinstance(v, str) and v for v in parsed_fields.values()):
        raise fail("parsed_fields maps a response-format option to the dotted path of the JSON text it shapes")
    to_field = row.get("to_field")
    if to_field is not None and (not isinstance(to_field, str) or "to" not in row.get("client", ())):
        raise fail("to_field names the response field carrying the file as base64, with client = [\"to\"]")
    tool_loop = row.get("tool_loop")
    if tool_loop is not None and (
        tool_loop.get("style") not in TOOL_LOOP_STYLES or (tool_loop["style"] == "entries") != ("next" in tool_loop)
    ):
        raise fail(f"tool_loop needs a style in {sorted(TOOL_LOOP_STYLES)}, and `next` for, and only for, entries")
    summary = row.get("summary", "")
    if not summary:
        raise fail("summary is required")
    group = row.get("group", "")
    deprecated = row.get("deprecated")
    if not isinstance(group, str) or not (deprecated is None or isinstance(deprecated, (str, bool))):
        raise fail("group is a string; deprecated is true or the name of the replacement")
    wire = row.get("wire", {})
    if not isinstance(wire, dict) or not all(isinstance(v, str) for v in wire.values()):
        raise fail("wire maps option names to the API's names")
    body_option = row.get("body_option")
    if body_option is not None and (not isinstance(body_option, str) or body != "json"):
        raise fail("body_option names the option that is the whole JSON body (body = \"json\")")
    genai = row.get("genai")
    if genai is not None and genai not in GENAI_OPERATIONS:
        raise fail(f"genai must be one of {sorted(GENAI_OPERATIONS)}")
    return Endpoint(
        name=name, method=method, path=path, summary=summary, schema_name=schema_name,
        schemas=schemas, path_params=tuple(_PLACEHOLDER.findall(path)), query=tuple(row.get("query", ())),
        client=tuple(row.get("client", ())), body=body, response=response, stream=stream,
        stream_end=stream_end, stream_error=stream_error, cache=cache, retry=retry, fill=dict(row.get("fill", {})),
        invalidates=tuple(row.get("invalidates", ())), paginate=paginate, wait=wait,
        parsed=tuple(parsed.split(".")) if parsed else (), tool_loop=tool_loop, group=group,
        deprecated=deprecated, wire=wire, body_option=body_option, always_stream=always_stream,
        parsed_fields={k: tuple(v.split(".")) for k, v in parsed_fields.items()}, genai=genai,
        to_field=to_field,
    )


def _lint_endpoint(ep: Endpoint, ep_names: Mapping[str, Endpoint]) -> None:
    def fail(msg: str) -> SpecError:
        return SpecError(f"endpoints.{ep.name}: {msg}")

    schema = ep.schema
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    for param in ep.path_params:
        prop = props.get(param)
        types = prop.get("type") if isinstance(prop, Mapping) else None
        types = [types] if isinstance(types, str) else types or []
        if param not in required or not {"string", "integer"} & set(types):
            raise fail(f"path placeholder {{{param}}} must be a required string (or integer) option")
    for opt in (*ep.query, *ep.client, *ep.fill, *ep.wire):
        if opt not in props:
            raise fail(f"option {opt!r} is not in schemas/{ep.schema_name}")
    for opt in props:
        if not opt.isidentifier() or keyword.iskeyword(opt) or opt in CALL_KEYWORDS:
            raise fail(f"option {opt!r} must be an identifier that is not a keyword or {sorted(CALL_KEYWORDS)}")
    rest = [o for o in props if o not in ep.path_params and o not in ep.query and o not in ep.client]
    if ep.body == "none" and rest:
        raise fail(f"body is none but options {rest} have no location")
    if ep.body != "none" and not rest:
        raise fail("the row has a body but the schema has no body options (set body = \"none\")")
    if ep.body_option is not None and rest != [ep.body_option]:
        raise fail(f"body_option {ep.body_option!r} must be the row's one body option, not {rest}")
    if isinstance(ep.deprecated, str) and ep.deprecated not in ep_names:
        raise fail(f"deprecated names an unknown replacement {ep.deprecated!r}")
    if ep.paginate is not None:
        style = ep.paginate["style"]
        needed = (("page", "page_size") if style == "page" else (ep.paginate["cursor"],) if style == "cursor"
                  else (ep.paginate["offset"], ep.paginate["limit"]))
        missing = [o for o in needed if o not in props]
        if missing:
            raise fail(f"paginate style {ep.paginate['style']!r} needs the option(s) {missing}")
