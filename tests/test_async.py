"""The native asyncio client: cancellation, the connection limit, workflows, hooks, imports.

The scenarios both transports share are in ``test_transports.py``; these are the ones only
asyncio can express (cancelling a task) or that are about the async API itself.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _server import Conn, Request, ScriptedServer

from mistral_lite import AsyncClient, AsyncStream, Client, MistralError, WaitTimeout
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral

API_KEY = "sk-live-0123456789abcdef"
CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv
    assert not srv.errors, srv.errors


def reply(conn: Conn, req: Request) -> None:
    conn.json({"id": "model-a"})


def held(hung_up: list[int]) -> Any:
    """Answer nothing until the client hangs up; record that it did."""
    def handler(conn: Conn, req: Request) -> None:
        if conn.wait_peer_close(10.0):
            hung_up.append(conn.index)
    return handler


def settled(values: list[Any], n: int, limit: float = 10.0) -> list[Any]:
    """The server threads' observations once ``n`` are in (bounded wait, no timing asserted)."""
    deadline = time.monotonic() + limit
    while len(values) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return values


# -- cancellation ----------------------------------------------------------------------------------
def test_cancelled_call_hangs_up_is_not_retried_and_the_pool_stays_healthy(server: ScriptedServer) -> None:
    hung_up: list[int] = []
    server.script(*[held(hung_up)] * 50, reply)
    sleeps: list[float] = []

    async def main() -> Any:
        async with make_client(API_KEY, cls=AsyncClient, base_url=server.url, sleep=sleeps.append) as aclient:
            tasks = [asyncio.create_task(aclient.get_model("m")) for _ in range(50)]
            while len(server.requests) < 50:
                await asyncio.sleep(0.01)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            connector = aclient.session.connector  # type: ignore[union-attr]
            assert connector is not None
            in_use = sum(len(v) for v in connector._acquired_per_host.values())  # type: ignore[attr-defined]
            return in_use, await aclient.get_model("m")

    in_use, after = asyncio.run(main())
    assert in_use == 0 and after == {"id": "model-a"}
    assert sorted(settled(hung_up, 50)) == list(range(1, 51))  # every cancelled request's connection closed
    assert len(server.requests) == 51 and sleeps == []  # none of them retried


def test_cancelled_stream_reader_hangs_up(server: ScriptedServer) -> None:
    hung_up = threading.Event()

    def stream(conn: Conn, req: Request) -> None:
        conn.chunked_head()
        conn.chunk(b'data: {"n": 1}\n\n')
        if conn.wait_peer_close(10.0):
            hung_up.set()

    server.script(stream, reply)

    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=server.url) as aclient:
            events = await aclient.chat(**CHAT, stream=True)
            assert isinstance(events, AsyncStream)
            assert await events.__anext__() == {"n": 1}
            reader = asyncio.create_task(events.__anext__())
            await asyncio.sleep(0.05)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            await events.aclose()  # prompt after the cancel
            with pytest.raises(StopAsyncIteration):
                await events.__anext__()
            return await aclient.get_model("m")

    assert asyncio.run(main()) == {"id": "model-a"}
    assert hung_up.wait(10.0)


def test_cancel_while_waiting_for_a_retry(server: ScriptedServer) -> None:
    server.script(lambda conn, req: conn.json({}, status=503, headers={"Retry-After": "30"}))

    async def main() -> None:
        async with AsyncClient(API_KEY, base_url=server.url) as aclient:
            task = asyncio.create_task(aclient.get_model("m"))
            while not server.requests:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert len(server.requests) == 1


# -- the connection limit --------------------------------------------------------------------------
def test_calls_beyond_max_connections_queue(server: ScriptedServer) -> None:
    open_now: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def slow(conn: Conn, req: Request) -> None:
        with lock:
            open_now.append(1)
            peak[0] = max(peak[0], len(open_now))
        conn.pause(0.1)
        with lock:
            open_now.pop()
        conn.json({"id": "x"})

    server.script(slow)

    async def main() -> list[Any]:
        async with AsyncClient(API_KEY, base_url=server.url, max_connections=3) as aclient:
            assert aclient.max_connections == 3
            return await asyncio.gather(*[aclient.get_model("m") for _ in range(9)])

    assert asyncio.run(main()) == [{"id": "x"}] * 9
    assert peak[0] == 3 and server.connections == 3


