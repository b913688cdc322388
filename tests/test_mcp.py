"""MCP servers as tool sources: ``mcp.stdio`` (tests/mcp_servers/demo_server.py, a real server
written with the ``mcp`` package, as a subprocess) and ``mcp.http`` (the same server's
streamable HTTP app on loopback, under uvicorn), mixed with plain functions, sync and async,
against the fake's chat (scripted tool calls where the arguments matter)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fake_session import MODEL

from mistral_lite import AsyncClient, Client, MistralError, ToolError, ValidationError, mcp
from mistral_lite.fake import FakeMistral, chat_completion

pytest.importorskip("mcp")
# mcp 1.22's FastMCP, built in-process for the HTTP server, warns about its own settings model
pytestmark = pytest.mark.filterwarnings("ignore:Field 'lifespan' has an incomplete definition")

SERVERS = Path(__file__).parent / "mcp_servers"
sys.path.insert(0, str(SERVERS))
import demo_server  # noqa: E402

SCRIPT = str(SERVERS / "demo_server.py")


def local_upper(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def stdio_server(**env: str) -> mcp.MCPServer:
    return mcp.stdio(sys.executable, [SCRIPT], env=env or None)


def calls(*pairs: tuple[str, dict[str, Any]]) -> Any:
    return chat_completion("", tool_calls=[{"name": n, "arguments": a} for n, a in pairs])


def tool_contents(result: Any) -> dict[str, str]:
    return {m["name"]: m["content"] for m in result["messages"] if m["role"] == "tool"}


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """The demo server over streamable HTTP on 127.0.0.1; the headers of every request it got."""
    import uvicorn

    app = demo_server.build().streamable_http_app()
    seen: list[dict[str, str]] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append({k.decode(): v.decode() for k, v in scope["headers"]} | {":method": scope["method"]})
        await app(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(recording, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp", seen
    server.should_exit = True
    thread.join(5)


def test_stdio_tools_are_sent_and_called_next_to_functions(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", calls(("add", {"a": 2, "b": 40}), ("env_value", {"name": "DEMO_VAR"}),
                              ("fail", {"reason": "no"}), ("local_upper", {"text": "hi"})))
    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}],
                                   tools=[local_upper, stdio_server(DEMO_VAR="from env=")])
    sent = fake.requests[0].json["tools"]
    names = [t["function"]["name"] for t in sent]
    assert names == ["local_upper", "add", "env_value", "fail", "pid", "slow"]  # in the order of tools=
    assert sent[1] == {"type": "function", "function": {
        "name": "add", "description": "Add two integers.",
        "parameters": {"properties": {"a": {"title": "A", "type": "integer"}, "b": {"title": "B", "type": "integer"}},
                       "required": ["a", "b"], "title": "addArguments", "type": "object"}}}
    contents = tool_contents(result)
    failure = contents.pop("fail")  # "Error: " and the server's text (mcp 2.x: "Error executing tool fail: ...")
    assert failure.startswith("Error: ") and failure.endswith("refused: no")
    assert contents == {"add": "42", "env_value": "from env=", "local_upper": "HI"}
    assert result["choices"][0]["message"]["content"].startswith("Tool result: 42")


def test_two_calls_to_one_server_in_one_turn_and_the_session_closes(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", calls(("slow", {"tag": "a"}), ("slow", {"tag": "b"}), ("pid", {})))
    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}], tools=[stdio_server()])
    contents = [m["content"] for m in result["messages"] if m["role"] == "tool"]
    assert contents[:2] == ["slow a", "slow b"]
    pid = int(contents[2])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)  # the server process ended with the loop


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_is_error_raises_tool_error_when_asked(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("chat", calls(("fail", {"reason": "bad"})))
    with pytest.raises(ToolError, match="refused: bad"):
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}], tools=[stdio_server()],
                              raise_tool_errors=True)


def test_http_server_with_headers(fake_client: Client, fake: FakeMistral,
                                  http_server: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = http_server
    seen.clear()
    fake.script("chat", calls(("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4}), ("fail", {"reason": "x"})))
    result = fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}],
                                   tools=[mcp.http(url, headers={"X-Demo": "secret-1"}), local_upper])
    contents = [m["content"] for m in result["messages"] if m["role"] == "tool"]
    assert contents[:2] == ["3", "7"] and contents[2].startswith("Error: ") and contents[2].endswith("refused: x")
    assert seen and all(h.get("x-demo") == "secret-1" for h in seen)
    assert seen[-1][":method"] == "DELETE"  # the session was closed with the loop
    names = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert names == ["add", "env_value", "fail", "pid", "slow", "local_upper"]
    assert "secret-1" not in repr(mcp.http(url, headers={"X-Demo": "secret-1"}))


def test_async_client_with_stdio_and_http(fake: FakeMistral, http_server: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = http_server

    async def remote_twice(text: str) -> str:
        """Async local tool."""
        return text * 2

    async def main() -> Any:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            return await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}],
                                           tools=[stdio_server(DEMO_VAR="v"), remote_twice, local_upper])
        finally:
            await aclient.aclose()

    fake.script("chat", calls(("env_value", {"name": "DEMO_VAR"}), ("remote_twice", {"text": "ab"}),
                              ("local_upper", {"text": "x"}), ("slow", {"tag": "1"}), ("slow", {"tag": "2"})))
    result = asyncio.run(main())
    assert [m["content"] for m in result["messages"] if m["role"] == "tool"] == ["v", "abab", "X", "slow 1",
                                                                                "slow 2"]

    async def over_http() -> Any:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            events = await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}],
                                             tools=[mcp.http(url)], stream=True)
            return [e async for e in events]
        finally:
            await aclient.aclose()

    fake.script("chat", calls(("add", {"a": 5, "b": 6})))
    events = asyncio.run(over_http())
    assert [e["type"] for e in events][:2] == ["tool_call", "tool_result"] and events[1]["content"] == "11"


def test_conversation_with_an_mcp_tool(fake_client: Client, fake: FakeMistral) -> None:
    result = fake_client.run_tools(operation="create_conversation", model=MODEL, inputs="use add",
                                   tools=[stdio_server()])
    entries = result["entries"]
    assert entries[1]["name"] == "add"
    args = json.loads(entries[1]["arguments"])
    assert entries[2]["result"] == str(args["a"] + args["b"])


def test_bad_sources_and_a_server_that_cannot_start(fake_client: Client, fake: FakeMistral) -> None:
    with pytest.raises(ValidationError) as info:
        mcp.stdio("", args="x", env={"A": 1})  # type: ignore[arg-type, dict-item]
    assert all(name in str(info.value) for name in ("command", "args", "env"))
    with pytest.raises(ValidationError, match="headers"):
        mcp.http("http://x", headers={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(MistralError, match="could not open the MCP server"):
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}],
                              tools=[mcp.stdio("/nonexistent/mcp-server")])
    assert fake.requests == []


def test_without_the_extra_the_error_names_it(fake_client: Client, fake: FakeMistral,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(MistralError, match=r"mistral-lite\[mcp\]"):
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}], tools=[stdio_server()])


def test_neither_import_nor_a_client_imports_mcp() -> None:
    code = ("import sys, mistral_lite; from mistral_lite import mcp; c = mistral_lite.Client('k'); "
            "s = mcp.stdio('x'); h = mcp.http('http://x'); "
            "assert 'mcp' not in sys.modules, sorted(m for m in sys.modules if m.startswith('mcp'))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_readme_mcp_example_runs_against_the_fake(fake: FakeMistral, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from test_tool_stream import readme_blocks

    server, client = readme_blocks()[2:4]
    if not hasattr(__import__("mcp.server", fromlist=["x"]), "mcpserver"):  # mcp 1.x: the README's comment
        server = server.replace("from mcp.server.mcpserver import MCPServer",
                                "from mcp.server.fastmcp import FastMCP as MCPServer")
    (tmp_path / "calc_server.py").write_text(server)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MISTRAL_API_KEY", "readme-key")
    monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
    namespace: dict[str, Any] = {"__name__": "readme_mcp"}
    exec(compile(client, "README MCP", "exec", dont_inherit=True), namespace)
    (call,) = namespace["result"]["messages"][1]["tool_calls"]
    args = json.loads(call["function"]["arguments"])
    assert capsys.readouterr().out == f"['{args['a'] + args['b']}']\n"
    assert [t["function"]["name"] for t in fake.requests[0].json["tools"]] == ["add", "shout"]


def test_a_server_that_never_answers_is_an_error_in_time(fake_client: Client, fake: FakeMistral,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mistral_lite.mcp.OPEN_TIMEOUT", 1.0)
    mute = mcp.stdio(sys.executable, ["-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    with pytest.raises(MistralError, match="did not start and list their tools within 1 s"):
        fake_client.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}], tools=[mute])

    async def main() -> None:
        aclient = AsyncClient("k", base_url=fake.url)
        try:
            with pytest.raises(MistralError, match="within 1 s"):
                await aclient.run_tools(model=MODEL, messages=[{"role": "user", "content": "go"}], tools=[mute])
        finally:
            await aclient.aclose()

    asyncio.run(main())
    assert time.monotonic() - started < 15 and fake.requests == []
