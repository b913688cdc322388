"""Reviewer rev2's regressions for issue 24 (sync and async unified): each failed before its fix."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest

from mistral_lite import AsyncClient, Client, MistralError, UnknownOperationError, ValidationError

CLIENTS = [Client, AsyncClient]


def _close(client: Any) -> None:
    if isinstance(client, AsyncClient):
        asyncio.run(client.aclose())
    else:
        client.close()


@pytest.mark.parametrize("cls", CLIENTS)
def test_a_bad_base_url_is_reported_with_the_other_problems(cls: type[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        cls(api_key="k", base_url="ftp://x", timeout=-1, max_retries=-1)
    assert [path for path, _ in info.value.errors] == ["timeout", "max_retries", "base_url"]
    assert "must be an http(s) URL, got 'ftp://x'" in info.value.errors[-1][1]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("url", ["https://[::1", "https://h:99999", "https://h:x", "https://", "mailto:x"])
def test_a_malformed_base_url_is_a_validation_error(cls: type[Any], url: str) -> None:
    with pytest.raises(ValidationError) as info:  # was a raw ValueError, or accepted (a bad port)
        cls(api_key="k", base_url=url)
    assert info.value.errors[0][0] == "base_url"


@pytest.mark.parametrize("cls", CLIENTS)
def test_plain_http_is_reported_with_the_other_problems(cls: type[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        cls(api_key="k", base_url="http://example.com", headers=3)
    assert [path for path, _ in info.value.errors] == ["headers", "base_url"]
    client = cls(api_key="k", base_url="http://127.0.0.1:9/v1/")
    _close(client)


@pytest.mark.parametrize("cls", CLIENTS)
def test_with_options_reports_a_bad_base_url_with_the_other_problems(cls: type[Any]) -> None:
    client = cls(api_key="k")
    try:
        with pytest.raises(ValidationError) as info:
            client.with_options(base_url="https://[::1", timeout=-2)
        assert [path for path, _ in info.value.errors] == ["timeout", "base_url"]
    finally:
        _close(client)


@pytest.mark.parametrize("cls", CLIENTS)
def test_waiting_on_an_unknown_operation_is_an_unknown_operation_error(cls: type[Any]) -> None:
    client = cls(api_key="k")
    try:
        with pytest.raises(UnknownOperationError) as info:  # was "cannot be waited on", with no suggestion
            result = client.wait("get_batch_jb", "b1", timeout=1)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        assert "get_batch_job" in info.value.suggestions
        with pytest.raises(MistralError, match="list_models cannot be waited on"):  # a known row that has no wait
            result = client.wait("list_models", timeout=1)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
    finally:
        _close(client)


def _entry_points(client: Any) -> list[Any]:
    if isinstance(client, AsyncClient):
        async def paginate(name: Any) -> Any:
            return [item async for item in client.paginate(name)]
        return [lambda n: asyncio.run(client.call(n, {})), lambda n: asyncio.run(paginate(n)),
                lambda n: asyncio.run(client.wait(n, "x", timeout=1)),
                lambda n: asyncio.run(client.with_raw_response.call(n, {}))]
    return [lambda n: client.call(n, {}), lambda n: list(client.paginate(n)), lambda n: client.wait(n, "x", timeout=1),
            lambda n: client.map(n, [{}], return_exceptions=False), lambda n: client.submit(n).result(timeout=5),
            lambda n: client.with_raw_response.call(n, {})]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("name", [3, None, ["chat"], {"a": 1}])
def test_a_name_that_is_not_a_string_is_an_unknown_operation_error(cls: type[Any], name: Any) -> None:
    client = cls(api_key="k")
    try:
        for entry in _entry_points(client):  # was a raw TypeError from difflib or an unhashable key
            with pytest.raises(UnknownOperationError) as info:
                entry(name)
            assert info.value.suggestions == []
            assert str(info.value) == f"unknown operation {name!r}"
    finally:
        _close(client)


def test_the_fake_takes_a_wide_async_run_without_stalling(tmp_path: Any) -> None:
    """AsyncClient.run_jsonl at concurrency 64 opens 64 connections at once: the fake's listen backlog
    (socketserver's 5) dropped their SYNs, and the run took TCP's retransmission seconds (2 s to 120 s)."""
    from mistral_lite.fake import FakeMistral

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": f"r{i}", "body": {
        "model": "mistral-small-latest", "messages": [{"role": "user", "content": f"hi {i}"}]}}) + "\n"
        for i in range(256)))

    async def run(url: str) -> Any:
        async with AsyncClient(api_key="k", base_url=url) as client:
            return await client.run_jsonl(source, tmp_path / "out.jsonl", concurrency=128)

    with FakeMistral() as fake:
        started = time.monotonic()
        progress = asyncio.run(asyncio.wait_for(run(fake.url), 30))
        elapsed = time.monotonic() - started
    assert progress.succeeded == 256
    assert sorted(json.loads(line)["custom_id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()) == \
        sorted(f"r{i}" for i in range(256))
    assert elapsed < 5  # a generous "does not stall" bound: it takes a fraction of a second


def test_the_fake_queues_a_wide_burst_of_connects() -> None:
    """The deterministic half of the above: 64 connects to a fake that has not accepted yet all complete
    (with socketserver's backlog of 5 the seventh and later waited for SYN retransmissions)."""
    from http.server import BaseHTTPRequestHandler

    from mistral_lite.fake.server import _Server

    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)  # listening, never accepting
    sockets = []
    try:
        for _ in range(64):
            sock = socket.create_connection(server.server_address[:2], timeout=0.5)  # type: ignore[misc]
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()
        server.server_close()
    assert len(sockets) == 64


@pytest.mark.parametrize("wrapped", ["x", None.__class__, 3])
def test_wrapping_something_that_is_not_a_client_is_a_validation_error(wrapped: Any) -> None:
    with pytest.raises(ValidationError) as info:  # was a raw AttributeError ('str' has no __dict__)
        AsyncClient(client=wrapped)
    assert info.value.errors[0][0] == "client"


def test_wrapping_an_async_client_is_a_validation_error() -> None:
    inner = AsyncClient(api_key="k")
    try:
        with pytest.raises(ValidationError, match=r"expected a mistral_lite\.Client to wrap, got AsyncClient"):
            AsyncClient(client=inner)
    finally:
        _close(inner)


def test_settings_given_beside_a_wrapped_client_are_reported_not_ignored() -> None:
    sync = Client(api_key="k")
    try:
        with pytest.raises(ValidationError) as info:  # were silently ignored, timeout=-1 included
            AsyncClient(client=sync, api_key="other", base_url="https://other.example", timeout=-1, max_workers=0)
        assert [path for path, _ in info.value.errors] == ["max_workers", "api_key", "base_url", "timeout"]
        assert "other" not in str(info.value).replace("other.example", "")  # the key is never shown
        wrapper = AsyncClient(client=sync, retry=True, cache=False, max_workers=2)  # the defaults, spelled out
        assert wrapper.client is sync
        _close(wrapper)
    finally:
        sync.close()


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
@pytest.mark.parametrize("operation", ["create_speech", "download_file"])
def test_a_to_path_that_cannot_be_written_is_refused_before_sending(cls: type[Any], where: str, operation: str,
                                                                    tmp_path: Any) -> None:
    from mistral_lite.fake import FakeMistral

    target = tmp_path / "nowhere" / "x.bin" if where == "missing-folder" else tmp_path
    options: dict[str, Any] = {"input": "hi"} if operation == "create_speech" else {"file_id": "f1"}
    with FakeMistral() as fake:
        client = cls(api_key="k", base_url=fake.url, max_retries=0)
        try:
            with pytest.raises(ValidationError) as info:  # was a raw OSError, after the call
                result = client.call(operation, to=target, **options)
                if asyncio.iscoroutine(result):
                    asyncio.run(result)
            assert info.value.errors[0][0] == "to"
            assert fake.requests == []  # nothing was sent
        finally:
            _close(client)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # and no temporary file was left


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("inline", [True, False])
def test_run_batch_lists_every_bad_request_at_once(cls: type[Any], inline: bool) -> None:
    from mistral_lite import BulkInputError

    client = cls(api_key="k", base_url="http://127.0.0.1:9", max_retries=0)  # nothing may be sent
    requests = [1, {"messages": [{"role": "user", "content": "hi"}]}, "x", {"messages": 3}]
    try:
        with pytest.raises(BulkInputError) as info:  # was a ValidationError naming requests[0] alone
            result = client.run_batch(requests, model="mistral-small-latest", inline=inline)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        assert [number for number, _ in info.value.problems] == [1, 3, 4]
        assert "requests[2]: expected a mapping, got str" in str(info.value)
    finally:
        _close(client)