def test_default_connection_limit_is_a_thousand() -> None:
    assert AsyncClient(API_KEY).max_connections == 1000
    with pytest.raises(MistralError, match="max_connections"):
        AsyncClient(API_KEY, max_connections=0)


# -- settings, copies, hooks ----------------------------------------------------------------------
def test_with_options_shares_the_pool_and_the_original_closes_it(server: ScriptedServer) -> None:
    server.script(reply)

    async def main() -> tuple[bool, bool]:
        aclient = AsyncClient(API_KEY, base_url=server.url)
        copy = aclient.with_options(headers={"X-Team": "a"}, max_retries=0)
        assert isinstance(copy, AsyncClient) and copy.max_retries == 0
        await copy.get_model("m")
        await aclient.get_model("m")
        assert copy.session is aclient.session
        await copy.aclose()
        still_open = not aclient.session.closed  # type: ignore[union-attr]
        session = aclient.session
        await aclient.aclose()
        return still_open, session.closed  # type: ignore[union-attr]

    assert asyncio.run(main()) == (True, True)
    assert [r.headers.get("x-team") for r in server.requests] == ["a", None]
    assert server.connections == 1


def test_a_given_session_is_used_and_left_open(server: ScriptedServer) -> None:
    import aiohttp

    server.script(reply)

    async def main() -> bool:
        async with aiohttp.ClientSession() as session:
            async with AsyncClient(API_KEY, base_url=server.url, session=session) as aclient:
                assert await aclient.get_model("m") == {"id": "model-a"}
                assert aclient.session is session
            return session.closed

    assert asyncio.run(main()) is False


def test_wrapping_a_sync_client_takes_its_settings_and_cache(server: ScriptedServer) -> None:
    server.script(lambda conn, req: conn.json({"data": [{"id": "m"}]}))
    client = Client(API_KEY, base_url=server.url, cache=True, headers={"X-From": "sync"})

    async def main() -> Any:
        async with AsyncClient(client=client) as aclient:
            return await aclient.list_models()

    assert asyncio.run(main()) == {"data": [{"id": "m"}]}
    assert client.list_models() == {"data": [{"id": "m"}]}  # served from the shared cache
    assert len(server.requests) == 1 and server.requests[0].headers["x-from"] == "sync"
    client.close()


def test_hooks_see_every_attempt(server: ScriptedServer) -> None:
    server.script(lambda conn, req: conn.json({}, status=503), reply)
    seen: list[Any] = []
    hooks = {"request": [lambda r: seen.append((r.method, r.url))], "response": [lambda r: seen.append(r.status)]}

    async def main() -> Any:
        async with make_client(API_KEY, cls=AsyncClient, base_url=server.url, hooks=hooks,
                               sleep=lambda s: None) as aclient:
            return await aclient.get_model("m")

    assert asyncio.run(main()) == {"id": "model-a"}
    url = f"{server.url}/v1/models/m"
    assert seen == [("GET", url), 503, ("GET", url), 200]


def test_an_injected_coroutine_sleep_is_awaited(server: ScriptedServer) -> None:
    server.script(lambda conn, req: conn.json({}, status=429), reply)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> Any:
        async with make_client(API_KEY, cls=AsyncClient, base_url=server.url, sleep=sleep,
                               rand=lambda: 0.25) as aclient:
            return await aclient.get_model("m")

    assert asyncio.run(main()) == {"id": "model-a"}
    assert slept == [0.25]


