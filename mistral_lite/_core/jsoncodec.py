"""JSON encoding and decoding: orjson when the ``fast`` extra is installed, else ``json``.

The backend is chosen on first use, so ``import mistral_lite`` never pays for importing orjson.
``dumps`` gives compact UTF-8 bytes and refuses NaN and Infinity (a ``ValueError``) with
either backend; ``loads`` raises ``ValueError`` for anything it cannot decode, deep nesting
included; ``canonical`` gives the sorted-key form the cache keys use. Any sequence that is
not text or bytes (a tuple, a user's ``Sequence``; see ``mistral_lite._core.inputs.is_array``) is written as an array.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any

from mistral_lite._core.inputs import array_default, has_non_finite, is_array

__all__ = ["backend_name", "canonical", "decoder", "dumps", "loads"]

_Backend = tuple[Callable[[Any], bytes], Callable[[bytes | str], Any], Callable[[Any], bytes], str]
_backend: _Backend | None = None


def _dumps_std(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=array_default)
    return text.encode("utf-8")


#: The C scanner of the standard decoder: ``json.loads`` minus its per-call wrappers.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed names the class, not a decoder
_JSON_SPACE = " \t\n\r"


def _loads_std(data: bytes | str) -> Any:
    """``json.loads``, with the common case (UTF-8, nothing around the value) taken directly.

    The scanner gives the value and where it ended; anything unusual (another encoding, a BOM,
    leading space, a syntax error) goes to ``json.loads`` itself, so results and errors are
    exactly the standard library's.
    """
    try:
        text: str = data.decode("utf-8") if type(data) is bytes else data  # type: ignore[assignment]
        value, end = _scan_once(text, 0)
        if end == len(text) or not text[end:].strip(_JSON_SPACE):
            return value
    except RecursionError:  # orjson refuses deep nesting with a ValueError: so do we
        raise ValueError("JSON nested too deeply to decode") from None
    except (StopIteration, ValueError, TypeError, AttributeError):
        pass  # json.loads says what is wrong, in its own words
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def _canonical_default(value: Any) -> Any:
    return list(value) if is_array(value) else str(value)


def _canonical_std(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_canonical_default).encode("utf-8")


def _resolve() -> _Backend:
    global _backend
    try:
        # the fast extra: optional
        import orjson  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        _backend = (_dumps_std, _loads_std, _canonical_std, "json")
        return _backend
    fast_dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS

    def dumps_fast(value: Any) -> bytes:
        try:
            out = bytes(fast_dumps(value, default=array_default))
        except TypeError:  # e.g. integers beyond 64 bits: the standard library copes
            return _dumps_std(value)
        if b"null" in out and has_non_finite(value):  # orjson writes NaN and Infinity as null
            raise ValueError("NaN and Infinity are not JSON numbers")
        return out

    def canonical_fast(value: Any) -> bytes:
        try:
            return bytes(fast_dumps(value, default=array_default, option=sort_keys))
        except TypeError:
            return _canonical_std(value)

    _backend = (dumps_fast, orjson.loads, canonical_fast, "orjson")
    return _backend


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return (_backend or _resolve())[0](value)


def loads(data: bytes | str) -> Any:
    """Decode JSON."""
    return (_backend or _resolve())[1](data)


def canonical(value: Any) -> bytes:
    """JSON with sorted keys: equal values give equal bytes (non-JSON values as ``str``)."""
    return (_backend or _resolve())[2](value)


def decoder() -> Callable[[bytes | str], Any]:
    """The backend's own decode function (for hot loops: no wrapper call per value)."""
    return (_backend or _resolve())[1]


def backend_name() -> str:
    """``"orjson"`` or ``"json"``."""
    return (_backend or _resolve())[3]
