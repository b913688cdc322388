"""The package's layers, read from the installed copy's imports (an ``ast`` walk, nothing imported).

The rules (README, "Architecture"):

* no import cycle among the package's modules, counting imports inside functions (not those
  in the body of ``if TYPE_CHECKING:``; its ``else:`` runs), literal ``import_module`` calls, and
  the names a lazy package loads on first use (``from mistral_lite import Client`` and
  ``mistral_lite.Client`` import ``mistral_lite.client``, per ``_LAZY``);
* at most :data:`MAX_FUNCTION_IMPORTS` imports inside functions, each saying why on its line or
  the line above (import cost, or an optional dependency; a ``type: ignore`` or ``noqa`` alone
  says nothing);
* ``_core`` imports no HTTP library, no asyncio, and nothing above it;
* ``_methods`` builds on ``_core`` only (no transport);
* only ``_http`` imports an HTTP library;
* the async client's modules never reach the requests transport;
* bulk, the command line and the fake reach the clients through their public face
  (``mistral_lite.client``, ``mistral_lite.exceptions``, ...), never ``_http``;
* nothing at run time imports the maintainer tools (``_dev``), except the ``spec`` entry point.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MAX_FUNCTION_IMPORTS = 35
HTTP_LIBRARIES = frozenset({"requests", "urllib3", "aiohttp", "yarl", "multidict"})
LAYERS = ("_core", "_http", "_methods", "_bulk", "cli", "fake", "_dev")


def _package_dir() -> Path:
    spec = importlib.util.find_spec("mistral_lite")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # a module of the package, or a top-level external name
    line: int
    in_function: bool
    commented: bool


def _module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _scan() -> tuple[set[str], list[Import], dict[str, dict[str, str]]]:
    package = _package_dir()
    files = {_module_name(package, path): path for path in sorted(package.rglob("*.py"))}
    texts = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
    lazy = _lazy_names(texts)
    found: list[Import] = []
    for name, path in files.items():
        found += _imports_of(name, path.name == "__init__.py", texts[name], set(files), lazy)
    return set(files), found, lazy


#: Pragmas that a comment may carry without saying why the import is there.
_PRAGMA = re.compile(r"#\s*(type:\s*ignore(\[[^\]]*\])?|noqa(:[\sA-Z0-9,]*)?|pragma:[^#]*)")


def _says_why(comment: str) -> bool:
    """Whether a line's comment has words beyond type-checker and linter pragmas."""
    return bool(_PRAGMA.sub("", comment).strip(" #"))


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:`` (its body only: ``else:`` and ``if not TYPE_CHECKING:`` run)."""
    return {id(node) for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
            for statement in block.body for node in ast.walk(statement)}


def _imported_by_call(node: ast.AST) -> str | None:
    """The module of ``importlib.import_module("literal")`` or ``__import__("literal")``, else None."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    if ast.unparse(node.func) in {"importlib.import_module", "import_module", "__import__"} \
            and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _imports_of(name: str, is_package: bool, text: str, modules: set[str],
                lazy: dict[str, dict[str, str]]) -> list[Import]:
    """Every run-time import of one module's source: statements and literal ``import_module`` calls."""
    lines = text.splitlines()
    tree = ast.parse(text)
    type_checking = _type_checking_only(tree)
    in_function = {id(node) for fn in ast.walk(tree)
                   if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                   for node in ast.walk(fn)}
    found: list[Import] = []
    for node in ast.walk(tree):
        called = _imported_by_call(node)
        if id(node) in type_checking or not (isinstance(node, (ast.Import, ast.ImportFrom)) or called):
            continue
        line = lines[node.lineno - 1]
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        commented = ("#" in line and _says_why(line[line.index("#"):])) or (above.startswith("#") and _says_why(above))
        targets = [_known(called, modules)] if called else _targets(name, is_package, node, modules, lazy)
        for target in targets:
            found.append(Import(name, target, node.lineno, id(node) in in_function, commented))
    return found + _loads_on_access(name, is_package, tree, type_checking, modules, lazy)


