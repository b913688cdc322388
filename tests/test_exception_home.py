"""Every exception class of the package lives in ``mistral_lite.exceptions``, derives from
``MistralError`` and is exported from ``mistral_lite`` (issue 24, item 5).

No exceptions: the package defines no other exception class, not even an internal signal (a
checker may flag any class outside exceptions.py). Internal failures use a public exception
(a failed tool call is the ToolError it may become, a value that does not fit a type the
ToolArgumentsError it is reported as) or a builtin the same module catches.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pickle
import pkgutil
from pathlib import Path

import pytest

import mistral_lite
from mistral_lite import exceptions
from mistral_lite.exceptions import MistralError


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
    assert len(FOUND) == len(exceptions.__all__)  # every exception, nothing else


@pytest.mark.parametrize("where", sorted(FOUND))
def test_each_exception_is_public_and_lives_in_exceptions(where: str) -> None:
    cls = FOUND[where]
    assert cls.__module__ == "mistral_lite.exceptions", f"{where} is defined outside mistral_lite.exceptions"
    assert issubclass(cls, MistralError)
    assert cls.__name__ in exceptions.__all__
    assert cls.__name__ in mistral_lite.__all__
    assert getattr(mistral_lite, cls.__name__) is cls


def _exception_like(base: ast.expr) -> bool:
    name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
    builtin = getattr(builtins, name, None)
    return (inspect.isclass(builtin) and issubclass(builtin, BaseException)) or name in exceptions.__all__ \
        or name.endswith(("Error", "Exception", "Exit", "Interrupt", "Timeout"))


def test_no_exception_class_is_defined_anywhere_else() -> None:
    """Nested classes too (the module walk above sees only module-level names)."""
    root = Path(mistral_lite.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "exceptions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(_exception_like(b) for b in node.bases):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    assert found == []


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
    exceptions.UsageError("bad option 'x': expected key=value"),
    exceptions.ToolError("tool 'f' failed: boom", tool="f", arguments="{}", call_id="c1", operation="chat"),
])
def test_moved_exceptions_pickle(error: MistralError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
