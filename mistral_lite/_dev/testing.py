"""Test hooks: clients whose sleep, randomness, clock or table are injected.

Kept off the public constructors so that completion shows only what users set::

    client = make_client("key", sleep=sleeps.append, rand=lambda: 0.5)
    aclient = make_client("key", cls=AsyncClient, sleep=sleeps.append)

For ``AsyncClient``, ``sleep`` may be a plain function (called with the seconds, after which
the client yields to the event loop once, as ``asyncio.sleep(0)`` would) or a coroutine
function (awaited in place of ``asyncio.sleep``). ``clock`` is read by ``wait`` and the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from mistral_lite._core import settings as _base
from mistral_lite._table import Spec
from mistral_lite.client import Client

__all__ = ["make_client"]

T = TypeVar("T")


def make_client(
    *args: Any, cls: Callable[..., T] | None = None,
    sleep: Callable[[float], Any] | None = None, rand: Callable[[], float] | None = None,
    clock: Callable[[], float] | None = None, spec: Spec | None = None, **kwargs: Any,
) -> T:
    """``cls(*args, **kwargs)`` (default ``Client``) with the given hooks in place of the real ones."""
    if cls is None:
        cls = Client  # type: ignore[assignment]
    factory: Callable[..., Any] = cls  # type: ignore[assignment]
    _base.INJECTED.value = _base.Injected(sleep, rand, clock, spec)
    try:
        result: T = factory(*args, **kwargs)
    finally:
        _base.INJECTED.__dict__.pop("value", None)
    return result
