"""Rate limits of the fake: requests and tokens per minute, per API key, answered with 429, and
the rate-limit headers the API sends on every response.

``FakeMistral.rate_limit(requests_per_minute=..., tokens_per_minute=..., window=60.0)`` turns
them on. Each key has a sliding window of ``window`` seconds (a minute by default; tests
shrink it and the limits with it). A request arriving when its key has used the window's
requests, or its tokens, is answered ``429`` in the API's error shape with ``Retry-After``
(whole seconds, rounded up) saying when the oldest use leaves the window; it is not counted.
Tokens are charged after the answer, from the ``usage.total_tokens`` it reports (what the API
bills), so a request is admitted while the window still has tokens left.

Every response carries the API's headers (:data:`HEADERS`): the limits (those set, else the
generous :data:`DEFAULT_REQUESTS` and :data:`DEFAULT_TOKENS`), what remains of them in the
key's window after this request (requests counted when admitted, tokens when charged) and the
request's own token cost. The windows are kept whether or not limits are set, with running
totals, so that each request costs O(1).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .replies import error_body

__all__ = ["DEFAULT_REQUESTS", "DEFAULT_TOKENS", "HEADERS", "RateLimits", "Refusal", "Use", "usage_tokens"]

#: The limits the headers announce when no limit is set: more than any test or benchmark uses.
DEFAULT_REQUESTS = 1_000_000
DEFAULT_TOKENS = 1_000_000_000
#: The API's rate-limit headers: ``(limit, remaining)`` of requests and tokens per minute, and the cost.
HEADERS = ("x-ratelimit-limit-req-minute", "x-ratelimit-remaining-req-minute", "x-ratelimit-limit-tokens-minute",
           "x-ratelimit-remaining-tokens-minute", "x-ratelimit-tokens-query-cost")


class Refusal:
    """A 429 to send instead of an answer."""

    __slots__ = ("body", "headers", "retry_after")

    def __init__(self, retry_after: float, what: str) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        self.body = error_body(f"Rate limit exceeded: {what}", "rate_limited")


class Use:
    """One admitted request in its key's window: when, and the tokens charged to it."""

    __slots__ = ("key", "live", "tokens", "when")

    def __init__(self, key: str, when: float) -> None:
        self.key, self.when, self.tokens = key, when, 0
        #: Still in its key's window (its tokens count in the window's total).
        self.live = True


class _Window:
    """A key's uses inside the window, with their token total."""

    __slots__ = ("tokens", "uses")

    def __init__(self) -> None:
        self.uses: deque[Use] = deque()
        self.tokens = 0


def usage_tokens(body: Any) -> int | None:
    """``usage.total_tokens`` of a response body (None when it reports none)."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    tokens = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return int(tokens) if isinstance(tokens, (int, float)) and not isinstance(tokens, bool) else None


class RateLimits:
    """Per-key sliding windows of requests and tokens."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.window = 60.0
        self.refused = 0
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def configure(self, requests_per_minute: int | None, tokens_per_minute: int | None, window: float) -> None:
        with self._lock:
            self.rpm, self.tpm, self.window = requests_per_minute, tokens_per_minute, float(window)
            for old in self._windows.values():
                for use in old.uses:
                    use.live = False
            self._windows.clear()
            self.refused = 0

    def _current(self, key: str, now: float) -> _Window:
        """``key``'s window with the uses that left it dropped (the lock is held)."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        uses = window.uses
        while uses and uses[0].when <= now - self.window:
            gone = uses.popleft()
            gone.live = False
            window.tokens -= gone.tokens
        return window

    def admit(self, key: str) -> tuple[Refusal | None, Use | None]:
        """Count a request of ``key`` now, or refuse it (only when limits are set); returns the
        use to charge tokens to."""
        with self._lock:
            now = self.clock()
            window = self._current(key, now)
            uses = window.uses
            refusal = None
            if self.rpm is not None and len(uses) >= self.rpm:
                refusal = Refusal(uses[0].when + self.window - now, f"{self.rpm} requests per {self.window:g} s")
            elif self.tpm is not None and window.tokens >= self.tpm:
                refusal = self._token_refusal(window, now)
            if refusal is not None:
                self.refused += 1
                return refusal, None
            use = Use(key, now)
            uses.append(use)
            return None, use

    def _token_refusal(self, window: _Window, now: float) -> Refusal:
        assert self.tpm is not None
        total = window.tokens
        wait = 0.0
        for use in window.uses:  # the window frees tokens as its oldest uses leave it
            total -= use.tokens
            wait = use.when + self.window - now
            if total < self.tpm:
                break
        return Refusal(wait, f"{self.tpm} tokens per {self.window:g} s")

    def charge(self, use: Use | None, body: Any) -> None:
        """Charge the tokens an answer reports (a body with ``usage``) to the use :meth:`admit` counted."""
        tokens = usage_tokens(body)
        if use is None or tokens is None:
            return
        with self._lock:
            window = self._windows.get(use.key)
            if window is not None and use.live:
                window.tokens += tokens - use.tokens
            use.tokens = tokens

    def headers(self, key: str, use: Use | None = None) -> dict[str, str]:
        """The rate-limit headers of a response to ``key`` (``use``: this request's, once admitted)."""
        with self._lock:
            window = self._current(key, self.clock())
            requests_limit = self.rpm if self.rpm is not None else DEFAULT_REQUESTS
            tokens_limit = self.tpm if self.tpm is not None else DEFAULT_TOKENS
            values = (requests_limit, max(0, requests_limit - len(window.uses)), tokens_limit,
                      max(0, tokens_limit - window.tokens), use.tokens if use is not None else 0)
        return {name: str(value) for name, value in zip(HEADERS, values)}
