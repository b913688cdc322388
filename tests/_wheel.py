"""Build the package's wheel from a clean copy of the sources, and install it into a throwaway
virtual environment, offline: shared by tests/test_packaging.py and tests/test_tools_from_wheel.py.

The copy matters: setuptools builds in ``build/`` next to ``setup.cfg`` and never empties it, so
a wheel built in a checkout also ships modules deleted since the last build.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE")


def build_wheel(out: Path, *, stale: tuple[str, ...] = ()) -> Path:
    """The wheel of the working tree's package, built in ``out`` (skips without setuptools/wheel);
    ``stale`` names files (``mistral_lite/...``) an earlier build left in the copy's ``build/lib``."""
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError:  # pragma: no cover - .ci/run installs both
        pytest.skip("building a wheel needs setuptools and wheel")
    source = out / "src"
    source.mkdir(parents=True)
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "mistral_lite", source / "mistral_lite",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in stale:
        (source / "build" / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (source / "build" / "lib" / name).write_text("raise ImportError('a module deleted since the last build')\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(source)], check=True, capture_output=True)
    (built,) = out.glob("mistral_lite-*.whl")
    return built


def venv_with(wheel: Path, where: Path) -> Path:
    """A new virtual environment holding ``wheel`` (installed by pip, console script included);
    its dependencies come from this interpreter's site-packages (a ``.pth`` line), so nothing is
    downloaded. This checkout's editable install is not active there. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the wheel first: with the .pth in place pip would see this interpreter's own copy of the
    # package (a non-editable install, as in CI) as already satisfying it, and install nothing
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--ignore-installed", "-q", str(wheel)], check=True, capture_output=True)
    own = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "_test_deps.pth").write_text("\n".join(sorted(own)) + "\n", encoding="utf-8")
    return python