def test_bad_input_is_reported_before_any_io(server: ScriptedServer) -> None:
    from mistral_lite import ValidationError

    async def main() -> None:
        async with AsyncClient(API_KEY, base_url=server.url) as aclient:
            with pytest.raises(ValidationError, match="messages"):
                await aclient.chat(model="m")

    asyncio.run(main())
    assert server.requests == [] and server.connections == 0


def test_a_client_works_across_asyncio_runs(server: ScriptedServer) -> None:
    server.script(reply)
    aclient = AsyncClient(API_KEY, base_url=server.url)
    assert asyncio.run(aclient.get_model("m")) == {"id": "model-a"}
    assert asyncio.run(aclient.get_model("m")) == {"id": "model-a"}  # the first loop is gone: a fresh pool
    asyncio.run(aclient.aclose())


# -- workflows against the fake ---------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(batch_step=0) as srv:
        yield srv


def test_paginate_wait_and_run_batch(fake: FakeMistral) -> None:
    progress: list[str] = []

    async def main() -> tuple[list[Any], list[Any]]:
        async with make_client(API_KEY, cls=AsyncClient, base_url=fake.url, sleep=lambda s: fake.tick()) as aclient:
            results = await aclient.run_batch(
                [{"model": "mistral-small-latest", "messages": [{"role": "user", "content": f"q{i}"}]}
                 for i in range(3)],
                model="mistral-small-latest", interval=1, on_progress=lambda job: progress.append(job["status"]),
            )
            files = [f["purpose"] async for f in aclient.paginate("list_files", page_size=1)]
            return results, files

    results, files = asyncio.run(main())
    assert [r["body"]["choices"][0]["message"]["content"] for r in results] == ["Echo: q0", "Echo: q1", "Echo: q2"]
    assert progress[-1] == "SUCCESS"
    assert files[0] == "batch" and len(files) >= 2  # the input file, then the output file, one page each
    assert [r.operation for r in fake.requests][:2] == ["upload_file", "create_batch_job"]


def test_wait_times_out_with_the_last_state(fake: FakeMistral) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    async def main() -> None:
        async with make_client(API_KEY, cls=AsyncClient, base_url=fake.url, sleep=sleep,
                               clock=lambda: now[0]) as aclient:
            job = await aclient.run_batch([{"input": "x"}], endpoint="/v1/embeddings", model="mistral-embed",
                                          wait=False)
            with pytest.raises(WaitTimeout) as info:
                await aclient.wait("get_batch_job", job_id=job["id"], interval=5, timeout=12)
            assert info.value.last["id"] == job["id"]

    asyncio.run(main())
    assert now[0] == 12


# -- imports ----------------------------------------------------------------------------------------
def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_mistral_lite_does_not_import_aiohttp_but_asyncclient_does() -> None:
    assert _run("import sys, mistral_lite; print('aiohttp' in sys.modules, 'asyncio' in sys.modules)") == \
        "False False"
    assert _run("import sys; from mistral_lite import AsyncClient; print('aiohttp' in sys.modules)") == "True"


def test_a_missing_aiohttp_names_the_extra() -> None:
    out = _run(
        "import sys; sys.modules['aiohttp'] = None\n"
        "from mistral_lite import AsyncClient, MistralError\n"
        "try:\n    AsyncClient('k')\nexcept MistralError as e:\n    print(e)"
    )
    assert 'pip install "mistral-lite[async]"' in out


def test_the_readme_asyncio_example_runs(fake: FakeMistral, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### asyncio"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    exec(compile(block.group(1), "README asyncio", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("Echo: Hi\nEcho: More10 [")


def test_debug_logging_redacts_the_key(server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    server.script(lambda conn, req: conn.json({"id": "model-a"}, headers={"x-request-id": "r7"}))

    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=server.url) as aclient:
            return await aclient.get_model("m")

    with caplog.at_level(logging.DEBUG, logger="mistral_lite.http"):
        assert asyncio.run(main()) == {"id": "model-a"}
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "mistral_lite.http")
    assert f"request GET {server.url}/v1/models/m" in text and "request-id=r7" in text
    assert "Bearer [redacted]" in text and API_KEY not in text
