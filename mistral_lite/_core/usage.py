"""``with client.track_usage() as usage:``: requests, retries, tokens, pages and audio seconds, summed.

A :class:`UsageTracker` is a call observer (:mod:`mistral_lite._core.observe`) registered on the
client's hub for the length of the block, so it counts every call of the client and its
``with_options`` copies, from any thread or task, and nothing else. What it reads, as the API
reference defines it:

* ``requests``: calls that got a 2xx (a stream when its 2xx arrives); ``failed``: calls that ended
  in an error; ``retries``: extra attempts (failed calls' included).
* tokens: a result's ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``); for a
  stream, the item that carries ``usage`` (a chat stream's last chunk, ``transcription.done``,
  ``conversation.response.done``).
* ``audio_seconds``: ``usage.prompt_audio_seconds`` (transcriptions, chat with audio input).
* ``pages``: an OCR result's ``usage_info.pages_processed``.

Each is also counted under ``usage.by_model[model]``, the model the response names, else the
request's (a call naming neither, an agent's, counts under ``"unknown"``). Counting takes a lock:
totals are exact under threads and ``asyncio.gather``. Nested blocks each count. When a block ends
its totals stop changing. Nothing here does I/O.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mistral_lite._core.observe import CallRecord, Observer
from mistral_lite.exceptions import MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._core.observe import Hub

__all__ = ["Usage", "UsageCounts", "UsageTracker"]

#: The by_model key of calls that name no model (an agent's).
UNKNOWN_MODEL = "unknown"
_FIELDS = ("requests", "failed", "retries", "prompt_tokens", "completion_tokens", "total_tokens", "pages",
           "audio_seconds")


class UsageCounts:
    """Counts of calls and what they used (the totals, or one model's share)."""

    __slots__ = _FIELDS

    def __init__(self) -> None:
        self.requests = 0
        self.failed = 0
        self.retries = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.total_tokens = 0
        self.pages = 0
        self.audio_seconds = 0

    def _add_usage(self, usage: Mapping[str, Any] | None, usage_info: Mapping[str, Any] | None) -> None:
        if usage is not None:
            self.prompt_tokens += _count(usage.get("prompt_tokens"))
            self.completion_tokens += _count(usage.get("completion_tokens"))
            self.total_tokens += _count(usage.get("total_tokens"))
            self.audio_seconds += _count(usage.get("prompt_audio_seconds"))
        if usage_info is not None:
            self.pages += _count(usage_info.get("pages_processed"))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _FIELDS}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.as_dict().items())})"


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


class Usage(UsageCounts):
    """The totals of a ``track_usage()`` block, with ``by_model`` and :meth:`cost`."""

    __slots__ = ("by_model",)

    def __init__(self) -> None:
        super().__init__()
        self.by_model: dict[str, UsageCounts] = {}

    def cost(self, prices: Mapping[str, Mapping[str, float]]) -> float:
        """US dollars for the tokens counted: ``prices = {model: {"input": usd_per_million,
        "output": usd_per_million}}``. A model that used tokens but is missing from ``prices``
        (or lacks the price it needs) is a :class:`MistralError` naming it; a price that is not a
        number is a :class:`ValidationError` naming its path."""
        _check_prices(prices)
        total = 0.0
        for model, counts in sorted(self.by_model.items()):
            if not (counts.prompt_tokens or counts.completion_tokens):
                continue
            price = prices.get(model)
            needed = [k for k, n in (("input", counts.prompt_tokens), ("output", counts.completion_tokens))
                      if n and (price is None or k not in price)]
            if needed:
                have = ", ".join(sorted(prices)) or "none"
                raise MistralError(f"usage.cost: no {' and '.join(needed)} price for model {model!r} "
                                   f"(prices given for: {have}); add prices[{model!r}] = "
                                   '{"input": usd_per_million, "output": usd_per_million}')
            assert price is not None
            total += counts.prompt_tokens * float(price.get("input", 0.0)) / 1e6
            total += counts.completion_tokens * float(price.get("output", 0.0)) / 1e6
        return total


