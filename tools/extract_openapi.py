"""Write a compact extract of Mistral's OpenAPI spec for the operations of the endpoint table.

Run by hand from the repository root when the spec or the table changes::

    python tools/extract_openapi.py ../shared/mistral-openapi/openapi.yaml tests/data/openapi_extract.json

The extract (``tests/data/openapi_extract.json``) is what ``tests/test_seed_conformance.py``
checks recorded requests against, so the tests never need the spec itself. For every row of
``mistral_lite/endpoints.toml`` (keyed by the table's operation name, matched to the spec by
method + path) it keeps:

* ``operationId``, ``method``, ``path``;
* ``parameters``: ``name``, ``in``, ``required``, ``schema`` (and ``content_type`` when the spec
  describes the parameter with ``content`` instead of ``schema``, e.g. JSON-encoded ``metadata``);
* ``request_body``: ``required``, ``content_type`` and ``schema`` (or null when the operation has
  no body); ``stream_request_body`` the same for the spec's ``<path>#stream`` variant, if any;
* ``required``: ``{"parameters": [...], "body": [...]}``, the spec's required lists.

Every ``$ref: #/components/schemas/X`` becomes ``$ref: #/$defs/X`` and the top-level ``$defs``
map holds each component reachable from these operations (and nothing else). Schemas are
converted from OpenAPI 3.1 to plain JSON Schema 2020-12 that ``jsonschema.Draft202012Validator``
accepts: ``discriminator``, ``x-*``, ``example``/``examples``, ``externalDocs``, ``xml``,
``description``, ``title`` and ``deprecated`` are dropped (they never constrain a value), and
OpenAPI 3.0 ``nullable: true`` becomes a ``"null"`` alternative. Validating a body is then::

    Draft202012Validator({"$defs": extract["$defs"], **op["request_body"]["schema"]}).validate(body)

Rows of the table's ``# --- Beyond the seed ---`` section (operations of the newer public spec)
are left out by default, so the seed extract above does not change when rows are added there.
``--rows extra`` extracts only those rows, from the newest public spec::

    python tools/extract_openapi.py --rows extra ../shared/mistral-openapi/openapi-public-doc.yaml \
        tests/data/openapi_public_extract.json

(``tests/test_extra_operations.py`` checks against that file); ``--rows all`` takes every row.

Needs PyYAML. The output is compact JSON (sorted keys, so diffs stay readable line-free).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mistral_lite.spec import SpecFileError  # noqa: E402
from mistral_lite.spec_responses import to_json_schema  # noqa: E402

TABLE = ROOT / "mistral_lite" / "endpoints.toml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
COMPONENT_PREFIX = "#/components/schemas/"
#: The comment that opens the table's section of operations beyond the seed.
EXTRA_MARKER = "# --- Beyond the seed ---"



def convert(schema: Any, refs: set[str]) -> Any:
    """OpenAPI 3.1 schema -> JSON Schema 2020-12, collecting referenced component names."""
    try:
        return to_json_schema(schema, refs)
    except SpecFileError as exc:
        raise SystemExit(str(exc)) from None


def resolve(spec: dict[str, Any], schema: Any) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 50:
        name = schema["$ref"][len(COMPONENT_PREFIX) :]
        schema, seen = spec["components"]["schemas"][name], seen + 1
    return schema


def body_required(spec: dict[str, Any], schema: Any) -> list[str]:
    """The body's required properties (through $ref and allOf)."""
    schema = resolve(spec, schema)
    if not isinstance(schema, dict):
        return []
    names = list(schema.get("required", []))
    for part in schema.get("allOf", []):
        names += [n for n in body_required(spec, part) if n not in names]
    return names


