"""Every exception class of the package lives in ``mistral_lite.exceptions``, derives from
``MistralError`` and is exported from ``mistral_lite`` (issue 24, item 5).

The only exceptions are the internal signals below: each is raised and caught inside the
package (or turned into a public error) and never reaches a caller.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

import mistral_lite
from mistral_lite import exceptions
from mistral_lite.exceptions import MistralError

#: Internal signals, by class name: why each may live outside exceptions.py.
INTERNAL = {
    "_ToolFailed": "tool loop: a failed tool call, answered to the model or raised as ToolError",
    "_Interim": "async transport: an interim (1xx) response, skipped inside the send loop",
    "_Framing": "stream: a malformed SSE frame, raised as StreamError by the same module",
    "Mismatch": "python types: a value that does not fit a type, raised as OutputParseError or ToolArgumentsError",
    "UnsupportedKeyword": "validation: a schema keyword the fast path lacks; the schema falls back to jsonschema",
    "UsageError": "command line: bad usage, printed by main() with exit code 2; never leaves main()",
    "CoercionError": "command line: a key=value that fits no type of its option, raised as UsageError",
    "ApiError": "fake server: an error reply its request handler answers as an HTTP error response",
}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(mistral_lite.__path__, "mistral_lite."):
        if info.name.endswith("__main__"):  # running it is the command line
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and \
                    value.__module__.startswith("mistral_lite"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


FOUND = _package_exceptions()


def test_the_walk_sees_the_package() -> None:
    assert "mistral_lite.exceptions.MistralError" in FOUND
    assert len(FOUND) > 30


@pytest.mark.parametrize("where", sorted(FOUND))
def test_each_exception_is_public_and_lives_in_exceptions(where: str) -> None:
    cls = FOUND[where]
    if cls.__name__ in INTERNAL:
        assert cls.__module__ != "mistral_lite.exceptions"
        assert not issubclass(cls, MistralError) or cls.__name__.startswith("_")
        return
    assert cls.__module__ == "mistral_lite.exceptions", f"{where} is defined outside mistral_lite.exceptions"
    assert issubclass(cls, MistralError)
    assert cls.__name__ in exceptions.__all__
    assert cls.__name__ in mistral_lite.__all__
    assert getattr(mistral_lite, cls.__name__) is cls


def test_every_internal_signal_still_exists() -> None:
    names = {cls.__name__ for cls in FOUND.values()}
    assert set(INTERNAL) <= names, f"stale entries: {sorted(set(INTERNAL) - names)}"


def test_old_import_paths_still_work() -> None:
    from mistral_lite._bulk.jsonl import BulkInputError
    from mistral_lite._core.pytypes import UnsupportedTypeError
    from mistral_lite._dev.spec import SpecFileError
    from mistral_lite._table import SpecError

    assert BulkInputError is exceptions.BulkInputError
    assert UnsupportedTypeError is exceptions.UnsupportedTypeError
    assert SpecError is exceptions.SpecError
    assert SpecFileError is exceptions.SpecFileError


@pytest.mark.parametrize("error", [
    exceptions.BulkInputError("in.jsonl", [(3, "not JSON")], 1),
    exceptions.BatchError("ended FAILED", job={"id": "b1", "status": "FAILED"}),
    exceptions.WaitTimeout("too slow", operation="get_batch_job", last={"status": "RUNNING"}),
    exceptions.UnsupportedTypeError("no schema for <object>"),
    exceptions.ToolArgumentsError("missing argument 'city'"),
    exceptions.SpecError("endpoints.toml: no rows"),
])
def test_moved_exceptions_pickle(error: MistralError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
