"""Errors that name an install step give both forms: from a package index and from a clone."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_lite._core.extras import EXTRAS, install_hint, needs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mistral_lite"


def test_the_hint_gives_both_forms() -> None:
    assert install_hint("async") == ('pip install "mistral-lite[async]" '
                                     '(or pip install ".[async]" from a clone of the repository)')
    assert needs("AsyncClient needs aiohttp", "async") == f"AsyncClient needs aiohttp: {install_hint('async')}"
    with pytest.raises(ValueError, match="no extra 'asnyc'"):
        install_hint("asnyc")


def test_every_extra_named_is_one_of_setup_cfg() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = set(config["options.extras_require"])
    assert set(EXTRAS) <= declared


def test_no_message_spells_an_install_step_by_hand() -> None:
    """Every ``pip install "mistral-lite[...]"`` in the package's code comes from the helper
    (docstrings and comments may mention one)."""
    by_hand = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "extras.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if re.search(r"pip install [\"']?(mistral-lite|\.)\[", stripped) and not stripped.startswith("#") \
                    and "``" not in stripped:
                by_hand.append(f"{path.relative_to(ROOT)}:{number}: {stripped}")
    assert by_hand == []


@pytest.mark.parametrize(("module", "missing", "code", "extra"), [
    ("aiohttp", "aiohttp", "import mistral_lite\ntry:\n    mistral_lite.AsyncClient('k')\n"
                           "except mistral_lite.MistralError as exc:\n    print(exc.message)", "async"),
    ("pydantic", "pydantic", "from mistral_lite._core.pytypes import PYDANTIC_EXTRA\nprint(PYDANTIC_EXTRA)", "pydantic"),
    ("mcp", "mcp", "from mistral_lite.mcp import MCP_EXTRA\nprint(MCP_EXTRA)", "mcp"),
])
def test_a_missing_extra_names_both_install_forms(module: str, missing: str, code: str, extra: str) -> None:
    blocker = f"import sys\nsys.modules[{missing!r}] = None\n"
    done = subprocess.run([sys.executable, "-c", blocker + code], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f'pip install "mistral-lite[{extra}]"' in done.stdout
    assert f'pip install ".[{extra}]" from a clone' in done.stdout


def test_tracing_without_opentelemetry_names_both_forms() -> None:
    code = ("import sys\nfor name in ('opentelemetry', 'opentelemetry.trace'):\n    sys.modules[name] = None\n"
            "import mistral_lite\ntry:\n    mistral_lite.Client('k', tracing=True)\n"
            "except mistral_lite.MistralError as exc:\n    print(exc.message)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert 'pip install "mistral-lite[otel]"' in done.stdout and 'pip install ".[otel]"' in done.stdout
