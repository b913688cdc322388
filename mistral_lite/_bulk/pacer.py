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
* **Adaptive.** With a configured limit, a 429 (or a 503 with ``Retry-After``) halves the rate
  (down to 1/32 of it) and holds every start until the server's ``Retry-After`` has passed. The
  rate then climbs back by ``recovery`` (a fraction of the full rate) per second without a new
  429.
* **AIMD without a configured limit.** There is no rate to halve, and holding every start for
  one 429 would stop the world for a random refusal. :class:`InFlight` limits the requests in
  flight instead: a 429 halves the limit (at most once per ``Retry-After``: the 429s of that
  period are one signal), each success adds one slot back, up to the run's concurrency; the
  refused line alone waits its ``Retry-After`` (holding no slot) and goes again.
* **What the server says.** Without a configured limit, a response whose rate-limit headers say
  a per-minute budget is spent (``x-ratelimit-remaining-req-minute`` or
  ``x-ratelimit-remaining-tokens-minute`` of 0, see ``client.rate_limit``) holds every new
  start until the next minute of the wall clock (:meth:`Pacer.exhausted`), instead of
  collecting 429s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["InFlight", "Pacer", "estimate_tokens"]

#: The smallest fraction of the configured rate the pacer slows down to.
MIN_FACTOR = 1.0 / 32


def wall_clock() -> float:
    """The wall clock (seconds since the epoch) the pacer reads minutes from."""
    return time.time()


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
        wall: Callable[[], float] | None = None,
    ) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a number greater than 0, got {value!r}")
        self.rpm = float(requests_per_minute) if requests_per_minute else None
        self.tpm = float(tokens_per_minute) if tokens_per_minute else None
        self.clock = clock
        self.wall = wall or wall_clock  # per-minute budgets reset on the minute of the wall clock
        self.burst = burst
        self.recovery = recovery
        self.factor = 1.0
        self._factor_at = clock()
        now = clock()
        self._request_tat = now  # theoretical arrival times of the two budgets
        self._token_tat = now
        self._paused_until = now
        self.rate_limited_count = 0

    @property
    def limited(self) -> bool:
        """Whether a rate (requests or tokens per minute) is configured."""
        return self.rpm is not None or self.tpm is not None

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

    def exhausted(self) -> float:
        """The server says a per-minute budget is spent: hold every start until the next minute
        of the wall clock; returns the seconds held."""
        wait = 60.0 - self.wall() % 60.0
        self._paused_until = max(self._paused_until, self.clock() + wait)
        return wait

    def rate_limited(self, retry_after: float | None) -> None:
        """The server said 429: slow down, and hold every start until ``retry_after`` has passed."""
        now = self.clock()
        self.rate_limited_count += 1
        if not self.limited:
            return  # no rate to slow: the engine's in-flight limit (InFlight) takes the signal
        self.factor = max(MIN_FACTOR, self._current_factor(now) / 2.0)
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + retry_after)
        # bookings made at the old rate start again from now at the new one
        self._request_tat = min(self._request_tat, max(now, self._paused_until))


class InFlight:
    """How many requests may be in flight: additive increase, multiplicative decrease (AIMD).

    Starts at ``most``; :meth:`rate_limited` halves the limit (not below 1) at most once per
    ``Retry-After`` period, and each :meth:`done` success adds one back, up to ``most``. Not
    thread-safe: the engine holds its lock around every call.
    """

    def __init__(self, most: int, *, clock: Callable[[], float], decrease: float = 0.5) -> None:
        self.most = most
        self.limit = float(most)
        self.in_flight = 0
        self.clock = clock
        self.decrease = decrease
        self._calm_until = float("-inf")
        self.decreases = 0

    def try_start(self) -> bool:
        """Take a slot if one is free."""
        if self.in_flight >= max(1, int(self.limit)):
            return False
        self.in_flight += 1
        return True

    def done(self, succeeded: bool) -> None:
        """Give the slot back; a success earns one more slot (up to ``most``)."""
        self.in_flight -= 1
        if succeeded and self.limit < self.most:
            self.limit = min(float(self.most), self.limit + 1.0)

    def rate_limited(self, retry_after: float | None) -> None:
        now = self.clock()
        if now < self._calm_until:
            return  # the same push-back as the last decrease
        self.limit = max(1.0, self.limit * self.decrease)
        self.decreases += 1
        self._calm_until = now + (retry_after if retry_after and retry_after > 0 else 1.0)
