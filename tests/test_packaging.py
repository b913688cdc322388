"""A plain (non-editable) install ships the table, the schemas, py.typed and the stub; the
public paths (names, modules, commands, entry points) keep working."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from _wheel import build_wheel

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
    return build_wheel(tmp_path_factory.mktemp("wheel"))


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


def test_the_wheel_ships_the_sources_and_nothing_else(wheel: Path) -> None:
    """No module deleted since an earlier build (setuptools' build/ is never emptied)."""
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    sources = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert shipped == sources


def test_a_wheel_built_over_an_old_build_ships_no_deleted_module(tmp_path: Path) -> None:
    """setup.py's build_py empties build/lib/mistral_lite first (a checkout's build/ outlives moved modules)."""
    stale = ("mistral_lite/fake/inprocess.py", "mistral_lite/stream.py")
    shipped = set(zipfile.ZipFile(build_wheel(tmp_path, stale=stale)).namelist())
    assert not shipped & set(stale)
    assert "mistral_lite/_http/inprocess.py" in shipped


def test_the_wheel_declares_the_version_and_entry_points(wheel: Path) -> None:
    from mistral_lite._version import __version__

    assert wheel.name.startswith(f"mistral_lite-{__version__}-")
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[console_scripts]\nmistral-lite = mistral_lite.cli:main" in text
    assert "[pytest11]\nmistral_lite = mistral_lite.fake.pytest_plugin" in text
    assert {"mistral_lite/_dev/spec_allowlist.toml", "mistral_lite/_dev/spec_overrides.toml",
            "mistral_lite/_dev/response_overrides.toml"} <= set(archive.namelist())


# --- Public paths ------------------------------------------------------------------------------


def output_of(tmp_path: Path, *args: str) -> str:
    """What ``python ARGS`` prints, run from ``tmp_path`` (outside the checkout); it must succeed."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_public_name_imports_from_the_root(tmp_path: Path) -> None:
    code = ("import mistral_lite\n"
            "names = set(mistral_lite.__all__)\n"
            "scope = {}\n"
            "exec('from mistral_lite import *', scope)\n"
            "missing = sorted(names - set(scope))\n"
            "assert not missing, missing\n"
            "assert all(scope[n] is getattr(mistral_lite, n) for n in names)\n"
            "print(len(names))\n")
    assert int(output_of(tmp_path, "-c", code)) > 40


def test_the_public_modules(tmp_path: Path) -> None:
    code = ("import mistral_lite.types as t, mistral_lite.exceptions as e, mistral_lite.fake as f\n"
            "assert t.ChatCompletionResponse and issubclass(e.RateLimitError, e.MistralError)\n"
            "from mistral_lite.fake import FakeMistral, Fault, RecordedRequest, chat_completion, run\n"
            "from mistral_lite import Client\n"
            "fake = FakeMistral().start()\n"
            "try:\n"
            "    print(Client('k', base_url=fake.url).list_models()['object'])\n"
            "finally:\n"
            "    fake.stop()\n")
    assert output_of(tmp_path, "-c", code).strip() == "list"


@pytest.mark.parametrize("command", [["-m", "mistral_lite.spec", "--help"], ["-m", "mistral_lite", "--help"]])
def test_the_module_commands(command: list[str], tmp_path: Path) -> None:
    assert output_of(tmp_path, *command).startswith("usage:")


def test_the_console_script(tmp_path: Path) -> None:
    from mistral_lite._version import __version__

    script = Path(sys.executable).parent / "mistral-lite"
    if not script.exists():  # pragma: no cover - every install of the package makes it
        pytest.skip("no mistral-lite script next to this python")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mistral-lite {__version__}"


def test_the_pytest_entry_point() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "mistral_lite"]
    assert plugin.value == "mistral_lite.fake.pytest_plugin"
    assert callable(plugin.load().fake_mistral)
