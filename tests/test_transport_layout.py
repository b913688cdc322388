"""The transports' layout (issue 24, items 2, 7 and 8): one copy of what both clients share,
layers kept (the async client never loads the requests transport, the core no HTTP library nor
asyncio), ``AsyncStream`` in its own module, and ``run_jsonl`` really ``concurrency`` wide."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import pathlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from _server import Conn, Request, ScriptedServer
from conftest import API_KEY

import mistral_lite
from mistral_lite import AsyncClient, Client, MistralError, UnknownOperationError, ValidationError
from mistral_lite._core.settings import SHARED_ARGUMENTS
from mistral_lite._dev.testing import make_client

PACKAGE = pathlib.Path(mistral_lite.__file__).parent
HTTP_LIBRARIES = ("requests", "urllib3", "aiohttp", "yarl", "multidict")


# -- helpers --------------------------------------------------------------------------------------
def _runtime_imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """Every module ``path`` imports at run time (not under ``TYPE_CHECKING``), with whether the
    import sits inside a function."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in in_function) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(f"{node.module}.{alias.name}", id(node) in in_function) for alias in node.names]
    return found


def _module_path(name: str) -> pathlib.Path:
    relative = pathlib.Path(*name.split(".")[1:])
    file = PACKAGE / relative.with_suffix(".py")
    return file if file.exists() else PACKAGE / relative / "__init__.py"


def _package_module(imported: str) -> str | None:
    """The package module an import names (``mistral_lite._core.call.plan`` -> ``..._core.call``)."""
    parts = imported.split(".")
    while parts and parts[0] == "mistral_lite":
        name = ".".join(parts)
        if name != "mistral_lite" and (_module_path(name).exists()):
            return name
        parts.pop()
    return None


def _loaded_at_import(start: str) -> set[str]:
    """The package modules and third-party top-level names importing ``start`` loads, following
    module-level imports only and leaving out the root package's ``__init__``."""
    seen, todo, outside = set(), [start], set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported, in_function in _runtime_imports(_module_path(module)):
            if in_function:
                continue
            inner = _package_module(imported)
            if inner is not None:
                todo.append(inner)
            elif not imported.startswith("mistral_lite"):
                outside.add(imported.split(".")[0])
    return seen | outside


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- layers ---------------------------------------------------------------------------------------
def test_the_async_transport_never_loads_the_requests_transport() -> None:
    """Statically: nothing ``_http.aio`` or ``_http.aio_stream`` imports at module level reaches
    ``_http.sync``, ``client`` or an HTTP library but aiohttp's."""
    for start in ("mistral_lite._http.aio", "mistral_lite._http.aio_stream"):
        loaded = _loaded_at_import(start)
        assert "mistral_lite._http.sync" not in loaded
        assert "mistral_lite.client" not in loaded
        assert not loaded & {"requests", "urllib3"}, start


def test_importing_the_async_transport_loads_neither_requests_transport_nor_requests() -> None:
    """At run time, with the root ``__init__`` left out (it still imports ``Client`` eagerly until
    it becomes lazy): ``import mistral_lite._http.aio`` loads neither ``_http.sync`` nor requests."""
    out = _python("""
        import importlib.util, sys, types
        spec = importlib.util.find_spec("mistral_lite")
        root = types.ModuleType("mistral_lite")
        root.__path__ = list(spec.submodule_search_locations)
        root.__spec__, root.__file__ = spec, spec.origin
        root.__version__ = "0"
        sys.modules["mistral_lite"] = root
        import mistral_lite._http.aio
        import mistral_lite._http.aio_stream
        print(sorted(m for m in ("mistral_lite._http.sync", "mistral_lite.client", "requests", "urllib3")
                     if m in sys.modules))
    """)
    assert out == "[]"


def test_import_mistral_lite_http_aio_in_a_fresh_interpreter() -> None:
    """The whole claim, through the real root package: holds once ``import mistral_lite`` is lazy."""
    out = _python("""
        import sys
        import mistral_lite
        eager = "mistral_lite._http.sync" in sys.modules
        import mistral_lite._http.aio
        print(eager, "mistral_lite._http.sync" in sys.modules, "requests" in sys.modules)
    """)
    eager, sync_loaded, requests_loaded = (word == "True" for word in out.split())
    if eager:
        pytest.skip("import mistral_lite still imports Client (and requests) eagerly: the root __init__ is "
                    "not lazy yet")
    assert (sync_loaded, requests_loaded) == (False, False)


