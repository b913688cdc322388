"""Tests of mistral_lite.fake: the HTTP fake of the Mistral API, driven with plain requests."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mistral_lite.fake import FakeMistral, Fault
from mistral_lite.fake.pytest_plugin import fake_mistral  # noqa: F401 - the plugin's fixture

KEY = "test-key"
ERROR_KEYS = {"object", "message", "type", "param", "code"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeMistral]:
    with FakeMistral(KEY, batch_step=0) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeMistral) -> FakeMistral:
    server.reset()
    return server


@pytest.fixture
def api(fake: FakeMistral) -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    yield session
    session.close()


def url(fake: FakeMistral, path: str) -> str:
    return fake.url + path


def sse_events(raw: bytes) -> list[dict[str, str]]:
    """Split an SSE body into events ({field: value}), as the official SDK does."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        event: dict[str, str] = {}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            event[key] = (event[key] + "\n" if key in event else "") + value.lstrip(" ")
        events.append(event)
    return events


def upload(api: requests.Session, fake: FakeMistral, name: str, data: bytes, purpose: str = "batch") -> Any:
    r = api.post(url(fake, "/v1/files"), files={"file": (name, data)}, data={"purpose": purpose})
    assert r.status_code == 200, r.text
    return r.json()


CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Hello fake world"}]}

# --- HTTP basics ------------------------------------------------------------------------------


