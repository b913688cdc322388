"""What a response's headers say: its request id and the rate-limit state (:class:`RateLimit`).

Mistral sends the state of the key's limits on every response::

    x-ratelimit-limit-req-minute / x-ratelimit-remaining-req-minute        -> requests_*
    x-ratelimit-limit-tokens-minute / x-ratelimit-remaining-tokens-minute  -> tokens_*
    x-ratelimit-tokens-query-cost                                           -> tokens_query_cost

Older responses and some gateways send the ``x-ratelimitbysize-*`` family instead
(``x-ratelimitbysize-limit-minute``, ``x-ratelimitbysize-remaining-minute``,
``ratelimitbysize-query-cost``, for the token fields); the ``x-ratelimit-*`` family wins when
both are there. Monthly and 10-second limits (``x-ratelimit-limit-tokens-month``,
``x-ratelimit-remaining-req-10-second``...) are kept when sent. Names match in any case; a value
that is not an integer gives None for its field, never an exception. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Headers", "RateLimit", "ResponseInfo", "request_id"]

#: field -> header names that carry it, preferred first (lowercase).
_FIELDS: dict[str, tuple[str, ...]] = {
    "requests_limit": ("x-ratelimit-limit-req-minute",),
    "requests_remaining": ("x-ratelimit-remaining-req-minute",),
    "tokens_limit": ("x-ratelimit-limit-tokens-minute", "x-ratelimitbysize-limit-minute"),
    "tokens_remaining": ("x-ratelimit-remaining-tokens-minute", "x-ratelimitbysize-remaining-minute"),
    "tokens_query_cost": ("x-ratelimit-tokens-query-cost", "ratelimitbysize-query-cost",
                          "x-ratelimitbysize-query-cost"),
    "tokens_limit_month": ("x-ratelimit-limit-tokens-month", "x-ratelimitbysize-limit-month"),
    "tokens_remaining_month": ("x-ratelimit-remaining-tokens-month", "x-ratelimitbysize-remaining-month"),
    "requests_limit_10s": ("x-ratelimit-limit-req-10-second",),
    "requests_remaining_10s": ("x-ratelimit-remaining-req-10-second",),
}


def _integer(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        try:
            return int(text)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            return None
    return None


class RateLimit:
    """The rate-limit state one response reported (immutable; each field an int or None).

    ``requests_limit``/``requests_remaining`` (per minute), ``tokens_limit``/``tokens_remaining``
    (per minute), ``tokens_query_cost`` (what this request cost), and where the server sends them
    ``tokens_limit_month``/``tokens_remaining_month`` and ``requests_limit_10s``/``requests_remaining_10s``.
    """

    __slots__ = tuple(_FIELDS)

    requests_limit: int | None
    requests_remaining: int | None
    tokens_limit: int | None
    tokens_remaining: int | None
    tokens_query_cost: int | None
    tokens_limit_month: int | None
    tokens_remaining_month: int | None
    requests_limit_10s: int | None
    requests_remaining_10s: int | None

    def __init__(self, **fields: int | None) -> None:
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise TypeError(f"RateLimit() got unknown fields {sorted(unknown)}")
        for name in _FIELDS:
            object.__setattr__(self, name, fields.get(name))

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None) -> RateLimit | None:
        """The state in ``headers`` (names in any case), or None when no rate-limit header is there."""
        if not headers:
            return None
        lower = {str(k).lower(): v for k, v in headers.items() if "ratelimit" in str(k).lower()}
        if not lower:
            return None
        fields: dict[str, int | None] = {}
        for name, names in _FIELDS.items():
            for header in names:
                if header in lower:
                    fields[name] = _integer(lower[header])
                    break
        return cls(**fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"RateLimit is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"RateLimit is immutable: cannot delete {name!r}")

    def _values(self) -> tuple[int | None, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RateLimit) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (dict(zip(_FIELDS, self._values())),))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in zip(_FIELDS, self._values()) if v is not None)
        return f"RateLimit({shown})"


def _rebuild(fields: dict[str, int | None]) -> RateLimit:
    return RateLimit(**fields)


class Headers(Mapping[str, str]):
    """A response's headers: read-only, names matched in any case (``headers["X-Request-Id"]``)."""

    __slots__ = ("_items", "_lower")

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        items = list(headers.items()) if headers is not None else []
        self._items = dict(items)
        self._lower = {str(k).lower(): v for k, v in items}

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)  # so get(1) is a miss, as on any mapping
        return self._lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class ResponseInfo:
    """``headers`` and ``rate_limit`` of an object holding the HTTP ``response`` (the stream classes)."""

    response: Any

    @property
    def headers(self) -> Headers:
        """The response's headers (read-only, any case)."""
        return Headers(self.response.headers)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit state the response reported, or None."""
        return RateLimit.from_headers(self.response.headers)


def request_id(headers: Mapping[str, str] | None) -> str | None:
    """``x-request-id``, else ``request-id`` (any case), else None."""
    if not headers:
        return None
    for name in ("x-request-id", "request-id"):
        value = headers.get(name)
        if value is None and not isinstance(headers, Headers):
            value = next((v for k, v in headers.items() if str(k).lower() == name), None)
        if value is not None:
            return value
    return None
