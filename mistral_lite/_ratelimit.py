"""Pacing for bulk runs: requests and tokens per minute, spread evenly, adapting to 429s.

:class:`Pacer` is pure: it reads time from an injected clock and never sleeps; the engine asks
:meth:`Pacer.reserve` when a request may start (a delay in seconds) and sleeps itself.

* **Even pacing.** Each limit is a GCRA (a leaky bucket kept as one "theoretical arrival time"):
  a request costs ``60 / rpm`` seconds of the request budget and ``tokens * 60 / tpm`` of the
  token budget, and may start once both budgets allow it with at most ``burst`` seconds of
  credit. A fresh pacer therefore never sends a minute's budget at once: at most about one
  second's worth (``burst``), then one request every ``60 / rpm`` seconds.
* **Token estimates, corrected.** The caller estimates a request's tokens (see
  :func:`estimate_tokens`) and later reports the ``usage`` the server counted; the difference
  is charged (or refunded) to the token budget.
* **Adaptive.** A 429 (or a 503 with ``Retry-After``) halves the rate (down to 1/32 of it) and
  holds every start until the server's ``Retry-After`` has passed. The rate then climbs back by
  ``recovery`` (a fraction of the full rate) per second without a new 429. Without a configured
  limit there is no rate to halve: a 429 only holds every start until ``Retry-After`` has
  passed (the engine's concurrency is then the only limit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Pacer", "estimate_tokens"]

#: The smallest fraction of the configured rate the pacer slows down to.
MIN_FACTOR = 1.0 / 32


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """A pessimistic token estimate of a request: about 4 bytes of JSON per input token, plus
    the ``max_tokens`` the request allows for its answer (0 when it sets none)."""
    try:
        size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    except (TypeError, ValueError):
        size = 0
    limit = body.get("max_tokens")
    answer = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 0
    return size // 4 + 1 + answer


class Pacer:
    """When may the next request start? (requests and tokens per minute, adaptive)."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float],
        burst: float = 1.0,
        recovery: float = 0.05,
    ) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a number greater than 0, got {value!r}")
        self.rpm = float(requests_per_minute) if requests_per_minute else None
        self.tpm = float(tokens_per_minute) if tokens_per_minute else None
        self.clock = clock
        self.burst = burst
        self.recovery = recovery
        self.factor = 1.0
        self._factor_at = clock()
        now = clock()
        self._request_tat = now  # theoretical arrival times of the two budgets
        self._token_tat = now
        self._paused_until = now
        self.rate_limited_count = 0

    # -- state --------------------------------------------------------------------------------
    def _current_factor(self, now: float) -> float:
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + (now - self._factor_at) * self.recovery)
        self._factor_at = now
        return self.factor

    # -- the engine's questions --------------------------------------------------------------
    def reserve(self, tokens: int = 0) -> float:
        """Book a start for a request of ``tokens`` estimated tokens; return seconds to wait."""
        now = self.clock()
        factor = self._current_factor(now)
        start = max(now, self._paused_until)
        request_step = token_step = 0.0
        if self.rpm is not None:
            request_step = 60.0 / (self.rpm * factor)
            start = max(start, self._request_tat - self.burst)
        if self.tpm is not None and tokens > 0:
            token_step = tokens * 60.0 / (self.tpm * factor)
            start = max(start, self._token_tat - self.burst)
        if self.rpm is not None:
            self._request_tat = max(self._request_tat, start) + request_step
        if self.tpm is not None and tokens > 0:
            self._token_tat = max(self._token_tat, start) + token_step
        return start - now

    def correct_tokens(self, delta: int) -> None:
        """Charge (``delta > 0``) or refund the difference between reported and estimated tokens."""
        if self.tpm is None or delta == 0:
            return
        now = self.clock()
        shifted = self._token_tat + delta * 60.0 / (self.tpm * self._current_factor(now))
        self._token_tat = max(shifted, now - self.burst) if delta < 0 else shifted

    def rate_limited(self, retry_after: float | None) -> None:
        """The server said 429: slow down, and hold every start until ``retry_after`` has passed."""
        now = self.clock()
        self.rate_limited_count += 1
        self.factor = max(MIN_FACTOR, self._current_factor(now) / 2.0)
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + retry_after)
        # bookings made at the old rate start again from now at the new one
        self._request_tat = min(self._request_tat, max(now, self._paused_until))
