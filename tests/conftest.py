"""Shared fixtures: a clean environment, no network beyond loopback, and ready clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from mistral_lite import Client
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral

API_KEY = "sk-test-0123456789abcdef"
BASE = "https://api.mistral.ai"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL", "MISTRAL_LITE_LOG", "HTTP_PROXY", "HTTPS_PROXY",
                 "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
        raise RuntimeError(f"tests must not touch the network (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


class Sleeps(list[float]):
    """An injected sleep that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[Client]:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5) as c:
        yield c


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as m:
        yield m


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeMistral]:
    """One FakeMistral for the whole module (see ``fake`` for a clean one per test)."""
    with FakeMistral() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeMistral) -> Iterator[FakeMistral]:
    """The module's FakeMistral, reset before and after the test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def fake_client(fake: FakeMistral) -> Iterator[Client]:
    """A Client pointed at ``fake``."""
    with make_client(API_KEY, base_url=fake.url, retry_log_level=False) as c:
        yield c


# pytest rewrites the asserts of every module of a package that ships a pytest plugin (ours does), and
# CPython 3.11's compiler can fail ("AST constructor recursion depth mismatch") when two threads
# compile at once. Every module of the package (those the clients import lazily from worker threads
# included, whoever adds them) is imported here, once, on the main thread; a module whose optional
# dependency is missing is skipped.
import pkgutil  # noqa: E402

import mistral_lite  # noqa: E402

for _module in pkgutil.walk_packages(mistral_lite.__path__, "mistral_lite."):
    if _module.name.rsplit(".", 1)[-1] == "__main__":
        continue
    try:
        __import__(_module.name)
    except ImportError:
        pass
