"""Retries made visible on the command line, in words a person reads at a glance.

The client logs each retry at WARNING on the ``mistral_lite`` logger (its level is the
client's ``retry_log_level``; Python programs see the standard record). The command line adds
a handler that writes only those records, as
``retrying in 2.3 s (503 Service Unavailable, attempt 2/4)``, to stderr; with ``-v`` the
standard log lines are shown instead.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from http import HTTPStatus
from typing import IO, Any

__all__ = ["RetryNotice", "describe_retry", "installed"]

_STATUS = re.compile(r"^HTTP (\d{3})$")


def describe_retry(info: dict[str, Any]) -> str:
    """``retrying in 2.3 s (503 Service Unavailable, attempt 2/4)`` for a retry record's data."""
    reason = str(info.get("reason", ""))
    match = _STATUS.match(reason)
    if match is not None:
        code = int(match.group(1))
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
        reason = f"{code} {phrase}".strip()
    return f"retrying in {float(info.get('delay', 0.0)):.1f} s ({reason}, attempt {info.get('attempt')}/" \
           f"{info.get('attempts')})"


class RetryNotice(logging.Handler):
    """Writes the client's retry records as one plain line each (other warnings as they are)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        info = getattr(record, "mistral_lite_retry", None)
        text = describe_retry(info) if isinstance(info, dict) else f"warning: {record.getMessage()}"
        stream = self.stream or sys.stderr
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass


@contextlib.contextmanager
def installed() -> Iterator[RetryNotice]:
    """A :class:`RetryNotice` on the ``mistral_lite`` logger for the duration of the block."""
    handler = RetryNotice()
    logger = logging.getLogger("mistral_lite")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