@pytest.mark.parametrize("module", ["client.py", "_http/common.py", "_http/aio_stream.py", "_http/aio.py"])
def test_only_the_transport_modules_import_an_http_library(module: str) -> None:
    imported = {name for name, _ in _runtime_imports(PACKAGE / module)}
    libraries = {name.split(".")[0] for name in imported} & set(HTTP_LIBRARIES)
    allowed = {"aiohttp", "yarl"} if module in ("_http/aio.py", "_http/aio_stream.py") else set()
    assert libraries <= allowed
    assert not any(name.startswith("mistral_lite._http.sync") for name in imported) or module == "client.py"


def test_the_core_imports_no_http_library_no_asyncio_and_no_transport() -> None:
    for path in sorted((PACKAGE / "_core").glob("*.py")):
        for name, _ in _runtime_imports(path):
            top = name.split(".")[0]
            assert top not in (*HTTP_LIBRARIES, "asyncio"), (path.name, name)
            assert not name.startswith(("mistral_lite._http", "mistral_lite._methods", "mistral_lite.client")), \
                (path.name, name)


def test_bulk_and_the_tool_loop_import_no_transport() -> None:
    for path in [*sorted((PACKAGE / "_bulk").glob("*.py")), PACKAGE / "_methods" / "tool_loop.py"]:
        for name, _ in _runtime_imports(path):
            assert name.split(".")[0] not in HTTP_LIBRARIES, (path.name, name)
            assert not name.startswith("mistral_lite._http"), (path.name, name)


def test_my_files_keep_only_commented_function_level_imports() -> None:
    """Function-level imports left in the transports, the client and the core modules they use say why."""
    files = ["client.py", *(f"_http/{p.name}" for p in sorted((PACKAGE / "_http").glob("*.py"))),
             "_core/settings.py", "_core/raw.py", "_core/call.py", "_core/speech.py", "_core/files.py"]
    for name in files:
        lines = (PACKAGE / name).read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):  # the why: on the line, or a comment above
                    said = "#" in lines[inner.lineno - 1] or lines[inner.lineno - 2].strip().startswith("#")
                    assert said, f"{name}:{inner.lineno} says no why"


# -- one copy -------------------------------------------------------------------------------------
def test_one_unknown_operation_lookup() -> None:
    """``get_close_matches`` for operation names lives in one function of the package."""
    holders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if "get_close_matches" in p.read_text() and "_dev" not in p.parts]
    assert sorted(holders) == ["_core/call.py", "_core/hints.py"]  # hints: field names, not operations


def test_every_place_that_names_an_operation_says_the_same(tmp_path: pathlib.Path, client: Client) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"custom_id": "a", "body": {}}) + "\n")
    expected = "unknown operation 'chta'; did you mean 'chat'?"
    attempts = [
        lambda: client.call("chta"),
        lambda: list(client.paginate("chta")),
        lambda: client.run_tools(operation="chta", tools=[], messages=[]),
        lambda: client.run_jsonl(source, tmp_path / "out.jsonl", operation="chta"),
    ]
    for attempt in attempts:
        with pytest.raises(UnknownOperationError) as caught:
            attempt()
        assert str(caught.value) == expected
        assert caught.value.suggestions == ["chat"]


@pytest.mark.parametrize("text", ["the connection broke while reading", "timed out reading the response",
                                  "the request could not be sent", "redirect to plain http on",
                                  "the stream was cut", "no data arrived within the stream timeout"])
def test_each_transport_message_is_written_once(text: str) -> None:
    holders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "_http").glob("*.py") if text in p.read_text()]
    assert holders == ["_http/common.py"]


