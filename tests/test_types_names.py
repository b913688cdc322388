"""No type in ``mistral_lite.types`` is named like an exception of the package (issue 24, item 5):
``from mistral_lite import *`` next to ``from mistral_lite.types import *`` must not shadow one.

The spec's ``BatchError`` (an entry of a batch job's ``errors``) and ``StreamError`` (an error
event of a log stream) are ``BatchJobError`` and ``StreamErrorEvent`` there
(``typeexpr.RENAMED_RESULTS``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import mistral_lite
from mistral_lite import exceptions

ROOT = Path(__file__).resolve().parent.parent


def _exception_names() -> set[str]:
    names = {n for n, v in vars(exceptions).items() if isinstance(v, type) and issubclass(v, BaseException)}
    for name in mistral_lite.__all__:
        value = getattr(mistral_lite, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            names.add(name)
    return names


def test_no_type_is_named_like_an_exception() -> None:
    tree = ast.parse((ROOT / "mistral_lite" / "types.py").read_text(encoding="utf-8"))
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    defined |= {t.id for n in ast.walk(tree) if isinstance(n, ast.AnnAssign | ast.Assign)
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    exceptions_ = _exception_names()
    assert {"MistralError", "BatchError", "WaitTimeout", "StreamError", "ValidationError"} <= exceptions_
    assert not defined & exceptions_, sorted(defined & exceptions_)
    assert "BatchJobError" in defined and "StreamErrorEvent" in defined  # the spec's BatchError, StreamError
