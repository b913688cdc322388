"""Generated, committed files must match the table: the stub, the types module and the README reference."""

from __future__ import annotations

import re
from pathlib import Path

from mistral_lite._dev import stubgen as _stubgen

ROOT = Path(__file__).resolve().parent.parent


def test_stub_matches_the_table() -> None:
    committed = (ROOT / "mistral_lite" / "_methods" / "operations.pyi").read_text(encoding="utf-8")
    assert committed == _stubgen.render_stub(), "stub drifted: run python -m mistral_lite._dev.stubgen"


def test_types_module_matches_the_table_and_the_responses() -> None:
    committed = (ROOT / "mistral_lite" / "types.py").read_text(encoding="utf-8")
    assert committed == _stubgen.render_types_module(), "types drifted: run python -m mistral_lite._dev.stubgen"


def test_check_mode_reports_no_drift() -> None:
    assert _stubgen.main(["--check"]) == 0


def test_readme_reference_matches_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _stubgen.START in readme and _stubgen.END in readme
    assert readme == _stubgen._readme_with_reference(readme), "README drifted: run python -m mistral_lite._dev.stubgen"
    assert "| `chat` | `POST /v1/chat/completions` |" in readme


def test_stub_has_a_method_and_a_call_overload_per_operation() -> None:
    stub = _stubgen.render_stub()
    from mistral_lite._table import load_spec

    for name in load_spec().endpoints:
        assert f"    def {name}(self" in stub
        # call's overload: Literal["<name>"], or an alias of the literals of rows with its result
        assert f'    def call(self, operation: Literal["{name}"], /' in stub or re.search(
            rf'^_\w+Ops: TypeAlias = Literal\[.*"{name}"', stub, re.M)


def test_stub_type_checks_against_the_runtime(tmp_path: Path) -> None:
    import subprocess
    import sys

    sample = tmp_path / "use.py"
    sample.write_text(
        "from mistral_lite import Client\n"
        "c = Client('k')\n"
        "c.chat(model='m', messages=[], temperature=0.2)\n"
        "c.call('chat', model='m', messages=[])\n"
        "c.get_file('f')\n"
        "c.chat(model='m', messages=[], temprature=0.2)\n"
    )
    try:
        import mypy  # noqa: F401
    except ImportError:  # pragma: no cover - mypy is installed by .ci/run
        import pytest

        pytest.skip("mypy not installed")
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(sample)],
                         capture_output=True, text=True, cwd=ROOT)
    assert 'Unexpected keyword argument "temprature"' in out.stdout, out.stdout
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert errors and all("use.py:6:" in line for line in errors), out.stdout  # only the misspelled call


def test_compiled_table_matches_the_toml() -> None:
    from mistral_lite._table import compiled_table

    committed = (ROOT / "mistral_lite" / "_table.json").read_text(encoding="utf-8")
    assert committed == compiled_table(ROOT / "mistral_lite"), "run python -m mistral_lite._dev.stubgen"


def test_a_stale_compiled_table_is_never_used(tmp_path: Path) -> None:
    import json
    import shutil

    from mistral_lite._table import compiled_table, load_spec

    toml = (ROOT / "mistral_lite" / "endpoints.toml").read_text(encoding="utf-8")
    fresh, stale = tmp_path / "fresh", tmp_path / "stale"
    for folder, text in ((fresh, toml), (stale, toml.replace('summary = "Chat with a Mistral model',
                                                             'summary = "Edited: chat with a Mistral model'))):
        shutil.copytree(ROOT / "mistral_lite" / "schemas", folder / "schemas")
        (folder / "endpoints.toml").write_text(toml, encoding="utf-8")
        compiled = json.loads(compiled_table(folder))
        compiled["table"]["endpoints"]["chat"]["summary"] = "From the compiled copy."
        (folder / "_table.json").write_text(json.dumps(compiled), encoding="utf-8")
        (folder / "endpoints.toml").write_text(text, encoding="utf-8")
    # a matching hash: the compiled copy is read; an edited TOML: the TOML wins
    assert load_spec(str(fresh)).endpoints["chat"].summary == "From the compiled copy."
    assert load_spec(str(stale)).endpoints["chat"].summary.startswith("Edited: chat")
