"""Python type expressions (as text) for JSON Schemas, with the names of the generated types.

One set of naming rules, shared by the runtime signatures and docstrings (built on first use),
the committed stub and the generator of :mod:`mistral_lite.types`, so none can disagree:

* **inputs** (the option schemas under ``schemas/``): an object with properties, or a union of
  objects, defined in a shared file (``_common.json``) is ``<PascalName>Param``
  (``user_message`` -> ``UserMessageParam``; a name that two shared files define is prefixed
  with the other file's stem: ``AgentsTextChunkParam``); an inline object is named after where it
  sits (``<Owner><Field>Param``). Arrays read as ``Sequence[...]`` (a tuple is accepted), free
  objects as ``Mapping[str, Any]``, uploads as ``FileInput``; where the schema says ``x-python``,
  a type is a response format (``type[Any]``) and a tool array takes callables too.
* **results** (``schemas/_responses.json``): every component keeps the spec's name
  (``ChatCompletionResponse``); an inline object is ``<Owner><Field>``; arrays are ``list``.

``found`` collects the names an expression uses that need a definition (name -> where the
schema is), so the generator can define each exactly once.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mistral_lite._table import Endpoint, Spec

__all__ = ["Inputs", "Results", "RowTypes", "is_object", "load_responses", "pascal"]

RESPONSES = "_responses.json"

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_MAX_DEPTH = 12


def pascal(name: str) -> str:
    """``user_message`` -> ``UserMessage``; ``list-models`` -> ``ListModels``."""
    parts = [p for p in name.replace("-", "_").replace(".", "_").split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def union(parts: list[str]) -> str:
    """``a | b`` with duplicates dropped, ``Any`` absorbing, literals merged and ``None`` last."""
    out: list[str] = []
    literals: list[str] = []
    for part in parts:
        for piece in _split(part, "|"):
            if piece == "Any":
                return "Any"
            if piece.startswith("Literal[") and piece.endswith("]") and "[" not in piece[8:-1]:
                literals += [v for v in _split(piece[8:-1], ",") if v not in literals]
            elif piece not in out:
                out.append(piece)
    if literals and "str" in out and all(v.startswith(("'", '"')) for v in literals):
        literals = []  # a plain string already admits every string literal
    if literals:
        out.insert(0, "Literal[" + ", ".join(literals) + "]")
    if "None" in out:
        out = [p for p in out if p != "None"] + ["None"]
    return " | ".join(out) if out else "Any"


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets (``a | list[b | c]`` -> ``a``, ``list[b | c]``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _literal(values: list[Any]) -> str:
    kept = [v for v in values if v is not None and not isinstance(v, (dict, list, float))]
    if not kept:
        return "None" if None in values else "Any"
    text = "Literal[" + ", ".join(json.dumps(v) if isinstance(v, str) else repr(v) for v in kept) + "]"
    return text + (" | None" if None in values else "")


def _alt_owner(owner: str, alt: Any, index: int) -> str:
    """The name of an inline union member: its ``type`` tag when it has a single one, else its position."""
    tag = (alt.get("properties") or {}).get("type") if isinstance(alt, Mapping) else None
    if isinstance(tag, Mapping):
        values = [tag["const"]] if "const" in tag else tag.get("enum") or []
        if len(values) == 1 and isinstance(values[0], str):
            return owner + pascal(values[0])
    return f"{owner}{index + 1}"


def field_key_ok(name: str) -> bool:
    """Whether a property can be a field of a class-syntax TypedDict."""
    return name.isidentifier() and not keyword.iskeyword(name)


class _Base:
    """Shared walk: enums, consts, unions, arrays, objects; subclasses name refs and objects."""

    SEQUENCE = "list"
    MAPPING = "dict"
    SUFFIX = ""

    def ref(self, schema: Mapping[str, Any], current: str, owner: str, found: MutableMapping[str, Any] | None,
            depth: int) -> str:
        raise NotImplementedError

    def resolve(self, schema: Mapping[str, Any], current: str) -> tuple[Mapping[str, Any], str]:
        raise NotImplementedError

    def expr(self, schema: Any, current: str, owner: str, found: MutableMapping[str, Any] | None = None,
             depth: int = 0) -> str:
        """The type of ``schema`` (read in file ``current``); an inline object is named ``owner``."""
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return "Any"
        if isinstance(schema.get("$ref"), str):
            return self.ref(schema, current, owner, found, depth)
        if schema.get("x-file"):
            return "FileInput"
        if "const" in schema:
            return _literal([schema["const"]])
        if isinstance(schema.get("enum"), list):
            return _literal(schema["enum"])
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(alternatives, list):
            nulls = [a for a in alternatives if isinstance(a, Mapping) and a.get("type") == "null"]
            rest = [a for a in alternatives if a not in nulls]
            parts = [self.expr(a, current, owner if len(rest) == 1 else _alt_owner(owner, a, i), found, depth + 1)
                     for i, a in enumerate(rest)]
            return union(parts + (["None"] if nulls else []))
        if isinstance(schema.get("allOf"), list) and not schema.get("properties"):
            parts = schema["allOf"]
            if len(parts) == 1:
                return self.expr(parts[0], current, owner, found, depth + 1)
            return self.named_object(schema, current, owner, found)
        kinds = schema.get("type")
        names = [kinds] if isinstance(kinds, str) else list(kinds) if isinstance(kinds, list) else []
        if not names:
            if schema.get("properties"):
                names = ["object"]
            else:
                return "Any"
        out = []
        for kind in names:
            if kind == "array":
                items = schema.get("items")
                inner = self.expr(items, current, f"{owner}Item", found, depth + 1) if items is not None else "Any"
                out.append(f"{self.SEQUENCE}[{inner}]")
            elif kind == "object":
                out.append(self.object_expr(schema, current, owner, found, depth))
            else:
                out.append(_SCALARS.get(kind, "Any"))
        return union(out)

    def object_expr(self, schema: Mapping[str, Any], current: str, owner: str,
                    found: MutableMapping[str, Any] | None, depth: int) -> str:
        if schema.get("properties"):
            return self.named_object(schema, current, owner, found)
        extra = schema.get("additionalProperties")
        value = self.expr(extra, current, f"{owner}Value", found, depth + 1) if isinstance(extra, Mapping) and extra \
            else "Any"
        return f"{self.MAPPING}[str, {value}]"

    def named_object(self, schema: Mapping[str, Any], current: str, owner: str,
                     found: MutableMapping[str, Any] | None) -> str:
        name = owner + self.SUFFIX
        if found is not None and name not in found:
            found[name] = (schema, current)
        return name

    def fields(self, schema: Mapping[str, Any], current: str, owner: str,
               found: MutableMapping[str, Any] | None) -> tuple[dict[str, str], set[str]]:
        """The fields of an object (``allOf`` parts merged in) and the required ones."""
        props: dict[str, str] = {}
        required: set[str] = set()
        for part in self.parts(schema, current, 0):
            part_schema, part_file = part
            for name, sub in (part_schema.get("properties") or {}).items():
                if name not in props:
                    props[name] = self.expr(sub, part_file, owner + pascal(name), found)
            required |= set(part_schema.get("required") or ())
        return props, required & set(props)

    def parts(self, schema: Mapping[str, Any], current: str, depth: int = 0) -> list[tuple[Mapping[str, Any], str]]:
        if depth > _MAX_DEPTH:
            return []
        out = [(schema, current)]
        for part in schema.get("allOf") or ():
            target, file = self.resolve(part, current)
            out += self.parts(target, file, depth + 1)
        return out


#: Result schemas whose spec name is an exception's name (``mistral_lite.BatchError`` is raised by
#: ``run_batch``; the spec's ``BatchError`` is one entry of a batch job's ``errors``): their type in
#: ``mistral_lite.types`` is named here instead (tests/test_types_names.py checks for clashes).
RENAMED_RESULTS: Mapping[str, str] = {"BatchError": "BatchJobError", "StreamError": "StreamErrorEvent"}


class Results(_Base):
    """Type expressions of ``_responses.json`` schemas: the spec's component names."""

    def __init__(self, document: Mapping[str, Any], renamed: Mapping[str, str] = RENAMED_RESULTS) -> None:
        self.defs: Mapping[str, Any] = document.get("$defs", {})
        self.renamed = renamed

    def name(self, schema_name: str) -> str:
        """The type name of one of the spec's result schemas."""
        return self.renamed.get(schema_name, schema_name)

    def ref(self, schema: Mapping[str, Any], current: str, owner: str, found: MutableMapping[str, Any] | None,
            depth: int) -> str:
        return self.name(str(schema["$ref"]).rsplit("/", 1)[-1])

    def resolve(self, schema: Mapping[str, Any], current: str) -> tuple[Mapping[str, Any], str]:
        for _ in range(_MAX_DEPTH):
            if not isinstance(schema.get("$ref"), str):
                break
            schema = self.defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return schema, current


