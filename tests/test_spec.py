"""Lint of the table and the schemas, and of the table loader itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _rows import hand_made_rows, imported_rows
from jsonschema import Draft202012Validator

from mistral_lite import Client
from mistral_lite._table import SpecError, lint_spec, load_spec
from mistral_lite._core.validate import compile_schema, validator_for

SEED_OPERATIONS = sorted("""
agent_completion append_conversation archive_fine_tuned_model cancel_batch_job
cancel_fine_tuning_job chat classify classify_chat create_agent create_batch_job
create_conversation create_fine_tuning_job create_or_update_agent_alias delete_agent
delete_conversation delete_file delete_model download_file embed fim get_agent
get_agent_version get_batch_job get_conversation get_conversation_history
get_conversation_messages get_file get_file_url get_fine_tuning_job get_model
list_agent_aliases list_agent_versions list_agents list_batch_jobs list_conversations
list_files list_fine_tuning_jobs list_models moderate moderate_chat ocr restart_conversation
start_fine_tuning_job unarchive_fine_tuned_model update_agent update_agent_version
update_fine_tuned_model upload_file
""".split())

SPEC = load_spec()


def test_the_shipped_table_lints_clean() -> None:
    lint_spec(SPEC)


def test_every_seed_operation_is_a_row() -> None:
    assert len(SEED_OPERATIONS) == 48
    assert set(SEED_OPERATIONS) <= set(SPEC.endpoints)


@pytest.mark.parametrize("name", sorted(SPEC.schemas))
def test_schema_file_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = SPEC.schemas[name]
    Draft202012Validator.check_schema(schema)
    if not name.startswith("_"):
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        if "imported from the OpenAPI spec" in schema.get("description", ""):
            return  # written by `python -m mistral_lite.spec import`: the spec's descriptions may not be copied
        for option, sub in schema["properties"].items():
            assert sub.get("description"), f"{name}: {option} has no description"


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return out + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("name", sorted(SPEC.schemas))
def test_every_ref_resolves(name: str) -> None:
    for ref in _refs(SPEC.schemas[name]):
        file, _, pointer = ref.partition("#")
        target: object = SPEC.schemas[file or name]
        for part in [p for p in pointer.split("/") if p]:
            assert isinstance(target, dict) and part in target, f"{name}: {ref} does not resolve"
            target = target[part]


@pytest.mark.parametrize("name", sorted(SPEC.endpoints))
def test_row_is_consistent(name: str) -> None:
    ep = SPEC.endpoints[name]
    assert ep.path.startswith(("/v1/", "/v2/"))
    assert ep.summary and ep.summary[0].isupper()
    assert ep.group, "every row carries its group (the spec's tag)"
    for param in ep.path_params:
        prop = ep.options[param]
        types = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
        assert {"string", "integer"} & set(types) and param in ep.required
    if ep.stream != "none" and not ep.always_stream:
        assert ep.options["stream"]["type"] in ("boolean", ["boolean", "null"])
        assert not ep.cache
    if ep.method == "GET":
        assert ep.body == "none", "GET options must all be path or query"
    assert not hasattr(Client, name) or getattr(Client, name).__qualname__ == f"Operations.{name}"
    # the fast validator compiles every shipped schema (no jsonschema on the happy path)
    assert validator_for(SPEC, ep) is not None


def test_cache_flags_match_the_policy() -> None:
    cached = {n for n, ep in SPEC.endpoints.items() if ep.cache}
    assert cached == {"embed", "classify", "classify_chat", "moderate", "moderate_chat", "ocr",
                      "list_models", "get_model", "get_agent_version"}
    for name in ("get_batch_job", "get_fine_tuning_job", "get_conversation", "chat"):
        assert not SPEC.endpoints[name].cache


def test_retry_classes_match_the_policy() -> None:
    hand = set(hand_made_rows())
    create = {n for n, ep in SPEC.endpoints.items() if ep.retry == "create" and n in hand}
    assert create == {"create_agent", "update_agent", "create_batch_job", "create_fine_tuning_job",
                      "upload_file", "create_conversation", "append_conversation", "restart_conversation",
                      "start_fine_tuning_job", "cancel_fine_tuning_job", "cancel_batch_job",
                      "archive_fine_tuned_model",
                      # beyond the seed
                      "create_library", "upload_library_document", "reprocess_library_document"}
    for name in ("chat", "fim", "agent_completion", "embed", "classify", "classify_chat", "moderate",
                 "moderate_chat", "ocr"):
        assert SPEC.endpoints[name].retry == "idempotent"


def test_imported_rows_retry_by_method_and_verb() -> None:
    """A POST that reads (search, count, aggregate, get, list, query) is idempotent, other POSTs create."""
    imported = imported_rows()
    assert len(imported) == 222
    for name in imported:
        ep = SPEC.endpoints[name]
        reads = name.split("_")[0] in ("search", "count", "aggregate", "get", "list", "query")
        expected = ("idempotent" if reads else "create") if ep.method == "POST" else "idempotent"
        assert ep.retry == expected, name
    assert SPEC.endpoints["search_traces"].retry == "idempotent"
    assert SPEC.endpoints["create_dataset"].retry == "create"
    assert SPEC.endpoints["delete_dataset"].retry == "idempotent"


def test_spec_corrections_over_the_seed() -> None:
    eps = SPEC.endpoints
    assert eps["create_or_update_agent_alias"].query == ("alias", "version")
    assert eps["update_agent_version"].query == ("version",)
    assert eps["create_fine_tuning_job"].query == ("dry_run",)
    assert eps["embed"].fill == {"model": "mistral-embed"}
    assert "purpose" not in eps["upload_file"].required
    assert eps["delete_agent"].response == eps["delete_conversation"].response == "empty"


# -- the loader rejects malformed tables ----------------------------------------------------------
@pytest.fixture
def table_copy(tmp_path: Path) -> Path:
    root = Path(SPEC.root)
    shutil.copy(root / "endpoints.toml", tmp_path / "endpoints.toml")
    shutil.copytree(root / "schemas", tmp_path / "schemas")
    return tmp_path


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "endpoints.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('path = "/v1/models/{model_id}"\ngroup = "models"\nsummary = "Retrieve',
         'path = "/v1/models/{model}"\ngroup = "models"\nsummary = "Retrieve',
         "endpoints.get_model: path placeholder {model}"),
        ('stream = "completion"', 'stream = "sometimes"', "endpoints.chat: stream must be one of"),
        ('[endpoints.chat]\nmethod = "POST"', '[endpoints.chat]\nmethod = "FETCH"', "endpoints.chat: method"),
        ('summary = "List uploaded files."', 'summary = "List uploaded files."\nschema = "nope.json"',
         "schemas/nope.json does not exist"),
        ('query = ["inline"]', 'query = ["inlined"]', "option 'inlined' is not in"),
        ('invalidates = ["list_files"]', 'invalidates = ["list_filez"]', "unknown operation 'list_filez'"),
        ('[endpoints.chat]', '[endpoints.chat]\nflavour = "x"', "unknown field(s) ['flavour']"),
        ('cache = true\nretry = "idempotent"\nfill', 'cache = true\nstream = "completion"\nretry = "idempotent"\nfill',
         "a streaming operation is never cached"),
    ],
)
def test_loader_rejects(table_copy: Path, old: str, new: str, message: str) -> None:
    _edit(table_copy, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(str(table_copy), lint=True)
    assert message in str(info.value)


def test_option_named_like_a_call_keyword_is_rejected(table_copy: Path) -> None:
    path = table_copy / "schemas" / "get_model.json"
    schema = json.loads(path.read_text())
    schema["properties"]["timeout"] = {"type": "number", "description": "clash"}
    path.write_text(json.dumps(schema))
    with pytest.raises(SpecError, match="option 'timeout' must be an identifier"):
        load_spec(str(table_copy), lint=True)


def test_compiler_refuses_unknown_keywords(table_copy: Path) -> None:
    path = table_copy / "schemas" / "get_model.json"
    schema = json.loads(path.read_text())
    schema["properties"]["model_id"]["patternProperties"] = {"x": {}}
    path.write_text(json.dumps(schema))
    spec = load_spec(str(table_copy))
    with pytest.raises(NotImplementedError):
        compile_schema(spec, "get_model.json")
    assert validator_for(spec, spec.endpoints["get_model"]) is None
