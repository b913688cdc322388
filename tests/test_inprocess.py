"""The socket-less transport (``mistral_lite._http.inprocess``): any ``http.server`` handler class
answers a ``requests.Session`` in the calling thread; ``FakeMistral.session()`` is one user."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
import requests

from mistral_lite import APIConnectionError, Client
from mistral_lite._http.inprocess import InProcessAdapter, in_process_session
from mistral_lite.fake import FakeMistral

URL = "http://127.0.0.1:9"  # the discard port: nothing answers there over TCP


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, and records it."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        seen = {"method": self.command, "path": self.path, "body": body,
                "authorization": self.headers.get("Authorization"), "thread": threading.get_ident()}
        type(self).seen.append(seen)
        payload = json.dumps({"object": "list", "data": [], "echo": seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HangUp(Echo):
    """Closes the connection without a byte, as a reset socket would."""

    def answer(self) -> None:
        self.close_connection = True
        self.connection.shutdown(2)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clear() -> None:
    Echo.seen.clear()


def test_a_handler_class_answers_a_session_in_the_calling_thread() -> None:
    session = in_process_session(Echo, URL)
    reply = session.post(f"{URL}/v1/things?x=1", json={"a": 1}, headers={"Authorization": "Bearer t"}, timeout=5)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert reply.json()["echo"] == {"method": "POST", "path": "/v1/things?x=1", "body": '{"a": 1}',
                                    "authorization": "Bearer t", "thread": threading.get_ident()}
    assert isinstance(session.get_adapter(URL), InProcessAdapter)


def test_the_client_runs_over_it() -> None:
    with Client("sk-test", base_url=URL, session=in_process_session(Echo, URL)) as client:
        assert client.list_models()["object"] == "list"
    (seen,) = Echo.seen
    assert (seen["method"], seen["path"], seen["authorization"]) == ("GET", "/v1/models", "Bearer sk-test")


def test_a_handler_that_hangs_up_is_a_connection_error() -> None:
    session = in_process_session(HangUp, URL)
    with pytest.raises(requests.ConnectionError, match="cut the connection"):
        session.get(f"{URL}/v1/models", timeout=5)
    with Client("k", base_url=URL, session=session, retry=False) as client, pytest.raises(APIConnectionError):
        client.list_models()


def test_fake_session_serves_the_fake_without_a_socket() -> None:
    fake = FakeMistral()  # never started: no server socket exists
    session = fake.session()
    adapter = session.get_adapter(fake.inprocess_url)
    assert isinstance(adapter, InProcessAdapter)
    with Client("k", base_url=fake.inprocess_url, session=session) as client:
        models = client.list_models()
    assert models["object"] == "list" and models["data"]
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]