def test_auth_request_id_and_routing(fake: FakeMistral, api: requests.Session) -> None:
    r = requests.get(url(fake, "/v1/models"))
    assert r.status_code == 401
    assert set(r.json()) == {"message", "request_id"} and r.json()["message"] == "Unauthorized"
    assert requests.get(url(fake, "/v1/models"), headers={"Authorization": "Bearer wrong"}).status_code == 401
    ids = {api.get(url(fake, "/v1/models")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    r = api.get(url(fake, "/v1/no/such/route"))
    assert r.status_code == 404 and r.headers["x-request-id"]
    assert api.put(url(fake, "/v1/models")).status_code == 405


def test_unknown_id_is_404_in_api_shape(fake: FakeMistral, api: requests.Session) -> None:
    for path in ("/v1/models/nope", "/v1/files/00000000-0000-4000-8000-000000000000", "/v1/agents/ag_x",
                 "/v1/conversations/conv_x", "/v1/batch/jobs/00000000-0000-4000-8000-000000000000"):
        r = api.get(url(fake, path))
        assert r.status_code == 404, path
        body = r.json()
        assert set(body) == ERROR_KEYS and body["object"] == "error"
        assert body["type"] == "invalid_request_error" and body["param"] is None


def test_validation_error_is_422_in_api_shape(fake: FakeMistral, api: requests.Session) -> None:
    r = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "safe_mode": True})
    assert r.status_code == 422
    body = r.json()
    assert set(body) == ERROR_KEYS and body["type"] == "invalid_request_error"
    detail = body["message"]["detail"]
    assert {"type": "extra_forbidden", "loc": ["body", "safe_mode"], "msg": "Extra inputs are not permitted",
            "input": True} in detail
    r = api.post(url(fake, "/v1/chat/completions"), json={"messages": CHAT["messages"]})
    assert r.status_code == 422 and r.json()["message"]["detail"][0]["loc"] == ["body", "model"]
    r = api.put(url(fake, "/v1/agents/ag_x/aliases"), params={"alias": "prod", "version": "x"})
    assert r.status_code == 422 and r.json()["message"]["detail"][0]["loc"][:2] == ["query", "version"]
    r = api.post(url(fake, "/v1/embeddings"), data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_keep_alive_reuses_the_connection(fake: FakeMistral) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        first = conn.getresponse()
        assert first.getheader("Content-Length") and first.read()
        sock = conn.sock
        body = json.dumps({"model": "mistral-embed", "input": "x"})
        conn.request("POST", "/v1/embeddings", body=body,
                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status == 200 and second.read()
        assert conn.sock is sock
    finally:
        conn.close()


def test_requests_are_recorded(fake: FakeMistral, api: requests.Session) -> None:
    api.get(url(fake, "/v1/batch/jobs"), params={"status": ["QUEUED", "RUNNING"], "page": "0"})
    api.post(url(fake, "/v1/chat/completions"), json=CHAT)
    get, post = fake.requests
    assert (get.method, get.path, get.operation) == ("GET", "/v1/batch/jobs", "list_batch_jobs")
    assert get.query == {"status": ["QUEUED", "RUNNING"], "page": ["0"]}
    assert get.headers["authorization"] == f"Bearer {KEY}"
    assert post.json == CHAT and json.loads(post.body) == CHAT
    fake.reset()
    assert fake.requests == []


def test_plugin_fixture(fake_mistral: FakeMistral) -> None:  # noqa: F811
    r = requests.get(fake_mistral.url + "/v1/models", headers={"Authorization": "Bearer any"})
    assert r.status_code == 200


# --- models -----------------------------------------------------------------------------------


def test_models(fake: FakeMistral, api: requests.Session) -> None:
    body = api.get(url(fake, "/v1/models")).json()
    assert body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    assert {"mistral-small-latest", "mistral-large-latest", "codestral-latest", "mistral-embed",
            "mistral-moderation-latest", "mistral-ocr-latest"} <= ids
    card = api.get(url(fake, "/v1/models/codestral-latest")).json()
    assert card["capabilities"]["completion_fim"] is True and card["type"] == "base"
    ft = next(m for m in body["data"] if m["id"].startswith("ft:"))
    assert ft["type"] == "fine-tuned" and ft["root"] and ft["job"]
    r = api.patch(url(fake, f"/v1/fine_tuning/models/{ft['id']}"), json={"name": "mine", "description": "d"})
    assert r.status_code == 200 and r.json()["name"] == "mine" and r.json()["model_type"] == "completion"
    assert api.post(url(fake, f"/v1/fine_tuning/models/{ft['id']}/archive")).json() == {
        "id": ft["id"], "object": "model", "archived": True}
    assert api.get(url(fake, f"/v1/models/{ft['id']}")).json()["archived"] is True
    assert api.delete(url(fake, f"/v1/fine_tuning/models/{ft['id']}/archive")).json()["archived"] is False
    assert api.delete(url(fake, "/v1/models/mistral-large-latest")).status_code == 403
    assert api.delete(url(fake, f"/v1/models/{ft['id']}")).json() == {"id": ft["id"], "object": "model",
                                                                       "deleted": True}
    assert api.get(url(fake, f"/v1/models/{ft['id']}")).status_code == 404


# --- files ------------------------------------------------------------------------------------


def test_files(fake: FakeMistral, api: requests.Session) -> None:
    first = upload(api, fake, "train.jsonl", b'{"a": 1}\n{"a": 2}\n', "fine-tune")
    assert first["object"] == "file" and first["bytes"] == 18 and first["filename"] == "train.jsonl"
    assert first["purpose"] == "fine-tune" and first["source"] == "upload" and first["num_lines"] == 2
    second = upload(api, fake, "scan.pdf", b"%PDF-1.4", "ocr")
    listing = api.get(url(fake, "/v1/files")).json()
    assert listing["object"] == "list" and listing["total"] == 2 and len(listing["data"]) == 2
    ocr_files = api.get(url(fake, "/v1/files"), params={"purpose": "ocr"}).json()["data"]
    assert [f["id"] for f in ocr_files] == [second["id"]]
    assert api.get(url(fake, "/v1/files"), params={"search": "TRAIN"}).json()["total"] == 1
    assert api.get(url(fake, "/v1/files"), params={"sample_type": ["instruct"]}).json()["total"] == 1
    assert api.get(url(fake, "/v1/files"), params={"source": ["mistral"]}).json()["total"] == 0
    paged = api.get(url(fake, "/v1/files"), params={"page": 1, "page_size": 1}).json()
    assert len(paged["data"]) == 1 and paged["total"] == 2
    got = api.get(url(fake, f"/v1/files/{first['id']}")).json()
    assert got["deleted"] is False and got["id"] == first["id"]
    signed = api.get(url(fake, f"/v1/files/{first['id']}/url"), params={"expiry": 24}).json()
    assert set(signed) == {"url"} and signed["url"].startswith(fake.url)
    assert requests.get(signed["url"]).content == b'{"a": 1}\n{"a": 2}\n'
    r = api.get(url(fake, f"/v1/files/{first['id']}/content"))
    assert r.headers["Content-Type"] == "application/octet-stream" and r.content == b'{"a": 1}\n{"a": 2}\n'
    assert api.delete(url(fake, f"/v1/files/{first['id']}")).json() == {"id": first["id"], "object": "file",
                                                                         "deleted": True}
    assert api.get(url(fake, f"/v1/files/{first['id']}")).status_code == 404


# --- agents -----------------------------------------------------------------------------------


def test_agents(fake: FakeMistral, api: requests.Session) -> None:
    agent = api.post(url(fake, "/v1/agents"), json={"model": "mistral-small-latest", "name": "helper",
                                                    "instructions": "Be brief."}).json()
    assert agent["object"] == "agent" and agent["version"] == 0 and agent["versions"] == [0]
    for key in ("id", "created_at", "updated_at", "deployment_chat", "source", "tools", "completion_args"):
        assert key in agent
    aid = agent["id"]
    updated = api.patch(url(fake, f"/v1/agents/{aid}"), json={"description": "v1"}).json()
    assert updated["version"] == 1 and updated["versions"] == [0, 1] and updated["description"] == "v1"
    assert api.get(url(fake, f"/v1/agents/{aid}")).json()["version"] == 1
    assert api.get(url(fake, f"/v1/agents/{aid}"), params={"agent_version": 0}).json()["description"] is None
    assert api.get(url(fake, f"/v1/agents/{aid}/versions/0")).json()["version"] == 0
    listing = api.get(url(fake, "/v1/agents"), params={"page": 0, "page_size": 10}).json()
    assert isinstance(listing, list) and [a["id"] for a in listing] == [aid]
    assert api.get(url(fake, "/v1/agents"), params={"sources": ["playground"]}).json() == []
    versions = api.get(url(fake, f"/v1/agents/{aid}/versions")).json()
    assert [v["version"] for v in versions] == [1, 0]
    assert api.patch(url(fake, f"/v1/agents/{aid}/version"), params={"version": 0}).json()["version"] == 0
    alias = api.put(url(fake, f"/v1/agents/{aid}/aliases"), params={"alias": "prod", "version": "1"}).json()
    assert set(alias) == {"alias", "version", "created_at", "updated_at"} and alias["version"] == 1
    assert api.get(url(fake, f"/v1/agents/{aid}/aliases")).json() == [alias]
    assert api.get(url(fake, f"/v1/agents/{aid}"), params={"agent_version": "prod"}).json()["version"] == 1
    r = api.delete(url(fake, f"/v1/agents/{aid}"))
    assert r.status_code == 204 and r.content == b"" and r.headers["Content-Length"] == "0"
    assert api.get(url(fake, f"/v1/agents/{aid}")).status_code == 404


# --- completions ------------------------------------------------------------------------------


def test_chat_text_tools_json_and_stream(fake: FakeMistral, api: requests.Session) -> None:
    body = api.post(url(fake, "/v1/chat/completions"), json=CHAT).json()
    assert body["object"] == "chat.completion" and body["model"] == "mistral-small-latest"
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Echo: Hello fake world" and choice["finish_reason"] == "stop"
    assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert api.post(url(fake, "/v1/chat/completions"), json=CHAT).json()["choices"] == body["choices"]
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    called = api.post(url(fake, "/v1/chat/completions"),
                      json={**CHAT, "tools": [tool], "tool_choice": "any"}).json()["choices"][0]
    assert called["finish_reason"] == "tool_calls"
    call = called["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and "city" in json.loads(call["function"]["arguments"])
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}}}
    content = api.post(url(fake, "/v1/chat/completions"),
                       json={**CHAT, "response_format": fmt}).json()["choices"][0]["message"]["content"]
    assert set(json.loads(content)) == {"n", "s"}
    content = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "response_format": {
        "type": "json_object"}}).json()["choices"][0]["message"]["content"]
    assert isinstance(json.loads(content), dict)
    r = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "stream": True}, stream=True)
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(r.content)
    assert events[-1] == {"data": "[DONE]"}
    chunks = [json.loads(e["data"]) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Echo: Hello fake world"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] > 0


def test_fim_and_agent_completion(fake: FakeMistral, api: requests.Session) -> None:
    body = api.post(url(fake, "/v1/fim/completions"), json={"model": "codestral-latest",
                                                           "prompt": "def add(a, b):", "suffix": "print(1)"}).json()
    assert "def add(a, b):" in body["choices"][0]["message"]["content"] and body["usage"]["prompt_tokens"] > 0
    r = api.post(url(fake, "/v1/fim/completions"), json={"model": "codestral-latest", "prompt": "x =",
                                                        "stream": True})
    assert sse_events(r.content)[-1] == {"data": "[DONE]"}
    agent = api.post(url(fake, "/v1/agents"), json={"model": "mistral-large-latest", "name": "a"}).json()
    body = api.post(url(fake, "/v1/agents/completions"), json={"agent_id": agent["id"],
                                                             "messages": CHAT["messages"]}).json()
    assert body["model"] == "mistral-large-latest" and body["choices"][0]["message"]["content"].startswith("Echo")
    assert api.post(url(fake, "/v1/agents/completions"),
                    json={"agent_id": "ag_missing", "messages": CHAT["messages"]}).status_code == 404


def test_embeddings_classification_moderation_ocr(fake: FakeMistral, api: requests.Session) -> None:
    body = api.post(url(fake, "/v1/embeddings"), json={"model": "mistral-embed", "input": ["a", "b", "a"]}).json()
    assert body["object"] == "list" and body["model"] == "mistral-embed" and body["usage"]["prompt_tokens"] == 3
    vectors = [d["embedding"] for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and len(vectors[0]) == 1024
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[1]), 1.0, rel_tol=1e-4)
    mod = api.post(url(fake, "/v1/moderations"), json={"model": "mistral-moderation-latest",
                                                       "input": ["I love violence"]}).json()
    assert set(mod) == {"id", "model", "results"}
    result = mod["results"][0]
    assert result["categories"]["violence_and_threats"] is True and result["categories"]["pii"] is False
    assert set(result["category_scores"]) == set(result["categories"])
    chat_mod = api.post(url(fake, "/v1/chat/moderations"), json={"model": "mistral-moderation-latest",
                                                                "input": CHAT["messages"]}).json()
    assert len(chat_mod["results"]) == 1
    cls = api.post(url(fake, "/v1/classifications"), json={"model": "mistral-moderation-latest",
                                                           "input": "hi"}).json()
    assert "scores" in next(iter(cls["results"][0].values()))
    cls = api.post(url(fake, "/v1/chat/classifications"), json={"model": "mistral-moderation-latest",
                                                                "input": {"messages": CHAT["messages"]}}).json()
    assert len(cls["results"]) == 1
    ocr = api.post(url(fake, "/v1/ocr"), json={"model": "mistral-ocr-latest", "document": {
        "type": "document_url", "document_url": "https://example.com/a.pdf"}}).json()
    assert ocr["model"] == "mistral-ocr-latest" and ocr["usage_info"]["pages_processed"] == len(ocr["pages"])
    page = ocr["pages"][0]
    assert page["index"] == 0 and "https://example.com/a.pdf" in page["markdown"]
    assert set(page["dimensions"]) == {"dpi", "height", "width"}


