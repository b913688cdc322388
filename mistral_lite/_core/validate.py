"""Validation of keyword options against each operation's JSON Schema.

Two validators sit behind one function, :func:`validate`:

* a fast path: each schema is compiled once into nested Python closures that answer
  "valid or not" for the subset of Draft 2020-12 the schemas use (see ``docs/table.md``). A
  valid call never imports ``jsonschema``, which keeps import time and per-call cost low;
* the report: when the fast path says "invalid", ``jsonschema`` (loaded then, once) walks the
  same schema with ``iter_errors`` and every problem is reported at once, with its path, in a
  single :class:`~mistral_lite.exceptions.ValidationError`.

jsonschema stays the judge: if it finds nothing wrong, the options pass. A schema that uses a
keyword the compiler does not know is validated by jsonschema alone (and the table's lint test
fails, so this never ships).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mistral_lite._core.files import is_file_value
from mistral_lite._core.inputs import file_object_problem, is_array, json_problems, text_problem
from mistral_lite._table import Endpoint, Spec, load_spec
from mistral_lite.exceptions import ValidationError

__all__ = ["compile_schema", "error_report", "jsonschema_check", "validate", "validator_for"]

Check = Callable[[Any], bool]

#: Keywords that never constrain a value.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "description", "default", "title", "examples",
     "deprecated", "format", "readOnly", "writeOnly", "contentMediaType", "contentEncoding"}
)


_TYPES: dict[str, Check] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int or (type(v) is float and v.is_integer()),
    "number": lambda v: type(v) is int or (type(v) is float and v - v == 0.0),  # NaN and ±inf are not JSON
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": is_array,
    "null": lambda v: v is None,
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema sees it: booleans are not numbers."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


class _Compiler:
    """Compiles schemas from one registry of files; ``$ref`` targets are compiled once."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self.schemas = schemas
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str, current: str) -> Check:
        file, _, pointer = ref.partition("#")
        file = file or current
        key = f"{file}#{pointer}"
        if key not in self.refs:
            holder: list[Check] = []
            self.refs[key] = lambda v: holder[0](v)  # placeholder for recursive refs
            target: Any = self.schemas[file]
            for part in [p for p in pointer.split("/") if p]:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            holder.append(self.compile(target, file))
            self.refs[key] = holder[0]
        return self.refs[key]

    def compile(self, schema: Any, current: str) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-"):
                continue
            maker = getattr(self, "k_" + key.lstrip("$"), None)
            if maker is None:
                if key in ("properties", "required", "additionalProperties", "items", "prefixItems", "then", "else"):
                    continue
                raise NotImplementedError(key)  # a keyword this compiler lacks: the caller falls back to jsonschema
            checks.append(maker(arg, schema, current))
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            checks.append(self.object_check(schema, current))
        if "items" in schema or "prefixItems" in schema:
            checks.append(self.items_check(schema, current))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    # -- keywords ----------------------------------------------------------------------------
    def k_ref(self, arg: str, schema: Any, current: str) -> Check:
        return self.ref(arg, current)

    def k_type(self, arg: Any, schema: Any, current: str) -> Check:
        names = [arg] if isinstance(arg, str) else list(arg)
        checks = [_TYPES[n] for n in names]
        if len(checks) == 1:
            return checks[0]
        return lambda v: any(c(v) for c in checks)

    def k_enum(self, arg: Sequence[Any], schema: Any, current: str) -> Check:
        if all(type(x) is str for x in arg):
            allowed = frozenset(arg)
            return lambda v: type(v) is str and v in allowed
        return lambda v: any(_equal(v, x) for x in arg)

    def k_const(self, arg: Any, schema: Any, current: str) -> Check:
        if type(arg) is str:
            return lambda v: type(v) is str and v == arg
        return lambda v: _equal(v, arg)

    def k_minimum(self, arg: float, schema: Any, current: str) -> Check:
        return lambda v: not _num(v) or v >= arg

    def k_maximum(self, arg: float, schema: Any, current: str) -> Check:
        return lambda v: not _num(v) or v <= arg

    def k_exclusiveMinimum(self, arg: float, schema: Any, current: str) -> Check:
        return lambda v: not _num(v) or v > arg

    def k_exclusiveMaximum(self, arg: float, schema: Any, current: str) -> Check:
        return lambda v: not _num(v) or v < arg

    def k_minLength(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: type(v) is not str or len(v) >= arg

    def k_maxLength(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: type(v) is not str or len(v) <= arg

    def k_pattern(self, arg: str, schema: Any, current: str) -> Check:
        rx = re.compile(arg)
        return lambda v: type(v) is not str or rx.search(v) is not None

    def k_minItems(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: not is_array(v) or len(v) >= arg

    def k_maxItems(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: not is_array(v) or len(v) <= arg

    def k_uniqueItems(self, arg: bool, schema: Any, current: str) -> Check:
        if not arg:
            return lambda v: True

        def unique(v: Any) -> bool:
            if not is_array(v):
                return True
            return not any(_equal(v[i], v[j]) for i in range(len(v)) for j in range(i + 1, len(v)))

        return unique

    def k_minProperties(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: type(v) is not dict or len(v) >= arg

    def k_maxProperties(self, arg: int, schema: Any, current: str) -> Check:
        return lambda v: type(v) is not dict or len(v) <= arg

    def k_anyOf(self, arg: Sequence[Any], schema: Any, current: str) -> Check:
        checks = [self.compile(s, current) for s in arg]
        return lambda v: any(c(v) for c in checks)

    def k_oneOf(self, arg: Sequence[Any], schema: Any, current: str) -> Check:
        checks = [self.compile(s, current) for s in arg]
        return lambda v: sum(1 for c in checks if c(v)) == 1

    def k_allOf(self, arg: Sequence[Any], schema: Any, current: str) -> Check:
        checks = [self.compile(s, current) for s in arg]
        return lambda v: all(c(v) for c in checks)

    def k_if(self, arg: Any, schema: Any, current: str) -> Check:
        condition = self.compile(arg, current)
        then, other = self.compile(schema.get("then", True), current), self.compile(schema.get("else", True), current)
        return lambda v: then(v) if condition(v) else other(v)

    def k_not(self, arg: Any, schema: Any, current: str) -> Check:
        check = self.compile(arg, current)
        return lambda v: not check(v)

    def object_check(self, schema: Mapping[str, Any], current: str) -> Check:
        props = {k: self.compile(s, current) for k, s in schema.get("properties", {}).items()}
        required = tuple(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True or extra is False else self.compile(extra, current)
        closed = extra is False

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for name in required:
                if name not in v:
                    return False
            for name, value in v.items():
                c = props.get(name)
                if c is not None:
                    if not c(value):
                        return False
                elif closed or (extra_check is not None and not extra_check(value)):
                    return False
            return True

        return check

    def items_check(self, schema: Mapping[str, Any], current: str) -> Check:
        prefix = [self.compile(s, current) for s in schema.get("prefixItems", ())]
        items = schema.get("items", True)
        item_check = self.compile(items, current)
        n = len(prefix)

        def check(v: Any) -> bool:
            if type(v) is not list and not is_array(v):
                return True
            for c, item in zip(prefix, v):
                if not c(item):
                    return False
            return all(item_check(item) for item in (v[n:] if n else v))

        return check


def _num(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and type(v) is not bool


_lock = threading.Lock()


def _compiler(spec: Spec) -> _Compiler:
    compiler = spec.memo.get("compiler")
    if compiler is None:
        compiler = spec.memo.setdefault("compiler", _Compiler(spec.schemas))
    return compiler  # type: ignore[no-any-return]


def compile_schema(spec: Spec, schema_name: str) -> Check:
    """Compile ``schemas/<schema_name>`` of ``spec`` (raises ``NotImplementedError`` naming a keyword it lacks)."""
    return _compiler(spec).compile(spec.schemas[schema_name], schema_name)


def validator_for(spec: Spec, endpoint: Endpoint) -> Check | None:
    """The compiled fast check of an endpoint (None when only jsonschema can judge it)."""
    validators: dict[str, Check | None] = spec.memo.setdefault("validators", {})
    try:
        return validators[endpoint.name]
    except KeyError:
        pass
    with _lock:
        if endpoint.name not in validators:
            try:
                validators[endpoint.name] = compile_schema(spec, endpoint.schema_name)
            except NotImplementedError:
                validators[endpoint.name] = None
        return validators[endpoint.name]


def validate(endpoint: Endpoint, options: Mapping[str, Any], spec: Spec | None = None) -> None:
    """Raise one ValidationError listing every problem with ``options``; return if valid.

    Besides the schema, two things only Python can check: path parameters must not be empty
    (an empty one would reach the collection's route), and file options must be something an
    upload can read (an existing path, bytes, a binary file object or a ``(name, data)`` tuple).
    """
    spec = spec or load_spec()
    check = validator_for(spec, endpoint)
    extra = _python_checks(spec, endpoint, options)
    if check is not None and check(options) and not extra:
        return
    values = {k: v for k, v in options.items() if k not in endpoint.client and k not in _file_options(spec, endpoint)}
    errors = sorted(set(error_report(spec, endpoint, options)) | set(extra) | set(json_problems(values)))
    if errors:
        raise ValidationError(endpoint.name, errors)


def _file_options(spec: Spec, endpoint: Endpoint) -> tuple[str, ...]:
    table: dict[str, tuple[str, ...]] = spec.memo.setdefault("file_options", {})
    names = table.get(endpoint.name)
    if names is None:
        names = table[endpoint.name] = tuple(
            name for name, schema in endpoint.options.items() if isinstance(schema, Mapping) and schema.get("x-file")
        )
    return names


def _python_checks(spec: Spec, endpoint: Endpoint, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = [(name, "must not be empty") for name in endpoint.path_params if options.get(name) == ""]
    for name in endpoint.path_params:
        value = options.get(name)
        if type(value) is str and not value.isascii():
            problem = text_problem(value)
            if problem:
                problems.append((name, problem))
    if endpoint.response == "bytes" or endpoint.to_field is not None:  # the row's client options name where
        # to save the content (the body, or a JSON answer's base64 field such as create_speech's audio)
        for name in endpoint.client:
            target = options.get(name)
            if isinstance(target, (str, os.PathLike)):
                if not _encodable_path(target):
                    problems.append((name, f"{target!r} cannot be a file name here (a lone surrogate?)"))
                elif os.path.isdir(target):
                    problems.append((name, f"{os.fspath(target)!r} is a directory; give a file path"))
                elif not os.path.isdir(os.path.dirname(os.path.abspath(target))):
                    problems.append((name, f"the folder of {os.fspath(target)!r} does not exist"))
    if endpoint.body == "multipart":
        for name in _file_options(spec, endpoint):
            value = options.get(name)
            if value is None:
                continue
            if not is_file_value(value):
                problems.append((name, "expected a path, bytes, a binary file object or a (filename, data[, "
                                       "content_type]) tuple"))
            elif isinstance(value, (str, os.PathLike)):
                if not _encodable_path(value):
                    problems.append((name, f"{value!r} cannot be a file name here (a lone surrogate?)"))
                elif not os.path.isfile(value):
                    problems.append((name, f"no such file: {os.fspath(value)!r}"))
            else:
                problems.extend((name, p) for p in _upload_problems(value))
    return problems


def _encodable_path(path: str | os.PathLike[str]) -> bool:
    try:
        os.fsencode(path)
    except (UnicodeError, TypeError):
        return False
    return True


def _upload_problems(value: Any) -> list[str]:
    """What stops a file object or a (name, data[, type]) tuple from being uploaded."""
    problems = []
    if isinstance(value, tuple):
        for text in value[::2]:  # the file name and the content type
            problem = text_problem(text)
            if problem:
                problems.append(f"{text!r} {problem}")
        value = value[1]
    if hasattr(value, "read"):
        problem = file_object_problem(value)
        if problem:
            problems.append(problem)
    return problems


# -- the report (jsonschema, loaded lazily) ---------------------------------------------------
def _validator_class() -> Any:
    """Draft 2020-12 where any sequence that is not text is an array (as on the fast path)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        # jsonschema loads only when a call's options fail the fast check (import cost)
        from jsonschema import Draft202012Validator, validators  # type: ignore[import-not-found, import-untyped, unused-ignore]

        checker = Draft202012Validator.TYPE_CHECKER.redefine("array", lambda _checker, value: is_array(value))
        _VALIDATOR = validators.extend(Draft202012Validator, type_checker=checker)
    return _VALIDATOR


_VALIDATOR: Any = None


def _registry(spec: Spec) -> Any:
    """The table's schemas as a ``referencing`` registry (built once per table)."""
    registry = spec.memo.get("registry")
    if registry is None:
        import referencing.jsonschema  # with jsonschema, only for a report (import cost)

        registry = referencing.Registry().with_resources(
            (name, referencing.Resource.from_contents(
                contents, default_specification=referencing.jsonschema.DRAFT202012))
            for name, contents in spec.schemas.items()
        )
        spec.memo["registry"] = registry
    return registry


def _jsonschema_validator(spec: Spec, schema_name: str) -> Any:
    return _validator_class()(spec.schemas[schema_name], registry=_registry(spec))


def jsonschema_check(spec: Spec, schema: Any) -> Check:
    """A check of ``schema`` by jsonschema (its ``$ref`` resolved in the table's schemas), for a
    schema the compiled checks cannot read (the fake's response checks)."""
    validator = _validator_class()(schema, registry=_registry(spec))
    return lambda value: bool(validator.is_valid(value))


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_report(spec: Spec, endpoint: Endpoint, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with ``options`` as ``(path, message)`` pairs, sorted by path."""
    validator = _jsonschema_validator(spec, endpoint.schema_name)
    out: list[tuple[str, str]] = []
    for err in validator.iter_errors(dict(options)):
        out.extend(_describe(err, endpoint, spec))
    return sorted(set(out))


def _describe(err: Any, top: Endpoint, spec: Spec) -> list[tuple[str, str]]:
    path = list(err.absolute_path)
    where = _path(path)
    kind = err.validator
    if kind == "required":
        name = err.message.split("'")[1] if "'" in err.message else err.message
        noun = "option" if not path else "field"
        return [(_path([*path, name]), f"required {noun} is missing")]
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        # the hints (and difflib) load only when a report is written (import cost)
        from mistral_lite._core.hints import belongs_in, unknown_name_message

        allowed = sorted(err.schema.get("properties", {}))
        extras = [k for k in err.instance if k not in allowed]
        noun = "option" if not path else "field"
        return [(_path([*path, k]), unknown_name_message(
            noun, k, allowed, belongs_in(k, err.instance, err.schema, spec.schemas, top.schema_name) if path else None))
            for k in extras]
    if kind == "type":
        value = err.validator_value
        wanted = " or ".join(value) if isinstance(value, list) else str(value)
        return [(where, f"expected {wanted}, got {type(err.instance).__name__} {_short(err.instance)}")]
    if kind == "enum":
        choices = ", ".join(repr(x) for x in err.validator_value)
        return [(where, f"must be one of {choices}; got {_short(err.instance)}")]
    if kind in ("anyOf", "oneOf") and err.context:
        return _describe_alternatives(err, path, top, spec)
    message = err.message
    if len(message) > 200:
        message = message[:199] + "…"
    return [(where, message)]


_DISCRIMINATORS = ("type", "role", "object")


def _describe_alternatives(err: Any, path: list[Any], top: Endpoint, spec: Spec) -> list[tuple[str, str]]:
    """Explain an anyOf/oneOf failure by the alternative the value was meant to be.

    An alternative whose discriminator (``type``/``role``) or JSON type did not match is set
    aside; if one alternative remains, its own problems are reported. Otherwise the message
    names the expected JSON types or discriminator values.
    """
    where = _path(path)
    branches: dict[Any, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else 0, []).append(sub)
    depth = len(path)
    wanted_types: list[str] = []
    wanted_tags: dict[str, list[Any]] = {}
    candidates = []
    missing: str | None = None
    for errors in branches.values():
        mismatch = False
        for e in errors:
            epath = list(e.absolute_path)
            if e.validator == "type" and epath == path:
                value = e.validator_value
                wanted_types.extend(v for v in ([value] if isinstance(value, str) else value) if v not in wanted_types)
                mismatch = True
            elif (e.validator in ("const", "enum") and len(epath) == depth + 1
                  and epath[-1] in _DISCRIMINATORS):
                value = e.validator_value
                tags = wanted_tags.setdefault(epath[-1], [])
                tags.extend(v for v in ([value] if e.validator == "const" else value) if v not in tags)
                mismatch = True
            elif e.validator == "required" and epath == path and e.message.split("'")[1:2] and \
                    e.message.split("'")[1] in _DISCRIMINATORS:
                missing = e.message.split("'")[1]
                mismatch = True
        if not mismatch:
            candidates.append(errors)
    if len(candidates) == 1:
        return [d for e in candidates[0] for d in _describe(e, top, spec)]
    if missing is not None and not candidates and isinstance(err.instance, dict) and missing not in err.instance:
        return [(_path([*path, missing]), "required field is missing")]
    if wanted_tags and isinstance(err.instance, dict):
        field, tags = next(iter(wanted_tags.items()))
        got = err.instance.get(field, "<missing>")
        return [(_path([*path, field]), f"must be one of {', '.join(repr(t) for t in tags)}; got {_short(got)}")]
    if wanted_types and not candidates:
        got = f"{type(err.instance).__name__} {_short(err.instance)}"
        return [(where, f"expected {' or '.join(wanted_types)}, got {got}")]
    return [(where, f"{_short(err.instance)} matches none of the allowed forms")]
