"""What importing a light part of mistral_lite loads: neither requests nor the client.

The package root loads its public names on first use (PEP 562), so ``import
mistral_lite.exceptions``, ``import mistral_lite.types`` and the pytest plugin (loaded by pytest in
every run wherever mistral-lite is installed) stay light, while ``from mistral_lite import Client``
keeps working. Each check runs in a fresh interpreter: this test session has loaded everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("requests", "urllib3", "mistral_lite.client", "mistral_lite._http.sync", "mistral_lite.fake.server")


def loaded_after(code: str, cwd: Path) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of HEAVY it left in sys.modules."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, bool] = json.loads(out.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("module", ["mistral_lite", "mistral_lite.exceptions", "mistral_lite.types",
                                    "mistral_lite.fake", "mistral_lite.fake.pytest_plugin"])
def test_light_modules_load_neither_requests_nor_the_client(module: str, tmp_path: Path) -> None:
    loaded = loaded_after(f"import {module}", tmp_path)
    assert not any(loaded.values()), loaded


def test_public_names_still_load_on_first_use(tmp_path: Path) -> None:
    code = ("import mistral_lite, sys\n"
            "assert 'requests' not in sys.modules\n"
            "from mistral_lite import Client, MistralError, ValidationError\n"
            "from mistral_lite.fake import FakeMistral\n"
            "assert Client.__module__ == 'mistral_lite.client', Client.__module__\n"
            "assert FakeMistral.__module__ == 'mistral_lite.fake.server'\n"
            "assert issubclass(ValidationError, MistralError)\n"
            "assert mistral_lite.Client is Client and 'Client' in vars(mistral_lite)\n")
    loaded = loaded_after(code, tmp_path)
    assert loaded["requests"] and loaded["mistral_lite.client"] and loaded["mistral_lite.fake.server"]


def test_the_root_loads_only_the_exceptions(tmp_path: Path) -> None:
    code = ("import json, sys, mistral_lite\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mistral_lite'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) == {"mistral_lite", "mistral_lite._version", "mistral_lite.exceptions",
                                           "mistral_lite._core", "mistral_lite._core.headers",
                                           "mistral_lite._core.lazy"}


def test_unknown_root_attribute_is_an_attribute_error() -> None:
    import mistral_lite
    import mistral_lite.fake

    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        mistral_lite.Clinet  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'FakeMistrall'"):
        mistral_lite.fake.FakeMistrall  # noqa: B018
    assert not hasattr(mistral_lite, "error_for_status")  # a helper of exceptions.py, not a public name


def test_dir_lists_the_lazy_names() -> None:
    import mistral_lite
    import mistral_lite.fake

    assert set(mistral_lite.__all__) <= set(dir(mistral_lite))
    assert set(mistral_lite.fake.__all__) <= set(dir(mistral_lite.fake))


def test_lazy_table_and_all_agree() -> None:
    import mistral_lite
    import mistral_lite.exceptions

    lazy = set(mistral_lite._LAZY)
    exported = set(mistral_lite.__all__)
    assert len(exported) == len(mistral_lite.__all__), "a name twice in __all__"
    # every exception is exported, eagerly (exceptions.py is cheap); every other public name lazily
    assert set(mistral_lite.exceptions.__all__) <= exported
    assert exported == (lazy - {"mcp"}) | set(mistral_lite.exceptions.__all__) | {"__version__"}
    assert not lazy & set(mistral_lite.exceptions.__all__), "an exception both eager and lazy"


def write_project(tmp_path: Path) -> Path:
    """A conftest-free project: one test that needs no fixture, one that uses fake_mistral."""
    (tmp_path / "test_light.py").write_text(
        "import sys\n\n"
        "def test_plugin_loaded_nothing_heavy():\n"
        "    assert 'requests' not in sys.modules\n"
        "    assert 'mistral_lite.client' not in sys.modules\n"
        "    assert 'mistral_lite.fake.server' not in sys.modules\n"
        "    assert 'mistral_lite.fake.pytest_plugin' in sys.modules\n")
    (tmp_path / "test_zz_fixture.py").write_text(
        "import sys\n\n"
        "def test_fixture_serves_the_fake(fake_mistral):\n"
        "    from mistral_lite import Client\n"
        "    assert type(fake_mistral).__name__ == 'FakeMistral' and 'requests' in sys.modules\n"
        "    client = Client(api_key='k', base_url=fake_mistral.url)\n"
        "    assert client.list_models()['object'] == 'list'\n")
    return tmp_path


def run_pytest(project: Path, *args: str, autoload: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          capture_output=True, text=True, cwd=project, env=env, timeout=120)


def test_pytest_run_with_the_plugin_loads_the_fake_only_for_the_fixture(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    out = run_pytest(project, "-p", "mistral_lite.fake.pytest_plugin", autoload=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


def test_collecting_with_the_plugin_does_not_import_requests(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    (project / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_collection_finish(session):\n"
        "    heavy = [m for m in ('requests', 'mistral_lite.client') if m in sys.modules]\n"
        "    print('HEAVY', heavy)\n")
    out = run_pytest(project, "--co", "-s", "-p", "mistral_lite.fake.pytest_plugin", autoload=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "HEAVY []" in out.stdout
    assert "test_fixture_serves_the_fake" in out.stdout


def test_entry_point_plugin_is_found_by_pytest(tmp_path: Path) -> None:
    """Through the ``pytest11`` entry point (autoload), as in a user's project."""
    project = write_project(tmp_path)
    out = run_pytest(project, "-k", "fixture", autoload=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def user_file(tmp_path: Path) -> Path:
    """A user's module importing every public name from the root, and one typo."""
    import mistral_lite

    names = ", ".join(sorted(set(mistral_lite.__all__)))
    (tmp_path / "user.py").write_text(
        f"from mistral_lite import {names}\n"
        "from mistral_lite.fake import FakeMistral, Fault, RecordedRequest, chat_completion, run\n"
        "from mistral_lite import mcp\n"
        "import mistral_lite\n\n"
        "server: mcp.MCPServer = mistral_lite.mcp.stdio('true')\n"
        "error: MistralError = ValidationError('bad', [])\n"
        "client: Client = mistral_lite.Client(api_key='k')\n"
        "timeout: type[MistralError] = mistral_lite.APITimeoutError\n"
        "typo = mistral_lite.Clinet  # the one error expected\n")
    return tmp_path / "user.py"


def test_mypy_sees_every_public_name_and_no_more(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    env = {**os.environ, "MYPYPATH": str(Path(__file__).resolve().parent.parent)}  # an editable install
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".cache"),
                           str(user_file(tmp_path))], capture_output=True, text=True, cwd=tmp_path, env=env)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'has no attribute "Clinet"' in errors[0], proc.stdout + proc.stderr