# --- conversations ----------------------------------------------------------------------------


def test_conversations(fake: FakeMistral, api: requests.Session) -> None:
    created = api.post(url(fake, "/v1/conversations"), json={"model": "mistral-small-latest",
                                                             "inputs": "Hi there"}).json()
    assert created["object"] == "conversation.response" and set(created["usage"]) >= {"total_tokens"}
    out = created["outputs"][0]
    assert out["type"] == "message.output" and out["content"] == "Echo: Hi there" and out["role"] == "assistant"
    cid = created["conversation_id"]
    appended = api.post(url(fake, f"/v1/conversations/{cid}"), json={"inputs": "Again"}).json()
    assert appended["conversation_id"] == cid and appended["outputs"][0]["content"] == "Echo: Again"
    history = api.get(url(fake, f"/v1/conversations/{cid}/history")).json()
    assert history["object"] == "conversation.history" and len(history["entries"]) == 4
    messages = api.get(url(fake, f"/v1/conversations/{cid}/messages")).json()
    assert messages["object"] == "conversation.messages" and len(messages["messages"]) == 4
    meta = api.get(url(fake, f"/v1/conversations/{cid}")).json()
    assert meta["object"] == "conversation" and meta["id"] == cid and meta["model"] == "mistral-small-latest"
    first_entry = history["entries"][1]["id"]
    restarted = api.post(url(fake, f"/v1/conversations/{cid}/restart"),
                         json={"from_entry_id": first_entry, "inputs": "Branch"}).json()
    new_id = restarted["conversation_id"]
    assert new_id != cid
    assert len(api.get(url(fake, f"/v1/conversations/{new_id}/history")).json()["entries"]) == 4
    listing = api.get(url(fake, "/v1/conversations")).json()
    assert isinstance(listing, list) and {c["id"] for c in listing} == {cid, new_id}
    assert api.delete(url(fake, f"/v1/conversations/{cid}")).status_code == 204
    assert api.get(url(fake, f"/v1/conversations/{cid}")).status_code == 404


