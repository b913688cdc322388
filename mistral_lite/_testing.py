"""Test hooks: clients whose sleep, randomness, clock or table are injected.

Kept off the public constructors so that completion shows only what users set::

    client = make_client("key", sleep=sleeps.append, rand=lambda: 0.5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import client as _client
from ._table import Spec

__all__ = ["make_client"]

T = TypeVar("T")


def make_client(
    *args: Any, cls: Callable[..., T] | None = None,
    sleep: Callable[[float], None] | None = None, rand: Callable[[], float] | None = None,
    clock: Callable[[], float] | None = None, spec: Spec | None = None, **kwargs: Any,
) -> T:
    """``cls(*args, **kwargs)`` (default ``Client``) with the given hooks in place of the real ones."""
    factory: Callable[..., Any] = cls if cls is not None else _client.Client
    _client._INJECTED.value = _client._Injected(sleep, rand, clock, spec)
    try:
        result: T = factory(*args, **kwargs)
    finally:
        _client._INJECTED.__dict__.pop("value", None)
    return result
