"""The maintainer tools work from an installed wheel, run outside the checkout.

The wheel ships ``mistral_lite/_dev`` with its TOML files (package data), so ``python -m
mistral_lite.spec diff|import|extract`` and ``python -m mistral_lite._dev.stubgen --check`` run
from an installed copy: the wheel is built from the sources, installed into a new virtual
environment (dependencies from this interpreter, nothing downloaded) and every command runs from
an empty directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from _wheel import build_wheel, venv_with

#: A small OpenAPI document: one operation the table has (list_models), one it lacks.
MINI = {
    "openapi": "3.1.0",
    "info": {"title": "mini", "version": "1"},
    "paths": {
        "/v1/models": {"get": {
            "operationId": "list_models_v1_models_get", "summary": "List Models", "tags": ["models"],
            "responses": {"200": {"description": "ok",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/v1/widgets/{widget_id}": {"get": {
            "operationId": "get_widget", "summary": "Get Widget", "tags": ["widgets"],
            "parameters": [{"name": "widget_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    },
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new virtual environment holding the wheel."""
    where = tmp_path_factory.mktemp("wheel")
    return venv_with(build_wheel(where), where / "venv")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An empty working directory outside the checkout, with the small OpenAPI document."""
    (tmp_path / "mini.json").write_text(json.dumps(MINI), encoding="utf-8")
    return tmp_path


def run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def package_dir(python: Path, cwd: Path) -> Path:
    """Where the installed copy lives."""
    code = "import mistral_lite, os; print(os.path.dirname(mistral_lite.__file__))"
    return Path(run(python, cwd, "-c", code).stdout.strip())


def test_the_installed_copy_is_the_one_run(installed: Path, outside: Path) -> None:
    done = run(installed, outside, "-c", "import mistral_lite, mistral_lite._dev.spec as s; "
                                         "print(mistral_lite.__file__); print(s.ALLOWLIST.is_file())")
    assert done.returncode == 0, done.stderr
    path, allowlist = done.stdout.split()
    assert path.startswith(str(installed.parent.parent)) and "site-packages" in path
    assert allowlist == "True"


def test_spec_diff_from_the_wheel(installed: Path, outside: Path) -> None:
    done = run(installed, outside, "-m", "mistral_lite.spec", "diff", "mini.json")
    assert done.returncode == 1, done.stderr  # 1: the table and the document differ
    assert done.stderr == ""
    assert "Operations in the spec that the table lacks (1):" in done.stdout
    assert "GET    /v1/widgets/{widget_id}  get_widget" in done.stdout
    report = json.loads(run(installed, outside, "-m", "mistral_lite.spec", "diff", "mini.json", "--json").stdout)
    assert [op["operationId"] for op in report["spec_only_operations"]] == ["get_widget"]
    assert report["allowed"], "the shipped allow-list was read"


def test_spec_diff_of_yaml_says_what_it_needs(installed: Path, outside: Path) -> None:
    yaml = "openapi: 3.1.0\ninfo: {title: mini, version: '1'}\npaths: {}\n"
    (outside / "mini.yaml").write_text(yaml, encoding="utf-8")
    blocker = ("import sys; sys.modules['yaml'] = None  # as if PyYAML were not installed\n"
               "from mistral_lite._dev.spec import main\nraise SystemExit(main())")
    done = run(installed, outside, "-c", blocker, "diff", "mini.yaml")
    assert done.returncode == 2
    assert "needs PyYAML" in done.stderr and 'pip install "mistral-lite[spec]"' in done.stderr


def test_spec_import_and_extract_from_the_wheel(installed: Path, outside: Path) -> None:
    done = run(installed, outside, "-m", "mistral_lite.spec", "import", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m mistral_lite.spec import")
    done = run(installed, outside, "-m", "mistral_lite.spec", "import", "mini.json", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "+ get_widget: GET /v1/widgets/{widget_id}  [widgets]" in done.stdout
    # without --table it would write into the installed copy: refused
    done = run(installed, outside, "-m", "mistral_lite.spec", "import", "mini.json")
    assert done.returncode == 2 and "installed copy" in done.stderr and "--table" in done.stderr
    done = run(installed, outside, "-m", "mistral_lite.spec", "extract", "mini.json", "-o", "compact.json")
    assert done.returncode == 0, done.stderr
    assert "list_models_v1_models_get" in (outside / "compact.json").read_text(encoding="utf-8")


def test_spec_import_into_a_table_folder_from_the_wheel(installed: Path, outside: Path) -> None:
    package = package_dir(installed, outside)
    table = outside / "table"
    table.mkdir()
    (table / "endpoints.toml").write_bytes((package / "endpoints.toml").read_bytes())
    (table / "schemas").mkdir()
    for schema in (package / "schemas").glob("*.json"):
        (table / "schemas" / schema.name).write_bytes(schema.read_bytes())
    done = run(installed, outside, "-m", "mistral_lite.spec", "import", "mini.json", "--table", "table")
    assert done.returncode == 0, done.stderr
    assert "1 operation(s) added" in done.stderr
    assert "[endpoints.get_widget]" in (table / "endpoints.toml").read_text(encoding="utf-8")
    assert "[endpoints.get_widget]" not in (package / "endpoints.toml").read_text(encoding="utf-8")


def test_stubgen_check_from_the_wheel(installed: Path, outside: Path) -> None:
    done = run(installed, outside, "-m", "mistral_lite._dev.stubgen", "--check")
    assert done.returncode == 0, done.stderr
    assert "out of date" not in done.stderr
    assert "skipped" in done.stderr and "README.md" in done.stderr


def test_stubgen_check_from_the_wheel_sees_a_stale_file(installed: Path, outside: Path) -> None:
    types = package_dir(installed, outside) / "types.py"
    original = types.read_text(encoding="utf-8")
    try:
        types.write_text(original + "\n# edited\n", encoding="utf-8")
        done = run(installed, outside, "-m", "mistral_lite._dev.stubgen", "--check")
        assert done.returncode == 1 and f"out of date: {types}" in done.stderr
    finally:
        types.write_text(original, encoding="utf-8")
