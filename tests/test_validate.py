"""Validation: the compiled fast path agrees with jsonschema, and reports are complete."""

from __future__ import annotations

import random
from typing import Any

import pytest
import responses
from jsonschema import Draft202012Validator

from mistral_lite import Client, ValidationError
from mistral_lite._table import load_spec
from mistral_lite._core.validate import _jsonschema_validator, validator_for

SPEC = load_spec()


def _resolve(schema: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
    while "$ref" in schema:
        file, _, pointer = schema["$ref"].partition("#")
        current = file or current
        target: Any = SPEC.schemas[current]
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        schema = target
    return schema, current


def sample(schema: Any, current: str, rng: random.Random, depth: int = 0) -> Any:
    """A value that should satisfy ``schema`` (the test checks it with jsonschema)."""
    schema, current = _resolve(schema, current)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema and schema.get("type") != "object":
            return sample(rng.choice(schema[key]), current, rng, depth + 1)
    if schema.get("type") == "object" and isinstance(schema.get("anyOf"), list):
        # an object that must match one of several shapes (a row's body variants): fill one of them
        variant = rng.choice(schema["anyOf"])
        merged = {**schema, "properties": {**schema.get("properties", {}), **variant.get("properties", {})},
                  "required": [*schema.get("required", ()), *variant.get("required", ())]}
        return sample({k: v for k, v in merged.items() if k != "anyOf"}, current, rng, depth)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = rng.choice([k for k in kind if k != "null"] or ["null"])
    if kind == "object":
        out = {}
        props = schema.get("properties", {})
        for name, sub in props.items():
            if name in schema.get("required", ()) or (depth < 3 and rng.random() < 0.5):
                out[name] = sample(sub, current, rng, depth + 1)
        return out
    if kind == "array":
        n = max(schema.get("minItems", 1), 1)
        items = schema.get("prefixItems") or [schema.get("items", {"type": "string"})] * n
        return [sample(s, current, rng, depth + 1) for s in items][: schema.get("maxItems", 10)]
    if kind == "string":
        if schema.get("x-file"):
            return "x"
        lo, hi = schema.get("minLength", 1), schema.get("maxLength", 8)
        return "a" * max(lo, min(hi, 3))
    if kind == "integer":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return int(max(lo, min(schema.get("maximum", 3), 3)))
    if kind == "number":
        lo = schema.get("minimum", 0.0)
        hi = schema.get("maximum", 1.0)
        return (lo + hi) / 2 if hi >= lo else lo
    if kind == "boolean":
        return rng.random() < 0.5
    return None


def mutations(value: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{**value, "not_an_option": 1}]
    for name in schema.get("required", ()):
        out.append({k: v for k, v in value.items() if k != name})
    for name in value:
        for wrong in (object.__class__, [], {}, "s", 10**3, -5, 1.5, True, None):
            if wrong is object.__class__:
                continue
            out.append({**value, name: wrong})
    return out


@pytest.mark.parametrize("name", sorted(SPEC.endpoints))
def test_fast_path_agrees_with_jsonschema(name: str) -> None:
    ep = SPEC.endpoints[name]
    fast = validator_for(SPEC, ep)
    assert fast is not None
    judge = _jsonschema_validator(SPEC, ep.schema_name)
    rng = random.Random(name)
    checked = 0
    for _ in range(8):
        value = sample(ep.schema, ep.schema_name, rng)
        for candidate in [value, *mutations(value, ep.schema)]:
            assert fast(candidate) == judge.is_valid(candidate), (name, candidate)
            checked += 1
    assert checked > 8


def test_generated_samples_are_mostly_valid() -> None:
    # guards the agreement test against only ever comparing invalid inputs
    valid = 0
    for name, ep in SPEC.endpoints.items():
        value = sample(ep.schema, ep.schema_name, random.Random(name))
        valid += Draft202012Validator(ep.schema, registry=_jsonschema_validator(SPEC, ep.schema_name)._registry
                                      ).is_valid(value)
    assert valid >= 40


# -- reports ------------------------------------------------------------------------------------
def problems(client: Client, op: str, **options: Any) -> dict[str, str]:
    with responses.RequestsMock(assert_all_requests_are_fired=False), pytest.raises(ValidationError) as info:
        client.call(op, **options)
    assert isinstance(info.value, ValueError)
    return dict(info.value.errors)


USER = {"role": "user", "content": "hi"}


def test_all_problems_reported_at_once_before_io(client: Client) -> None:
    errs = problems(client, "chat", model=3, messages=[USER], temperature=9, tool_choice="sometimes",
                    stream_options=True)
    assert set(errs) == {"model", "temperature", "tool_choice", "stream_options"}
    assert errs["model"] == "expected string, got int 3"
    assert "1.5" in errs["temperature"]
    assert errs["stream_options"].startswith("unknown option; did you mean `stream`? valid options: ")
    assert "messages" in errs["stream_options"]


def test_missing_required_options(client: Client) -> None:
    assert problems(client, "chat") == {"model": "required option is missing",
                                        "messages": "required option is missing"}
    assert problems(client, "get_file") == {"file_id": "required option is missing"}


@pytest.mark.parametrize(
    ("options", "path", "fragment"),
    [
        ({"messages": []}, "messages", "should be non-empty"),
        ({"messages": [{"content": "x"}]}, "messages[0]", ""),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0]", ""),
        ({"messages": [USER, {"role": "wizard", "content": "x"}]}, "messages[1]", ""),
        ({"messages": [USER], "tools": [{"type": "function"}]}, "tools[0]", ""),
        ({"messages": [USER], "tools": "get_weather"}, "tools", "expected array"),
        ({"messages": [USER], "tool_choice": {"type": "function"}}, "tool_choice", ""),
        ({"messages": [USER], "response_format": {"type": "yaml"}}, "response_format.type", "'json_object'"),
        ({"messages": [USER], "response_format": {"type": "json_object", "strictness": 1}}, "response_format", ""),
        ({"messages": [USER], "stop": 7}, "stop", ""),
        ({"messages": [USER], "top_p": 0}, "top_p", ""),
        ({"messages": [USER], "n": 0}, "n", "minimum"),
        ({"messages": [USER], "presence_penalty": -3}, "presence_penalty", "minimum"),
    ],
)
def test_shared_message_tool_format_definitions(client: Client, options: dict[str, Any], path: str,
                                                 fragment: str) -> None:
    errs = problems(client, "chat", model="m", **options)
    hits = [p for p in errs if p == path or p.startswith(path + ".") or p.startswith(path + "[")]
    assert hits, errs
    assert fragment in " ".join(errs[p] for p in hits)


