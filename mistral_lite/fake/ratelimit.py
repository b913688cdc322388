"""Rate limits of the fake: requests and tokens per minute, per API key, answered with 429.

``FakeMistral.rate_limit(requests_per_minute=..., tokens_per_minute=..., window=60.0)`` turns
them on. Each key has a sliding window of ``window`` seconds (a minute by default; tests
shrink it and the limits with it). A request arriving when its key has used the window's
requests, or its tokens, is answered ``429`` in the API's error shape with ``Retry-After``
(whole seconds, rounded up) saying when the oldest use leaves the window; it is not counted.
Tokens are charged after the answer, from the ``usage.total_tokens`` it reports (what the API
bills), so a request is admitted while the window still has tokens left.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .replies import error_body

__all__ = ["RateLimits", "Refusal"]


class Refusal:
    """A 429 to send instead of an answer."""

    __slots__ = ("body", "headers", "retry_after")

    def __init__(self, retry_after: float, what: str) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        self.body = error_body(f"Rate limit exceeded: {what}", "rate_limited")


class RateLimits:
    """Per-key sliding windows of requests and tokens."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.window = 60.0
        self.refused = 0
        self._lock = threading.Lock()
        self._uses: dict[str, deque[list[float]]] = {}  # key -> [[time, tokens], ...]

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def configure(self, requests_per_minute: int | None, tokens_per_minute: int | None, window: float) -> None:
        with self._lock:
            self.rpm, self.tpm, self.window = requests_per_minute, tokens_per_minute, float(window)
            self._uses.clear()
            self.refused = 0

    def admit(self, key: str) -> tuple[Refusal | None, list[float] | None]:
        """Count a request of ``key`` now, or refuse it; returns the use to charge tokens to."""
        if not self.active:
            return None, None
        with self._lock:
            now = self.clock()
            uses = self._uses.setdefault(key, deque())
            while uses and uses[0][0] <= now - self.window:
                uses.popleft()
            refusal = None
            if self.rpm is not None and len(uses) >= self.rpm:
                refusal = Refusal(uses[0][0] + self.window - now, f"{self.rpm} requests per {self.window:g} s")
            elif self.tpm is not None and sum(u[1] for u in uses) >= self.tpm:
                refusal = self._token_refusal(uses, now)
            if refusal is not None:
                self.refused += 1
                return refusal, None
            use = [now, 0.0]
            uses.append(use)
            return None, use

    def _token_refusal(self, uses: deque[list[float]], now: float) -> Refusal:
        assert self.tpm is not None
        total = sum(u[1] for u in uses)
        wait = 0.0
        for when, tokens in uses:  # the window frees tokens as its oldest uses leave it
            total -= tokens
            wait = when + self.window - now
            if total < self.tpm:
                break
        return Refusal(wait, f"{self.tpm} tokens per {self.window:g} s")

    def charge(self, use: list[float] | None, body: Any) -> None:
        """Charge the tokens an answer reports to the use :meth:`admit` counted."""
        if use is None or not isinstance(body, Mapping):
            return
        usage = body.get("usage")
        tokens = usage.get("total_tokens") if isinstance(usage, Mapping) else None
        if isinstance(tokens, (int, float)):
            with self._lock:
                use[1] = float(tokens)