def _check_prices(prices: Any) -> None:
    """A :class:`ValidationError` naming every price that is not a number (before any sum)."""
    shape = "{model: {'input': usd_per_million, 'output': usd_per_million}}"
    if not isinstance(prices, Mapping):
        raise ValidationError("usage.cost", [("prices", f"must be a mapping {shape}, not {type(prices).__name__}")])
    problems: list[tuple[str, str]] = []
    for model, price in prices.items():
        if not isinstance(price, Mapping):
            problems.append((f"prices[{model!r}]", f"must be a mapping {shape}, not {type(price).__name__}"))
            continue
        for key in ("input", "output"):
            value = price.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                problems.append((f"prices[{model!r}][{key!r}]",
                                 f"must be a number (US dollars per million tokens), not {value!r:.40}"))
    if problems:
        raise ValidationError("usage.cost", problems)


class _Call:
    """One call's state in a tracker: the model it is counted under, once known."""

    __slots__ = ("model", "ok", "retries")

    def __init__(self) -> None:
        self.model: str | None = None
        self.ok = False  # a 2xx arrived
        self.retries = 0


class UsageTracker(Observer):
    """The observer behind ``client.track_usage()``; a ``with`` (and ``async with``) block."""

    def __init__(self, hub: Hub) -> None:
        self.usage = Usage()
        self._hub = hub
        self._lock = threading.Lock()
        self._open = False
        #: calls counted in the totals but not yet ended (a stream still open): at the block's end
        #: their share goes to ``by_model`` too, so the per-model counts add up to the totals
        self._pending: dict[CallRecord, _Call] = {}

    # -- the block --------------------------------------------------------------------------
    def __enter__(self) -> Usage:
        self._open = True
        self._hub.add(self)
        return self.usage

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._hub.remove(self)
        with self._lock:
            self._open = False
            for call, state in self._pending.items():
                self._share(call, state)
            self._pending.clear()

    async def __aenter__(self) -> Usage:
        return self.__enter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(kind, error, tb)

    # -- the events -------------------------------------------------------------------------
    def _state(self, call: CallRecord) -> _Call:
        state: _Call | None = call.scratch.get(self)
        if state is None:
            state = call.scratch[self] = _Call()
        return state

    def response(self, call: CallRecord, status: int, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300:
            state = self._state(call)
            state.ok = True
            with self._lock:
                if self._open:
                    self.usage.requests += 1
                    self._pending[call] = state

    def retrying(self, call: CallRecord, attempt: int, reason: str) -> None:
        state = self._state(call)
        state.retries += 1
        with self._lock:
            if self._open:
                self.usage.retries += 1
                self._pending[call] = state

    def chunk(self, call: CallRecord, item: Any) -> None:
        if type(item) is dict and (item.get("usage") is not None or "model" in item):
            self._used(call, item)

    def call_ended(self, call: CallRecord, result: Any, error: BaseException | None) -> None:
        if error is None and isinstance(result, Mapping):
            self._used(call, result)
        state = self._state(call)
        with self._lock:
            if not self._open:
                return
            self._pending.pop(call, None)
            counts = self._share(call, state)
            if error is not None:
                self.usage.failed += 1
                counts.failed += 1

    def _share(self, call: CallRecord, state: _Call) -> UsageCounts:
        """Count the call's request and retries under its model (the lock held)."""
        counts = self._model(state.model or call.model or UNKNOWN_MODEL)
        counts.requests += int(state.ok)
        counts.retries += state.retries
        return counts

    def _used(self, call: CallRecord, data: Mapping[str, Any]) -> None:
        """Count what a result or stream item reports, under the model it names."""
        state = self._state(call)
        named = data.get("model")
        if state.model is None and isinstance(named, str):
            state.model = named
        usage, info = data.get("usage"), data.get("usage_info")
        usage = usage if isinstance(usage, Mapping) else None
        info = info if isinstance(info, Mapping) else None
        if usage is None and info is None:
            return
        model = named if isinstance(named, str) else state.model or call.model or UNKNOWN_MODEL
        with self._lock:
            if self._open:
                self.usage._add_usage(usage, info)
                self._model(model)._add_usage(usage, info)

    def _model(self, model: str) -> UsageCounts:
        counts = self.usage.by_model.get(model)
        if counts is None:
            counts = self.usage.by_model[model] = UsageCounts()
        return counts
