"""Response shapes of every row: synthesized bodies, events and checks, from ``_responses.json``.

``schemas/_responses.json`` (generated from the spec by the maintainer tooling) gives each
operation its success ``status``, ``media`` type, body ``schema`` and stream ``events`` schema,
with the spec's component schemas under ``$defs``. :class:`Shapes` turns them into values:

* :meth:`Shapes.template` is a full, spec-valid instance of a schema (optional fields
  included), synthesized once by :class:`~.generate.Sampler` (examples first) and cached;
* :meth:`Shapes.fit` lays known values (a stored resource, the request's path parameters)
  over such a template, keeping only those that are valid for their property's schema, so
  the result stays valid;
* :meth:`Shapes.check` answers "is this value valid?" with validators compiled once per
  schema (the client's fast compiler; ``jsonschema`` for what it does not know).

One :class:`Shapes` is shared per loaded table (``Shapes.of(spec)``); nothing here speaks HTTP.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from mistral_lite._core.validate import Check, _Compiler, jsonschema_check
from mistral_lite._table import Spec
from mistral_lite.fake.generate import Sampler

__all__ = ["RESPONSES", "Shapes", "copy_json"]

#: The file under ``schemas/`` holding the response schemas of every row.
RESPONSES = "_responses.json"


class _ResponseCompiler(_Compiler):
    """The client's fast schema compiler, plus what response schemas use: OpenAPI's
    ``discriminator`` and ``example`` (annotations) and ``propertyNames``."""

    def k_discriminator(self, arg: Any, schema: Any, current: str) -> Check:
        return lambda v: True

    k_example = k_discriminator

    def k_propertyNames(self, arg: Any, schema: Any, current: str) -> Check:
        check = self.compile(arg, current)
        return lambda v: type(v) is not dict or all(check(key) for key in v)

    def ref(self, ref: str, current: str) -> Check:
        """As the base compiler, but a target it cannot compile leaves no half-built entry."""
        before = set(self.refs)
        try:
            return super().ref(ref, current)
        except NotImplementedError:  # a keyword the compiler lacks
            for key in set(self.refs) - before:
                del self.refs[key]
            raise


class Shapes:
    """Response schemas of one table, with cached templates and compiled checks."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.doc: Mapping[str, Any] = spec.schemas.get(RESPONSES, {})
        self.operations: Mapping[str, Mapping[str, Any]] = self.doc.get("operations", {})
        self.sampler = Sampler(spec.schemas, self.check)
        self._compiler = _ResponseCompiler(spec.schemas)
        self._checks: dict[tuple[int, str], tuple[Any, Check]] = {}
        self._templates: dict[str, Any] = {}
        self._objects: dict[int, tuple[Any, Mapping[str, Any] | None]] = {}
        self._lock = threading.RLock()

    @classmethod
    def of(cls, spec: Spec) -> Shapes:
        """The shapes of ``spec`` (built once per loaded table)."""
        shapes = spec.memo.get("fake_shapes")
        if shapes is None:
            shapes = spec.memo.setdefault("fake_shapes", cls(spec))
        return shapes  # type: ignore[no-any-return]

    def entry(self, operation: str) -> Mapping[str, Any] | None:
        """The operation's ``{status, media, schema, events}`` (None when the file lacks it)."""
        return self.operations.get(operation)

    # --- checks -------------------------------------------------------------------------------

    def check(self, schema: Any, base: str, value: Any) -> bool:
        """Whether ``value`` is valid for ``schema`` (whose ``$ref``s are read in file ``base``)."""
        key = (id(schema), base)
        found = self._checks.get(key)
        if found is None or found[0] is not schema:  # the schema is kept, so its id stays its own
            with self._lock:
                try:
                    fn = self._compiler.compile(schema, base)
                except (NotImplementedError, KeyError, re.error):
                    fn = self._jsonschema(schema, base)
                found = self._checks[key] = (schema, fn)
        fn = found[1]
        try:
            return fn(value)
        except (TypeError, ValueError):  # a value no schema check expects (bytes, tuples)
            return False

    def _jsonschema(self, schema: Any, base: str) -> Check:
        root = self.sampler.localise(schema, base, "") if isinstance(schema, Mapping) else schema
        return jsonschema_check(self.spec, root)

    # --- values -------------------------------------------------------------------------------

    def template(self, schema: Any, key: str) -> Any:
        """A full instance of ``schema`` (read in ``_responses.json``), cached under ``key``;
        a fresh deep copy on every call."""
        if schema is None:  # a JSON body the spec does not describe
            return {}
        try:
            value = self._templates[key]
        except KeyError:
            with self._lock:
                value = self._templates.setdefault(key, self.sampler.sample(schema, RESPONSES, full=True))
        return copy_json(value)

    def body(self, operation: str, part: str = "schema") -> Any:
        """A template of the operation's response body (``part="events"``: one stream event)."""
        entry = self.entry(operation) or {}
        return self.template(entry.get(part), f"{operation}:{part}")

    def object_schema(self, schema: Any, value: Any, base: str = RESPONSES) -> Mapping[str, Any] | None:
        """The object schema (with ``properties``) that ``value`` was built from: ``$ref`` and
        ``allOf`` followed, the first ``oneOf``/``anyOf`` branch ``value`` is valid for taken
        (remembered per schema when no branch had to be chosen)."""
        known = self._objects.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        start, chose = schema, False
        schema, base = self.sampler.deref(schema, base)
        found: Mapping[str, Any] | None = None
        for _ in range(8):
            if not isinstance(schema, Mapping):
                break
            branches = schema.get("oneOf") or schema.get("anyOf")
            if not branches:
                found = schema if "properties" in schema else None
                break
            chose = True
            for branch in branches:
                if self.check(branch, base, value):
                    schema, base = self.sampler.deref(branch, base)
                    break
            else:
                break
        if not chose and isinstance(start, Mapping):
            self._objects[id(start)] = (start, found)
        return found

    def properties(self, schema: Any, value: Any) -> Mapping[str, Any]:
        """The ``properties`` of the object schema ``value`` was built from (empty if none)."""
        found = self.object_schema(schema, value)
        props: Mapping[str, Any] = found.get("properties", {}) if found else {}
        return props

    def fit(self, schema: Any, template: Any, values: Mapping[str, Any]) -> Any:
        """``template`` with each of ``values`` that is valid for its property's schema laid over."""
        if not isinstance(template, dict) or not values:
            return template
        return self.fit_props(self.properties(schema, template), template, values)

    def fit_props(self, props: Mapping[str, Any], template: Any, values: Mapping[str, Any]) -> Any:
        """:meth:`fit`, given the ``properties`` of ``template``'s object schema."""
        if not isinstance(template, dict):
            return template
        for name, value in values.items():
            sub = props.get(name)
            if sub is not None and self.check(sub, RESPONSES, value):
                template[name] = value
        return template

    def options(self, operation: str) -> dict[str, Any]:
        """Deterministic options valid for ``operation``'s option schema: its required options
        (a file option is a ``(name, bytes)`` tuple), as a test or a bench would send them."""
        ep = self.spec.endpoints[operation]
        value = self.sampler.sample(ep.schema, ep.schema_name, name=operation)
        return dict(value) if isinstance(value, Mapping) else {}


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (several times faster than ``copy.deepcopy``)."""
    if type(value) is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if type(value) is list:
        return [copy_json(item) for item in value]
    return value
