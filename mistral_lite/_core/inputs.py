"""Input checks the JSON Schemas cannot express: settings, call keywords and JSON-ability.

Everything a caller passes is checked here before any I/O, and every problem becomes a
``(path, message)`` pair for one :class:`~mistral_lite.exceptions.ValidationError`, never a raw
``TypeError``/``ValueError``/``OverflowError``/``UnicodeEncodeError`` from deeper down:

* :func:`is_array` says what is a JSON array: a list, a tuple or any other sequence that is
  not text or bytes (encoded as an array, validated as one);
* :func:`json_problems` walks a value the way a JSON encoder would and names what JSON cannot
  carry: NaN and Infinity, keys that are not strings, lone surrogates, cycles, objects that are
  not JSON, nesting deeper than :data:`MAX_DEPTH`;
* :func:`timeout_pair`, :func:`headers_problem` and friends judge one setting each and return a
  problem message (or None);
* :func:`call_keyword_problems` checks the per-call keywords (``timeout``, ``extra_*``,
  ``on_progress``); :func:`client_problems` the ``Client`` constructor's arguments.

All of it is pure: no network, no file reads beyond ``stat``.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

__all__ = [
    "HOOK_NAMES", "MAX_DEPTH", "array_default",
    "call_keyword_problems", "client_problems", "file_object_problem", "has_non_finite", "has_non_string_key",
    "headers_problem", "is_array", "json_problems", "redact_secret", "text_problem", "timeout_pair",
]

#: Deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 200
#: The events an observer may register for with ``Client(hooks=...)``.
HOOK_NAMES = ("request", "response")
#: Latin-1 text without control characters: what an HTTP header value can carry.
SAFE_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\xa0-\xff]*")
#: Header names of RFC 9110 (a token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Headers whose values are credentials: never shown, in errors or logs.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "api-key"})

Problems = list[tuple[str, str]]


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as UTF-8 (a lone surrogate), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({text[exc.start]!r} at position {exc.start}), which UTF-8 cannot carry"
    return None


def is_array(value: Any) -> bool:
    """Whether ``value`` is a JSON array: a list, a tuple, or another sequence that is not text or bytes."""
    kind = type(value)
    if kind is list or kind is tuple:
        return True
    return (kind is not str and kind is not dict and isinstance(value, Sequence)
            and not isinstance(value, (str, bytes, bytearray, memoryview)))


def array_default(value: Any) -> list[Any]:
    """A JSON encoder's ``default`` hook: a sequence (see :func:`is_array`) becomes a list."""
    if is_array(value):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def has_non_finite(value: Any, depth: int = 0) -> bool:
    """Whether a JSON value holds NaN or ±Infinity anywhere (cheap walk, no report)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if depth > MAX_DEPTH:
        return False
    if kind is dict:
        return any(has_non_finite(v, depth + 1) for v in value.values())
    if is_array(value):
        return any(has_non_finite(v, depth + 1) for v in value)
    return False


def has_non_string_key(value: Any, depth: int = 0) -> bool:
    """Whether a JSON value holds an object key that is not a string, anywhere (cheap walk, no report).

    ``json.dumps`` would quietly write ``{1: "a"}`` as ``{"1": "a"}``, and the schema checks
    expect string keys; a caller turns True into :func:`json_problems`' report. It runs on every
    call, so it is written as plain loops (no generator per container) that skip scalars at once.
    """
    if depth > MAX_DEPTH:
        return False
    kind = type(value)
    if kind is dict or (kind not in _SCALARS and isinstance(value, Mapping)):
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                return True
            if type(item) not in _SCALARS and has_non_string_key(item, depth + 1):
                return True
        return False
    if kind is list or kind is tuple or (kind not in _SCALARS and is_array(value)):
        for item in value:
            if type(item) not in _SCALARS and has_non_string_key(item, depth + 1):
                return True
    return False


_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_problems(value: Any, path: str = "") -> Problems:
    """Everything in ``value`` a strict JSON encoder would refuse, with its path."""
    out: Problems = []
    _walk(value, path, out, set(), 0)
    return out


def _walk(value: Any, path: str, out: Problems, seen: set[int], depth: int) -> None:
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            out.append((path, f"{value!r} is not a JSON number; use a finite number"))
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            out.append((path, problem))
        return
    if isinstance(value, dict) or is_array(value):
        if depth >= MAX_DEPTH:
            out.append((path, f"nested more than {MAX_DEPTH} levels deep"))
            return
        if id(value) in seen:
            out.append((path, "contains itself (a cycle); JSON cannot carry it"))
            return
        seen.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    out.append((_join(path, repr(key)), f"object keys must be strings, got {type(key).__name__}"))
                    continue
                problem = text_problem(key)
                if problem:
                    out.append((_join(path, key), f"key {problem}"))
                _walk(item, _join(path, key), out, seen, depth + 1)
        else:
            for index, item in enumerate(value):
                _walk(item, _join(path, index), out, seen, depth + 1)
        seen.discard(id(value))
        return
    out.append((path, f"a {type(value).__name__} is not a JSON value"))


def redact_secret(name: str, value: Any) -> str:
    """A header value fit for an error message: credentials never shown."""
    if name.lower() in SECRET_HEADERS:
        return "[redacted]"
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def headers_problem(headers: Any) -> str | None:
    """Why ``headers`` is not a mapping of header names to sendable values, or None."""
    if not isinstance(headers, Mapping):
        return f"expected a mapping of header names to strings, got {type(headers).__name__}"
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            return f"header name {name!r} is not a valid HTTP header name"
        if not isinstance(value, str) or not SAFE_HEADER_VALUE.fullmatch(value):
            return (f"header {name!r} must be a string of printable Latin-1 characters, "
                    f"got {redact_secret(name, value)}")
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def timeout_pair(value: Any) -> tuple[float, float] | str:
    """``(connect, read)`` seconds from a number or a pair, or why the value is not one."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        return f"expected seconds or a (connect, read) pair, got {len(pair)} items"
    connect, read = _seconds(pair[0]), _seconds(pair[1])
    if connect is None or read is None:
        return f"timeouts are finite numbers of seconds greater than 0, got {value!r}"
    return connect, read