def request_body(spec: dict[str, Any], op: dict[str, Any], refs: set[str]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if not body:
        return None
    if "$ref" in body:
        raise SystemExit("requestBody $ref is not supported")
    content = body.get("content", {})
    if len(content) != 1:
        raise SystemExit(f"{op.get('operationId')}: expected one request content type, got {list(content)}")
    ((ctype, media),) = content.items()
    raw = media.get("schema", {})
    return {
        "required": bool(body.get("required", False)),
        "content_type": ctype,
        "schema": convert(raw, refs),
        "body_required": body_required(spec, raw),
    }


def parameters(path_item: dict[str, Any], op: dict[str, Any], refs: set[str]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for param in [*path_item.get("parameters", []), *op.get("parameters", [])]:
        if "$ref" in param:
            raise SystemExit("parameter $ref is not supported")
        merged[(param["name"], param["in"])] = param
    out = []
    for param in merged.values():
        entry: dict[str, Any] = {
            "name": param["name"],
            "in": param["in"],
            "required": bool(param.get("required", param["in"] == "path")),
        }
        if "schema" in param:
            entry["schema"] = convert(param["schema"], refs)
        elif "content" in param:
            ((ctype, media),) = param["content"].items()
            entry["content_type"] = ctype
            entry["schema"] = convert(media.get("schema", {}), refs)
        else:
            entry["schema"] = {}
        for key in ("style", "explode"):
            if key in param:
                entry[key] = param[key]
        out.append(entry)
    return out


def close_defs(spec: dict[str, Any], refs: set[str]) -> dict[str, Any]:
    components = spec["components"]["schemas"]
    defs: dict[str, Any] = {}
    todo = sorted(refs)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        found: set[str] = set()
        defs[name] = convert(components[name], found)
        todo.extend(sorted(found - set(defs)))
    return dict(sorted(defs.items()))


def extract(spec: dict[str, Any], table: dict[str, Any], source: str, digest: str) -> dict[str, Any]:
    index: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                index[(method.upper(), path)] = (path, item, item[method])
    refs: set[str] = set()
    operations: dict[str, Any] = {}
    missing = []
    for name, row in table["endpoints"].items():
        method, path = row["method"].upper(), row["path"]
        hit = index.get((method, path))
        if hit is None:
            missing.append(f"{name}: {method} {path}")
            continue
        _, item, op = hit
        params = parameters(item, op, refs)
        body = request_body(spec, op, refs)
        entry: dict[str, Any] = {
            "operationId": op.get("operationId"),
            "method": method,
            "path": path,
            "parameters": params,
            "request_body": body and {k: v for k, v in body.items() if k != "body_required"},
            "required": {
                "parameters": [p["name"] for p in params if p["required"]],
                "body": body["body_required"] if body else [],
            },
        }
        stream = index.get((method, path + "#stream"))
        if stream is not None:
            sbody = request_body(spec, stream[2], refs)
            entry["stream_operationId"] = stream[2].get("operationId")
            entry["stream_request_body"] = sbody and {k: v for k, v in sbody.items() if k != "body_required"}
        operations[name] = entry
    if missing:
        raise SystemExit("table rows without a spec operation:\n  " + "\n  ".join(missing))
    return {
        "source": {
            "file": source,
            "sha256": digest,
            "openapi": spec.get("openapi"),
            "info_version": spec.get("info", {}).get("version"),
        },
        "operations": operations,
        "$defs": close_defs(spec, refs),
    }


def select_rows(table: dict[str, Any], text: str, rows: str) -> dict[str, Any]:
    """The table with only the rows asked for: ``seed`` (before the marker), ``extra`` or ``all``."""
    if rows == "all":
        return table
    import re

    _, marker, after = text.partition(EXTRA_MARKER)
    extra = set(re.findall(r"(?m)^\[endpoints\.([A-Za-z_][A-Za-z0-9_]*)\]", after)) if marker else set()
    keep = {
        name: row for name, row in table["endpoints"].items() if (name in extra) == (rows == "extra")
    }
    return {**table, "endpoints": keep}


def load_yaml(raw: bytes) -> Any:
    """YAML with JSON-style floats: PyYAML (YAML 1.1) reads ``1e-08`` as a string otherwise."""
    import re

    import yaml  # a dev dependency only

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
        list("-+0123456789"),
    )
    return yaml.load(raw, Loader=Loader)  # a SafeLoader subclass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="the OpenAPI YAML (openapi.yaml)")
    parser.add_argument("output", type=Path, help="where to write the JSON extract")
    parser.add_argument("--table", type=Path, default=TABLE, help="the endpoint table (endpoints.toml)")
    parser.add_argument(
        "--rows",
        choices=("seed", "extra", "all"),
        default="seed",
        help=f"which rows: those before {EXTRA_MARKER!r} (default), those after it, or all",
    )
    args = parser.parse_args(argv)
    raw = args.spec.read_bytes()
    spec = load_yaml(raw)
    text = args.table.read_text(encoding="utf-8")
    table = select_rows(tomllib.loads(text), text, args.rows)
    data = extract(spec, table, args.spec.name, hashlib.sha256(raw).hexdigest())
    text = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    print(
        f"{args.output}: {len(data['operations'])} operations, {len(data['$defs'])} components, "
        f"{len(text.encode()) / 1024:.1f} KiB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
