"""``client.with_raw_response``: every operation, answering what the server said along with the result.

``client.with_raw_response.chat(...)`` (or ``.call("chat", ...)``) makes the same call as
``client.chat(...)``, once, through the same dispatcher, and returns a :class:`RawResponse`: the
final response's status, headers, request id and rate-limit state, the seconds the call took
(retries included), the attempts made, and ``parse()``, the plain call's result. The call is
recorded with :mod:`mistral_lite._core.observe`'s :class:`CallRecord` even when nobody observes it,
and never answered from the cache (the server's answer is what was asked for).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mistral_lite._core.headers import Headers, RateLimit, request_id

if TYPE_CHECKING:
    from mistral_lite._core.observe import CallRecord

__all__ = ["AsyncRawOperations", "RawOperations", "RawResponse"]

T = TypeVar("T", covariant=True)  # RawResponse[Stream[X]] is a RawResponse[X | Stream[X]], as the overloads need


class RawResponse(Generic[T]):
    """The raw side of one call: ``status_code``, ``headers`` (read-only, any case), ``request_id``
    (``x-request-id``, else ``request-id``), ``rate_limit`` (a :class:`RateLimit` or None),
    ``elapsed`` (seconds, retries included), ``attempts``, and ``parse()``: the plain call's result
    (for ``stream=True``, the stream, to iterate once)."""

    __slots__ = ("_result", "attempts", "elapsed", "headers", "request_id", "status_code")

    def __init__(self, call: CallRecord, result: T) -> None:
        self.status_code: int = call.status if call.status is not None else 0
        self.headers = Headers(call.headers)
        self.request_id: str | None = request_id(self.headers)
        self.elapsed: float = call.elapsed
        self.attempts: int = call.attempts
        self._result = result

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit state the final response reported, or None when it carried none."""
        return RateLimit.from_headers(self.headers)

    def parse(self) -> T:
        """Exactly what the plain call returns (nothing more is read or sent)."""
        return self._result

    def _with_result(self, result: Any) -> RawResponse[Any]:
        """The same response around another result (a thread-backed stream's async wrapper)."""
        clone: RawResponse[Any] = object.__new__(RawResponse)
        for name in RawResponse.__slots__:
            setattr(clone, name, getattr(self, name))
        clone._result = result
        return clone

    def __repr__(self) -> str:
        return (f"<RawResponse {self.status_code} request_id={self.request_id!r} attempts={self.attempts} "
                f"elapsed={self.elapsed:.3f}s>")


class RawOperations:
    """``client.with_raw_response``: each operation of the table as a method answering a RawResponse."""

    __slots__ = ("_client",)

    def __init__(self, client: Any) -> None:
        self._client = client

    def call(self, operation: str, /, *args: Any, **options: Any) -> Any:
        """``client.with_raw_response.call("chat", model=..., messages=...)``."""
        return self._client._dispatch(operation, args, options, True)

    def __getattr__(self, name: str) -> Any:
        if name in self._client._endpoints:
            return partial(self.call, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} (no such operation)")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._client._endpoints})

    def __repr__(self) -> str:
        return f"<with_raw_response of {self._client!r}>"


class AsyncRawOperations(RawOperations):
    """``aclient.with_raw_response``: ``raw = await aclient.with_raw_response.chat(...)``."""