def positive_number_problem(value: Any, *, zero: bool = False) -> str | None:
    """Why ``value`` is not a finite number of seconds > 0 (>= 0 with ``zero``), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {type(value).__name__} {value!r}"[:120]
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        return f"expected a finite number {'>= 0' if zero else '> 0'}, got {value!r}"
    return None


def call_keyword_problems(extras: Mapping[str, Any]) -> Problems:
    """Problems with the per-call keywords (``timeout``, ``stream_timeout``, ``extra_*``, ``on_progress``)."""
    out: Problems = []
    for name in ("extra_query", "extra_body"):
        value = extras.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            out.append((name, f"expected a mapping, got {type(value).__name__}"))
        else:
            out.extend(json_problems(dict(value), name))
    checks: dict[str, Callable[[Any], str | None]] = {
        "extra_headers": headers_problem,
        "timeout": lambda v: checked if isinstance(checked := timeout_pair(v), str) else None,
        "stream_timeout": positive_number_problem,
    }
    for name, check in checks.items():
        value = extras.get(name)
        problem = check(value) if value is not None else None
        if problem:
            out.append((name, problem))
    progress = extras.get("on_progress")
    if progress is not None and not callable(progress):
        out.append(("on_progress", f"expected a function (done, total), got {type(progress).__name__}"))
    return out


def file_object_problem(handle: Any) -> str | None:
    """Why an open file cannot be uploaded (closed, text mode, not seekable), or None."""
    if getattr(handle, "closed", False):
        return "the file is closed"
    mode = getattr(handle, "mode", "b")
    if isinstance(handle, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
        return "the file is open in text mode; open it with 'rb'"
    seekable = getattr(handle, "seekable", None)
    try:
        ok = seekable() if callable(seekable) else hasattr(handle, "seek")
    except (OSError, ValueError):
        ok = False
    if not ok:
        return "the file cannot be rewound (a pipe or socket?); pass a path or its bytes"
    return None


def _hooks_problem(hooks: Any) -> str | None:
    if not isinstance(hooks, Mapping):
        return f"expected a mapping like {{'request': [fn], 'response': [fn]}}, got {type(hooks).__name__}"
    valid = ", ".join(repr(n) for n in HOOK_NAMES)
    for name, fns in hooks.items():
        if name not in HOOK_NAMES:
            return f"unknown hook {name!r}; valid hooks: {valid}"
        if callable(fns) or not isinstance(fns, Sequence) or isinstance(fns, (str, bytes)):
            return f"hooks[{name!r}] must be a list of functions, got {type(fns).__name__}"
        for fn in fns:
            if not callable(fn):
                return f"hooks[{name!r}] holds {type(fn).__name__} {fn!r:.40}, not a function"
    return None


def map_problems(items: Any, max_workers: Any) -> Problems:
    """Problems with ``map``'s arguments: an iterable of option mappings and a worker count."""
    out: Problems = []
    problem = _int_problem(max_workers, 1)
    if problem:
        out.append(("max_workers", problem))
    if isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
        out.append(("items", f"expected an iterable of option mappings, got {type(items).__name__}"))
    return out


