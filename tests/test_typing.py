"""Type checking as a user sees it: ``mypy --strict`` and ``pyright`` on user-style files.

``tests/typing/`` holds positive files (``results_*.py``: typed results, streams, workflows,
with ``assert_type`` on the leaves) and negative files (``neg_*.py``), whose lines marked
``# E: <text>`` must be reported by both checkers, with ``<text>`` in the message, and no other
line may be. The README's Python examples are checked the same way (their free names declared,
an ``await`` example wrapped in a coroutine; one that imports an optional extra this environment
lacks, such as ``mcp``, is left out); the quickstart's deliberately invalid call
(``temprature=2``) must be reported. One run of each checker covers every file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = Path(__file__).resolve().parent / "typing"
MARK = re.compile(r"#\s*E:\s*(.+?)\s*$")
#: Names the README's examples use without defining them (they stand for the reader's data).
README_PREAMBLE = """\
from mistral_lite import Client
from mistral_lite.types import MessageParam

client = Client("key")
job_id: str = "job"
questions: list[str] = []
conversations: list[list[MessageParam]] = []
"""
#: In the README, the lines that show invalid input on purpose: the checkers must flag them too.
README_INVALID = "temprature="


def _source_root() -> str | None:
    """The folder holding ``mistral_lite`` when it is not a site-packages install (an editable
    install's import hook is invisible to the checkers, so they are told where it is)."""
    import mistral_lite

    parent = Path(mistral_lite.__file__).resolve().parent.parent
    return None if "site-packages" in parent.parts or "dist-packages" in parent.parts else str(parent)


def _needs_missing_module(block: str) -> bool:
    """Whether an example imports a third-party module this environment lacks (an optional
    extra such as ``mcp``): the checkers could only report the missing import."""
    import importlib.util

    for name in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", block, re.M):
        if name != "mistral_lite" and name not in sys.stdlib_module_names and importlib.util.find_spec(name) is None:
            return True
    return False


def _readme_files(out: Path) -> dict[str, set[int]]:
    """Write each README Python example as a module; return its expected error lines."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    expected: dict[str, set[int]] = {}
    for index, block in enumerate(re.findall(r"```python\n(.*?)```", text, re.S)):
        if _needs_missing_module(block):
            continue
        if "await " in block or "async " in block:
            body = "".join(f"    {line}\n" if line.strip() else "\n" for line in block.splitlines())
            source = README_PREAMBLE + "\n\nasync def _example() -> None:\n" + body
        else:
            source = README_PREAMBLE + "\n" + block
        name = f"readme_{index}.py"
        (out / name).write_text(source, encoding="utf-8")
        expected[name] = {n for n, line in enumerate(source.splitlines(), 1) if README_INVALID in line}
    return expected


def _expected(out: Path) -> dict[str, dict[int, str]]:
    marks: dict[str, dict[int, str]] = {}
    for path in sorted(FILES.glob("*.py")):
        shutil.copy(path, out / path.name)
        lines = path.read_text(encoding="utf-8").splitlines()
        marks[path.name] = {n: m.group(1) for n, line in enumerate(lines, 1) if (m := MARK.search(line))}
    return marks


def _mypy(out: Path) -> dict[tuple[str, int], list[str]]:
    source = _source_root()
    env = {**os.environ, "MYPYPATH": source} if source else None
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context",
         "--cache-dir", str(out / ".mypy_cache"), "--config-file", "", *sorted(p.name for p in out.glob("*.py"))],
        capture_output=True, text=True, cwd=out, env=env,
    )
    found: dict[tuple[str, int], list[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"(.+?\.py):(\d+): error: (.*)", line)
        if m:
            found.setdefault((Path(m.group(1)).name, int(m.group(2))), []).append(m.group(3))
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return found


def _pyright(out: Path) -> dict[tuple[str, int], list[str]]:
    config: dict[str, object] = {"typeCheckingMode": "standard", "pythonVersion": "3.10"}
    source = _source_root()
    if source:
        config["extraPaths"] = [source]
    (out / "pyrightconfig.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, "."],
        capture_output=True, text=True, cwd=out,
    )
    report = json.loads(proc.stdout)
    found: dict[tuple[str, int], list[str]] = {}
    for diag in report["generalDiagnostics"]:
        if diag["severity"] == "error":
            key = (Path(diag["file"]).name, diag["range"]["start"]["line"] + 1)
            found.setdefault(key, []).append(diag["message"])
    return found


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[int, str]], dict[str, set[int]], dict[
        str, dict[tuple[str, int], list[str]]]]:
    for tool in ("mypy", "pyright"):
        if subprocess.run([sys.executable, "-m", tool, "--version"], capture_output=True).returncode != 0:
            pytest.skip(f"{tool} is not installed (pip install '.[dev]')")
    out = tmp_path_factory.mktemp("typing")
    marks = _expected(out)
    readme = _readme_files(out)
    return marks, readme, {"mypy": _mypy(out), "pyright": _pyright(out)}


CHECKERS = ("mypy", "pyright")


@pytest.mark.parametrize("checker", CHECKERS)
def test_positive_files_type_check(checked: tuple[dict, dict, dict], checker: str) -> None:  # type: ignore[type-arg]
    marks, _, found = checked
    positives = [name for name, lines in marks.items() if not lines]
    assert positives, "no positive files"
    errors = {key: msgs for key, msgs in found[checker].items() if key[0] in positives}
    assert not errors, f"{checker} reports errors in positive files: {errors}"


@pytest.mark.parametrize("checker", CHECKERS)
def test_negative_files_fail_where_marked(checked: tuple[dict, dict, dict], checker: str) -> None:  # type: ignore[type-arg]
    marks, _, found = checked
    negatives = {name: lines for name, lines in marks.items() if lines}
    assert len(negatives) >= 5
    for name, lines in negatives.items():
        reported = {line for (file, line) in found[checker] if file == name}
        assert reported == set(lines), f"{checker}: {name}: errors on lines {sorted(reported)}, marked {lines}"
        for line, text in lines.items():
            messages = " ".join(found[checker][(name, line)])
            assert text in messages, f"{checker}: {name}:{line}: {text!r} not in {messages!r}"


@pytest.mark.parametrize("checker", CHECKERS)
def test_readme_examples_type_check(checked: tuple[dict, dict, dict], checker: str) -> None:  # type: ignore[type-arg]
    _, readme, found = checked
    assert len(readme) >= 3
    for name, invalid in readme.items():
        reported = {line for (file, line) in found[checker] if file == name}
        assert reported == invalid, (
            f"{checker}: {name}: errors on lines {sorted(reported)} (expected {sorted(invalid)}): "
            + repr({k: v for k, v in found[checker].items() if k[0] == name})
        )
    assert any(readme.values()), "the quickstart's invalid call was not found"
