"""Rate limits of the fake: requests and tokens per minute, per API key, answered with 429, and
the rate-limit headers the API sends on every response.

``FakeMistral.rate_limit(requests_per_minute=..., tokens_per_minute=..., window=60.0)`` turns
them on. Each key has a sliding window of ``window`` seconds (a minute by default; tests
shrink it and the limits with it). A request arriving when its key has used the window's
requests, or its tokens, is answered ``429`` in the API's error shape with ``Retry-After``
(whole seconds, rounded up) saying when the oldest use leaves the window; it is not counted.
Tokens are charged after the answer, from the ``usage.total_tokens`` it reports (what the API
bills), so a request is admitted while the window still has tokens left.

Every response carries the API's headers (:data:`HEADERS`): the limits per minute (those set,
at their rate per minute when a test shrank the window; else the generous
:data:`DEFAULT_REQUESTS` and :data:`DEFAULT_TOKENS`), what remains of them over the key's last
minute after this request (requests counted when admitted, tokens when charged) and the
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

from mistral_lite.fake.replies import error_body

__all__ = ["DEFAULT_REQUESTS", "DEFAULT_TOKENS", "HEADERS", "MINUTE", "RateLimits", "Refusal", "Use", "usage_tokens"]

#: What the headers count in (the API's limits are per minute).
MINUTE = 60.0
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


class _Entry:
    """One admitted request in one window: when, the tokens charged to it, and whether it is still in."""

    __slots__ = ("live", "tokens", "when")

    def __init__(self, when: float) -> None:
        self.when, self.tokens, self.live = when, 0, True


class _Window:
    """A key's requests inside a sliding window of ``length`` seconds, with their token total."""

    __slots__ = ("entries", "length", "tokens")

    def __init__(self, length: float) -> None:
        self.length = length
        self.entries: deque[_Entry] = deque()
        self.tokens = 0

    def current(self, now: float) -> _Window:
        """This window with the entries that left it dropped."""
        entries = self.entries
        while entries and entries[0].when <= now - self.length:
            gone = entries.popleft()
            gone.live = False
            self.tokens -= gone.tokens
        return self

    def add(self, now: float) -> _Entry:
        entry = _Entry(now)
        self.entries.append(entry)
        return entry

    def charge(self, entry: _Entry, tokens: int) -> None:
        if entry.live:
            self.tokens += tokens - entry.tokens
        entry.tokens = tokens


class Use:
    """One admitted request: its entries in its key's windows, and the tokens charged to it."""

    __slots__ = ("entries", "tokens")

    def __init__(self, entries: list[tuple[_Window, _Entry]]) -> None:
        self.entries = entries
        self.tokens = 0


def usage_tokens(body: Any) -> int | None:
    """``usage.total_tokens`` of a response body (None when it reports none)."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    tokens = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return int(tokens) if isinstance(tokens, (int, float)) and not isinstance(tokens, bool) else None


class RateLimits:
    """Per-key sliding windows of requests and tokens: the configured window (what is refused),
    and a minute (what the headers announce; the same window unless a test shrank it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.window = 60.0
        self.refused = 0
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._minutes: dict[str, _Window] = {}

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def configure(self, requests_per_minute: int | None, tokens_per_minute: int | None, window: float) -> None:
        with self._lock:
            self.rpm, self.tpm, self.window = requests_per_minute, tokens_per_minute, float(window)
            self._windows.clear()
            self._minutes.clear()
            self.refused = 0

    def _current(self, key: str, now: float) -> tuple[_Window, _Window]:
        """``key``'s configured window and its minute, up to date (the lock is held)."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(self.window)
        if self.window == MINUTE:
            return window.current(now), window
        minute = self._minutes.get(key)
        if minute is None:
            minute = self._minutes[key] = _Window(MINUTE)
        return window.current(now), minute.current(now)

    def admit(self, key: str) -> tuple[Refusal | None, Use | None]:
        """Count a request of ``key`` now, or refuse it (only when limits are set); returns the
        use to charge tokens to."""
        with self._lock:
            now = self.clock()
            window, minute = self._current(key, now)
            refusal = None
            if self.rpm is not None and len(window.entries) >= self.rpm:
                refusal = Refusal(window.entries[0].when + self.window - now,
                                  f"{self.rpm} requests per {self.window:g} s")
            elif self.tpm is not None and window.tokens >= self.tpm:
                refusal = self._token_refusal(window, now)
            if refusal is not None:
                self.refused += 1
                return refusal, None
            entries = [(window, window.add(now))]
            if minute is not window:
                entries.append((minute, minute.add(now)))
            return None, Use(entries)

    def _token_refusal(self, window: _Window, now: float) -> Refusal:
        assert self.tpm is not None
        total = window.tokens
        wait = 0.0
        for entry in window.entries:  # the window frees tokens as its oldest uses leave it
            total -= entry.tokens
            wait = entry.when + self.window - now
            if total < self.tpm:
                break
        return Refusal(wait, f"{self.tpm} tokens per {self.window:g} s")

    def charge(self, use: Use | None, body: Any) -> None:
        """Charge the tokens an answer reports (a body with ``usage``) to the use :meth:`admit` counted."""
        tokens = usage_tokens(body)
        if use is None or tokens is None:
            return
        with self._lock:
            for window, entry in use.entries:
                window.charge(entry, tokens)
            use.tokens = tokens

    def headers(self, key: str, use: Use | None = None) -> dict[str, str]:
        """The rate-limit headers of a response to ``key`` (``use``: this request's, once admitted).

        They describe a minute: a limit set for a shorter window is announced at its rate per
        minute (25 requests per 0.5 s: 3,000 a minute), and what remains is counted over the
        last minute."""
        with self._lock:
            _, minute = self._current(key, self.clock())
            scale = MINUTE / self.window if self.window > 0 else 1.0
            requests_limit = math.floor(self.rpm * scale) if self.rpm is not None else DEFAULT_REQUESTS
            tokens_limit = math.floor(self.tpm * scale) if self.tpm is not None else DEFAULT_TOKENS
            values = (requests_limit, max(0, requests_limit - len(minute.entries)), tokens_limit,
                      max(0, tokens_limit - minute.tokens), use.tokens if use is not None else 0)
        return {name: str(value) for name, value in zip(HEADERS, values)}