def _loads_on_access(name: str, is_package: bool, tree: ast.AST, type_checking: set[int], modules: set[str],
                     lazy: dict[str, dict[str, str]]) -> list[Import]:
    """``mistral_lite.Client`` (or ``fake.FakeMistral``) after ``import mistral_lite`` (``from
    mistral_lite import fake``) imports the module the package's lazy table names: an edge too
    (counted as module level: it is no import statement)."""
    bound: dict[str, str] = {}  # a name in this module -> the lazy package it is
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in lazy:
                    bound[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and id(node) not in type_checking:
            for target, alias in zip(_targets(name, is_package, node, modules, {}), node.names):
                if target in lazy:
                    bound[alias.asname or alias.name] = target
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in type_checking:
            package = bound.get(ast.unparse(node.value))
            target = lazy.get(package or "", {}).get(node.attr)
            if target in modules and target != name:
                found.append(Import(name, target, node.lineno, False, True))
    return found


def _lazy_names(texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """package -> {name: defining module} for the packages that load names on first use (their
    ``_LAZY`` table, see ``_core/lazy.py``) plus the exceptions the root re-exports, so that
    ``from mistral_lite import Client`` counts as importing ``mistral_lite.client``."""
    out: dict[str, dict[str, str]] = {}
    for name, text in texts.items():
        for node in ast.parse(text).body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "_LAZY":
                out[name] = ast.literal_eval(node.value)
    root = out.setdefault("mistral_lite", {})
    for node in ast.parse(texts.get("mistral_lite.exceptions", "")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            root.update(dict.fromkeys(ast.literal_eval(node.value), "mistral_lite.exceptions"))
    return out


def _targets(name: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: set[str],
             lazy: dict[str, dict[str, str]]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_known(alias.name, modules) for alias in node.names]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    out = []
    for alias in node.names:
        child = f"{module}.{alias.name}"
        defined = lazy.get(module, {}).get(alias.name)
        out.append(child if child in modules else defined if defined in modules else _known(module, modules))
    return out


def _known(module: str, modules: set[str]) -> str:
    """The package module ``module`` names (or its nearest parent), else its top-level name."""
    if module.split(".")[0] != "mistral_lite":
        return module.split(".")[0]
    while module not in modules and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


MODULES, IMPORTS, LAZY = _scan()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "root"


def _edges(function_level: bool = True) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if imp.target in MODULES and imp.target != imp.source and (function_level or not imp.in_function):
            edges.setdefault(imp.source, set()).add(imp.target)
    return edges


def _where(imports: list[Import]) -> list[str]:
    return [f"{imp.source}:{imp.line} -> {imp.target}" for imp in imports]


def test_the_scan_reads_the_installed_package() -> None:
    assert {"mistral_lite", "mistral_lite.client", "mistral_lite._core.call", "mistral_lite._http.sync",
            "mistral_lite._http.aio", "mistral_lite._bulk.live", "mistral_lite.cli.app",
            "mistral_lite.fake.server", "mistral_lite._dev.spec"} <= MODULES
    assert any(imp.target == "requests" for imp in IMPORTS)


def _scan_source(source: str, module: str = "mistral_lite._core.example") -> list[Import]:
    return _imports_of(module, False, source, MODULES, LAZY)


def test_the_scan_counts_the_imports_that_run_beside_type_checking_blocks() -> None:
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    import aiohttp\nelse:\n    import requests\n"
              "if not TYPE_CHECKING:\n    import urllib3\n")
    assert sorted(imp.target for imp in _scan_source(source)) == ["requests", "typing", "urllib3"]


def test_the_scan_resolves_the_names_a_package_loads_on_first_use() -> None:
    source = ("def f():\n    # import cost\n    from mistral_lite import Client, ValidationError, mcp\n"
              "    from mistral_lite.fake import FakeMistral\n")
    assert [imp.target for imp in _scan_source(source)] == [
        "mistral_lite.client", "mistral_lite.exceptions", "mistral_lite.mcp", "mistral_lite.fake.server"]


def test_the_scan_follows_a_lazy_package_s_attributes() -> None:
    source = ("import mistral_lite\nimport mistral_lite.fake as fakes\nfrom mistral_lite import fake\n"
              "def f():\n    return mistral_lite.Client, fakes.Fault, fake.FakeMistral, mistral_lite.__version__\n")
    loaded = [imp.target for imp in _scan_source(source) if imp.target not in {"mistral_lite", "mistral_lite.fake"}]
    assert sorted(loaded) == ["mistral_lite.client", "mistral_lite.fake.faults", "mistral_lite.fake.server"]


def test_the_scan_counts_literal_import_module_calls() -> None:
    source = ("import importlib\n"
              "def f(name):\n    # import cost\n    importlib.import_module('mistral_lite._http.sync')\n"
              "    importlib.import_module(name)\n"
              "g = lambda: __import__('aiohttp')\n")
    found = [(imp.target, imp.in_function) for imp in _scan_source(source)]
    assert sorted(found) == [("aiohttp", True), ("importlib", False), ("mistral_lite._http.sync", True)]


@pytest.mark.parametrize(("line", "says_why"), [
    ("    import orjson  # type: ignore[import-not-found, unused-ignore]", False),
    ("    import orjson  # noqa: F401", False),
    ("    import orjson  # pragma: no cover", False),
    ("    import orjson  # type: ignore[import-not-found]  # optional dependency", True),
    ("    import orjson  # import cost", True),
])
def test_a_pragma_alone_does_not_say_why_a_function_imports(line: str, says_why: bool) -> None:
    (imp,) = _scan_source(f"def f():\n{line}\n")
    assert (imp.in_function, imp.commented) == (True, says_why)


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert cycles == []


def test_imports_inside_functions_are_few_and_each_says_why() -> None:
    inside = {(imp.source, imp.line): imp for imp in IMPORTS if imp.in_function}
    assert len(inside) <= MAX_FUNCTION_IMPORTS, sorted(inside)
    assert [f"{source}:{line}" for (source, line), imp in sorted(inside.items()) if not imp.commented] == []


def test_the_core_imports_no_transport_no_asyncio_and_nothing_above_it() -> None:
    above = {"_http", "_methods", "_bulk", "cli", "fake", "_dev"}
    bad = [imp for imp in IMPORTS if _layer(imp.source) == "_core"
           and (imp.target in HTTP_LIBRARIES | {"asyncio"} or _layer(imp.target) in above
                or imp.target == "mistral_lite.client")]
    assert _where(bad) == []


def test_the_methods_build_on_the_core_only() -> None:
    bad = [imp for imp in IMPORTS if _layer(imp.source) == "_methods"
           and (_layer(imp.target) in {"_http", "_bulk", "cli", "fake", "_dev"} or imp.target in HTTP_LIBRARIES
                or imp.target == "mistral_lite.client")]
    assert _where(bad) == []


def test_only_the_transports_import_an_http_library() -> None:
    bad = [imp for imp in IMPORTS if imp.target in HTTP_LIBRARIES and _layer(imp.source) != "_http"]
    assert _where(bad) == []


def test_bulk_the_cli_and_the_fake_reach_the_clients_through_their_public_face() -> None:
    bad = [imp for imp in IMPORTS if _layer(imp.source) in {"_bulk", "cli", "fake"} and _layer(imp.target) == "_http"]
    assert _where(bad) == []


def test_nothing_at_run_time_imports_the_maintainer_tools() -> None:
    bad = [imp for imp in IMPORTS if _layer(imp.target) == "_dev" and _layer(imp.source) != "_dev"
           and imp.source != "mistral_lite.spec"]
    assert _where(bad) == []


def _reach(start: str) -> set[str]:
    edges = _edges()
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("module", ["mistral_lite._http.aio", "mistral_lite._http.aio_stream"])
def test_the_async_client_never_reaches_the_requests_transport(module: str) -> None:
    if module not in MODULES:
        pytest.fail(f"{module} is missing")
    reached = _reach(module)  # every module it may load, counting imports inside functions
    assert not reached & {"mistral_lite._http.sync", "mistral_lite.client"}


def test_an_async_call_loads_neither_requests_nor_the_sync_client() -> None:
    code = (
        "import asyncio, sys\n"
        "from mistral_lite import AsyncClient\n"
        "async def main():\n"
        "    async with AsyncClient(api_key='k', base_url='http://127.0.0.1:9') as client:\n"
        "        try:\n"
        "            await client.list_models()\n"
        "        except Exception as exc:\n"
        "            print(type(exc).__name__)\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'mistral_lite.client', 'mistral_lite._http.sync')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["APIConnectionError", "[]"]