def test_conversation_stream(fake: FakeMistral, api: requests.Session) -> None:
    r = api.post(url(fake, "/v1/conversations"), json={"model": "mistral-small-latest", "inputs": "Say hi",
                                                       "stream": True}, stream=True)
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(r.content)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "conversation.response.started" and kinds[-1] == "conversation.response.done"
    assert set(kinds[1:-1]) == {"message.output.delta"}
    payloads = [json.loads(e["data"]) for e in events]
    assert all(p["type"] == e["event"] for p, e in zip(payloads, events, strict=True))
    assert "".join(p["content"] for p in payloads[1:-1]) == "Echo: Say hi"
    assert payloads[-1]["usage"]["total_tokens"] > 0
    assert all("[DONE]" not in e["data"] for e in events)


# --- batch jobs -------------------------------------------------------------------------------


def test_batch_lifecycle(fake: FakeMistral, api: requests.Session) -> None:
    job = api.post(url(fake, "/v1/batch/jobs"), json={
        "endpoint": "/v1/chat/completions", "model": "mistral-small-latest",
        "requests": [{"custom_id": "a", "body": {"messages": [{"role": "user", "content": "one"}]}},
                     {"custom_id": "b", "body": {"messages": [{"role": "user", "content": "two"}], "bad": 1}}],
    }).json()
    assert job["object"] == "batch" and job["status"] == "QUEUED" and job["total_requests"] == 2
    fake.tick()
    assert api.get(url(fake, f"/v1/batch/jobs/{job['id']}")).json()["status"] == "RUNNING"
    fake.tick()
    done = api.get(url(fake, f"/v1/batch/jobs/{job['id']}"), params={"inline": "true"}).json()
    assert done["status"] == "SUCCESS" and (done["succeeded_requests"], done["failed_requests"]) == (1, 1)
    assert {o["custom_id"] for o in done["outputs"]} == {"a", "b"}
    lines = [json.loads(x) for x in api.get(url(fake, f"/v1/files/{done['output_file']}/content")).text.splitlines()]
    assert len(lines) == 1 and set(lines[0]) == {"id", "custom_id", "response", "error"}
    assert lines[0]["response"]["status_code"] == 200
    assert lines[0]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: one"
    errors = [json.loads(x) for x in api.get(url(fake, f"/v1/files/{done['error_file']}/content")).text.splitlines()]
    assert errors[0]["custom_id"] == "b" and errors[0]["response"]["status_code"] == 422
    results = api.get(url(fake, "/v1/files"), params={"sample_type": ["batch_result"]}).json()
    assert [f["id"] for f in results["data"]] == [done["output_file"]]
    listing = api.get(url(fake, "/v1/batch/jobs"), params={"status": ["SUCCESS"]}).json()
    assert listing["object"] == "list" and listing["total"] == 1 and listing["data"][0]["id"] == job["id"]
    assert api.get(url(fake, "/v1/batch/jobs"), params={"status": ["QUEUED", "RUNNING"]}).json()["total"] == 0


