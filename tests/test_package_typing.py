"""The package as users' checkers see it: ``mypy --strict -p mistral_lite`` and pyright (standard
mode) report nothing, run from an empty directory with no configuration of ours.

Whatever optional extras this environment has (orjson, pydantic, pytest, aiohttp, ...), the
package must check clean: optional imports carry an ``ignore`` that stays quiet both when the
module is missing and when it is there. CI (``.ci/run``) runs the same two commands against the
installed wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mistral_lite

PACKAGE = Path(mistral_lite.__file__).resolve().parent


def _available(tool: str) -> None:
    if subprocess.run([sys.executable, "-m", tool, "--version"], capture_output=True).returncode != 0:
        pytest.skip(f"{tool} is not installed")


def test_mypy_strict_on_the_package_from_an_empty_directory(tmp_path: Path) -> None:
    _available("mypy")
    env = {**os.environ, "MYPYPATH": str(PACKAGE.parent)}  # an editable install is invisible to mypy
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".cache"),
                           "-p", "mistral_lite"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "Success: no issues found" in proc.stdout, proc.stdout + proc.stderr


def test_pyright_on_the_package_from_an_empty_directory(tmp_path: Path) -> None:
    _available("pyright")
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"extraPaths": [str(PACKAGE.parent)]}))
    proc = subprocess.run([sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
                           str(PACKAGE)], capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(proc.stdout)
    errors = [f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
              for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert errors == [], "\n".join(errors)
    assert report["summary"]["filesAnalyzed"] > 50