class Inputs(_Base):
    """Type expressions of option schemas: shared objects and unions are ``<Name>Param`` types."""

    SEQUENCE = "Sequence"
    MAPPING = "Mapping"
    SUFFIX = "Param"

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self.schemas = schemas
        self._clashes: dict[str, set[str]] | None = None

    def expr(self, schema: Any, current: str, owner: str, found: MutableMapping[str, Any] | None = None,
             depth: int = 0) -> str:
        """As for results, plus what ``x-python`` admits: a type as a response format, callables as tools."""
        hint = schema.get("x-python") if isinstance(schema, Mapping) else None
        if hint is None:
            return super().expr(schema, current, owner, found, depth)
        plain = super().expr({k: v for k, v in schema.items() if k != "x-python"}, current, owner, found, depth)
        if hint == "response-format":
            return union([plain, "type[Any]"])
        if hint == "base64-file":  # bytes or a path, base64-encoded at plan time
            return union([plain, "bytes", "PathLike[str]"])
        if hint == "tools":
            return union([f"Sequence[{p[9:-1]} | Callable[..., Any]]" if p.startswith("Sequence[") else p
                          for p in _split(plain, "|")])
        return plain

    def resolve(self, schema: Mapping[str, Any], current: str) -> tuple[Mapping[str, Any], str]:
        for _ in range(_MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            file, _, pointer = ref.partition("#")
            current = file or current
            target: Any = self.schemas[current]
            for part in (p for p in pointer.split("/") if p):
                target = target[part]
            schema = target
        return schema, current

    def def_name(self, file: str, name: str) -> str:
        """The type name of a shared definition (``_common.json`` keeps the bare name)."""
        if self._clashes is None:
            seen: dict[str, set[str]] = {}
            for shared in (f for f in self.schemas if f.startswith("_") and f != "_responses.json"):
                for key in self.schemas[shared].get("$defs", {}):
                    seen.setdefault(key, set()).add(shared)
            self._clashes = seen
        base = pascal(name)
        if len(self._clashes.get(name, ())) > 1 and file != "_common.json":
            base = pascal(file.removesuffix(".json")) + base
        return base

    def ref(self, schema: Mapping[str, Any], current: str, owner: str, found: MutableMapping[str, Any] | None,
            depth: int) -> str:
        ref = str(schema["$ref"])
        file, _, pointer = ref.partition("#")
        file = file or current
        parts = [p for p in pointer.split("/") if p]
        target, target_file = self.resolve(schema, current)
        is_def = len(parts) == 2 and parts[0] == "$defs"
        alternatives = target.get("anyOf") or target.get("oneOf")
        named = bool(target.get("properties")) or bool(target.get("allOf")) or (
            isinstance(alternatives, list) and all(isinstance(a, Mapping) and "$ref" in a for a in alternatives))
        if is_def and named:
            name = self.def_name(file, parts[1]) + self.SUFFIX
            if found is not None and name not in found:
                found[name] = (target, target_file)
            return name
        owner_here = self.def_name(file, parts[-1]) if is_def else owner
        return self.expr(target, target_file, owner_here, found, depth + 1)


def load_responses(spec: Spec) -> Mapping[str, Any]:
    """``schemas/_responses.json`` of the table (empty when the table has none)."""
    if RESPONSES not in spec.schemas:
        return {"operations": {}, "$defs": {}}
    return spec.schemas[RESPONSES]


def is_object(schema: Mapping[str, Any]) -> bool:
    """Whether a result schema becomes a TypedDict (properties, or several ``allOf`` parts)."""
    return bool(schema.get("properties")) or (
        isinstance(schema.get("allOf"), list) and len(schema["allOf"]) > 1 and not schema.get("anyOf")
        and not schema.get("oneOf")
    )


class RowTypes:
    """The result, stream item and page item types of rows, and the definitions they need."""

    def __init__(self, spec: Spec, responses: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.responses = load_responses(spec) if responses is None else responses
        self.results = Results(self.responses)
        self.inputs = Inputs(spec.schemas)
        self.result_found: dict[str, Any] = {}
        self.input_found: dict[str, Any] = {}
        self.aliases: dict[str, str] = {}
        #: ``run_tools`` results: name -> (the row's result TypedDict, transcript field, its type)
        self.tool_runs: dict[str, tuple[str, str, str]] = {}

    def _op(self, ep: Endpoint) -> Mapping[str, Any] | None:
        op = self.responses.get("operations", {}).get(ep.name)
        return op if isinstance(op, Mapping) else None

    def _named(self, schema: Mapping[str, Any], alias: str) -> str:
        if isinstance(schema.get("$ref"), str):
            return self.results.expr(schema, "", alias, self.result_found)
        if is_object(schema):
            return self.results.expr(schema, "", alias, self.result_found)
        text = self.results.expr(schema, "", alias, self.result_found)
        if " | " in text or "[" in text:
            self.aliases[alias] = text
            return alias
        return text

    def result(self, ep: Endpoint) -> str:
        """What a non-streaming call returns."""
        if ep.response == "bytes":
            return "bytes"
        if ep.response == "empty":
            return "dict[str, Any]"
        op = self._op(ep)
        if op is None or not isinstance(op.get("schema"), Mapping):
            return "Any"
        return self._named(op["schema"], pascal(ep.name) + "Result")

    def event(self, ep: Endpoint) -> str:
        """What one streamed item is (``dict[str, Any]`` when the specs do not say)."""
        op = self._op(ep)
        if op is None or not isinstance(op.get("events"), Mapping):
            return "dict[str, Any]"
        return self._named(op["events"], pascal(ep.name) + "Event")

    def item(self, ep: Endpoint) -> str:
        """The type of one item that ``paginate`` yields for a row."""
        op = self._op(ep)
        field = (ep.paginate or {}).get("items")
        if op is None or not isinstance(op.get("schema"), Mapping) or field is None:
            return "Any"
        schema, _ = self.results.resolve(op["schema"], "")
        if field:
            for part, _ in self.results.parts(schema, ""):
                prop = (part.get("properties") or {}).get(field)
                if isinstance(prop, Mapping):
                    schema = prop
                    break
            else:
                return "Any"
        schema, _ = self.results.resolve(schema, "")
        items = schema.get("items")
        if not isinstance(items, Mapping):
            variants = [a for a in schema.get("anyOf") or () if isinstance(a, Mapping) and "items" in a]
            items = variants[0]["items"] if variants else None
        if not isinstance(items, Mapping):
            return "Any"
        return self.results.expr(items, "", pascal(ep.name) + "Item", self.result_found)

    def tool_run(self, ep: Endpoint) -> str:
        """What ``run_tools`` returns for a row with a ``tool_loop``: its result plus the
        transcript (``messages``, typed as the row's ``messages`` option, or ``entries``)."""
        result = self.result(ep)
        style = (ep.tool_loop or {}).get("style")
        if style not in ("messages", "entries") or not result.isidentifier() or result in self.aliases:
            return result
        if style == "messages" and "messages" in ep.options:
            kind = re.sub(r"^Sequence\[", "list[", self.option(ep, "messages"))
        else:
            kind = "list[dict[str, Any]]"
        name = f"{result}With{pascal(style)}"
        self.tool_runs[name] = (result, style, kind)
        return name

    def walk(self) -> None:
        """Ask every question about every row, so that ``*_found`` hold every name used."""
        for ep in self.spec.endpoints.values():
            self.result(ep)
            self.event(ep)
            self.item(ep)
            if ep.tool_loop:
                self.tool_run(ep)
            for name in ep.options:
                self.option(ep, name)

    def defined(self) -> set[str]:
        """Every name ``mistral_lite.types`` defines (after :meth:`walk`)."""
        results = map(self.results.name, self.responses.get("$defs", {}))
        return {"FileInput", *results, *self.result_found, *self.aliases, *self.input_found,
                *self.tool_runs}

    def option(self, ep: Endpoint, name: str) -> str:
        """The type of one option (nested objects are ``...Param`` TypedDicts)."""
        return self.inputs.expr(ep.options[name], ep.schema_name, pascal(ep.name) + pascal(name), self.input_found)

    def result_fields(self, ep: Endpoint) -> tuple[str, list[tuple[str, str, str]]]:
        """What a call returns, and its top-level fields as ``(name, type, facts)``.

        The facts are generated from the schema (required or not, null allowed, enum values,
        constant): never the spec's prose.
        """
        title = self.result(ep)
        op = self._op(ep)
        if ep.response != "json" or op is None or not isinstance(op.get("schema"), Mapping):
            return title, []
        schema, _ = self.results.resolve(op["schema"], "")
        owner = title if title.isidentifier() else pascal(ep.name) + "Result"
        if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
            item = self.results.expr(schema["items"], "", pascal(ep.name) + "Item")
            schema, _ = self.results.resolve(schema["items"], "")
            title, owner = f"{title} (each item: {item})", item
        if not is_object(schema):
            return title, []
        fields, required = self.results.fields(schema, "", owner, None)
        props: dict[str, Any] = {}
        for part, _ in self.results.parts(schema, ""):
            for name, sub in (part.get("properties") or {}).items():
                props.setdefault(name, sub)
        out = []
        for name, kind in fields.items():
            facts = ["required" if name in required else "optional"]
            target, _ = self.results.resolve(props.get(name) or {}, "")
            if "const" in target:
                facts.append(f"always {target['const']!r}")
            elif isinstance(target.get("enum"), list):
                facts.append("one of " + ", ".join(repr(v) for v in target["enum"] if v is not None))
            if kind.endswith("| None") or kind == "None":
                facts.append("may be null")
            out.append((name, kind, "; ".join(facts)))
        return title, out
