"""Clients on a ScriptedServer (tests/_server.py) with no real waiting: sync, native async, thread-backed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from _server import ScriptedServer
from conftest import API_KEY

from mistral_lite import AsyncClient, Client
from mistral_lite._dev.testing import make_client


def sync_client(server: ScriptedServer, **kwargs: Any) -> Client:
    """A Client on ``server`` whose retries do not sleep."""
    client: Client = make_client(API_KEY, base_url=server.url, sleep=lambda s: None, rand=lambda: 0.5, **kwargs)
    return client


def run_async(server: ScriptedServer, body: Callable[[AsyncClient], Awaitable[Any]], threads: bool = False) -> Any:
    """``asyncio.run(body(aclient))`` with an AsyncClient on ``server``: native, or wrapping a sync client."""

    async def main() -> Any:
        if threads:
            aclient = AsyncClient(client=sync_client(server))
        else:
            aclient = make_client(API_KEY, cls=AsyncClient, base_url=server.url, sleep=lambda s: None,
                                  rand=lambda: 0.5)
        async with aclient:
            return await body(aclient)

    return asyncio.run(main())