def test_sync_and_async_refuse_an_insecure_redirect_in_the_same_words() -> None:
    def redirect(conn: Conn, req: Request) -> None:
        conn.head(307, {"Location": "http://api.example.com/v1/models", "Content-Length": "0"})

    with ScriptedServer() as srv:
        srv.script(redirect)
        client = make_client(API_KEY, base_url=srv.url, sleep=lambda s: None)
        with pytest.raises(MistralError) as sync_error:
            client.list_models()

        async def main() -> None:
            async with AsyncClient(API_KEY, base_url=srv.url) as aclient:
                await aclient.list_models()

        with pytest.raises(MistralError) as async_error:
            asyncio.run(main())
    assert str(sync_error.value) == str(async_error.value) == (
        "refusing to follow a 307 redirect to plain http on api.example.com; use https, or pass "
        "allow_insecure_http=True")


@pytest.mark.parametrize("declared", [True, False])
def test_sync_and_async_cap_a_body_in_the_same_words(declared: bool) -> None:
    body = json.dumps({"data": "x" * 3000}).encode()

    def serve(conn: Conn, req: Request) -> None:
        if declared:
            conn.head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
            conn.send(body)
        else:  # chunked: only reading tells the size
            conn.chunked_head(content_type="application/json")
            conn.chunk(body)
            conn.last_chunk()

    with ScriptedServer() as srv:
        srv.script(serve)
        client = make_client(API_KEY, base_url=srv.url, sleep=lambda s: None, max_response_size=1000)
        with pytest.raises(MistralError) as sync_error:
            client.list_models()

        async def main() -> None:
            async with AsyncClient(API_KEY, base_url=srv.url, max_response_size=1000) as aclient:
                await aclient.list_models()

        with pytest.raises(MistralError) as async_error:
            asyncio.run(main())
    size = f" ({len(body)} bytes declared)" if declared else ""
    assert str(sync_error.value) == str(async_error.value) == (
        f"list_models: the response body is larger than max_response_size=1000 bytes{size}; raise it with "
        "Client(max_response_size=...) or download to a file with to=...")


def test_both_constructors_share_one_argument_list() -> None:
    sync = inspect.signature(Client.__init__).parameters
    aio = inspect.signature(AsyncClient.__init__).parameters
    for name in SHARED_ARGUMENTS:
        assert name in sync and name in aio, name
        assert sync[name].default == aio[name].default, name


def test_async_constructor_reports_its_own_and_the_shared_problems_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncClient(API_KEY, max_connections=True, timeout=-1)  # type: ignore[arg-type]
    assert {path for path, _ in caught.value.errors} == {"max_connections", "timeout"}


def test_downloads_report_the_same_progress_on_both_clients(tmp_path: pathlib.Path) -> None:
    body = b"x" * 200_000

    def serve(conn: Conn, req: Request) -> None:
        conn.head(200, {"Content-Type": "application/octet-stream", "Content-Length": str(len(body))})
        conn.send(body)

    with ScriptedServer() as srv:
        srv.script(serve)
        seen: dict[str, list[tuple[int, int | None]]] = {"sync": [], "async": []}
        client = make_client(API_KEY, base_url=srv.url, sleep=lambda s: None)
        path = client.download_file("f", to=tmp_path / "a.bin",
                                    on_progress=lambda d, t: seen["sync"].append((d, t)))

        async def main() -> Any:
            async with AsyncClient(API_KEY, base_url=srv.url) as aclient:
                return await aclient.download_file("f", to=tmp_path / "b.bin",
                                                   on_progress=lambda d, t: seen["async"].append((d, t)))

        apath = asyncio.run(main())
    assert path.read_bytes() == apath.read_bytes() == body
    for steps in seen.values():
        assert steps[0] == (0, len(body)) and steps[-1] == (len(body), len(body))
        assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]  # no temporary file left


# -- homes ----------------------------------------------------------------------------------------
def test_async_stream_has_its_own_module() -> None:
    from mistral_lite._http import aio, aio_stream

    assert mistral_lite.AsyncStream is aio_stream.AsyncStream is aio.AsyncStream
    assert mistral_lite.AsyncStream.__module__ == "mistral_lite._http.aio_stream"
    stub = (PACKAGE / "_methods" / "operations.pyi").read_text()
    assert "from mistral_lite._http.aio_stream import AsyncStream" in stub


