"""The response cache: opt-in, table-driven, keyed per key/URL/params, copies, invalidation, TTL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from _samples import ARGS, MSG

from mistral_lite import Client
from mistral_lite._dev.testing import make_client
from mistral_lite._table import load_spec
from mistral_lite.exceptions import InternalServerError, NotFoundError

API_KEY = "sk-test-0123456789abcdef"
OTHER_KEY = "sk-other-fedcba9876543210"
ANY_URL = re.compile(r"https://api\.mistral\.ai/.*")
OTHER_URL = re.compile(r"https://eu\.example\.com/.*")
SPEC = load_spec()

CACHED = ("embed", "classify", "classify_chat", "moderate", "moderate_chat", "ocr", "list_models", "get_model",
          "get_agent_version")
CACHED_ARGS: dict[str, dict[str, Any]] = {op: ARGS[op] for op in CACHED}
UNCACHED_READS: dict[str, dict[str, Any]] = {
    "get_batch_job": {"job_id": "j1"},  # job status
    "get_fine_tuning_job": {"job_id": "j1"},  # job status
    "get_agent": {"agent_id": "ag_1"},
    "list_files": {},
    "get_conversation": {"conversation_id": "c1"},
    "chat": {"model": "m", "messages": MSG},
}
EMBEDDING = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
             "model": "mistral-embed", "usage": {"prompt_tokens": 1}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(sleeps: list[float], clock: Clock) -> Iterator[Client]:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, cache=True, cache_ttl=60, clock=clock) as c:
        yield c


def reply(mock: responses.RequestsMock, method: str = "GET", json: Any = None, status: int = 200,
          url: Any = ANY_URL) -> None:
    mock.add(method, url, json={"id": "r"} if json is None else json, status=status)


def method_of(op: str) -> str:
    return SPEC.endpoints[op].method


# -- which rows ------------------------------------------------------------------------------


def test_cached_rows_are_exactly_the_table_rows() -> None:
    assert {n for n, ep in SPEC.endpoints.items() if ep.cache} == set(CACHED_ARGS)
    for name, ep in SPEC.endpoints.items():
        if ep.cache:
            assert ep.stream == "none", name
            assert ep.wait is None, name  # job status is never cached


def test_cache_is_off_by_default(client: Client, mock: responses.RequestsMock) -> None:
    assert client.cache is None
    reply(mock, "POST", EMBEDDING)
    assert client.embed(input=["x"]) == EMBEDDING
    assert client.embed(input=["x"]) == EMBEDDING
    assert len(mock.calls) == 2


@pytest.mark.parametrize("op", list(CACHED_ARGS))
def test_cacheable_rows_are_served_from_cache(cached: Client, mock: responses.RequestsMock, op: str) -> None:
    reply(mock, method_of(op), {"id": op, "n": [1, 2]})
    first = cached.call(op, **CACHED_ARGS[op])
    second = cached.call(op, **CACHED_ARGS[op])
    assert first == second == {"id": op, "n": [1, 2]}
    assert len(mock.calls) == 1
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 1, "misses": 1, "size": 1}


@pytest.mark.parametrize("op", list(UNCACHED_READS))
def test_other_rows_are_never_cached(cached: Client, mock: responses.RequestsMock, op: str) -> None:
    reply(mock, method_of(op), {"id": op, "status": "RUNNING"})
    cached.call(op, **UNCACHED_READS[op])
    cached.call(op, **UNCACHED_READS[op])
    assert len(mock.calls) == 2
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 0, "misses": 0, "size": 0}


def test_streams_are_never_cached(cached: Client, mock: responses.RequestsMock) -> None:
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'
    mock.add("POST", ANY_URL, body=sse, content_type="text/event-stream")
    for _ in range(2):
        assert len(list(cached.chat(model="m", messages=MSG, stream=True))) == 1
    assert len(mock.calls) == 2
    assert cached.cache is not None and cached.cache.stats["size"] == 0


def test_errors_are_never_cached(cached: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    reply(mock, "GET", {"message": "no such model"}, status=404)
    with pytest.raises(NotFoundError):
        cached.get_model("model-a")
    mock.replace("GET", ANY_URL, json={"id": "model-a"})
    assert cached.get_model("model-a") == {"id": "model-a"}
    assert cached.get_model("model-a") == {"id": "model-a"}
    assert len(mock.calls) == 2
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 1, "misses": 2, "size": 1}


def test_retried_errors_are_not_cached(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, cache=True, max_retries=1) as c:
        for _ in range(2):
            reply(mock, "POST", {"message": "down"}, status=503)
        with pytest.raises(InternalServerError):
            c.embed(input=["x"])
        assert c.cache is not None and c.cache.stats["size"] == 0
        mock.replace("POST", ANY_URL, json=EMBEDDING)
        assert c.embed(input=["x"]) == EMBEDDING
        assert c.embed(input=["x"]) == EMBEDDING
    assert len(mock.calls) == 3


# -- the key ---------------------------------------------------------------------------------


def test_key_covers_operation(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "POST", {"results": []})
    cached.classify(model="m", input="x")
    cached.moderate(model="m", input="x")
    cached.classify(model="m", input="x")
    cached.moderate(model="m", input="x")
    assert len(mock.calls) == 2


def test_key_covers_path_params(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    cached.get_model("model-a")
    cached.get_model("model-b")
    cached.get_model("model-a")
    cached.get_agent_version("ag_1", "1")
    cached.get_agent_version("ag_1", "2")
    cached.get_agent_version("ag_2", "1")
    cached.get_agent_version("ag_1", "1")
    assert [c.request.url.split("/v1/")[1] for c in mock.calls] == [
        "models/model-a", "models/model-b", "agents/ag_1/versions/1", "agents/ag_1/versions/2",
        "agents/ag_2/versions/1"]


def test_key_covers_query(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, json={"data": []})
    cached.list_models()
    cached.list_models(provider="mistralai")
    cached.list_models(provider="other")
    cached.list_models(provider="mistralai")
    cached.list_models(extra_query={"x": "1"})
    cached.list_models()
    assert len(mock.calls) == 4


def test_key_covers_body(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "POST", EMBEDDING)
    cached.embed(input=["x"])
    cached.embed(input=["y"])
    cached.embed(input=["x"], model="other-embed")
    cached.embed(input=["x"], extra_body={"output_dimension": 8})
    cached.embed(input=["x"], model="mistral-embed")  # the filled default: same request as the first
    cached.embed(input=["y"])
    assert len(mock.calls) == 4


def test_key_ignores_dict_order(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "POST", {"pages": []})
    cached.ocr(model="m", document={"type": "document_url", "document_url": "https://e.com/a.pdf"})
    cached.ocr(document={"document_url": "https://e.com/a.pdf", "type": "document_url"}, model="m")
    assert len(mock.calls) == 1


def test_key_covers_base_url(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    reply(mock, url=OTHER_URL)
    other = cached.with_options(base_url="https://eu.example.com")
    cached.get_model("model-a")
    other.get_model("model-a")
    cached.get_model("model-a")
    other.get_model("model-a")
    assert [c.request.url for c in mock.calls] == [
        "https://api.mistral.ai/v1/models/model-a", "https://eu.example.com/v1/models/model-a"]


def test_clients_with_different_keys_never_share(mock: responses.RequestsMock) -> None:
    shared: dict[Any, Any] = {}
    reply(mock, "POST", EMBEDDING)
    with Client(API_KEY, cache=shared) as a, Client(OTHER_KEY, cache=shared) as b:
        a.embed(input=["x"])
        b.embed(input=["x"])
        a.embed(input=["x"])
        b.embed(input=["x"])
    assert len(mock.calls) == 2
    assert [c.request.headers["Authorization"] for c in mock.calls] == [f"Bearer {API_KEY}", f"Bearer {OTHER_KEY}"]
    assert len(shared) == 2
    assert API_KEY not in repr(list(shared)) and OTHER_KEY not in repr(list(shared))


def test_shared_dict_between_clients_with_same_key(mock: responses.RequestsMock) -> None:
    shared: dict[Any, Any] = {}
    reply(mock)
    with Client(API_KEY, cache=shared) as a, Client(API_KEY, cache=shared) as b:
        assert a.get_model("model-a") == {"id": "r"}
        assert b.get_model("model-a") == {"id": "r"}
        assert a.cache is not None and b.cache is not None
        assert a.cache.stats == {"hits": 0, "misses": 1, "size": 1}
        assert b.cache.stats == {"hits": 1, "misses": 0, "size": 1}
    assert len(mock.calls) == 1


def test_with_options_shares_the_cache(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    cached.get_model("model-a")
    assert cached.with_options(timeout=5, max_retries=0).get_model("model-a") == {"id": "r"}
    assert len(mock.calls) == 1


# -- copies ----------------------------------------------------------------------------------


def test_hit_returns_a_copy(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "POST", EMBEDDING)
    first = cached.embed(input=["x"])
    first["data"][0]["embedding"].append(99.0)
    first["model"] = "changed"
    second = cached.embed(input=["x"])
    assert second == EMBEDDING
    second["data"][0]["embedding"].clear()
    second["data"].append({"junk": True})
    second["usage"]["prompt_tokens"] = 7
    third = cached.embed(input=["x"])
    assert third == EMBEDDING
    assert third is not second and third["data"] is not second["data"]
    assert len(mock.calls) == 1


def test_hit_from_shared_dict_returns_a_copy(mock: responses.RequestsMock) -> None:
    shared: dict[Any, Any] = {}
    reply(mock, "GET", {"id": "m", "capabilities": {"chat": True, "tags": ["a"]}})
    with Client(API_KEY, cache=shared) as c:
        c.get_model("m")["capabilities"]["tags"].append("b")
        hit = c.get_model("m")
        hit["capabilities"]["tags"].append("c")
        assert c.get_model("m") == {"id": "m", "capabilities": {"chat": True, "tags": ["a"]}}
    assert len(mock.calls) == 1


# -- bypass ----------------------------------------------------------------------------------


def test_with_options_cache_false_bypasses(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    cached.get_model("model-a")
    bypass = cached.with_options(cache=False)
    bypass.get_model("model-a")
    bypass.get_model("model-b")
    assert len(mock.calls) == 3
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 0, "misses": 1, "size": 1}  # not read, not written
    cached.get_model("model-a")
    assert len(mock.calls) == 3
    cached.get_model("model-b")  # the bypassing call stored nothing
    assert len(mock.calls) == 4


# -- invalidation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("write", "method", "args"), [
    ("delete_model", "DELETE", {}),
    ("update_fine_tuned_model", "PATCH", {"name": "new"}),
    ("archive_fine_tuned_model", "POST", {}),
    ("unarchive_fine_tuned_model", "DELETE", {}),
])
def test_model_writes_invalidate_model_reads(cached: Client, mock: responses.RequestsMock, write: str,
                                             method: str, args: dict[str, Any]) -> None:
    reply(mock, "GET")
    reply(mock, method, {"ok": True})
    cached.get_model("model-a")
    cached.get_model("model-b")
    cached.list_models()
    cached.list_models(provider="p")
    assert len(mock.calls) == 4
    cached.call(write, "model-a", **args)
    assert len(mock.calls) == 5
    cached.get_model("model-a")  # dropped: same resource
    assert len(mock.calls) == 6
    cached.get_model("model-b")  # another resource: still cached
    assert len(mock.calls) == 6
    cached.list_models()  # the list shares no path parameter: dropped
    cached.list_models(provider="p")
    assert len(mock.calls) == 8
    cached.get_model("model-a")
    cached.list_models()
    assert len(mock.calls) == 8


def test_delete_agent_invalidates_its_versions_only(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "GET")
    mock.add("DELETE", ANY_URL, status=204)
    cached.get_agent_version("ag_1", "1")
    cached.get_agent_version("ag_1", "2")
    cached.get_agent_version("ag_2", "1")
    cached.delete_agent("ag_1")
    assert len(mock.calls) == 4
    cached.get_agent_version("ag_2", "1")
    assert len(mock.calls) == 4
    cached.get_agent_version("ag_1", "1")
    cached.get_agent_version("ag_1", "2")
    assert len(mock.calls) == 6
    assert cached.cache is not None and cached.cache.stats["size"] == 3


def test_writes_invalidate_even_when_bypassing(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "GET")
    reply(mock, "DELETE", {"deleted": True})
    cached.get_model("model-a")
    cached.with_options(cache=False).delete_model("model-a")
    cached.get_model("model-a")
    assert len(mock.calls) == 3


def test_writes_invalidate_across_clients_sharing_a_dict(mock: responses.RequestsMock) -> None:
    shared: dict[Any, Any] = {}
    reply(mock, "GET")
    reply(mock, "DELETE", {"deleted": True})
    with Client(API_KEY, cache=shared) as a, Client(API_KEY, cache=shared) as b:
        a.get_model("model-a")
        b.delete_model("model-a")
        a.get_model("model-a")
    assert len(mock.calls) == 3


def test_unrelated_write_keeps_entries(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock, "GET")
    reply(mock, "DELETE", {"deleted": True})
    cached.get_model("model-a")
    cached.delete_file("f1")
    cached.get_model("model-a")
    assert len(mock.calls) == 2


# -- stats, TTL, size ------------------------------------------------------------------------


def test_stats_count_hits_misses_size(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 0, "misses": 0, "size": 0}
    cached.get_model("a")
    cached.get_model("a")
    cached.get_model("b")
    cached.get_model("a")
    cached.get_model("b")
    assert cached.cache.stats == {"hits": 3, "misses": 2, "size": 2}
    assert len(mock.calls) == 2


def test_ttl_uses_the_injected_clock(cached: Client, mock: responses.RequestsMock, clock: Clock) -> None:
    reply(mock)
    cached.get_model("a")
    clock.now += 30
    cached.get_model("a")
    clock.now += 29
    cached.get_model("a")
    assert len(mock.calls) == 1
    clock.now += 2  # 61 s after the store, past the 60 s ttl
    cached.get_model("a")
    assert len(mock.calls) == 2
    clock.now += 59
    cached.get_model("a")
    assert len(mock.calls) == 2
    assert cached.cache is not None
    assert cached.cache.stats == {"hits": 3, "misses": 2, "size": 1}


def test_ttl_with_shared_dict(mock: responses.RequestsMock, clock: Clock) -> None:
    shared: dict[Any, Any] = {}
    reply(mock)
    with make_client(API_KEY, cache=shared, cache_ttl=10, clock=clock) as c:
        c.get_model("a")
        clock.now += 9
        c.get_model("a")
        clock.now += 2
        c.get_model("a")
    assert len(mock.calls) == 2


def test_default_ttl_is_five_minutes(mock: responses.RequestsMock, clock: Clock) -> None:
    reply(mock)
    with make_client(API_KEY, cache=True, clock=clock) as c:
        c.get_model("a")
        clock.now += 299
        c.get_model("a")
        assert len(mock.calls) == 1
        clock.now += 2
        c.get_model("a")
    assert len(mock.calls) == 2


def test_maxsize_bounds_the_cache(mock: responses.RequestsMock, clock: Clock) -> None:
    reply(mock)
    with make_client(API_KEY, cache=True, cache_maxsize=2, clock=clock) as c:
        for name in ("a", "b", "c"):
            c.get_model(name)
        assert c.cache is not None and c.cache.stats["size"] == 2
        c.get_model("c")
        assert len(mock.calls) == 3


def test_cache_clear(cached: Client, mock: responses.RequestsMock) -> None:
    reply(mock)
    cached.get_model("a")
    assert cached.cache is not None
    cached.cache.clear()
    assert cached.cache.stats["size"] == 0
    cached.get_model("a")
    assert len(mock.calls) == 2
