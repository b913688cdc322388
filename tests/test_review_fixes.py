"""Regression tests for problems a review of the client found (each failed before its fix)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import responses

from _server import Conn, Request, ScriptedServer
from conftest import API_KEY, BASE
from mistral_lite import (
    APIConnectionError,
    AsyncClient,
    Client,
    InternalServerError,
    MistralError,
    StreamError,
    ValidationError,
)
from mistral_lite._dev.testing import make_client
from mistral_lite._core.cache import ResponseCache

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_a_retried_upload_from_a_file_object_sends_the_whole_file(mock: responses.RequestsMock,
                                                                  sleeps: Any) -> None:
    bodies: list[bytes] = []

    def record(status: int) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            body = request.body
            bodies.append(body if isinstance(body, bytes) else body.read())
            return status, {}, '{"id": "f1"}' if status == 200 else '{"message": "slow down"}'
        return callback

    mock.add_callback("POST", f"{BASE}/v1/files", callback=record(429))
    mock.add_callback("POST", f"{BASE}/v1/files", callback=record(200))
    data = b"line one\nline two\n" * 100
    client = make_client(API_KEY, sleep=sleeps, rand=lambda: 0.0)
    assert client.upload_file(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune") == {"id": "f1"}
    assert len(bodies) == 2
    assert all(data in body for body in bodies)  # the retry re-read the file from its start
    assert len(bodies[1]) == len(bodies[0])


def test_clients_sharing_a_mapping_share_one_lock() -> None:
    shared: dict[Any, Any] = {}
    first, second = Client(API_KEY, cache=shared), Client("sk-other", cache=shared)
    assert first.cache is not None and second.cache is not None
    assert first.cache._lock is second.cache._lock


def test_a_read_in_flight_during_a_write_is_not_cached() -> None:
    cache = ResponseCache()
    key = cache.make_key("get_model", BASE, "fp", {"model_id": "m1"}, {"model_id": "m1"}, None)
    before = cache.generation
    cache.invalidate(("get_model",), {"model_id": "m1"})  # the delete lands meanwhile
    cache.put(key, {"id": "m1", "deleted": False}, before)
    assert cache.stats["size"] == 0
    cache.put(key, {"id": "m1"}, cache.generation)
    assert cache.stats["size"] == 1


def test_with_options_rechecks_the_url_and_rekeys_the_cache(mock: responses.RequestsMock) -> None:
    alice = Client(API_KEY, cache=True)
    with pytest.raises(MistralError, match="plain http"):
        alice.with_options(base_url="http://api.example.test")
    assert alice.with_options(base_url="https://eu.example.test/v1/").base_url == "https://eu.example.test"
    mock.get(f"{BASE}/v1/models", json={"data": ["alice"]})
    mock.get(f"{BASE}/v1/models", json={"data": ["bob"]})
    assert alice.list_models() == {"data": ["alice"]}
    bob = alice.with_options(headers={"Authorization": "Bearer sk-bob"})
    assert bob.list_models() == {"data": ["bob"]}  # not alice's cached answer
    assert mock.calls[1].request.headers["Authorization"] == "Bearer sk-bob"


def test_a_broken_error_body_on_a_stream_is_still_a_typed_error() -> None:
    def broken(conn: Conn, req: Request) -> None:
        conn.send(b"HTTP/1.1 500 X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"10\r\n{\"message\": \"bo")
        conn.reset()

    with ScriptedServer() as server:
        server.script(broken)
        client = Client(API_KEY, base_url=server.url, retry=False)
        with pytest.raises(InternalServerError) as info:
            client.chat(**CHAT, stream=True)
    assert info.value.status_code == 500 and info.value.body is None


def test_closing_a_stream_from_another_thread_mid_read() -> None:
    release = threading.Event()

    def stall(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"choices": []}\n\n')
        release.wait(5)

    with ScriptedServer() as server:
        server.script(stall)
        stream = Client(API_KEY, base_url=server.url, stream_timeout=5).chat(**CHAT, stream=True)
        assert next(stream) == {"choices": []}
        errors: list[BaseException] = []

        def read() -> None:
            try:
                next(stream)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        while not reader.is_alive():
            pass
        stream.close()  # must not raise "generator already executing"
        reader.join(5)
        release.set()
    assert not reader.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], (MistralError, StopIteration))


def test_async_client_leaves_a_given_client_open() -> None:
    closed: list[bool] = []
    client = Client(API_KEY)
    client.close = lambda: closed.append(True)  # type: ignore[method-assign]

    async def main() -> None:
        async with AsyncClient(client=client):
            pass

    asyncio.run(main())
    assert closed == []


def test_paginate_refuses_to_loop(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents/pages", json={"data": [{"id": "a"}], "next_page_token": "same"})
    mock.get(f"{BASE}/v1/agents/pages", json={"data": [{"id": "b"}], "next_page_token": "same"})
    with pytest.raises(MistralError, match="cursor 'same' twice"):
        list(client.paginate("list_agents_pages"))
    mock.get(f"{BASE}/v1/conversations", json=[{"id": "c"}] * 100)
    mock.get(f"{BASE}/v1/conversations", json=[{"id": "c"}] * 100)
    with pytest.raises(MistralError, match="page 1 repeats page 0"):
        list(client.paginate("list_conversations"))


@pytest.mark.parametrize(("interval", "timeout"), [(-1, 10), (0, 10), (1, -5)])
def test_wait_refuses_bad_intervals(client: Client, interval: float, timeout: float) -> None:
    with pytest.raises(MistralError, match=r"(interval|timeout): expected a finite number (>|>=) 0"):
        client.wait("get_batch_job", job_id="j", interval=interval, timeout=timeout)


def test_file_and_schema_problems_come_in_one_error(client: Client, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        client.upload_file(file=str(tmp_path / "missing.jsonl"), purpose="bogus")
    problems = dict(info.value.errors)
    assert set(problems) == {"file", "purpose"}
    assert problems["file"].startswith("no such file:")
    with pytest.raises(ValidationError, match="file_id: must not be empty"):
        client.get_file("")


def test_download_gets_the_umask_mode_or_keeps_the_existing_one(tmp_path: Path,
                                                                mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/files/f1/content", body=b"data")
    mock.get(f"{BASE}/v1/files/f1/content", body=b"data")
    client = Client(API_KEY)
    fresh = tmp_path / "fresh.bin"
    old = os.umask(0o022)
    try:
        client.download_file("f1", to=fresh)
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) in (0o644, 0o666 & ~old)
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    client.download_file("f1", to=kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"data"


def test_a_json_answer_to_a_stream_request_says_so(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", json={"id": "c", "choices": []})
    with pytest.raises(StreamError, match="answered application/json, not text/event-stream"):
        client.chat(**CHAT, stream=True)

