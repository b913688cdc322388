"""The fake's response checks: a schema the compiled checks cannot read is judged by jsonschema,
through the core's one registry per table (``_core.validate.jsonschema_check``)."""

from __future__ import annotations

from mistral_lite._table import load_spec
from mistral_lite.fake.shapes import Shapes


def test_the_fake_checks_a_schema_the_compiler_cannot_read_with_jsonschema() -> None:
    spec = load_spec()
    shapes = Shapes(spec)
    schema = {"type": "object", "dependentRequired": {"a": ["b"]}}  # a keyword the compiler does not know
    assert [shapes.check(schema, "", v) for v in ({"a": 1}, {"a": 1, "b": 2}, {}, [])] == [False, True, True, False]
    assert spec.memo["registry"] is not None
