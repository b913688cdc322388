"""The layout of bulk runs, batch and the command line (issue 24, items 1, 2 and the bulk/CLI part of 3).

* batch has one home (``_bulk``): ``_core/workflows`` keeps pagination and waiters and imports
  nothing of ``_bulk``; the CLI's ``batch run`` lives in ``cli/bulk``;
* one JSONL line reader (``_bulk.jsonl.read_lines``) serves every JSONL file;
* no import cycle reaches ``_bulk``, ``cli`` or ``_core.workflows``, counting imports inside
  functions; each import left inside a function says why in a comment;
* ``_bulk`` and ``cli`` import neither an HTTP library nor ``_http`` (not even for type checkers).
"""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path
from typing import Any

import pytest

from mistral_lite._bulk.jobs import batch_results
from mistral_lite._bulk.jsonl import read_lines
from mistral_lite.cli.app import main
from mistral_lite.fake import FakeMistral

PACKAGE = Path(__file__).resolve().parent.parent / "mistral_lite"
#: The modules this layout is about.
OWNED = ("mistral_lite._bulk", "mistral_lite.cli", "mistral_lite._core.workflows")
HTTP_LIBRARIES = ("requests", "urllib3", "aiohttp", "httpx")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _owned(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in OWNED)


def _imports(path: Path, *, type_checking: bool) -> list[tuple[str, ast.stmt, bool]]:
    """``(imported module, node, inside a function)`` for every import of the file; those under
    ``if TYPE_CHECKING`` only when ``type_checking``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden: set[int] = set()
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) and not type_checking:
            hidden.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    name = _module_name(path)
    found: list[tuple[str, ast.stmt, bool]] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                       for alias in node.names]
        for target in targets:
            found.append((target, node, id(node) in in_function))  # type: ignore[arg-type]
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for target, _, _ in _imports(path, type_checking=False):
            while target and target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != name:
                edges.setdefault(name, set()).add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return found


def test_no_cycle_reaches_bulk_cli_or_workflows() -> None:
    cycles = [c for c in _cycles(_graph()) if any(_owned(m) for m in c)]
    assert cycles == []


def test_the_graph_sees_function_level_imports() -> None:
    edges = _graph()
    assert "mistral_lite._bulk.jobs" in edges["mistral_lite.client"]  # imported inside Client.run_batch


def test_workflows_keep_pagination_and_waiters_only() -> None:
    imported = {t for t, _, _ in _imports(MODULES["mistral_lite._core.workflows"], type_checking=True)}
    assert not [t for t in imported if t.startswith("mistral_lite._bulk")]
    import mistral_lite._core.workflows as workflows

    assert sorted(workflows.__all__) == ["Pager", "Waiter", "paginate", "single_page_items", "wait"]
    assert not hasattr(workflows, "run_batch")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _owned(n) and n != "mistral_lite._core.workflows"))
def test_bulk_and_cli_import_no_http_library_nor_the_transports(name: str) -> None:
    imported = {t for t, _, _ in _imports(MODULES[name], type_checking=True)}
    bad = [t for t in imported if t.split(".")[0] in HTTP_LIBRARIES or t.startswith("mistral_lite._http")]
    assert bad == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _owned(n)))
def test_each_function_level_import_says_why(name: str) -> None:
    path = MODULES[name]
    lines = path.read_text(encoding="utf-8").splitlines()
    silent = []
    for _, node, inside in _imports(path, type_checking=True):
        if inside and "#" not in lines[node.lineno - 1] and not lines[node.lineno - 2].strip().startswith("#"):
            silent.append(f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert silent == []


def test_batch_run_lives_in_cli_bulk() -> None:
    import mistral_lite.cli.app as app
    import mistral_lite.cli.bulk as bulk

    assert callable(bulk.cmd_batch_run) and not hasattr(app, "cmd_batch_run")
    assert app.CLIENT_COMMANDS["batch"] is bulk.cmd_batch and app.CLIENT_COMMANDS["run"] is bulk.cmd_run


# --- the one JSONL reader ---------------------------------------------------------------------

JSONL = b'{"a": 1}\n\n  \n{"b": 2}\r\n{"c": 3}'


@pytest.mark.parametrize("kind", ["path", "bytes", "file"])
def test_read_lines_numbers_the_lines_and_skips_blank_ones(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(JSONL)
    source: Any = {"path": str(path), "bytes": JSONL, "file": io.BytesIO(JSONL)}[kind]
    assert list(read_lines(source)) == [(1, b'{"a": 1}\n'), (4, b'{"b": 2}\r\n'), (5, b'{"c": 3}')]


def test_read_lines_keeps_blank_lines_on_request_and_digests_every_byte() -> None:
    class Digest:
        seen = b""

        def update(self, data: bytes) -> None:
            self.seen += data

    digest = Digest()
    lines = list(read_lines(JSONL, digest, blank=True))
    assert [number for number, _ in lines] == [1, 2, 3, 4, 5]
    assert digest.seen == JSONL


def test_no_other_jsonl_reader_in_bulk_workflows_or_the_cli_file_commands() -> None:
    readers = []
    for name, path in MODULES.items():
        if (name.startswith("mistral_lite._bulk") and name != "mistral_lite._bulk.jsonl") or name in (
                "mistral_lite.cli.bulk", "mistral_lite.cli.embed", "mistral_lite._core.workflows"):
            text = path.read_text(encoding="utf-8")
            if "splitlines(" in text or "enumerate(handle" in text or "for raw in handle" in text:
                readers.append(name)
    assert readers == []


def test_run_batch_results_read_blank_lines_and_crlf_like_every_jsonl_file() -> None:
    output = (b'{"custom_id": "b", "response": {"status_code": 200, "body": {"n": 2}}}\r\n\n'
              b'{"custom_id": "a", "response": {"status_code": 200, "body": {"n": 1}}}')
    results = batch_results(["a", "b"], {"id": "job", "status": "SUCCESS"}, [output])
    assert [(r["custom_id"], r["body"]) for r in results] == [("a", {"n": 1}), ("b", {"n": 2})]


def test_cli_batch_run_reads_its_file_with_the_same_reader(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "requests.jsonl"
    lines = [{"custom_id": "x", "body": {"messages": [{"role": "user", "content": "hi"}]}},
             {"custom_id": "y", "body": {"messages": [{"role": "user", "content": "yo"}]}}]
    source.write_bytes(json.dumps(lines[0]).encode() + b"\r\n\n" + json.dumps(lines[1]).encode())
    with FakeMistral() as fake:
        monkeypatch.setenv("MISTRAL_BASE_URL", fake.url)
        code = main(["--mock", "batch", "run", str(source), "-m", "mistral-small-latest", "--interval", "0.05"])
    out, err = capsys.readouterr()
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [(r["custom_id"], r["status_code"]) for r in results] == [("x", 200), ("y", 200)]


def test_cli_batch_run_names_a_bad_line_by_its_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b'{"model": "m", "messages": []}\n\n[1, 2]\n')
    assert main(["--mock", "batch", "run", str(source)]) == 2
    assert f"{source}:3: each line must be a JSON object" in capsys.readouterr().err


def test_cli_embed_reads_jsonl_with_the_same_reader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_bytes(b'{"body": "first"}\r\n\n{"body": "second"}')
    assert main(["--mock", "embed", "-f", str(source), "--jsonl", "body"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in records] == [(1, "first"), (3, "second")]


def test_cli_embed_turns_json_nested_too_deeply_into_a_usage_error(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert main(["--mock", "embed", "-f", str(source), "--jsonl", "body"]) == 2
    assert f"{source}:1: not JSON: nested too deeply" in capsys.readouterr().err
