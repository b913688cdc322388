"""The stub declares each row's options once: a ``TypedDict`` per row (``**kw: Unpack[...]``),
shared by the row's method overloads, sync, async and ``with_raw_response``'s.

Read with ``ast``: the options a stub overload accepts (its explicit keywords plus its class's
fields, base classes included) are exactly the runtime signature's, with the same required ones;
no two option classes have the same body; and the stub stays under a size budget.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from mistral_lite._dev import stubgen
from mistral_lite._methods.signatures import signature
from mistral_lite._table import load_spec

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "mistral_lite" / "_methods" / "operations.pyi"
#: The stub was 1,190,401 bytes when every overload spelled out every option (930 KB when issue
#: 24 asked for half of it): half of that. A size is what costs a type checker (every check of
#: code that imports the package loads the stub), so it is the budget.
BUDGET = 465_000


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _fields(classes: dict[str, ast.ClassDef], name: str) -> dict[str, bool]:
    """A TypedDict's fields (its bases' first) -> whether required (``Required[...]``)."""
    node = classes[name]
    out: dict[str, bool] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            out.update(_fields(classes, base.id))
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            ann = item.annotation
            out[item.target.id] = isinstance(ann, ast.Subscript) and ast.unparse(ann.value) == "Required"
    return out


def _defs(cls: ast.ClassDef, name: str) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == name:
            yield item


def _accepted(classes: dict[str, ast.ClassDef], fn: ast.FunctionDef | ast.AsyncFunctionDef,
              skip: int) -> dict[str, bool]:
    """The keyword names an overload takes (after ``self`` and ``skip`` positional-only ones) ->
    whether required."""
    args = fn.args
    out: dict[str, bool] = {}
    positional = [*args.posonlyargs, *args.args][1 + skip:]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        out[arg.arg] = default is None
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults):
        out[arg.arg] = kw_default is None
    assert args.kwarg is not None, ast.unparse(fn)
    ann = ast.unparse(args.kwarg.annotation) if args.kwarg.annotation else ""
    assert ann.startswith("Unpack[_"), ast.unparse(fn)
    for name, required in _fields(classes, ann[len("Unpack["):-1]).items():
        assert name not in out, f"{fn.name}: {name} both a parameter and an option"
        out[name] = required
    return out


def _literals(node: ast.expr) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


ALIASES = {node.target.id: _literals(node.value)
           for node in ast.parse(STUB.read_text(encoding="utf-8")).body
           if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None}


def _names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The operation names a ``call``, ``submit`` or ``map`` overload is for (its ``Literal[...]``,
    or the alias of one that rows with the same result share)."""
    params = [*fn.args.posonlyargs, *fn.args.args]
    ann = params[1].annotation if len(params) > 1 else None
    if isinstance(ann, ast.Name):
        return ALIASES.get(ann.id, set())
    return _literals(ann) if ann is not None else set()


def test_the_stub_is_within_its_size_budget() -> None:
    size = len(STUB.read_bytes())
    assert size <= BUDGET, f"operations.pyi is {size} bytes, over its budget of {BUDGET}"


def test_every_overload_takes_exactly_the_rows_options(tree: ast.Module) -> None:
    spec = load_spec()
    classes = _classes(tree)
    checked = 0
    for ep in spec.endpoints.values():
        params = list(signature(ep, spec).parameters.values())[1:]
        expected = {p.name: p.default is inspect.Parameter.empty for p in params}
        for owner in ("Operations", "AsyncOperations", "RawOperations", "AsyncRawOperations"):
            overloads = list(_defs(classes[owner], ep.name))
            assert overloads, f"{owner}.{ep.name} missing"
            for fn in overloads:
                accepted = _accepted(classes, fn, 0)
                # an overload may make an option required (stream=True) or take it away (to=None)
                assert set(accepted) == set(expected), f"{owner}.{ep.name}: {sorted(set(accepted) ^ set(expected))}"
                narrowed = set(stubgen._narrowed(ep, spec))
                same = {n: r for n, r in accepted.items() if n not in narrowed}
                assert same == {n: r for n, r in expected.items() if n not in narrowed}, f"{owner}.{ep.name}"
                checked += 1
        for owner, name in (("Operations", "call"), ("AsyncOperations", "call"), ("Operations", "submit"),
                            ("RawOperations", "call"), ("Operations", "map")):
            assert any(ep.name in _names(fn) for fn in _defs(classes[owner], name)), f"{owner}.{name}({ep.name!r})"
    assert checked > 4 * len(spec.endpoints)


def test_each_rows_options_are_declared_once(tree: ast.Module) -> None:
    classes = _classes(tree)
    options = {name: node for name, node in classes.items() if name.startswith("_")}
    bodies = [(tuple(ast.unparse(b) for b in node.bases), tuple(ast.unparse(s) for s in node.body))
              for node in options.values()]
    assert len(bodies) == len(set(bodies)), "two option classes with the same options"
    text = STUB.read_text(encoding="utf-8")
    assert text.count("class _Chat(") == 1
    # every overload of chat's method (sync, async, with_raw_response's) names that one class
    for owner in ("Operations", "AsyncOperations", "RawOperations", "AsyncRawOperations"):
        for fn in _defs(classes[owner], "chat"):
            kwarg = fn.args.kwarg
            assert kwarg is not None and kwarg.annotation is not None
            assert ast.unparse(kwarg.annotation) == "Unpack[_Chat]", f"{owner}.{fn.name}"
    # call, submit and with_raw_response.call type the result, not the options (see stubgen._by_name)
    assert "temperature" not in "".join(ast.unparse(fn) for fn in _defs(classes["Operations"], "call"))
