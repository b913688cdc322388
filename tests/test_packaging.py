"""A plain (non-editable) install ships the table, the schemas, py.typed and the stub."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mistral_lite"


def test_root_entries_are_links_into_the_package() -> None:
    for name in ("endpoints.toml", "schemas"):
        entry = ROOT / name
        if not entry.is_symlink():  # pragma: no cover - a checkout without symlink support
            pytest.skip(f"{name} is not a symlink on this checkout")
        assert os.readlink(entry) == f"mistral_lite/{name}"
        assert entry.resolve() == (PACKAGE / name).resolve()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError:  # pragma: no cover - .ci/run installs both
        pytest.skip("building a wheel needs setuptools and wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (built,) = out.glob("mistral_lite-*.whl")
    return built


def test_wheel_contains_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = {f"mistral_lite/schemas/{p.name}" for p in (PACKAGE / "schemas").glob("*.json")}
    assert len(schemas) > 48
    assert schemas <= names
    assert {"mistral_lite/endpoints.toml", "mistral_lite/py.typed", "mistral_lite/_methods/operations.pyi"} <= names


def test_installed_copy_reads_its_data_through_importlib_resources(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r})\n"
        "import importlib.resources as r, json, mistral_lite\n"
        "from mistral_lite._table import load_spec\n"
        "root = r.files('mistral_lite')\n"
        "assert 'site' in mistral_lite.__file__, mistral_lite.__file__\n"
        "names = sorted(p.name for p in root.joinpath('schemas').iterdir())\n"
        "for n in names: json.loads(root.joinpath('schemas', n).read_text())\n"
        "spec = load_spec()\n"
        "print(len(spec.endpoints), len(names), root.joinpath('py.typed').is_file())\n"
    )
    # -I: the working tree is not on sys.path, so only the installed copy can be imported
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    endpoints, schemas, typed = out.stdout.split()
    assert int(endpoints) == len(__import__("mistral_lite").Client(api_key="k").operations)
    assert int(schemas) == len(list((PACKAGE / "schemas").glob("*.json")))
    assert typed == "True"
