"""Fault injection: the :class:`Fault` description and the per-operation queues.

A test queues faults with ``FakeMistral.inject(op, *faults)``; each request to that operation
consumes one fault, and once the queue is empty the operation behaves normally again. How a
fault is acted out on the socket is the HTTP layer's business (``server.py``).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Fault", "FaultQueues", "Queues"]

T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour.

    - ``status`` (with optional ``body`` and ``headers``): answer this error instead; the
      default body is the API's error shape.
    - ``delay``: sleep this many seconds before answering (alone, the answer is normal).
    - ``reset``: close the connection abruptly (TCP RST) without answering.
    - ``stall_after`` / ``stall_seconds``: for a stream, send N events, then go silent.
    - ``cut_after``: for a stream, send N events, then close without the terminator.
    - ``raw``: send these bytes as the response body (a stream body for streaming requests).
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    delay: float = 0.0
    reset: bool = False
    stall_after: int | None = None
    stall_seconds: float = 0.0
    cut_after: int | None = None
    raw: bytes | None = None


class Queues(Generic[T]):
    """Thread-safe FIFO queues (of faults, of scripted replies), one per operation name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[T]] = {}

    def push(self, op: str, items: tuple[T, ...]) -> None:
        with self._lock:
            self._queues.setdefault(op, deque()).extend(items)

    def pop(self, op: str) -> T | None:
        with self._lock:
            queue = self._queues.get(op)
            return queue.popleft() if queue else None

    def pending(self, op: str) -> int:
        with self._lock:
            return len(self._queues.get(op, ()))

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


FaultQueues = Queues[Fault]