def test_pyright_sees_every_public_name_and_no_more(tmp_path: Path) -> None:
    if subprocess.run([sys.executable, "-m", "pyright", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pyright is not installed")
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"extraPaths": [str(root)]}))
    proc = subprocess.run([sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
                           str(user_file(tmp_path))], capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(proc.stdout)
    errors = [d["message"] for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1 and '"Clinet"' in errors[0], errors


def test_the_fake_server_itself_loads_neither_requests_nor_the_client(tmp_path: Path) -> None:
    """Only ``FakeMistral.session()`` (the socket-less requests session) loads them."""
    loaded = loaded_after("from mistral_lite.fake import FakeMistral", tmp_path)
    assert loaded["mistral_lite.fake.server"]
    assert not loaded["requests"] and not loaded["mistral_lite.client"], loaded
    loaded = loaded_after("from mistral_lite.fake import FakeMistral\nFakeMistral().session()", tmp_path)
    assert loaded["requests"] and loaded["mistral_lite.client"]


def test_each_lazy_name_comes_from_its_defining_module() -> None:
    """The table names where each object is defined, not a module that re-exports it (which could
    load more: ``collect_completion`` must not bring the requests stream)."""
    import importlib

    import mistral_lite
    import mistral_lite.fake

    for package in (mistral_lite, mistral_lite.fake):
        for name, module in package._LAZY.items():
            value = getattr(importlib.import_module(module), name, None)
            if value is None:  # the submodule itself (mistral_lite.mcp)
                assert module == f"{package.__name__}.{name}"
                continue
            assert getattr(package, name) is value
            assert getattr(value, "__module__", module) == module, (name, module)


def test_stream_helpers_load_no_transport(tmp_path: Path) -> None:
    loaded = loaded_after("from mistral_lite import collect_completion, acollect_completion, Usage, RateLimit",
                          tmp_path)
    assert not any(loaded.values()), loaded


def test_the_client_does_not_load_the_in_process_server_machinery(tmp_path: Path) -> None:
    """The socket-less adapter rides along with every client; http.server does not."""
    code = ("import sys\nfrom mistral_lite import Client\n"
            "print(sorted(m for m in ('http.server', 'socketserver', 'mistral_lite.fake') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
