"""The operations beyond the seed (the ``# --- Beyond the seed ---`` rows of endpoints.toml).

The same checks as ``test_seed_conformance.py``, against the newest public spec:

* ``test_extra_request``: the EXACT request (method, path, parsed query, JSON body or multipart
  parts, ``Authorization``/``Accept`` headers) through the real ``Client`` against
  ``responses``, and the decoded result;
* ``test_extra_request_matches_spec``: the same request against
  ``tests/data/openapi_public_extract.json`` (written by ``tools/extract_openapi.py --rows extra``
  from ``openapi-public-doc.yaml``): path template, declared and valid query parameters,
  required parameters, the JSON body valid against the request schema, multipart parts that
  are properties of the multipart schema (each field value valid);
* table-level checks of every extra row against the extract;
* end-to-end calls through real sockets against ``FakeMistral``, including a streamed
  transcription and the library → upload → status → text content flow.

Nothing here reads outside the repository or touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from _conformance import (
    Case,
    Extract,
    TmpFile,
    case_params,
    check_against_spec,
    check_request,
    expect_rejected,
    json_case,
    run_case,
)

from mistral_lite import Client
from mistral_lite.exceptions import APIStatusError, ValidationError
from mistral_lite.fake import FakeMistral

ROOT = Path(__file__).resolve().parent.parent
SPEC = Extract(Path(__file__).parent / "data" / "openapi_public_extract.json")
EXTRACT: dict[str, Any] = SPEC.data
MARKER = "# --- Beyond the seed ---"

# The route of each extra operation (openapi-public-doc.yaml), written out here so the
# expectation does not come from the table under test.
ROUTES: dict[str, tuple[str, str]] = {
    "delete_agent_alias": ("DELETE", "/v1/agents/{agent_id}/aliases"),
    "list_agents_pages": ("GET", "/v1/agents/pages"),
    "delete_batch_job": ("DELETE", "/v1/batch/jobs/{job_id}"),
    "transcribe_audio": ("POST", "/v1/audio/transcriptions"),
    "list_libraries": ("GET", "/v1/libraries"),
    "create_library": ("POST", "/v1/libraries"),
    "get_library": ("GET", "/v1/libraries/{library_id}"),
    "update_library": ("PATCH", "/v1/libraries/{library_id}"),
    "delete_library": ("DELETE", "/v1/libraries/{library_id}"),
    "list_library_documents": ("GET", "/v1/libraries/{library_id}/documents"),
    "upload_library_document": ("POST", "/v1/libraries/{library_id}/documents"),
    "get_library_document": ("GET", "/v1/libraries/{library_id}/documents/{document_id}"),
    "update_library_document": ("PATCH", "/v1/libraries/{library_id}/documents/{document_id}"),
    "delete_library_document": ("DELETE", "/v1/libraries/{library_id}/documents/{document_id}"),
    "get_library_document_text": ("GET", "/v1/libraries/{library_id}/documents/{document_id}/text_content"),
    "get_library_document_status": ("GET", "/v1/libraries/{library_id}/documents/{document_id}/status"),
    "get_library_document_url": ("GET", "/v1/libraries/{library_id}/documents/{document_id}/signed-url"),
    "get_library_document_extracted_text_url": (
        "GET", "/v1/libraries/{library_id}/documents/{document_id}/extracted-text-signed-url"),
    "reprocess_library_document": ("POST", "/v1/libraries/{library_id}/documents/{document_id}/reprocess"),
}
# Retry classes the brief asks for: creates/uploads/reprocess "create"; reads, updates, deletes
# and the side-effect-free transcription "idempotent".
RETRY = {name: "idempotent" for name in ROUTES} | {
    "create_library": "create", "upload_library_document": "create", "reprocess_library_document": "create",
}


def _extra_rows() -> list[str]:
    text = (ROOT / "mistral_lite" / "endpoints.toml").read_text(encoding="utf-8")
    _, _, after = text.partition(MARKER)
    after = after.split("(imported from the spec)", 1)[0]  # rows the import tool wrote: tests/test_operations_spec.py
    return re.findall(r"(?m)^\[endpoints\.([A-Za-z_][A-Za-z0-9_]*)\]", after)


# --- response fixtures (in the spec's response shapes) -------------------------------------

AGENT_ID = "ag_abc123"
JOB_ID = "7d8c1c36-5d6b-4a2d-9e4c-2b0d3f1e6a51"
LIB_ID = "0198a4b2-6f0e-7c3a-9d41-5e2b8c7a1f00"
DOC_ID = "0198a4b3-1a2b-7c3d-8e4f-a0b1c2d3e4f5"
DOC_PATH = f"/v1/libraries/{LIB_ID}/documents/{DOC_ID}"
AGENT = {
    "object": "agent", "id": AGENT_ID, "name": "My Agent", "model": "mistral-large-latest", "version": 1,
    "versions": [1], "created_at": "2025-05-26T12:00:00Z", "updated_at": "2025-05-26T12:00:00Z",
    "deployment_chat": False, "source": "api", "tools": [], "completion_args": {},
}
AGENT_PAGE = {"object": "list", "data": [AGENT], "next_page_token": "b2Zmc2V0OjE"}
LIBRARY = {
    "id": LIB_ID, "name": "Papers", "created_at": "2025-08-01T10:00:00Z", "updated_at": "2025-08-01T10:00:00Z",
    "owner_id": "00000000-0000-4000-8000-00000000a11c", "owner_type": "Workspace", "total_size": 0,
    "nb_documents": 0, "chunk_size": None, "description": "Research papers",
}
LIBRARY_LIST = {"data": [LIBRARY], "next_page_token": None}
DOCUMENT = {
    "id": DOC_ID, "library_id": LIB_ID, "hash": None, "mime_type": "text/plain", "extension": "txt", "size": 11,
    "name": "notes.txt", "created_at": "2025-08-01T10:01:00Z", "process_status": "todo",
    "uploaded_by_id": None, "uploaded_by_type": "Workspace", "processing_status": "Running",
    "tokens_processing_total": 0,
}
DOCUMENT_LIST = {
    "pagination": {"total_items": 1, "total_pages": 1, "current_page": 0, "page_size": 100, "has_more": False},
    "data": [DOCUMENT],
}
STATUS = {"document_id": DOC_ID, "process_status": "done", "processing_status": "Completed"}
SIGNED = "https://storage.example.com/libraries/notes.txt?signature=abc"
TRANSCRIPTION = {
    "model": "voxtral-mini-latest", "text": "Hello world.", "language": "en", "segments": [],
    "usage": {"prompt_audio_seconds": 2, "prompt_tokens": 4, "total_tokens": 7, "completion_tokens": 3},
}
TRANSCRIPTION_SSE = (
    b"event: transcription.language\n"
    b'data: {"type":"transcription.language","audio_language":"en"}\n\n'
    b"event: transcription.text.delta\n"
    b'data: {"type":"transcription.text.delta","text":"Hello "}\n\n'
    b"event: transcription.text.delta\n"
    b'data: {"type":"transcription.text.delta","text":"world."}\n\n'
    b"event: transcription.done\n"
    b'data: {"type":"transcription.done","model":"voxtral-mini-latest","text":"Hello world.","language":"en",'
    b'"segments":[],"usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}}\n\n'
)
TRANSCRIPTION_EVENTS = [
    {"type": "transcription.language", "audio_language": "en"},
    {"type": "transcription.text.delta", "text": "Hello "},
    {"type": "transcription.text.delta", "text": "world."},
    {"type": "transcription.done", "model": "voxtral-mini-latest", "text": "Hello world.", "language": "en",
     "segments": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}},
]
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(32))

# --- cases ---------------------------------------------------------------------------------

CASES: list[Case] = [
    Case("delete_agent_alias", "positional", args=(AGENT_ID,), kwargs={"alias": "production"},
         path=f"/v1/agents/{AGENT_ID}/aliases", query={"alias": ["production"]}, raw=b"", status=204, result={}),
    Case("delete_agent_alias", "keywords", kwargs={"agent_id": AGENT_ID, "alias": "v2-beta"},
         path=f"/v1/agents/{AGENT_ID}/aliases", query={"alias": ["v2-beta"]}, raw=b"", status=204, result={}),
    Case("list_agents_pages", "first-page", path="/v1/agents/pages", reply=AGENT_PAGE),
    Case("list_agents_pages", "cursor-and-filters",
         kwargs={"page_size": 1, "page_token": "b2Zmc2V0OjE", "sources": ["api", "playground"],
                 "deployment_chat": False, "search": "agent", "metadata": {"team": "a"}},
         path="/v1/agents/pages",
         query={"page_size": ["1"], "page_token": ["b2Zmc2V0OjE"], "sources": ["api", "playground"],
                "deployment_chat": ["false"], "search": ["agent"], "metadata": ['{"team":"a"}']},
         reply={**AGENT_PAGE, "next_page_token": None}),
    Case("delete_batch_job", "positional", args=(JOB_ID,), path=f"/v1/batch/jobs/{JOB_ID}",
         reply={"id": JOB_ID, "object": "batch", "deleted": True}),
    Case("transcribe_audio", "upload-path", kwargs={"model": "voxtral-mini-latest", "file": TmpFile("a.wav", AUDIO)},
         path="/v1/audio/transcriptions",
         parts={"model": (None, b"voxtral-mini-latest"), "file": ("a.wav", AUDIO)}, reply=TRANSCRIPTION),
    Case("transcribe_audio", "url-options",
         kwargs={"model": "voxtral-mini-latest", "file_url": "https://example.com/a.mp3", "language": "fr",
                 "temperature": 0.2, "diarize": True},
         path="/v1/audio/transcriptions",
         parts={"model": (None, b"voxtral-mini-latest"), "file_url": (None, b"https://example.com/a.mp3"),
                "language": (None, b"fr"), "temperature": (None, b"0.2"), "diarize": (None, b"true")},
         reply=TRANSCRIPTION),
    Case("transcribe_audio", "file-id", kwargs={"model": "voxtral-mini-latest", "file_id": JOB_ID},
         path="/v1/audio/transcriptions",
         parts={"model": (None, b"voxtral-mini-latest"), "file_id": (None, JOB_ID.encode())}, reply=TRANSCRIPTION),
    Case("transcribe_audio", "stream",
         kwargs={"model": "voxtral-mini-latest", "file": ("a.wav", AUDIO), "stream": True},
         path="/v1/audio/transcriptions",
         parts={"model": (None, b"voxtral-mini-latest"), "stream": (None, b"true"), "file": ("a.wav", AUDIO)},
         raw=TRANSCRIPTION_SSE, content_type="text/event-stream", result=TRANSCRIPTION_EVENTS, stream=True),
    Case("list_libraries", "default", path="/v1/libraries", reply=LIBRARY_LIST),
    Case("list_libraries", "cursor-search", kwargs={"page_size": 10, "page_token": "tok", "search": "pap"},
         path="/v1/libraries", query={"page_size": ["10"], "page_token": ["tok"], "search": ["pap"]},
         reply=LIBRARY_LIST),
    json_case("create_library", "name", "/v1/libraries", {"name": "Papers"}, reply=LIBRARY, status=201),
    json_case("create_library", "all-options", "/v1/libraries",
              {"name": "Papers", "description": "Research papers", "owner_type": "User"}, reply=LIBRARY, status=201),
    Case("get_library", "positional", args=(LIB_ID,), path=f"/v1/libraries/{LIB_ID}", reply=LIBRARY),
    Case("update_library", "name-description", args=(LIB_ID,), kwargs={"name": "Docs", "description": None},
         path=f"/v1/libraries/{LIB_ID}", body={"name": "Docs"}, reply={**LIBRARY, "name": "Docs"}),
    Case("update_library", "description", args=(LIB_ID,), kwargs={"description": "New"},
         path=f"/v1/libraries/{LIB_ID}", body={"description": "New"}, reply={**LIBRARY, "description": "New"}),
    Case("delete_library", "200-library", args=(LIB_ID,), path=f"/v1/libraries/{LIB_ID}", reply=LIBRARY),
    Case("delete_library", "204", args=(LIB_ID,), path=f"/v1/libraries/{LIB_ID}", raw=b"", status=204, result={}),
    Case("list_library_documents", "default", args=(LIB_ID,), path=f"/v1/libraries/{LIB_ID}/documents",
         reply=DOCUMENT_LIST),
    Case("list_library_documents", "page-sort-search", args=(LIB_ID,),
         kwargs={"page": 1, "page_size": 5, "search": "notes", "sort_by": "name", "sort_order": "asc"},
         path=f"/v1/libraries/{LIB_ID}/documents",
         query={"page": ["1"], "page_size": ["5"], "search": ["notes"], "sort_by": ["name"], "sort_order": ["asc"]},
         reply=DOCUMENT_LIST),
    Case("upload_library_document", "path", args=(LIB_ID,), kwargs={"file": TmpFile("notes.txt", b"hello world")},
         path=f"/v1/libraries/{LIB_ID}/documents", parts={"file": ("notes.txt", b"hello world")},
         reply=DOCUMENT, status=201),
    Case("upload_library_document", "tuple", kwargs={"library_id": LIB_ID, "file": ("n.md", b"# Title")},
         path=f"/v1/libraries/{LIB_ID}/documents", parts={"file": ("n.md", b"# Title")}, reply=DOCUMENT),
    Case("get_library_document", "positional", args=(LIB_ID, DOC_ID), path=DOC_PATH, reply=DOCUMENT),
    Case("update_library_document", "name-attributes", args=(LIB_ID, DOC_ID),
         kwargs={"name": "renamed.txt", "attributes": {"year": 2025, "tags": ["a", "b"], "draft": False},
                 "expires_at": "2026-01-01T00:00:00Z"},
         path=DOC_PATH,
         body={"name": "renamed.txt", "attributes": {"year": 2025, "tags": ["a", "b"], "draft": False},
               "expires_at": "2026-01-01T00:00:00Z"},
         reply={**DOCUMENT, "name": "renamed.txt"}),
    Case("delete_library_document", "204", args=(LIB_ID, DOC_ID), path=DOC_PATH, raw=b"", status=204, result={}),
    Case("get_library_document_text", "all", args=(LIB_ID, DOC_ID), path=DOC_PATH + "/text_content",
         reply={"text": "hello world"}),
    Case("get_library_document_text", "pages", args=(LIB_ID, DOC_ID), kwargs={"page_start": 0, "page_end": 2},
         path=DOC_PATH + "/text_content", query={"page_start": ["0"], "page_end": ["2"]},
         reply={"text": "hello world"}),
    Case("get_library_document_status", "positional", args=(LIB_ID, DOC_ID), path=DOC_PATH + "/status",
         reply=STATUS),
    Case("get_library_document_url", "bare-string", args=(LIB_ID, DOC_ID), path=DOC_PATH + "/signed-url",
         reply=SIGNED),
    Case("get_library_document_extracted_text_url", "bare-string", args=(LIB_ID, DOC_ID),
         path=DOC_PATH + "/extracted-text-signed-url", reply=SIGNED + "&text=1"),
    Case("reprocess_library_document", "204", args=(LIB_ID, DOC_ID), path=DOC_PATH + "/reprocess", raw=b"",
         status=204, result={}),
]


# --- 1. the exact request ------------------------------------------------------------------


@pytest.mark.parametrize("case", case_params(CASES, "request"))
def test_extra_request(case: Case, client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    method = ROUTES[case.op][0]
    request, result = run_case(case, method, client, mock, tmp_path)
    check_request(case, method, request, result)


# --- 2. the same request against the public spec's extract ---------------------------------


@pytest.mark.parametrize("case", case_params(CASES, "spec"))
def test_extra_request_matches_spec(case: Case, client: Client, mock: responses.RequestsMock,
                                    tmp_path: Path) -> None:
    request, _ = run_case(case, ROUTES[case.op][0], client, mock, tmp_path)
    check_against_spec(SPEC, case.op, request, stream=case.stream)



BAD_REQUESTS = [
    pytest.param("delete_agent_alias", (AGENT_ID,), {"alias": "a", "extra_query": {"alias": "Bad Alias"}},
                 "does not validate", id="alias-pattern"),
    pytest.param("create_library", (), {"name": "x", "extra_body": {"chunk_size": 10}}, "chunk_size",
                 id="chunk-size-range"),
    pytest.param("list_libraries", (), {"extra_query": {"page_size": 500}}, "does not validate",
                 id="page-size-max"),
    pytest.param("transcribe_audio", (), {"model": "m", "file_id": "f", "extra_body": {"speed": "2"}},
                 "not in the spec", id="unknown-part"),
    pytest.param("reprocess_library_document", (LIB_ID, DOC_ID), {"extra_body": {"force": True}},
                 "takes no request body", id="reprocess-body"),
]


@pytest.mark.parametrize(("operation", "args", "kwargs", "message"), BAD_REQUESTS)
def test_spec_checker_rejects_bad_requests(operation: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                                           message: str, client: Client, mock: responses.RequestsMock) -> None:
    expect_rejected(SPEC, operation, ROUTES[operation][0], args, kwargs, message, client, mock)


# --- 3. the rows against the extract -------------------------------------------------------


def test_every_extra_operation_has_a_case(client: Client) -> None:
    rows = _extra_rows()
    assert len(rows) == len(set(rows)) == 19
    assert set(rows) == set(ROUTES) == set(EXTRACT["operations"]) == {c.op for c in CASES}
    assert set(rows) <= set(client.operations)
    assert EXTRACT["source"]["file"] == "openapi-public-doc.yaml"
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def _spec_props(op: dict[str, Any]) -> dict[str, Any]:
    body = op["request_body"]
    if body is None:
        return {}
    schema = SPEC.resolve(body["schema"])
    return dict(schema.get("properties", {}))


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_extra_row_matches_spec(name: str, client: Client) -> None:
    endpoint = client.operations[name]
    op = EXTRACT["operations"][name]
    assert (endpoint.method, endpoint.path) == (op["method"], op["path"]) == ROUTES[name]
    assert endpoint.retry == RETRY[name]
    params = op["parameters"]
    assert sorted(endpoint.path_params) == sorted(p["name"] for p in params if p["in"] == "path")
    # every query parameter of the spec is an option, in the query, and the schema requires
    # the ones the spec requires
    assert set(endpoint.query) == {p["name"] for p in params if p["in"] == "query"}
    assert {p["name"] for p in params if p["required"]} <= set(endpoint.required)
    spec_body = op["request_body"]
    if endpoint.body == "none":
        assert spec_body is None
        return
    assert spec_body is not None
    kind = "multipart/form-data" if endpoint.body == "multipart" else "application/json"
    assert spec_body["content_type"] == kind
    assert set(endpoint.body_options) == set(_spec_props(op)), "the body options are the spec's body fields"
    required = set(SPEC.resolve(spec_body["schema"]).get("required", [])) - {"stream"}
    assert required <= set(endpoint.required)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_extra_enum_values_match_spec(name: str, client: Client) -> None:
    """Every enum value an option schema lists is one the spec accepts for that option."""
    endpoint = client.operations[name]
    op = EXTRACT["operations"][name]
    spec = {p["name"]: p["schema"] for p in op["parameters"]} | _spec_props(op)
    for option, schema in endpoint.options.items():
        values = list(schema.get("enum", []))
        for alternative in schema.get("anyOf", []):
            values += alternative.get("enum", [])
        values += [[v] for v in schema.get("items", {}).get("enum", [])]
        for value in values:
            assert not SPEC.errors(spec[option], value), f"{option}={value!r} is rejected by the spec"


def test_response_kinds_and_streaming(client: Client) -> None:
    ops = client.operations
    empty = {n for n, e in ops.items() if n in ROUTES and e.response == "empty"}
    assert empty == {"delete_agent_alias", "delete_library_document", "reprocess_library_document"}
    assert all(ops[n].response == "json" for n in ROUTES if n not in empty)
    audio = ops["transcribe_audio"]
    assert (audio.body, audio.stream, audio.stream_end, audio.stream_error) == (
        "multipart", "events", "transcription.done", None)
    assert ops["list_agents_pages"].paginate == {
        "style": "cursor", "items": "data", "cursor": "page_token", "next": "next_page_token"}
    assert ops["list_libraries"].paginate == {
        "style": "cursor", "items": "data", "cursor": "page_token", "next": "next_page_token"}
    assert dict(ops["list_library_documents"].paginate or {})["style"] == "page"


def test_validation_happens_before_sending(client: Client) -> None:
    with pytest.raises(ValidationError):
        client.delete_agent_alias(AGENT_ID, alias="Not Valid")
    with pytest.raises(ValidationError):
        client.transcribe_audio(model="m", file_id="f", timestamp_granularities=["sentence"])
    with pytest.raises(ValidationError):
        client.create_library(name="x", chunk_size=100)
    with pytest.raises(ValidationError):
        client.update_library_document(LIB_ID, DOC_ID, attributes={"nested": {"no": 1}})
    with pytest.raises(ValidationError, match="document_id"):
        client.get_library_document(LIB_ID)


# --- 4. end to end against FakeMistral -----------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(batch_step=0) as server:  # documents are processed on tick() only
        yield server


@pytest.fixture
def live(fake: FakeMistral) -> Iterator[Client]:
    with Client("k", base_url=fake.url, retry=False) as c:
        yield c


def test_e2e_library_upload_status_text_flow(fake: FakeMistral, live: Client, tmp_path: Path) -> None:
    library = live.create_library(name="Papers", description="Research papers")
    assert library["name"] == "Papers" and library["nb_documents"] == 0 and library["owner_type"] == "Workspace"
    source = tmp_path / "notes.txt"
    source.write_bytes(b"page one\fpage two")
    document = live.upload_library_document(library["id"], file=source)
    assert document["name"] == "notes.txt" and document["size"] == 17 and document["library_id"] == library["id"]
    assert document["process_status"] == "todo" and document["processing_status"] == "Running"
    doc = (library["id"], document["id"])
    status = live.get_library_document_status(*doc)
    assert status == {"document_id": document["id"], "process_status": "todo", "processing_status": "Running"}
    with pytest.raises(APIStatusError) as info:
        live.get_library_document_text(*doc)
    assert info.value.status_code == 409
    fake.tick()
    assert live.get_library_document_status(*doc)["processing_status"] == "Completed"
    assert live.wait("get_library_document_status", *doc, timeout=1, interval=0.01)["process_status"] == "done"
    assert live.get_library_document_text(*doc) == {"text": "page one\fpage two"}
    assert live.get_library_document_text(*doc, page_start=1, page_end=1) == {"text": "page two"}
    meta = live.get_library_document(*doc)
    assert meta["number_of_pages"] == 2 and meta["tokens_processing_total"] == 4
    assert live.get_library(library["id"])["nb_documents"] == 1
    # the same content again: the existing document (200)
    assert live.upload_library_document(library["id"], file=("again.txt", b"page one\fpage two"))["id"] == doc[1]
    # signed URLs are plain JSON strings the fake serves
    url = live.get_library_document_url(*doc)
    assert isinstance(url, str) and requests.get(url, timeout=5).content == b"page one\fpage two"
    text_url = live.get_library_document_extracted_text_url(*doc)
    assert requests.get(text_url, timeout=5).content == b"page one\fpage two"
    # reprocess: back to todo, done after a tick
    assert live.reprocess_library_document(*doc) == {}
    assert live.get_library_document_status(*doc)["process_status"] == "todo"
    fake.tick()
    assert live.get_library_document_status(*doc)["process_status"] == "done"


def test_e2e_library_crud_and_document_listing(fake: FakeMistral, live: Client) -> None:
    first = live.create_library(name="Alpha")
    second = live.create_library(name="Beta", owner_type="User", chunk_size=512)
    assert second["owner_type"] == "User" and second["chunk_size"] == 512
    listing = live.list_libraries()
    assert {lib["id"] for lib in listing["data"]} == {first["id"], second["id"]}
    assert listing["next_page_token"] is None
    one = live.list_libraries(page_size=1)
    assert len(one["data"]) == 1 and one["next_page_token"]
    assert [lib["name"] for lib in live.list_libraries(search="alp")["data"]] == ["Alpha"]
    assert sorted(lib["name"] for lib in live.paginate("list_libraries", page_size=1)) == ["Alpha", "Beta"]
    assert live.update_library(first["id"], name="Alpha 2")["name"] == "Alpha 2"
    assert live.get_library(first["id"])["name"] == "Alpha 2"
    for number in range(3):
        live.upload_library_document(first["id"], file=(f"doc{number}.md", f"# Doc {number}".encode()))
    docs = live.list_library_documents(first["id"], page_size=2, sort_by="name", sort_order="asc")
    assert [d["name"] for d in docs["data"]] == ["doc0.md", "doc1.md"]
    assert docs["pagination"] == {"total_items": 3, "total_pages": 2, "current_page": 0, "page_size": 2,
                                  "has_more": True}
    assert sorted(d["name"] for d in live.paginate("list_library_documents", first["id"], page_size=2)) == [
        "doc0.md", "doc1.md", "doc2.md"]
    assert [d["name"] for d in live.list_library_documents(first["id"], search="doc1")["data"]] == ["doc1.md"]
    target = docs["data"][0]
    updated = live.update_library_document(first["id"], target["id"], name="renamed.md",
                                           attributes={"year": 2025, "tags": ["x"]})
    assert updated["name"] == "renamed.md" and updated["attributes"] == {"year": 2025, "tags": ["x"]}
    assert live.delete_library_document(first["id"], target["id"]) == {}
    with pytest.raises(APIStatusError) as info:
        live.get_library_document(first["id"], target["id"])
    assert info.value.status_code == 404
    assert live.get_library(first["id"])["nb_documents"] == 2
    deleted = live.delete_library(first["id"])
    assert deleted["id"] == first["id"]
    with pytest.raises(APIStatusError):
        live.get_library(first["id"])
    with pytest.raises(APIStatusError) as info:
        live.list_libraries(page_token="not-a-token")
    assert info.value.status_code == 400


def test_e2e_transcription(live: Client, tmp_path: Path) -> None:
    audio = tmp_path / "meeting.wav"
    audio.write_bytes(b"\x00" * 32000)
    result = live.transcribe_audio(model="voxtral-mini-latest", file=audio, language="fr")
    assert result["model"] == "voxtral-mini-latest" and result["language"] == "fr"
    assert result["text"] == "This is the transcription of meeting.wav. It lasts 2 seconds."
    assert result["segments"] == [] and result["usage"]["prompt_audio_seconds"] == 2
    diarized = live.transcribe_audio(model="voxtral-mini-latest", file=audio, diarize=True)
    assert [s["speaker_id"] for s in diarized["segments"]] == ["speaker_0", "speaker_1"]
    assert diarized["segments"][-1]["end"] == 2.0
    uploaded = live.upload_file(file=("call.mp3", b"\x01" * 8000))
    assert "call.mp3" in live.transcribe_audio(model="voxtral-mini-latest", file_id=uploaded["id"])["text"]
    by_url = live.transcribe_audio(model="voxtral-mini-latest", file_url="https://example.com/talk.ogg")
    assert "talk.ogg" in by_url["text"]
    with pytest.raises(APIStatusError) as info:
        live.transcribe_audio(model="voxtral-mini-latest")
    assert info.value.status_code == 400


def test_e2e_streamed_transcription(fake: FakeMistral, live: Client) -> None:
    with live.transcribe_audio(model="voxtral-mini-latest", file=("a.wav", b"\x00" * 16000), stream=True,
                               diarize=True) as stream:
        events = list(stream)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "transcription.language" and kinds[-1] == "transcription.done"
    assert set(kinds) == {"transcription.language", "transcription.text.delta", "transcription.segment",
                          "transcription.done"}
    text = "".join(e["text"] for e in events if e["type"] == "transcription.text.delta")
    assert text == events[-1]["text"] == "This is the transcription of a.wav. It lasts 1 seconds."
    recorded = fake.requests[-1]
    assert recorded.headers["accept"] == "text/event-stream" and b'name="stream"\r\n\r\ntrue' in recorded.body


def test_e2e_transcription_array_fields(live: Client) -> None:
    result = live.transcribe_audio(model="voxtral-mini-latest", file=("a.wav", b"\x00" * 16000),
                                   timestamp_granularities=["segment"], context_bias=["Mistral", "Voxtral"])
    assert result["segments"]


def test_fake_accepts_repeated_form_parts(fake: FakeMistral) -> None:
    """The fake reads arrays as the spec encodes them: repeated parts, ``name`` or ``name[]``."""
    files = {"file": ("a.wav", b"\x00" * 16000)}
    data = [("model", "voxtral-mini-latest"), ("timestamp_granularities[]", "segment"),
            ("context_bias", "Mistral"), ("context_bias", "Voxtral")]
    reply = requests.post(fake.url + "/v1/audio/transcriptions", data=data, files=files,
                          headers={"Authorization": "Bearer k"}, timeout=5)
    assert reply.status_code == 200, reply.text
    assert reply.json()["segments"]
    bad = requests.post(fake.url + "/v1/audio/transcriptions", files=files,
                        data=[("model", "m"), ("timestamp_granularities", "sentence")],
                        headers={"Authorization": "Bearer k"}, timeout=5)
    assert bad.status_code == 422


def test_e2e_agent_alias_and_cursor_pages(live: Client) -> None:
    agents = [live.create_agent(model="mistral-small-latest", name=f"agent-{n}") for n in range(3)]
    first = agents[0]["id"]
    live.update_agent(first, description="v1")
    live.create_or_update_agent_alias(first, alias="prod", version=1)
    live.create_or_update_agent_alias(first, alias="beta", version=0)
    assert {a["alias"] for a in live.list_agent_aliases(first)} == {"prod", "beta"}
    assert live.delete_agent_alias(first, alias="beta") == {}
    assert [a["alias"] for a in live.list_agent_aliases(first)] == ["prod"]
    with pytest.raises(APIStatusError) as info:
        live.delete_agent_alias(first, alias="beta")
    assert info.value.status_code == 404
    page = live.list_agents_pages(page_size=2)
    assert page["object"] == "list" and len(page["data"]) == 2 and page["next_page_token"]
    rest = live.list_agents_pages(page_size=2, page_token=page["next_page_token"])
    assert len(rest["data"]) == 1 and rest["next_page_token"] is None
    everyone = [a["id"] for a in live.paginate("list_agents_pages", page_size=1)]
    assert sorted(everyone) == sorted(a["id"] for a in agents)
    assert [a["name"] for a in live.list_agents_pages(name="agent-1")["data"]] == ["agent-1"]


def test_e2e_delete_batch_job(live: Client) -> None:
    line = {"custom_id": "0", "body": {"messages": [{"role": "user", "content": "hi"}]}}
    job = live.create_batch_job(endpoint="/v1/chat/completions", model="mistral-small-latest", requests=[line])
    assert live.delete_batch_job(job["id"]) == {"id": job["id"], "object": "batch", "deleted": True}
    with pytest.raises(APIStatusError) as info:
        live.get_batch_job(job["id"])
    assert info.value.status_code == 404
    assert live.list_batch_jobs()["total"] == 0


def test_e2e_documents_process_after_batch_step() -> None:
    """Without tick(), a document is processed once ``batch_step`` seconds have passed."""
    with FakeMistral(batch_step=0.05) as fake, Client("k", base_url=fake.url) as c:
        library = c.create_library(name="Lazy")
        doc = c.upload_library_document(library["id"], file=("a.txt", b"lazy"))
        final = c.wait("get_library_document_status", library["id"], doc["id"], timeout=5, interval=0.02)
        assert final["processing_status"] == "Completed"
        assert c.get_library_document_text(library["id"], doc["id"]) == {"text": "lazy"}