def test_batch_from_file_and_cancel(fake: FakeMistral, api: requests.Session) -> None:
    lines = b"".join(json.dumps({"custom_id": str(i), "body": {"input": f"t{i}"}}).encode() + b"\n" for i in range(3))
    stored = upload(api, fake, "batch.jsonl", lines)
    job = api.post(url(fake, "/v1/batch/jobs"), json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                      "input_files": [stored["id"]]}).json()
    assert job["total_requests"] == 3 and job["input_files"] == [stored["id"]]
    fake.tick()
    fake.tick()
    done = api.get(url(fake, f"/v1/batch/jobs/{job['id']}")).json()
    assert done["status"] == "SUCCESS" and done["succeeded_requests"] == 3 and done["outputs"] is None
    other = api.post(url(fake, "/v1/batch/jobs"), json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                        "input_files": [stored["id"]]}).json()
    cancelled = api.post(url(fake, f"/v1/batch/jobs/{other['id']}/cancel")).json()
    assert cancelled["status"] == "CANCELLATION_REQUESTED"
    fake.tick()
    assert api.get(url(fake, f"/v1/batch/jobs/{other['id']}")).json()["status"] == "CANCELLED"


# --- fine-tuning jobs -------------------------------------------------------------------------


def test_fine_tuning_jobs(fake: FakeMistral, api: requests.Session) -> None:
    stored = upload(api, fake, "train.jsonl", b'{"messages": []}\n' * 10, "fine-tune")
    spec = {"model": "mistral-small-latest", "training_files": [{"file_id": stored["id"], "weight": 1}],
            "hyperparameters": {"training_steps": 5}, "auto_start": False}
    estimate = api.post(url(fake, "/v1/fine_tuning/jobs"), params={"dry_run": "true"}, json=spec).json()
    assert estimate["object"] == "job.metadata" and estimate["training_steps"] == 5 and estimate["cost"] >= 0
    job = api.post(url(fake, "/v1/fine_tuning/jobs"), json=spec).json()
    assert job["object"] == "job" and job["status"] == "QUEUED" and job["training_files"] == [stored["id"]]
    fake.tick()
    fake.tick()
    assert api.get(url(fake, f"/v1/fine_tuning/jobs/{job['id']}")).json()["status"] == "VALIDATED"
    fake.tick()
    assert api.get(url(fake, f"/v1/fine_tuning/jobs/{job['id']}")).json()["status"] == "VALIDATED"
    started = api.post(url(fake, f"/v1/fine_tuning/jobs/{job['id']}/start")).json()
    assert started["status"] == "STARTED" and started["events"]
    fake.tick()
    fake.tick()
    final = api.get(url(fake, f"/v1/fine_tuning/jobs/{job['id']}")).json()
    assert final["status"] == "SUCCESS" and final["fine_tuned_model"].startswith("ft:mistral-small-latest")
    assert api.get(url(fake, f"/v1/models/{final['fine_tuned_model']}")).json()["type"] == "fine-tuned"
    listing = api.get(url(fake, "/v1/fine_tuning/jobs"), params={"status": "SUCCESS"}).json()
    assert listing["object"] == "list" and listing["total"] == 1
    other = api.post(url(fake, "/v1/fine_tuning/jobs"), json=spec).json()
    cancelled = api.post(url(fake, f"/v1/fine_tuning/jobs/{other['id']}/cancel")).json()
    assert cancelled["status"] == "CANCELLATION_REQUESTED"
    fake.tick()
    assert api.get(url(fake, f"/v1/fine_tuning/jobs/{other['id']}")).json()["status"] == "CANCELLED"
    fake.fine_tuning_gone = True
    for method, path in (("GET", "/v1/fine_tuning/jobs"), ("GET", f"/v1/fine_tuning/jobs/{job['id']}"),
                         ("POST", f"/v1/fine_tuning/jobs/{job['id']}/cancel")):
        assert api.request(method, url(fake, path)).status_code == 410
    assert api.get(url(fake, "/v1/models")).status_code == 200