@pytest.mark.parametrize(
    ("op", "options", "path"),
    [
        ("create_agent", {"model": "m", "name": "a", "completion_args": {"temperature": 5}},
         "completion_args.temperature"),
        ("create_agent", {"model": "m", "name": "a", "completion_args": {"nope": 1}}, "completion_args.nope"),
        ("create_agent", {"model": "m", "name": "a", "temperature": 0.2}, "temperature"),
        ("create_agent", {"model": "m", "name": "a", "tools": [{"type": "teleport"}]}, "tools[0]"),
        ("create_conversation", {"inputs": 5}, "inputs"),
        ("ocr", {"model": "mistral-ocr-latest", "document": {"type": "document_url"}}, "document"),
        ("embed", {"input": ["a"], "output_dtype": "float64"}, "output_dtype"),
        ("embed", {"input": 12}, "input"),
        ("create_fine_tuning_job", {"model": "m", "hyperparameters": {}, "suffix": "x" * 19}, "suffix"),
        ("create_batch_job", {"endpoint": "/v1/nowhere"}, "endpoint"),
        ("create_batch_job", {"endpoint": "/v1/embeddings", "timeout_hours": 500}, "timeout_hours"),
        ("list_files", {"sample_type": ["poem"]}, "sample_type[0]"),
        ("list_batch_jobs", {"status": "RUNNING"}, "status"),
        ("list_agents", {"sources": ["somewhere"]}, "sources[0]"),
        ("upload_file", {"file": b"x", "purpose": "training"}, "purpose"),
        ("get_file_url", {"file_id": "f", "expiry": "soon"}, "expiry"),
    ],
)
def test_definitions_of_other_groups(client: Client, op: str, options: dict[str, Any], path: str) -> None:
    errs = problems(client, op, **options)
    assert any(p == path or p.startswith(path) for p in errs), errs


def test_fast_path_never_imports_jsonschema_for_valid_input() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mistral_lite\n"
        "from mistral_lite._core.validate import validate\n"
        "from mistral_lite._table import load_spec\n"
        "ep = load_spec().endpoints['chat']\n"
        "validate(ep, {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.3})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
