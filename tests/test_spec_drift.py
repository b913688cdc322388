r"""Tests of the spec-drift tool (``python -m mistral_lite.spec``).

``test_table_matches_recorded_drift`` compares the table with ``tests/data/openapi_compact.json``
(a compact extract of Mistral's newest public spec) and expects exactly the report recorded in
``tests/data/spec_drift_expected.txt``. When the table changes (or the spec is updated),
regenerate both files from the repository root and review the differences::

    python -m mistral_lite.spec extract ../shared/mistral-openapi/openapi-public-doc.yaml \
        -o tests/data/openapi_compact.json
    python -m mistral_lite.spec diff tests/data/openapi_compact.json --no-allowlist > tests/data/spec_drift_expected.txt
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mistral_lite._table import Spec, load_spec
from mistral_lite._dev.spec import REDUCED_MARK, SpecFileError, diff_spec, dump_extract, extract_spec, load_openapi, main, render_text

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
COMPACT = DATA / "openapi_compact.json"
EXPECTED = DATA / "spec_drift_expected.txt"
REGENERATE = (
    "python -m mistral_lite.spec extract ../shared/mistral-openapi/openapi-public-doc.yaml "
    "-o tests/data/openapi_compact.json\n"
    "    python -m mistral_lite.spec diff tests/data/openapi_compact.json --no-allowlist "
    "> tests/data/spec_drift_expected.txt"
)


# --- (a) the real table against the recorded extract ----------------------------------------


def test_table_matches_recorded_drift() -> None:
    report = render_text(diff_spec(load_openapi(COMPACT), load_spec()))
    expected = EXPECTED.read_text(encoding="utf-8")
    assert report == expected, (
        "The drift between the endpoint table and tests/data/openapi_compact.json is not the recorded one.\n"
        "If the table (or the spec) changed on purpose, regenerate both files from the repository root:\n"
        f"    {REGENERATE}\n"
        "then review the differences in tests/data/spec_drift_expected.txt (a new difference may be a table bug)."
    )


def test_compact_extract_is_small_and_shaped_like_openapi() -> None:
    assert COMPACT.stat().st_size < 300_000
    doc = json.loads(COMPACT.read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.")
    assert doc["paths"] and doc["components"]["schemas"]
    assert doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]


# --- (b) the comparison on a tiny table and tiny specs --------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings and lists of strings are valid TOML as JSON


def make_table(root: Path, rows: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> Spec:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, row in rows.items():
        lines.append(f"[endpoints.{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in row.items()]
        lines.append("")
    (root / "endpoints.toml").write_text("\n".join(lines), encoding="utf-8")
    (root / "schemas").mkdir(exist_ok=True)
    for file, schema in schemas.items():
        (root / "schemas" / file).write_text(json.dumps(schema), encoding="utf-8")
    return load_spec(str(root))


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


TABLE_ROWS: dict[str, dict[str, Any]] = {
    "create_thing": {"method": "POST", "path": "/v1/things", "summary": "Create a thing.", "client": ["to"]},
    "get_thing": {"method": "GET", "path": "/v1/things/{thing_id}", "summary": "Get a thing.", "query": ["verbose"]},
    "upload": {"method": "POST", "path": "/v1/uploads", "summary": "Upload.", "body": "multipart"},
    "gone": {"method": "DELETE", "path": "/v1/gone", "summary": "Only in the table."},
}
TABLE_SCHEMAS: dict[str, Any] = {
    "_common.json": {"$defs": {"color": {"$ref": "#/$defs/color_enum"}, "color_enum": {"enum": ["red", "green"]}}},
    "create_thing": None,  # filled below
    "get_thing.json": obj({"thing_id": {"type": "string"}, "verbose": {"type": "boolean"}}, ["thing_id"]),
    "upload.json": obj({"file": {"x-file": True}, "purpose": {"type": "string"}}, ["file"]),
    "gone.json": obj({}),
}
TABLE_SCHEMAS["create_thing.json"] = obj(
    {
        "name": {"type": "string", "maxLength": 10},
        "color": {"anyOf": [{"$ref": "_common.json#/$defs/color"}, {"type": "null"}]},
        "size": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
        "count": {"type": "integer"},
        "mode": {"type": ["string", "null"], "enum": ["a", "b", None]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
        "flag": {"type": "boolean"},
        "stream": {"type": "boolean", "default": False},
        "extra": {"type": "string"},
        "to": {"type": "string"},
    },
    ["name"],
)
del TABLE_SCHEMAS["create_thing"]


def spec_doc() -> dict[str, Any]:
    """A spec that differs from the tiny table in every way the tool reports."""
    create = {
        "allOf": [
            {"$ref": "#/components/schemas/ThingBase"},
            {"type": "object", "properties": {"stream": {"type": "boolean", "enum": [False]}}},
        ]
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tiny", "version": "1"},
        "paths": {
            "/v1/things": {
                "post": {
                    "operationId": "create_thing_op",
                    "description": "dropped by extract",
                    "parameters": [{"name": "flag", "in": "query", "schema": {"type": "boolean"}}],
                    "requestBody": {"content": {"application/json": {"schema": create}}, "required": True},
                    "responses": {"200": {"description": "OK"}},
                }
            },
            "/v1/things#stream": {
                "post": {
                    "operationId": "stream_thing_op",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingStream"}}}
                    },
                }
            },
            "/v1/things/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {
                    "operationId": "get_thing_op",
                    "parameters": [{"$ref": "#/components/parameters/Verbose"}],
                },
            },
            "/v1/uploads": {
                "post": {
                    "operationId": "upload_op",
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": obj(
                                    {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string"}},
                                    ["file"],
                                )
                            }
                        }
                    },
                }
            },
            "/v1/other": {"get": {"operationId": "other_op"}},
        },
        "components": {
            "parameters": {"Verbose": {"name": "verbose", "in": "query", "schema": {"type": "string"}}},
            "schemas": {
                "ThingBase": obj(
                    {
                        "name": {"type": "string", "maxLength": 20, "description": "The name."},
                        "color": {"anyOf": [{"$ref": "#/components/schemas/Color"}, {"type": "null"}]},
                        "size": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 10}, {"type": "null"}]},
                        "count": {"type": "number"},
                        "mode": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
                        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
                        "new_field": {"type": "string", "deprecated": True},
                        "description": {"type": "string", "description": "a property named description"},
                    },
                    ["name", "size"],
                ),
                "ThingStream": {
                    "allOf": [
                        {"$ref": "#/components/schemas/ThingBase"},
                        {"type": "object", "properties": {"stream": {"type": "boolean", "enum": [True]}}},
                    ]
                },
                "Color": {"type": "string", "enum": ["red", "green", "blue"], "title": "Color"},
                "Tag": {"type": "string", "enum": ["x", "y", "z"]},
                "Unused": {"type": "string"},
            },
        },
    }


@pytest.fixture
def table(tmp_path: Path) -> Spec:
    return make_table(tmp_path / "table", TABLE_ROWS, TABLE_SCHEMAS)


def _kinds(report: Any) -> set[tuple[str, str, str]]:
    return {(op.name, d.kind, d.field) for op in report.operations for d in op.differences}


def test_every_kind_of_difference(table: Spec) -> None:
    report = diff_spec(spec_doc(), table)
    assert [o["operationId"] for o in report.spec_only] == ["other_op"]
    assert [o["name"] for o in report.table_only] == ["gone"]
    assert report.stream_variants == 1
    assert _kinds(report) == {
        ("create_thing", "spec_only", "new_field"),
        ("create_thing", "spec_only", "description"),
        ("create_thing", "table_only", "extra"),
        ("create_thing", "location", "flag"),
        ("create_thing", "required", "size"),
        ("create_thing", "enum", "color"),
        ("create_thing", "enum", "tags[]"),
        ("create_thing", "range", "name"),
        ("create_thing", "type", "count"),
        ("get_thing", "placeholder", "{thing_id}"),
        ("get_thing", "type", "verbose"),
    }
    diffs = {(op.name, d.kind, d.field): d for op in report.operations for d in op.differences}
    assert diffs[("create_thing", "enum", "color")].spec == ['"blue"']
    assert diffs[("create_thing", "enum", "color")].table == []
    assert diffs[("create_thing", "enum", "tags[]")].spec == ['"z"']
    assert diffs[("create_thing", "range", "name")].spec == {"keyword": "maxLength", "value": 20}
    assert diffs[("create_thing", "range", "name")].table == {"keyword": "maxLength", "value": 10}
    assert diffs[("create_thing", "required", "size")].spec is True
    assert diffs[("create_thing", "location", "flag")].spec == "query"
    assert diffs[("create_thing", "type", "count")].spec == ["number"]
    assert diffs[("create_thing", "spec_only", "new_field")].spec["deprecated"] is True
    assert report.differs


def test_report_text_is_grouped_and_sorted(table: Spec) -> None:
    text = render_text(diff_spec(spec_doc(), table))
    assert text == render_text(diff_spec(spec_doc(), table))
    assert "Operations in the spec that the table lacks (1):\n  GET    /v1/other  other_op\n" in text
    assert "Operations in the table that the spec lacks (1):\n  DELETE /v1/gone  gone\n" in text
    assert '    color: enum: only in the spec "blue"\n' in text
    assert "    name: maxLength: spec 20, table 10\n" in text
    assert "    size: required: spec required, table optional\n" in text
    assert "    flag: location: spec query, table body\n" in text
    assert "    {thing_id}: placeholder name: spec {id}, table {thing_id}\n" in text
    assert "    new_field: only in the spec (body, optional, deprecated)\n" in text
    lines = text.splitlines()
    create = lines.index("  create_thing: POST /v1/things  [create_thing_op]")
    fields = [line.split(":")[0].strip() for line in lines[create + 1 : create + 10]]
    assert fields == sorted(fields)


def test_stream_variant_is_not_an_operation_of_its_own(table: Spec) -> None:
    report = diff_spec(spec_doc(), table)
    assert all("#stream" not in o["path"] for o in report.spec_only)
    assert not any(d.field == "stream" for op in report.operations for d in op.differences)
    assert report.matched == 3


def test_client_options_are_ignored(table: Spec) -> None:
    report = diff_spec(spec_doc(), table)
    assert not any(d.field == "to" for op in report.operations for d in op.differences)


def test_body_content_type_difference(tmp_path: Path) -> None:
    rows = {"upload": {**TABLE_ROWS["upload"], "body": "json"}}
    spec = make_table(tmp_path / "t", rows, {"upload.json": TABLE_SCHEMAS["upload.json"]})
    doc = spec_doc()
    report = diff_spec(doc, spec)
    assert ("upload", "content", "") in _kinds(report)


def test_no_differences(tmp_path: Path) -> None:
    rows = {"upload": TABLE_ROWS["upload"]}
    spec = make_table(tmp_path / "t", rows, {"upload.json": TABLE_SCHEMAS["upload.json"]})
    doc = spec_doc()
    doc["paths"] = {"/v1/uploads": doc["paths"]["/v1/uploads"]}
    report = diff_spec(doc, spec)
    assert not report.differs
    assert "(none)" in render_text(report)
    (tmp_path / "spec.json").write_text(json.dumps(doc), encoding="utf-8")
    assert main(["diff", str(tmp_path / "spec.json"), "--table", str(tmp_path / "t")]) == 0


def test_extract_round_trip(table: Spec, tmp_path: Path) -> None:
    doc = spec_doc()
    extract = extract_spec(doc, table, "tiny.json", "0" * 64)
    text = dump_extract(extract)
    again = json.loads(text)
    assert render_text(diff_spec(again, table)) == render_text(diff_spec(doc, table))
    assert again["paths"]["/v1/other"]["get"] == {"operationId": "other_op", REDUCED_MARK: True}
    post = again["paths"]["/v1/things"]["post"]
    assert "description" not in post and "responses" not in post
    schemas = again["components"]["schemas"]
    assert set(schemas) == {"ThingBase", "ThingStream", "Color", "Tag"}  # reachable only
    assert "title" not in schemas["Color"]
    assert "description" in schemas["ThingBase"]["properties"]  # a property, not the keyword
    assert "description" not in schemas["ThingBase"]["properties"]["name"]
    assert again["components"]["parameters"]["Verbose"]["name"] == "verbose"


def test_reduced_operation_asks_for_a_new_extract(table: Spec) -> None:
    doc = spec_doc()
    extract = extract_spec(doc, make_table_subset(table))
    report = diff_spec(extract, table)
    assert ("get_thing", "reduced", "") in _kinds(report)


def make_table_subset(table: Spec) -> Spec:
    """The tiny table without get_thing (as if the row were added after the extract)."""
    endpoints = {k: v for k, v in table.endpoints.items() if k != "get_thing"}
    return table.replace(endpoints=endpoints)


def test_yaml_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("openapi: 3.1.0\npaths: {}\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(SpecFileError, match=r"PyYAML.*pip install pyyaml.*JSON"):
        load_openapi(path)
    assert main(["diff", str(path)]) == 2


def test_yaml_with_pyyaml(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "spec.yaml"
    path.write_text("openapi: 3.1.0\npaths:\n  /v1/x:\n    get: {operationId: x}\nlimit: 1e-08\n", encoding="utf-8")
    doc = load_openapi(path)
    assert doc["limit"] == 1e-08
    assert doc["paths"]["/v1/x"]["get"]["operationId"] == "x"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"openapi": "3.1.0"}', "no 'paths'"),
        ('{"swagger": "2.0", "paths": {}}', "3.x"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "spec.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpecFileError, match=message):
        load_openapi(path)
    assert main(["diff", str(path)]) == 2


def test_missing_file_and_unresolvable_ref(tmp_path: Path, table: Spec) -> None:
    assert main(["diff", str(tmp_path / "nope.json")]) == 2
    doc = spec_doc()
    doc["components"]["schemas"]["ThingBase"]["properties"]["count"] = {"$ref": "#/components/schemas/Missing"}
    (tmp_path / "bad.json").write_text(json.dumps(doc), encoding="utf-8")
    assert main(["diff", str(tmp_path / "bad.json"), "--table", table.root]) == 2


# --- (c) the command line -------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "mistral_lite.spec", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_exit_codes(table: Spec, tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec_doc()), encoding="utf-8")
    differs = _run("diff", str(spec_path), "--table", table.root)
    assert differs.returncode == 1, differs.stderr
    assert "Request differences" in differs.stdout

    same_table = make_table(
        tmp_path / "same", {"upload": TABLE_ROWS["upload"]}, {"upload.json": TABLE_SCHEMAS["upload.json"]}
    )
    doc = spec_doc()
    doc["paths"] = {"/v1/uploads": doc["paths"]["/v1/uploads"]}
    same_path = tmp_path / "same.json"
    same_path.write_text(json.dumps(doc), encoding="utf-8")
    same = _run("diff", str(same_path), "--table", same_table.root)
    assert same.returncode == 0, same.stdout + same.stderr

    assert _run("diff", str(tmp_path / "missing.json")).returncode == 2
    assert _run("diff").returncode == 2  # usage
    assert _run("frobnicate", str(spec_path)).returncode == 2


def test_cli_json_on_the_compact_extract() -> None:
    result = _run("diff", str(COMPACT), "--json")
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert data["differs"] == (result.returncode == 1)
    assert set(data) >= {"spec", "counts", "spec_only_operations", "table_only_operations", "operations"}
    text = _run("diff", str(COMPACT), "--no-allowlist").stdout
    assert text == EXPECTED.read_text(encoding="utf-8")


def test_with_the_allow_list_the_table_matches_the_spec() -> None:
    """Every operation of the newest spec is a row, and each difference left is kept on purpose, with a reason."""
    result = _run("diff", str(COMPACT), "--json")
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["counts"]["spec_operations"] == data["counts"]["matched"] == 284
    assert data["spec_only_operations"] == data["table_only_operations"] == data["operations"] == []
    assert len(data["allowed"]) == 10 and not any("stale entry" in note for note in data["allowed"])
    assert "chat messages (range): minItems 1" in data["allowed"][0]
    text = _run("diff", str(COMPACT)).stdout
    assert "Kept on purpose (the allow-list, 10):" in text and text.endswith(
        "Summary: 0 spec-only operations, 0 table-only operations, 0 request differences in 0 operations.\n")


def test_an_allow_list_entry_that_matches_nothing_is_reported_stale(tmp_path: Path) -> None:
    allow = tmp_path / "allow.toml"
    entry = '[[allow]]\noperation = "chat"\nfield = "nope"\nkind = "range"\nreason = "old"\n'
    allow.write_text(entry, encoding="utf-8")
    result = _run("diff", str(COMPACT), "--allowlist", str(allow))
    assert result.returncode == 1  # the real differences are back
    assert "chat nope (range): not found (stale entry)" in result.stdout
    allow.write_text('[[allow]]\noperation = "chat"\n', encoding="utf-8")
    bad = _run("diff", str(COMPACT), "--allowlist", str(allow))
    assert bad.returncode == 2 and "needs operation, kind and reason" in bad.stderr


def test_cli_extract(table: Spec, tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec_doc()), encoding="utf-8")
    out = tmp_path / "out.json"
    result = _run("extract", str(spec_path), "-o", str(out), "--table", table.root)
    assert result.returncode == 0, result.stderr
    extract = json.loads(out.read_text(encoding="utf-8"))
    assert extract["x-mistral-lite-extract"]["source"] == "spec.json"
    first = _run("diff", str(spec_path), "--table", table.root)
    second = _run("diff", str(out), "--table", table.root)
    assert (first.returncode, first.stdout) == (second.returncode, second.stdout)


def test_module_import_has_no_side_effects() -> None:
    code = "import sys, mistral_lite; assert 'mistral_lite.spec' not in sys.modules; import mistral_lite.spec"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout, result.stderr
