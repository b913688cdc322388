"""A small MCP server for the tests, written with the ``mcp`` package (2.x ``MCPServer``, or
1.x ``FastMCP``): ``python demo_server.py`` serves it over stdio; ``build()`` returns it for an
in-process streamable HTTP app."""

from __future__ import annotations

import os
import time
from typing import Any

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

#: Start times of the ``slow`` calls (in the server's process), to see two calls overlap.
STARTS: list[float] = []


def build() -> Any:
    server = Server("demo")

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def env_value(name: str) -> str:
        """The value of an environment variable of the server."""
        return os.environ.get(name, "<unset>")

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(f"refused: {reason}")

    @server.tool()
    def pid() -> str:
        """The server's process id."""
        return str(os.getpid())

    @server.tool()
    def slow(tag: str) -> str:
        """Answer after a pause, with when it started."""
        STARTS.append(time.monotonic())
        time.sleep(0.3)
        return f"slow {tag}"

    return server


if __name__ == "__main__":
    build().run()
