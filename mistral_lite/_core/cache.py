"""The response cache: opt-in, TTL-bound, keyed so that nothing leaks between API keys.

Only rows the table marks ``cache = true`` are cached, and only their successful, non-streamed
responses. The key covers the operation, the base URL, a fingerprint of the API key (a salted
hash, never the key), the path parameters and the canonical JSON of the query and body. A hit
returns a fresh copy, so a caller who mutates a result cannot change the next hit. A write
through the client drops the cached reads the table lists in its ``invalidates`` field.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from mistral_lite._core.jsoncodec import canonical

__all__ = ["MISS", "ResponseCache", "key_fingerprint"]

MISS: Any = object()
Copier = Callable[[], Any]


def key_fingerprint(api_key: str) -> str:
    """A stable, one-way fingerprint of an API key for cache keys."""
    return hashlib.sha256(b"mistral-lite-cache:" + api_key.encode()).hexdigest()[:32]


def _copier(value: Any) -> Copier | None:
    """A function that returns a fresh deep copy of a JSON value (None: immutable)."""
    kind = type(value)
    if kind is list:
        subs = [_copier(v) for v in value]
        if not any(subs):
            return value.copy  # type: ignore[no-any-return]
        pairs = list(zip(subs, value, strict=True))
        return lambda: [c() if c is not None else v for c, v in pairs]
    if kind is dict:
        nested = [(k, c) for k, c in ((k, _copier(v)) for k, v in value.items()) if c is not None]
        if not nested:
            return value.copy  # type: ignore[no-any-return]

        def copy_dict() -> dict[Any, Any]:
            out: dict[Any, Any] = value.copy()  # the scalars in one C call, then the containers
            for key, copier in nested:
                out[key] = copier()
            return out

        return copy_dict
    return None


class _StoreState:
    """The lock and the write generation of one store, shared by every cache over it."""

    __slots__ = ("generation", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0


_shared_lock = threading.Lock()
#: id(store) -> [store, state, number of live caches over it]; an entry goes with its last cache.
_shared: dict[int, list[Any]] = {}


def _state_for(store: MutableMapping[Any, Any]) -> _StoreState:
    """One state per store object, so clients sharing a mapping share its lock."""
    with _shared_lock:
        found = _shared.get(id(store))
        if found is None or found[0] is not store:
            found = _shared[id(store)] = [store, _StoreState(), 0]  # holds the store: its id stays unique
        found[2] += 1
        state: _StoreState = found[1]
        return state


def _release(store_id: int) -> None:
    """A cache over the store was collected: forget the store once no cache uses it."""
    with _shared_lock:
        found = _shared.get(store_id)
        if found is not None:
            found[2] -= 1
            if found[2] <= 0:
                del _shared[store_id]


class ResponseCache:
    """A thread-safe TTL cache of decoded responses (cachetools underneath by default).

    Clients given the same mapping share one lock over it. Every invalidation bumps a write
    generation; a read that was in flight during a write does not store its (older) result.
    """

    def __init__(
        self,
        store: MutableMapping[Any, Any] | None = None,
        *,
        ttl: float = 300.0,
        maxsize: int = 1024,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if store is None:
            from cachetools import TTLCache  # only when a client enables its cache (import cost)

            store = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
            self._state = _StoreState()
        else:
            self._state = _state_for(store)
            weakref.finalize(self, _release, id(store))
        self.store = store
        self.ttl = ttl
        self.timer = timer
        self.hits = 0
        self.misses = 0
        self._puts = 0
        self._lock = self._state.lock

    @property
    def generation(self) -> int:
        """Bumped by every invalidation; pass the value read before a request to ``put``."""
        return self._state.generation

    @staticmethod
    def make_key(
        operation: str, base_url: str, fingerprint: str, path: Mapping[str, str],
        query: Any, body: Any,
    ) -> tuple[Any, ...] | None:
        """The key of a call, or None when its options cannot be keyed (validation will say why)."""
        try:
            return (operation, base_url, fingerprint, tuple(sorted(path.items())), canonical((query, body)))
        except (TypeError, ValueError, RecursionError):
            return None

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            entry = self.store.get(key)
            if entry is not None and entry[0] < self.timer():
                del self.store[key]
                entry = None
            if entry is None:
                self.misses += 1
                return MISS
            self.hits += 1
        copier = entry[2]
        return copier() if copier is not None else entry[1]

    def put(self, key: tuple[Any, ...], value: Any, generation: int | None = None) -> None:
        """Store a copy of ``value``; skipped when a write happened since ``generation``."""
        copier = _copier(value)
        stored = copier() if copier is not None else value  # detached from the caller's copy
        entry = (self.timer() + self.ttl, stored, _copier(stored))
        with self._lock:
            if generation is not None and generation != self._state.generation:
                return  # a write landed while this read was in flight: its result may be stale
            self.store[key] = entry
            self._puts += 1
            if self._puts % 64 == 0 and not hasattr(self.store, "expire"):
                self._sweep()  # a shared plain mapping has no eviction of its own

    def _sweep(self) -> None:
        now = self.timer()
        for old in [k for k, v in list(self.store.items()) if isinstance(v, tuple) and v and v[0] < now]:
            self.store.pop(old, None)

    def invalidate(self, operations: tuple[str, ...], path: Mapping[str, str]) -> int:
        """Drop the entries of ``operations`` whose shared path parameters match ``path``."""
        if not operations:
            return 0
        wanted = set(operations)
        with self._lock:
            self._state.generation += 1
            doomed = [
                key for key in list(self.store)
                if isinstance(key, tuple) and key and key[0] in wanted
                and all(path.get(name, value) == value for name, value in key[3])
            ]
            for key in doomed:
                self.store.pop(key, None)
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._state.generation += 1
            self.store.clear()

    @property
    def stats(self) -> dict[str, int]:
        """Hits, misses and current size."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self.store)}
