"""An MCP server (the ``mcp`` package, 2.x or 1.x) whose ``crash`` tool ends its process mid-call."""

from __future__ import annotations

import os

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]

server = Server("crashy")


@server.tool()
def crash(code: int) -> str:
    """End the server's process before answering."""
    os._exit(code)


if __name__ == "__main__":
    server.run()
