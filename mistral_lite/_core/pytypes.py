"""Plain Python types as JSON Schema, and JSON values back as instances of those types.

:func:`schema_for` describes a type (the root of a ``response_format`` or one parameter of a
tool); :func:`strict_schema` makes such a schema acceptable to strict mode; :func:`load` turns
decoded JSON into the type (dataclasses as instances, nested ones too, TypedDicts as checked
dicts, pydantic models validated by pydantic) and raises :class:`ToolArgumentsError` ("path: reason",
which structured outputs report as :class:`OutputParseError`).

Understood: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``Literal``, ``Enum``,
``list`` / ``Sequence`` / ``set`` / ``tuple[X, ...]``, ``dict[str, X]``, ``Optional`` and unions
(``X | Y`` too), ``Annotated`` (its first argument; a string as metadata is the description),
``TypedDict`` (``Required`` / ``NotRequired``), dataclasses and pydantic v2 models. Named types
(dataclasses, TypedDicts, enums, models) go under ``$defs``, so recursive types work.

Loaded only when a type or a callable is given, never by ``import mistral_lite``; pydantic is
imported only when a pydantic model is met (without it installed, the error names the extra).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mistral_lite._core.extras import needs
from mistral_lite.exceptions import ToolArgumentsError, UnsupportedTypeError

__all__ = ["UnsupportedTypeError", "is_pydantic_model", "is_schema_type", "load", "schema_for",
           "strict_schema", "type_name"]

PYDANTIC_EXTRA = needs("pydantic models need pydantic installed", "pydantic")
_NONE = type(None)
_SEQUENCES = (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set,
              collections.abc.Iterable, collections.abc.Collection, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _misfit(path: str, reason: str) -> ToolArgumentsError:
    """A JSON value does not fit the type: ``"<path>: <reason>"`` (``path`` as ``$.a[0].b``)."""
    return ToolArgumentsError(f"{path}: {reason}")


def type_name(tp: Any) -> str:
    return str(getattr(tp, "__name__", None) or repr(tp))


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def is_pydantic_model(tp: Any) -> bool:
    """True for a pydantic v2 model class, checked without importing pydantic."""
    if not isinstance(tp, type):
        return False
    return any(base.__module__.startswith("pydantic") and base.__name__ == "BaseModel" for base in tp.__mro__)


def is_schema_type(value: Any) -> bool:
    """True for the classes :func:`schema_for` can describe as an object (a ``response_format``)."""
    return isinstance(value, type) and (
        dataclasses.is_dataclass(value) or _is_typeddict(value) or is_pydantic_model(value)
    )


def _pydantic() -> Any:
    try:
        import pydantic  # type: ignore[import-not-found, import-untyped, unused-ignore]  # optional dependency
    except ImportError:
        raise UnsupportedTypeError(PYDANTIC_EXTRA) from None
    return pydantic


def _hints(tp: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(tp, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve
        raise UnsupportedTypeError(f"cannot read the annotations of {type_name(tp)}: {exc}") from None


def _strip_annotated(tp: Any) -> tuple[Any, str | None]:
    description = None
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        description = next((m for m in args[1:] if isinstance(m, str)), description)
        tp = args[0]
    return tp, description


def _strip_required(tp: Any) -> tuple[Any, bool | None]:
    """``Required[X]`` / ``NotRequired[X]`` → ``(X, True / False)``; any other type → ``(tp, None)``."""
    explicit = None
    while True:
        origin = typing.get_origin(tp)
        name = getattr(origin, "_name", None) or getattr(origin, "__name__", None)
        if name not in ("Required", "NotRequired"):
            return tp, explicit
        tp, explicit = typing.get_args(tp)[0], name == "Required"


def _typeddict_fields(tp: Any) -> tuple[dict[str, Any], set[str]]:
    """A TypedDict's field types and required names (``__required_keys__`` is wrong when the
    annotations are strings, as under ``from __future__ import annotations``)."""
    hints, required = {}, set()
    for name, hint in _hints(tp).items():
        hints[name], explicit = _strip_required(hint)
        if explicit is True or (explicit is None and name in tp.__required_keys__):
            required.add(name)
    return hints, required


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


class _Builder:
    """Walks types into schemas, collecting named types under ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}
        self.names: dict[Any, str] = {}

    def ref(self, tp: Any, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        name = self.names.get(tp)
        if name is None:
            base = type_name(tp)
            name, n = base, 2
            while name in self.defs:
                name, n = f"{base}{n}", n + 1
            self.names[tp] = name
            self.defs[name] = {}  # reserved while building, for recursive types
            self.defs[name] = make()
        return {"$ref": f"#/$defs/{name}"}

    def schema(self, tp: Any, where: str) -> dict[str, Any]:
        tp, description = _strip_annotated(tp)
        out = self._schema(tp, where)
        if description:
            out = {**out, "description": description}
        return out

    def _schema(self, tp: Any, where: str) -> dict[str, Any]:
        if tp is Any or tp is object:
            return {}
        if tp is None or tp is _NONE:
            return {"type": "null"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            values = list(args)
            kinds = {type(v) for v in values}
            out: dict[str, Any] = {"enum": values}
            simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
            if len(kinds) == 1 and next(iter(kinds)) in simple:
                out = {"type": simple[next(iter(kinds))], "enum": values}
            return out
        if _is_union(origin):
            options = [self.schema(a, where) for a in args]
            return {"anyOf": options}
        if origin in _SEQUENCES or tp in _SEQUENCES:
            if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
                return {"type": "array", "prefixItems": [self.schema(a, where) for a in args],
                        "minItems": len(args), "maxItems": len(args)}
            item = args[0] if args else Any
            return {"type": "array", "items": self.schema(item, f"{where}[]")}
        if origin in _MAPPINGS or tp in _MAPPINGS:
            key, value = args if len(args) == 2 else (str, Any)
            if key is not str:
                raise UnsupportedTypeError(f"{where}: JSON object keys are strings, not {type_name(key)}")
            return {"type": "object", "additionalProperties": self.schema(value, f"{where}{{}}")}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.ref(tp, lambda: _enum_schema(tp))
        if _is_typeddict(tp):
            return self.ref(tp, lambda: self._typeddict(tp))
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.ref(tp, lambda: self._dataclass(tp))
        if is_pydantic_model(tp):
            return self.ref(tp, lambda: self._pydantic(tp))
        raise UnsupportedTypeError(f"{where}: cannot describe {type_name(tp)} as JSON Schema")

    def _typeddict(self, tp: Any) -> dict[str, Any]:
        hints, required = _typeddict_fields(tp)
        props = {name: self.schema(hint, f"{type_name(tp)}.{name}") for name, hint in hints.items()}
        return _object(tp, props, [name for name in hints if name in required])

    def _dataclass(self, tp: Any) -> dict[str, Any]:
        hints = _hints(tp)
        props, required = {}, []
        for field in dataclasses.fields(tp):
            if not field.init:
                continue
            schema = self.schema(hints.get(field.name, Any), f"{type_name(tp)}.{field.name}")
            if field.default is not dataclasses.MISSING and _jsonable(field.default):
                schema = {**schema, "default": _plain(field.default)}
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                required.append(field.name)
            props[field.name] = schema
        return _object(tp, props, required)

    def _pydantic(self, tp: Any) -> dict[str, Any]:
        _pydantic()
        schema: dict[str, Any] = tp.model_json_schema(ref_template="#/$defs/{model}")
        defs = schema.pop("$defs", {})
        ref = schema.get("$ref")
        if isinstance(ref, str) and len(schema) == 1 and ref.rsplit("/", 1)[1] in defs:  # a recursive model
            schema = defs.pop(ref.rsplit("/", 1)[1])
        for name, sub in defs.items():
            if not self.defs.get(name):
                self.defs[name] = sub
        return schema


def _object(tp: Any, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "title": type_name(tp), "properties": props, "required": required,
                           "additionalProperties": False}
    doc = _own_doc(tp)
    if doc:
        out["description"] = doc
    return out


def _own_doc(tp: Any) -> str | None:
    doc = tp.__dict__.get("__doc__")
    if not doc or (dataclasses.is_dataclass(tp) and doc.startswith(f"{type_name(tp)}(")):
        return None  # the dataclass decorator's generated signature says nothing
    return inspect.cleandoc(doc).split("\n\n")[0].strip() or None


def _enum_schema(tp: type[enum.Enum]) -> dict[str, Any]:
    values = [m.value for m in tp]
    out: dict[str, Any] = {"title": tp.__name__, "enum": values}
    if all(isinstance(v, str) for v in values):
        out["type"] = "string"
    elif all(type(v) is int for v in values):
        out["type"] = "integer"
    return out


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, enum.Enum))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def schema_for(tp: Any, where: str = "$") -> dict[str, Any]:
    """The JSON Schema of ``tp``: the type's own schema at the root, named types in ``$defs``."""
    builder = _Builder()
    tp_plain, _ = _strip_annotated(tp)
    if is_schema_type(tp_plain):  # the root object is inlined, not a bare $ref
        root = builder.schema(tp, where)
        name = root["$ref"].rsplit("/", 1)[1]
        schema = dict(builder.defs.pop(name))
        if any(_refers(sub, name) for sub in builder.defs.values()) or _refers(schema, name):
            builder.defs[name] = dict(schema)  # recursive: keep the definition for its own refs
    else:
        schema = builder.schema(tp, where)
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


