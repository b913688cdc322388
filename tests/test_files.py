"""Uploads stream from disk as multipart; downloads land atomically."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import http.server
import io
import json
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY

from mistral_lite import APIConnectionError, Client, NotFoundError, ValidationError
from mistral_lite._core.files import MultipartBody


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[dict[str, Any]] = []
    content = b""
    cut_download = False

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        digest, left, head = hashlib.sha256(), length, b""
        while left:
            block = self.rfile.read(min(1 << 16, left))
            left -= len(block)
            digest.update(block)
            if len(head) < 4096:
                head += block[: 4096 - len(head)]
        self.received.append({"headers": dict(self.headers), "length": length, "sha256": digest.hexdigest(),
                              "head": head})
        body = json.dumps({"id": "file-1", "object": "file", "bytes": length}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.endswith("/missing/content"):
            body = b'{"message": "no such file"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.content)))
        self.end_headers()
        if self.cut_download:
            self.wfile.write(self.content[: len(self.content) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(self.content)


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("H", (Recorder,), {"received": [], "content": b"", "cut_download": False})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    srv.shutdown()
    srv.server_close()


def parts(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    return {p.get_param("name", header="content-disposition"): (p.get_filename(), p.get_payload(decode=True))
            for p in msg.iter_parts()}


@pytest.mark.parametrize("kind", ["path", "str", "fileobj", "bytes-tuple", "fileobj-tuple"])
def test_upload_accepts_paths_files_and_bytes(tmp_path: Path, kind: str, server: Any) -> None:
    url, handler = server
    data = b'{"messages": []}\n' * 3
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    value: Any = {"path": path, "str": str(path), "fileobj": open(path, "rb"),  # noqa: SIM115
                  "bytes-tuple": ("train.jsonl", data),
                  "fileobj-tuple": ("train.jsonl", io.BytesIO(data))}[kind]
    with Client(API_KEY, base_url=url) as client:
        result = client.upload_file(file=value, purpose="fine-tune")
    if hasattr(value, "close"):
        value.close()
    assert result == {"id": "file-1", "object": "file", "bytes": handler.received[0]["length"]}
    got = handler.received[0]
    assert "Transfer-Encoding" not in got["headers"]
    assert got["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert parts(got["head"], got["headers"]["Content-Type"]) == {
        "purpose": (None, b"fine-tune"), "file": ("train.jsonl", data)}


def test_upload_rejects_what_is_not_a_file(server: Any) -> None:
    url, handler = server
    with pytest.raises(ValidationError, match="file: expected a path, bytes"):
        Client(API_KEY, base_url=url).upload_file(file=12345, purpose="batch")
    assert handler.received == []


def test_multipart_body_length_matches_what_it_sends() -> None:
    body = MultipartBody({"purpose": "ocr"}, {"file": ("a.pdf", b"%PDF" * 1000)})
    sent = b"".join(iter(body))
    assert len(sent) == len(body) == body.length
    assert sent.endswith(f"--{body.boundary}--\r\n".encode())


def test_upload_memory_does_not_grow_with_file_size(tmp_path: Path, server: Any) -> None:
    url, handler = server
    path = tmp_path / "big.bin"
    size = 48 * 1024 * 1024
    with open(path, "wb") as fh:
        block = hashlib.sha256(b"seed").digest() * 2048
        for _ in range(size // len(block)):
            fh.write(block)
    with Client(API_KEY, base_url=url) as client:
        tracemalloc.start()
        client.upload_file(file=path, purpose="batch")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert handler.received[0]["length"] > size
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte upload"


def test_download_returns_bytes_or_writes_atomically(tmp_path: Path, server: Any) -> None:
    url, handler = server
    handler.content = bytes(range(256)) * 4096
    target = tmp_path / "out.bin"
    with Client(API_KEY, base_url=url) as client:
        assert client.download_file("file-1") == handler.content
        assert client.download_file("file-1", to=target) == target
    assert target.read_bytes() == handler.content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_failed_download_leaves_nothing_at_the_target(tmp_path: Path, server: Any) -> None:
    url, handler = server
    handler.content = b"x" * 1_000_000
    handler.cut_download = True
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous version")
    with Client(API_KEY, base_url=url, retry=False, timeout=5) as client:
        with pytest.raises(APIConnectionError):
            client.download_file("file-1", to=target)
        with pytest.raises(NotFoundError):
            client.download_file("missing", to=tmp_path / "never.bin")
    assert target.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