# --- faults -----------------------------------------------------------------------------------


def test_fault_status_then_normal(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("list_models", Fault(429, headers={"Retry-After": "1"}), Fault(503, body={"detail": "busy"}))
    r = api.get(url(fake, "/v1/models"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json()["object"] == "error"
    r = api.get(url(fake, "/v1/models"))
    assert r.status_code == 503 and r.json() == {"detail": "busy"}
    assert api.get(url(fake, "/v1/models")).status_code == 200


def test_fault_delay_and_latency(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("get_model", Fault(delay=0.01))
    fake.latency = 0.01
    assert api.get(url(fake, "/v1/models/mistral-embed")).json()["id"] == "mistral-embed"


def test_fault_reset(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("list_models", Fault(reset=True))
    with pytest.raises(requests.ConnectionError):
        api.get(url(fake, "/v1/models"))
    assert api.get(url(fake, "/v1/models")).status_code == 200


def test_fault_cut_stream(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("chat", Fault(cut_after=2))
    r = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "stream": True}, stream=True)
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in r.iter_content(None):
            received += piece
    assert len(sse_events(received)) == 2 and b"[DONE]" not in received


def test_fault_cut_conversation_stream(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("create_conversation", Fault(cut_after=1))
    r = api.post(url(fake, "/v1/conversations"), json={"model": "mistral-small-latest", "inputs": "x",
                                                       "stream": True}, stream=True)
    received = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for piece in r.iter_content(None):
            received += piece
    assert [e["event"] for e in sse_events(received)] == ["conversation.response.started"]


def test_fault_stall_stream(fake: FakeMistral, api: requests.Session) -> None:
    fake.inject("chat", Fault(stall_after=1, stall_seconds=30))
    r = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "stream": True}, stream=True, timeout=(5, 0.3))
    lines = r.iter_lines()
    assert next(lines).startswith(b"data: ")
    with pytest.raises(requests.exceptions.ConnectionError):
        list(lines)
    r.close()


def test_fault_raw_stream_and_body(fake: FakeMistral, api: requests.Session) -> None:
    raw = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"Hel'
    fake.inject("chat", Fault(raw=raw + b'lo"}}]}\n\ndata: [DONE]\n\n'))
    r = api.post(url(fake, "/v1/chat/completions"), json={**CHAT, "stream": True})
    assert r.content.startswith(raw) and sse_events(r.content)[-1] == {"data": "[DONE]"}
    fake.inject("list_models", Fault(raw=b'{"object": "li'))
    assert api.get(url(fake, "/v1/models")).content == b'{"object": "li'


def test_inject_unknown_operation(fake: FakeMistral) -> None:
    with pytest.raises(KeyError):
        fake.inject("no_such_op", Fault(500))


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_unknown_query_parameters_are_ignored_like_the_real_api(fake: FakeMistral) -> None:
    reply = requests.get(fake.url + "/v1/models?foo=1", headers=AUTH, timeout=5)
    assert reply.status_code == 200 and reply.json()["object"] == "list"


def test_head_and_options_answer_json_with_a_request_id(fake: FakeMistral) -> None:
    for method in ("HEAD", "OPTIONS"):
        reply = requests.request(method, fake.url + "/v1/models", headers=AUTH, timeout=5)
        assert reply.status_code == 405 and reply.headers["x-request-id"]


def test_upload_without_purpose_gets_the_default(fake: FakeMistral) -> None:
    reply = requests.post(fake.url + "/v1/files", files={"file": ("a.jsonl", b"{}\n")}, headers=AUTH, timeout=5)
    assert reply.status_code == 200 and reply.json()["purpose"] == "fine-tune"


def test_malformed_json_locates_the_error(fake: FakeMistral) -> None:
    reply = requests.post(fake.url + "/v1/chat/completions", data=b"{bad", timeout=5,
                          headers={**AUTH, "Content-Type": "application/json"})
    detail = reply.json()["message"]["detail"][0]  # the API's wrapped 422 shape
    assert reply.status_code == 422 and detail["type"] == "json_invalid" and detail["loc"] == ["body", 1]
    assert "line 1 column 2" in detail["ctx"]["error"]