def _refers(node: Any, name: str) -> bool:
    if isinstance(node, Mapping):
        return node.get("$ref") == f"#/$defs/{name}" or any(_refers(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_refers(v, name) for v in node)
    return False


def strict_schema(schema: Any) -> Any:
    """A copy acceptable to strict mode: every object lists all its properties in ``required``
    and forbids others; a property that was optional becomes nullable; ``$defs`` are kept."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items()}
    props = out.get("properties")
    if isinstance(props, dict):
        required = set(schema.get("required", ()))
        for name, sub in list(props.items()):
            if name not in required and not _nullable(sub):
                props[name] = _with_null(sub)
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def _nullable(schema: Any) -> bool:
    if not isinstance(schema, Mapping) or not schema:
        return True  # {} accepts null already
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_nullable(s) and s != {} for s in schema.get("anyOf", ())) or None in schema.get("enum", [0])


def _with_null(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        return {"anyOf": [schema, {"type": "null"}]}
    extra = {k: schema[k] for k in ("description", "title", "default") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in extra}
    if "anyOf" in inner and len(inner) == 1:
        return {"anyOf": [*inner["anyOf"], {"type": "null"}], **extra}
    return {"anyOf": [inner, {"type": "null"}], **extra}


# --- loading JSON values into types --------------------------------------------------------


def load(tp: Any, value: Any, path: str = "$") -> Any:
    """``value`` (decoded JSON) as an instance of ``tp``; raises :class:`ToolArgumentsError`."""
    tp, _ = _strip_annotated(tp)
    tp, _ = _strip_required(tp)
    if tp is Any or tp is object:
        return value
    if tp is None or tp is _NONE:
        if value is not None:
            raise _misfit(path, f"expected null, got {_kind(value)}")
        return None
    if tp is bool:
        if type(value) is not bool:
            raise _misfit(path, f"expected a boolean, got {_kind(value)}")
        return value
    if tp is int:
        if type(value) is int:
            return value
        if type(value) is float and value.is_integer():
            return int(value)
        raise _misfit(path, f"expected an integer, got {_kind(value)}")
    if tp is float:
        if type(value) in (int, float):
            return float(value)
        raise _misfit(path, f"expected a number, got {_kind(value)}")
    if tp is str:
        if type(value) is not str:
            raise _misfit(path, f"expected a string, got {_kind(value)}")
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise _misfit(path, f"expected one of {list(args)!r}, got {value!r}")
        return value
    if _is_union(origin):
        if value is None and _NONE in args:
            return None
        problems = []
        for option in args:
            try:
                return load(option, value, path)
            except ToolArgumentsError as exc:
                text = exc.message  # the reason, with the path inside this value when the misfit is deeper
                problems.append(text[len(path) + 2:] if text.startswith(f"{path}: ") else text)
        raise _misfit(path, " / ".join(problems) if len(problems) <= 3 else f"no type of {tp} fits")
    if origin in _SEQUENCES or tp in _SEQUENCES:
        if type(value) is not list:
            raise _misfit(path, f"expected an array, got {_kind(value)}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _misfit(path, f"expected {len(args)} items, got {len(value)}")
            return tuple(load(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [load(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin in (set, frozenset, collections.abc.Set):
            return (frozenset if origin is frozenset else set)(items)
        return tuple(items) if origin is tuple else items
    if origin in _MAPPINGS or tp in _MAPPINGS:
        if type(value) is not dict:
            raise _misfit(path, f"expected an object, got {_kind(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: load(item, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _misfit(path, f"expected one of {[m.value for m in tp]!r}, got {value!r}") from None
    if _is_typeddict(tp):
        return _load_fields(tp, value, path, *_typeddict_fields(tp), dict)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        required = {n for n, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        return _load_fields(tp, value, path, {n: hints.get(n, Any) for n in fields}, required,
                            lambda kw: tp(**kw))
    if is_pydantic_model(tp):
        return _load_pydantic(tp, value, path)
    raise _misfit(path, f"cannot load into {type_name(tp)}")


def _load_fields(tp: Any, value: Any, path: str, hints: Mapping[str, Any], required: set[str],
                 make: Callable[[dict[str, Any]], Any]) -> Any:
    if type(value) is not dict:
        raise _misfit(path, f"expected an object ({type_name(tp)}), got {_kind(value)}")
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise _misfit(path, f"unexpected field(s) {unknown} for {type_name(tp)}")
    out: dict[str, Any] = {}
    for name, hint in hints.items():
        if name not in value:
            if name in required:
                raise _misfit(path, f"missing field {name!r} of {type_name(tp)}")
            continue
        if value[name] is None and name not in required and not _accepts_none(hint):
            continue  # strict mode sends null for a field left out: keep its default
        out[name] = load(hint, value[name], f"{path}.{name}")
    return make(out)


def _accepts_none(tp: Any) -> bool:
    tp = _strip_required(_strip_annotated(tp)[0])[0]
    if tp is Any or tp is None or tp is _NONE:
        return True
    return _is_union(typing.get_origin(tp)) and _NONE in typing.get_args(tp)


def _load_pydantic(tp: Any, value: Any, path: str) -> Any:
    pydantic = _pydantic()
    try:
        return tp.model_validate(_prune_nulls(tp, value))
    except pydantic.ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise _misfit(path, details) from None


def _prune_nulls(tp: Any, value: Any) -> Any:
    """Drop the nulls strict mode sent for optional fields of pydantic models whose type refuses
    null, so their defaults apply (recursing through nested models, lists and dicts)."""
    tp = _strip_required(_strip_annotated(tp)[0])[0]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_pydantic_model(tp) and type(value) is dict:
        out = {}
        fields = tp.model_fields
        for key, item in value.items():
            field = fields.get(key) or next((f for f in fields.values() if f.alias == key), None)
            if field is None:
                out[key] = item
                continue
            if item is None and not field.is_required() and not _accepts_none(field.annotation):
                continue
            out[key] = _prune_nulls(field.annotation, item)
        return out
    if _is_union(origin):
        models = [a for a in args if a is not _NONE]
        return _prune_nulls(models[0], value) if len(models) == 1 else value
    if (origin in _SEQUENCES) and type(value) is list and args:
        return [_prune_nulls(args[0], v) for v in value]
    if origin in _MAPPINGS and type(value) is dict and len(args) == 2:
        return {k: _prune_nulls(args[1], v) for k, v in value.items()}
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)

