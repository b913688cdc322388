"""Concurrency on threads: futures and bounded parallel maps.

* ``Client.submit(name, ...)`` runs one call on the client's worker pool and returns a
  ``concurrent.futures.Future`` (the seed's Task).
* ``Client.map(name, options_list, max_workers=8)`` runs many calls with bounded concurrency and
  returns results in input order; a failed item holds its exception (``return_exceptions``) so
  one error never loses the other results.

The thread pool is created on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import contextvars
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mistral_lite._core.inputs import map_item_problems, map_problems
from mistral_lite.exceptions import ValidationError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from mistral_lite.client import Client

__all__ = ["Executor", "run_map"]


class Executor:
    """A lazily created thread pool shared by a client and its copies (a forked child starts afresh)."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        _live.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's worker threads do not exist here; start a new pool on demand."""
        self._pool = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = _thread_pool(self.max_workers, "mistral-lite")
        return self._pool

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        """``fn`` on a worker thread, in a copy of the caller's contextvars (its current span)."""
        return self.pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads; with ``wait=False``, queued calls are cancelled and running ones finish."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None


def _thread_pool(workers: int, prefix: str) -> ThreadPoolExecutor:
    # concurrent.futures loads on the first map or submit, not at import (import cost)
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(workers, thread_name_prefix=prefix)


_live: weakref.WeakSet[Executor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for executor in list(_live):
        executor._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run_map(
    client: Client, operation: str, items: Iterable[Mapping[str, Any]], max_workers: int, return_exceptions: bool
) -> list[Any]:
    problems = map_problems(items, max_workers)
    given = list(items) if not problems else []
    problems += map_item_problems(given)
    if problems:  # before any call: map("chat", [1, 2]) names each bad item
        raise ValidationError(operation, problems)
    options = [dict(item) for item in given]
    if not options:
        return []
    workers = max(1, min(max_workers, len(options)))
    client._transport.ensure_pool(workers)  # one pooled connection per thread: none discarded
    with _thread_pool(workers, "mistral-lite-map") as pool:
        run: Any = contextvars.copy_context  # each call in a copy of the caller's contextvars (its current span)
        futures = [pool.submit(run().run, client.call, operation, **item)
                   for item in options]
        results: list[Any] = []
        for future in futures:
            error = future.exception()
            if error is None:
                results.append(future.result())
            elif return_exceptions:
                results.append(error)
            else:
                for other in futures:
                    other.cancel()
                raise error
    return results