def test_collect_completion_is_transport_free() -> None:
    from mistral_lite._http import stream
    from mistral_lite._methods import conversations

    assert mistral_lite.collect_completion is conversations.collect_completion
    assert not hasattr(stream, "collect_completion")  # one home, away from the requests stream
    assert mistral_lite.acollect_completion is conversations.acollect_completion
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": "he"}}]},
              {"choices": [{"index": 0, "delta": {"content": "llo"}, "finish_reason": "stop"}]}]
    assert conversations.collect_completion(chunks)["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]


def test_saving_an_async_stream_lives_with_the_async_transport() -> None:
    from mistral_lite._core import speech
    from mistral_lite._http import aio_stream

    assert not hasattr(speech, "asave_stream")
    assert inspect.iscoroutinefunction(aio_stream.asave_stream)


# -- run_jsonl is as wide as asked (item 8) ----------------------------------------------------------
class InFlight:
    """A handler that holds each request until ``target`` are in flight at once (or 2 s pass)."""

    def __init__(self, target: int) -> None:
        self.target, self.now, self.most = target, 0, 0
        self.lock = threading.Lock()
        self.full = threading.Event()

    def __call__(self, conn: Conn, req: Request) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= self.target:
                self.full.set()
        self.full.wait(2.0)
        with self.lock:
            self.now -= 1
        conn.json({"id": "c", "object": "chat.completion", "model": "m", "choices": []})


def _lines(path: pathlib.Path, count: int) -> pathlib.Path:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    path.write_text("".join(json.dumps({"custom_id": f"q{n}", "body": body}) + "\n" for n in range(count)))
    return path


@pytest.fixture
def gauge_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.mark.parametrize("concurrency", [8, 16])
def test_sync_run_jsonl_runs_concurrency_wide(tmp_path: pathlib.Path, gauge_server: ScriptedServer,
                                              concurrency: int) -> None:
    gauge = InFlight(concurrency)
    gauge_server.script(gauge)
    with Client(API_KEY, base_url=gauge_server.url) as client:
        progress = client.run_jsonl(_lines(tmp_path / "in.jsonl", 2 * concurrency), tmp_path / "out.jsonl",
                                    concurrency=concurrency)
    assert progress.succeeded == 2 * concurrency
    assert gauge.most == concurrency


@pytest.mark.parametrize(("workers", "concurrency"), [(None, 16), (2, 8)])
def test_thread_backed_async_run_jsonl_runs_concurrency_wide(
    tmp_path: pathlib.Path, gauge_server: ScriptedServer, workers: int | None, concurrency: int
) -> None:
    """``AsyncClient(client=...)`` has ``max_workers`` threads (8 by default): the run gets its own,
    ``concurrency`` of them (the branch that does so was never reached)."""
    gauge = InFlight(concurrency)
    gauge_server.script(gauge)

    async def main() -> Any:
        sync = Client(API_KEY, base_url=gauge_server.url)
        extra = {} if workers is None else {"max_workers": workers}
        async with AsyncClient(client=sync, **extra) as aclient:
            return await aclient.run_jsonl(_lines(tmp_path / "in.jsonl", 2 * concurrency), tmp_path / "out.jsonl",
                                           concurrency=concurrency)

    progress = asyncio.run(main())
    assert progress.succeeded == 2 * concurrency
    assert gauge.most == concurrency


def test_native_async_run_jsonl_runs_concurrency_wide(tmp_path: pathlib.Path, gauge_server: ScriptedServer) -> None:
    gauge = InFlight(16)
    gauge_server.script(gauge)

    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=gauge_server.url) as aclient:
            return await aclient.run_jsonl(_lines(tmp_path / "in.jsonl", 32), tmp_path / "out.jsonl", concurrency=16)

    assert asyncio.run(main()).succeeded == 32
    assert gauge.most == 16


def test_widening_the_pool_leaves_a_given_session_alone() -> None:
    own = Client(API_KEY)
    own._widen_pool(24)
    assert own.session.get_adapter("https://api.mistral.ai")._pool_maxsize == 24  # type: ignore[attr-defined]
    session = requests.Session()
    given = Client(API_KEY, session=session)
    given._widen_pool(24)
    assert session.get_adapter("https://api.mistral.ai")._pool_maxsize == 10  # type: ignore[attr-defined]