def map_item_problems(items: Sequence[Any]) -> Problems:
    """Each item of ``map`` that is not a mapping of options (``map("chat", [1, 2])``)."""
    return [(f"items[{i}]", f"expected a mapping of options such as {{'model': ...}}, got {type(item).__name__}")
            for i, item in enumerate(items) if not isinstance(item, Mapping)]


def _int_problem(value: Any, minimum: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an integer, got {type(value).__name__} {value!r:.60}"
    if value < minimum:
        return f"expected an integer >= {minimum}, got {value!r}"
    return None


def client_problems(settings: Mapping[str, Any]) -> Problems:
    """Problems with ``Client(...)`` / ``with_options(...)`` arguments (only those given, not None)."""
    out: Problems = []

    def add(name: str, problem: str | None) -> None:
        if problem:
            out.append((name, problem))

    for name in ("api_key", "base_url"):
        value = settings.get(name)
        if value is not None and not isinstance(value, str):
            add(name, f"expected a string, got {type(value).__name__}")
    if settings.get("timeout") is not None:
        checked = timeout_pair(settings["timeout"])
        add("timeout", checked if isinstance(checked, str) else None)
    for name in ("stream_timeout", "cache_ttl"):
        if settings.get(name) is not None:
            add(name, positive_number_problem(settings[name]))
    if settings.get("max_retry_after") is not None:
        add("max_retry_after", positive_number_problem(settings["max_retry_after"], zero=True))
    if settings.get("max_retries") is not None:
        add("max_retries", _int_problem(settings["max_retries"], 0))
    if settings.get("max_response_size") is not None:
        add("max_response_size", _int_problem(settings["max_response_size"], 1))
    for name in ("max_connections", "max_workers"):  # AsyncClient's own
        if settings.get(name) is not None:
            add(name, _int_problem(settings[name], 1))
    if settings.get("cache_maxsize") is not None:
        add("cache_maxsize", _int_problem(settings["cache_maxsize"], 1))
    if settings.get("headers") is not None:
        add("headers", headers_problem(settings["headers"]))
    if settings.get("hooks") is not None:
        add("hooks", _hooks_problem(settings["hooks"]))
    for name in ("retry", "allow_insecure_http", "tracing", "trace_content"):
        value = settings.get(name)
        if value is not None and not isinstance(value, bool):
            add(name, f"expected True or False, got {type(value).__name__} {value!r:.40}")
    cache = settings.get("cache")
    if cache is not None and not isinstance(cache, (bool, MutableMapping)):
        add("cache", f"expected True, False or a mutable mapping shared between clients, got {type(cache).__name__}")
    level = settings.get("retry_log_level")
    if level is not None and not isinstance(level, (bool, int)):
        add("retry_log_level", f"expected a logging level number (e.g. logging.WARNING = {logging.WARNING}) "
                               f"or True/False, got {type(level).__name__} {level!r:.40}")
    delay = settings.get("retry_delay")
    if delay is not None and not callable(delay):
        add("retry_delay", f"expected a function of the retry number, got {type(delay).__name__}")
    for name, method in (("tracer_provider", "get_tracer"), ("meter_provider", "get_meter")):
        provider = settings.get(name)
        if provider is not None and not callable(getattr(provider, method, None)):
            add(name, f"expected an OpenTelemetry {name.replace('_', ' ').title().replace(' ', '')}, "
                      f"got {type(provider).__name__}")
    session = settings.get("session")
    if session is not None and not all(hasattr(session, a) for a in ("send", "prepare_request")):
        add("session", f"expected a requests.Session, got {type(session).__name__}")
    return out

