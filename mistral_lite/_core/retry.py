"""Retry: one loop around every attempt, configured by the table's retry classes.

Classes (a row's ``retry`` field):

* ``idempotent``: GET, PUT, DELETE and side-effect-free POSTs. Retried on the statuses in
  ``[defaults.retry] idempotent_statuses`` (408, 429, 500, 502, 503, 504), on connection
  errors and on timeouts.
* ``create``: POSTs that create or change state. Retried only on ``create_statuses`` (429) and
  on failures where the request provably never reached the server: connection refused, name
  resolution, connect timeout.
* ``never``: no retry.

Backoff is full jitter, ``rand() * min(cap, base * 2**n)`` for retry ``n`` (0-based), unless
the caller gives ``retry_delay(n)``. ``Retry-After`` (seconds or an HTTP date) and
``retry-after-ms`` on 429 and 503 replace the delay, up to ``max_retry_after``; a server that
asks for longer gets the error at once, carrying the delay it asked for.

The policy only decides (:meth:`RetryPolicy.decide`); each transport's loop sends, asks the
policy, sleeps (``time.sleep`` or ``asyncio.sleep``) and tries again. Sleep and random are
injected so that tests never wait. No urllib3 ``Retry`` runs underneath the sync loop.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RetryPolicy", "backoff", "parse_retry_after"]

logger = logging.getLogger("mistral_lite")


class RetryPolicy:
    """Everything the retry loop needs; built once per client from the table and options."""

    __slots__ = ("base_delay", "create_statuses", "enabled", "idempotent_statuses", "log_level", "max_delay",
                 "max_retries", "max_retry_after", "rand", "retry_after_statuses", "retry_delay", "sleep")

    def __init__(
        self,
        *,
        enabled: bool = True,
        max_retries: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_retry_after: float = 60.0,
        idempotent_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504}),
        create_statuses: frozenset[int] = frozenset({429}),
        retry_after_statuses: frozenset[int] = frozenset({429, 503}),
        retry_delay: Callable[[int], float] | None = None,
        log_level: int | bool = logging.WARNING,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.enabled, self.max_retries = enabled, max_retries
        self.base_delay, self.max_delay, self.max_retry_after = base_delay, max_delay, max_retry_after
        self.idempotent_statuses, self.create_statuses = idempotent_statuses, create_statuses
        self.retry_after_statuses, self.retry_delay = retry_after_statuses, retry_delay
        self.log_level, self.sleep, self.rand = log_level, sleep, rand

    def replace(self, **changes: Any) -> RetryPolicy:
        """A copy with some settings changed."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return RetryPolicy(**fields)

    def retries_status(self, retry_class: str, status: int) -> bool:
        if not self.enabled or retry_class == "never":
            return False
        statuses = self.create_statuses if retry_class == "create" else self.idempotent_statuses
        return status in statuses

    def retries_error(self, retry_class: str, reached_server: bool) -> bool:
        if not self.enabled or retry_class == "never":
            return False
        return retry_class == "idempotent" or not reached_server

    def retry_after_for(self, status: int, headers: Mapping[str, str]) -> float | None:
        """The wait a ``status`` response asks for (``Retry-After`` on 429/503), or None."""
        return parse_retry_after(headers) if status in self.retry_after_statuses else None

    def decide(
        self, retry_class: str, retry_number: int, *, status: int | None = None,
        retry_after: float | None = None, reached_server: bool = True,
    ) -> float | None:
        """The pure retry decision: seconds to wait before retry ``retry_number``, or None to give up.

        ``status`` is the error status of a response; without one, the attempt failed in the
        transport, and ``reached_server`` says whether the request may have reached the server.
        ``retry_after`` is what the response asked for (see :meth:`retry_after_for`); a server
        asking for more than ``max_retry_after`` gets no retry. Nothing here sleeps.
        """
        if retry_number >= self.max_retries:
            return None
        if status is None:
            return self.delay(retry_number) if self.retries_error(retry_class, reached_server) else None
        if not self.retries_status(retry_class, status):
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.delay(retry_number)

    def delay(self, retry_number: int) -> float:
        if self.retry_delay is not None:
            requested = float(self.retry_delay(retry_number))
            return requested if requested > 0.0 else 0.0
        return backoff(retry_number, self.base_delay, self.max_delay, self.rand)

    def log(self, operation: str, retry_number: int, reason: str, delay: float) -> None:
        if self.log_level is False or self.log_level is True:
            level = logging.WARNING if self.log_level is True else None
        else:
            level = int(self.log_level)
        if level is not None and logger.isEnabledFor(level):
            logger.log(
                level, "retrying %s (retry %d of %d) after %s in %.2fs",
                operation, retry_number + 1, self.max_retries, reason, delay,
                extra={"mistral_lite_retry": {"operation": operation, "attempt": retry_number + 2,
                                              "attempts": self.max_retries + 1, "reason": reason, "delay": delay}},
            )


def backoff(retry_number: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Full jitter: a uniform delay in ``[0, min(cap, base * 2**retry_number)]``."""
    ceiling: float = min(cap, base * 2.0 ** min(retry_number, 62))
    return rand() * ceiling


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asks to wait, from ``retry-after-ms`` or ``Retry-After``."""
    value: Any = headers.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000.0
            if math.isfinite(seconds):  # "inf" or "nan" is garbage, not a delay
                return max(0.0, seconds)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())
