"""``python -m mistral_lite.spec import``: rows derived from the spec, deterministic, hand choices kept.

``tests/data/openapi_import_sample.json`` holds 19 operations of ``openapi-public-doc.yaml`` with
what the import reads (made by ``python -m mistral_lite.spec extract ../shared/mistral-openapi/
openapi-public-doc.yaml --import-sample <the rows below> -o tests/data/openapi_import_sample.json``):
one of each kind the tool derives. Removed from a copy of the table, they are imported back
exactly as shipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_lite._table import load_spec, parse_toml
from mistral_lite._dev.spec import SpecFileError, load_openapi
from mistral_lite._dev.spec_import import apply_plan, load_overrides, option_name, plan_import
from mistral_lite._dev.naming import derive_name

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "openapi_import_sample.json"
ROWS = [
    "list_voices", "create_speech", "get_voice_sample", "create_users", "stream_deployment_logs",
    "list_my_workspaces", "search_traces", "update_rag_deployment_metrics", "delete_library_access",
    "replace_library", "list_prompts", "get_workflow_execution", "delete_dataset", "get_connector",
    "get_prompt_version", "pause_schedule", "search_chat_completion_events", "activate_connector", "list_user_groups",
]
SHIPPED = load_spec()


def _table_without(tmp_path: Path, names: list[str]) -> Path:
    root = Path(SHIPPED.root)
    shutil.copy(root / "endpoints.toml", tmp_path / "endpoints.toml")
    shutil.copytree(root / "schemas", tmp_path / "schemas")
    text = (tmp_path / "endpoints.toml").read_text(encoding="utf-8")
    for name in names:
        text, count = re.subn(rf"^\[endpoints\.{name}\]\n(?:[^\n]+\n)*\n?", "", text, flags=re.M)
        assert count == 1, name
        (tmp_path / "schemas" / f"{name}.json").unlink()
    (tmp_path / "endpoints.toml").write_text(text, encoding="utf-8")
    return tmp_path


def _unordered(schema: object) -> object:
    """``required`` lists as sets (they follow the order of the properties, sorted in the sample)."""
    if isinstance(schema, dict):
        return {k: set(v) if k == "required" else _unordered(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_unordered(v) for v in schema]
    return schema


def _rows(root: Path) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = parse_toml((root / "endpoints.toml").read_bytes())["endpoints"]
    return rows


def test_the_shipped_table_has_nothing_left_to_import() -> None:
    plan = plan_import(load_openapi(SAMPLE), SHIPPED)
    assert plan.rows == [] and plan.annotations == {} and plan.defs == {}


def test_removed_rows_come_back_exactly_as_shipped_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = _table_without(tmp_path, ROWS)
    before = _rows(root)
    changed = apply_plan(plan_import(load_openapi(SAMPLE), load_spec(str(root))), root)
    assert sorted(Path(c).name for c in changed) == sorted(["endpoints.toml", *(f"{n}.json" for n in ROWS)])
    shipped, after = _rows(Path(SHIPPED.root)), _rows(root)
    assert {n: after[n] for n in before} == before  # every other row untouched
    for name in ROWS:
        assert after[name] == shipped[name], name
        # equal as data: the sample has its keys sorted, the real spec keeps the API's field order
        ours = _unordered(json.loads((root / "schemas" / f"{name}.json").read_text(encoding="utf-8")))
        theirs = json.loads((Path(SHIPPED.root) / "schemas" / f"{name}.json").read_text(encoding="utf-8"))
        assert ours == _unordered(theirs), name
    snapshot = {p.name: p.read_bytes() for p in [root / "endpoints.toml", *(root / "schemas").iterdir()]}
    load_spec.cache_clear()  # the loader memoises by folder: read the table as the first run left it
    assert apply_plan(plan_import(load_openapi(SAMPLE), load_spec(str(root))), root) == []
    assert {p.name: p.read_bytes() for p in [root / "endpoints.toml", *(root / "schemas").iterdir()]} == snapshot


def test_what_the_import_derives(tmp_path: Path) -> None:
    rows = _rows(Path(SHIPPED.root))
    assert rows["list_voices"]["group"] == "audio.voices"
    assert rows["create_speech"]["stream"] == "events" and rows["create_speech"]["stream_end"] == "speech.audio.done"
    assert rows["get_voice_sample"]["response"] == "bytes"  # audio/wav
    assert rows["create_users"]["body_option"] == "users"
    logs = rows["stream_deployment_logs"]
    assert (logs["always_stream"], logs["stream_error"], "stream_end" in logs) == (True, "error", False)
    assert rows["list_my_workspaces"]["paginate"] == {"style": "offset", "items": "workspaces", "offset": "offset",
                                                      "limit": "limit"}
    assert rows["list_prompts"]["paginate"] == {"style": "cursor", "items": "data", "cursor": "pageToken",
                                                "next": "nextPageToken"}
    assert rows["list_user_groups"]["paginate"] == {"style": "page", "items": "items"}
    assert rows["list_prompts"]["wire"] == {"sort_field": "sort.field", "sort_direction_": "sort.direction"}
    assert rows["search_traces"]["wire"] == {"from_": "from"} and rows["search_traces"]["retry"] == "idempotent"
    assert rows["get_workflow_execution"]["wait"]["status_field"] == "status"
    assert "FAILED" in rows["get_workflow_execution"]["wait"]["terminal"]
    assert rows["delete_dataset"]["response"] == "empty"
    assert rows["get_connector"]["path"] == "/v1/connectors/{connector_id_or_name}"  # the #idOrName fragment dropped
    assert rows["replace_library"]["deprecated"] == "update_library"
    assert rows["activate_connector"].get("retry") is None  # a POST that acts: the method's default, create
    assert SHIPPED.endpoints["activate_connector"].retry == "create"
    schema = json.loads((Path(SHIPPED.root) / "schemas" / "get_prompt_version.json").read_text(encoding="utf-8"))
    assert schema["properties"]["version"]["type"] == "integer" and "imported from the OpenAPI spec" in schema[
        "description"]
    assert all("description" not in sub for sub in schema["properties"].values())  # no prose copied


def test_hand_edits_of_existing_rows_survive_an_import(tmp_path: Path) -> None:
    root = _table_without(tmp_path, ["list_voices"])
    text = (root / "endpoints.toml").read_text(encoding="utf-8")
    text = text.replace('summary = "Get voice details"', 'summary = "One voice, curated by hand."')
    text = text.replace('[endpoints.get_voice]\n', '[endpoints.get_voice]\ncache = true\n')
    (root / "endpoints.toml").write_text(text, encoding="utf-8")
    apply_plan(plan_import(load_openapi(SAMPLE), load_spec(str(root))), root)
    rows = _rows(root)
    assert rows["get_voice"]["summary"] == "One voice, curated by hand." and rows["get_voice"]["cache"] is True
    assert rows["list_voices"] == _rows(Path(SHIPPED.root))["list_voices"]


def test_a_missing_group_is_added_to_an_existing_row(tmp_path: Path) -> None:
    root = _table_without(tmp_path, [])
    path = root / "endpoints.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('group = "audio.voices"\n', "", 1), encoding="utf-8")
    plan = plan_import(load_openapi(SAMPLE), load_spec(str(root)))
    assert plan.rows == [] and list(plan.annotations.values()) == [{"group": "audio.voices"}]
    apply_plan(plan, root)
    assert _rows(root) == _rows(Path(SHIPPED.root))


def test_a_name_that_is_taken_must_be_curated(tmp_path: Path) -> None:
    root = _table_without(tmp_path, ["list_voices"])
    overrides = load_overrides()
    overrides["names"]["GET /v1/audio/voices"] = "get_voice"
    with pytest.raises(SpecFileError, match="the name 'get_voice' is taken; curate one"):
        plan_import(load_openapi(SAMPLE), load_spec(str(root)), overrides)


@pytest.mark.parametrize(
    ("method", "path", "summary", "name"),
    [
        ("GET", "/v1/audio/voices", "List all voices", "list_voices"),
        ("POST", "/v2/prompts/{prompt_id}/versions", "CreatePromptVersion", "create_prompt_version"),
        ("GET", "/v1/batch/jobs", "Get Batch Jobs", "list_batch_jobs"),
        ("GET", "/v1/models/{model_id}", "Retrieve Model", "get_model"),
        ("GET", "/v1/workflows/executions/{execution_id}", "Get Workflow Execution", "get_workflow_execution"),
        ("GET", "/v1/libraries/{library_id}/share", "List all of the access to this library.",
         "list_of_access_to_this_library"),
        ("POST", "/v1/x/things", "Create a thing, then frobnicate it (carefully)", "create_x_thing"),
        ("GET", "/v1/x/{thing_id}/parts", "Parts: the long way round, of the thing", "list_x_parts"),
        ("PUT", "/v1/x/{thing_id}", "Replace it; or not", "replace_x"),
    ],
)
def test_the_naming_rule(method: str, path: str, summary: str, name: str) -> None:
    assert derive_name(method, path, summary) == name


def test_option_names_for_api_names_python_cannot_take() -> None:
    assert [option_name(n) for n in ("from", "sort.field", "page-size", "timeout", "model")] == [
        "from_", "sort_field", "page_size", "timeout_", "model"]


def test_the_command_line_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = _table_without(tmp_path, ["list_voices"])
    before = (root / "endpoints.toml").read_bytes()
    done = subprocess.run([sys.executable, "-m", "mistral_lite.spec", "import", str(SAMPLE), "--table", str(root),
                           "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "+ list_voices: GET /v1/audio/voices  [audio.voices]" in done.stdout
    assert (root / "endpoints.toml").read_bytes() == before and not (root / "schemas" / "list_voices.json").exists()
    done = subprocess.run([sys.executable, "-m", "mistral_lite.spec", "import", str(SAMPLE), "--table", str(root)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "1 operation(s) added" in done.stderr
    assert _rows(root)["list_voices"] == _rows(Path(SHIPPED.root))["list_voices"]
