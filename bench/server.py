"""A fast loopback HTTP/1.1 server for the benchmarks (standard library only).

Run it in its own process so it never competes for the client's GIL::

    python bench/server.py [--port 0] [--download-size BYTES]

It prints ``PORT <n>`` on the first line of stdout once it listens on 127.0.0.1. One thread per
connection, keep-alive, every response precomputed:

* ``POST /v1/chat/completions``: a canned completion; with ``"stream": true`` in the body an SSE
  stream of ``max_tokens`` chunks (default 2,000) then ``data: [DONE]``, sent chunked (one HTTP
  chunk per event, like the real API) or, with the request header ``X-Bench-Framing: length``,
  as one Content-Length body;
* ``POST /v1/embeddings``: one 1,024-float vector per input string (64 inputs: 64 x 1024);
* ``POST /v1/files``: reads and discards the (Content-Length or chunked) body, returns a file;
* ``GET /v1/files/{id}/content``: a generated body of ``--download-size`` bytes (200 MB by
  default), or of ``N`` bytes when the id is ``bytes-N``;
* ``GET /__stats``: ``{"connections": accepted TCP connections, "requests": requests served}``.

A request header ``X-Bench-Delay-Ms: N`` delays its answer by N ms (latency, as a real API has).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import threading
import time

CHAT_RESPONSE = {
    "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
    "object": "chat.completion",
    "created": 1702256327,
    "model": "mistral-small-latest",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Tables hold the rows,\nOne dispatcher reads them all,\nRequests fly like birds.",
                "tool_calls": None,
                "prefix": False,
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50},
}
FILE_OBJECT = {
    "id": "bench-file-0001", "object": "file", "bytes": 0, "created_at": 1716963433,
    "filename": "upload.jsonl", "purpose": "fine-tune", "sample_type": "instruct",
    "num_lines": 0, "source": "upload",
}
EMBED_DIM = 1024
_LOCK = threading.Lock()
STATS = {"connections": 0, "requests": 0}
_SSE_CACHE: dict[tuple[int, bool], bytes] = {}
_EMBED_CACHE: dict[int, bytes] = {}
DOWNLOAD_SIZE = 200 * 1024 * 1024
_BLOCK = bytes(range(256)) * 4096  # 1 MiB


def _head(status: str, ctype: str, length: int | None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{framing}"
        f"x-request-id: bench-0001\r\nConnection: keep-alive\r\n{extra}\r\n"
    ).encode()


def _json_response(value: object) -> bytes:
    body = json.dumps(value, separators=(",", ":")).encode()
    return _head("200 OK", "application/json", len(body)) + body


CHAT_BYTES = _json_response(CHAT_RESPONSE)
NOT_FOUND = _head("404 Not Found", "application/json", 27) + b'{"message":"no such route"}'
_WORDS = ["Tables", " hold", " the", " rows", ",", " one", " dispatcher", " reads", " them", " all", "."]


def sse_response(n: int, chunked: bool) -> bytes:
    key = (n, chunked)
    cached = _SSE_CACHE.get(key)
    if cached is not None:
        return cached
    events = []
    for i in range(n):
        chunk = {
            "id": "cmpl-e5cc70bb28c444948073e77776eb30ef", "object": "chat.completion.chunk",
            "created": 1702256327, "model": "mistral-small-latest",
            "choices": [{"index": 0, "delta": {"content": _WORDS[i % len(_WORDS)]}, "finish_reason": None}],
        }
        if i == 0:
            chunk["choices"][0]["delta"]["role"] = "assistant"
        if i == n - 1:
            chunk["choices"][0]["finish_reason"] = "stop"
            chunk["usage"] = {"prompt_tokens": 16, "completion_tokens": n, "total_tokens": 16 + n}
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    if chunked:
        body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
        out = _head("200 OK", "text/event-stream", None) + body
    else:
        body = b"".join(events)
        out = _head("200 OK", "text/event-stream", len(body)) + body
    _SSE_CACHE[key] = out
    return out


def embed_response(n: int) -> bytes:
    cached = _EMBED_CACHE.get(n)
    if cached is not None:
        return cached
    rng = random.Random(n)
    value = {
        "id": "embd-aad6fc62b17349b192ef09225058bc45", "object": "list", "model": "mistral-embed",
        "data": [
            {"object": "embedding", "index": i,
             "embedding": [round(rng.uniform(-0.1, 0.1), 7) for _ in range(EMBED_DIM)]}
            for i in range(n)
        ],
        "usage": {"prompt_tokens": 8 * n, "total_tokens": 8 * n},
    }
    out = _json_response(value)
    _EMBED_CACHE[n] = out
    return out


class _Conn:
    __slots__ = ("buf", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def fill(self) -> bool:
        data = self.sock.recv(262144)
        if not data:
            return False
        self.buf += data
        return True

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self.fill():
                raise ConnectionError("client closed mid-body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def discard(self, n: int) -> None:
        take = min(n, len(self.buf))
        self.buf = self.buf[take:]
        n -= take
        scratch = bytearray(1 << 20)
        view = memoryview(scratch)
        while n > 0:
            got = self.sock.recv_into(view, min(n, len(scratch)))
            if not got:
                raise ConnectionError("client closed mid-body")
            n -= got

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self.fill():
                raise ConnectionError("client closed mid-body")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def chunked_body(self, keep: bool) -> bytes:
        parts = []
        while True:
            size = int(self.read_line().split(b";")[0], 16)
            if size == 0:
                while self.read_line():  # trailers
                    pass
                return b"".join(parts)
            if keep:
                parts.append(self.read_exact(size))
            else:
                self.discard(size)
            self.read_exact(2)


def _route(method: bytes, target: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes | tuple[bytes, int]:
    path = target.split(b"?", 1)[0]
    if path == b"/v1/chat/completions":
        if b'"stream":true' in body or b'"stream": true' in body:
            n = 2000
            try:
                n = int(json.loads(body).get("max_tokens") or 2000)
            except (ValueError, AttributeError):
                pass
            return sse_response(n, headers.get(b"x-bench-framing") != b"length")
        return CHAT_BYTES
    if path == b"/v1/embeddings":
        try:
            inputs = json.loads(body).get("input")
        except ValueError:
            inputs = None
        n = len(inputs) if isinstance(inputs, list) else 1
        return embed_response(n)
    if path == b"/v1/files" and method == b"POST":
        return _json_response(FILE_OBJECT)
    if path.startswith(b"/v1/files/") and path.endswith(b"/content"):
        file_id = path[len(b"/v1/files/"):-len(b"/content")]
        size = int(file_id[6:]) if file_id.startswith(b"bytes-") else DOWNLOAD_SIZE
        return (_head("200 OK", "application/octet-stream", size), size)
    if path == b"/__stats":
        with _LOCK:
            return _json_response(dict(STATS))
    return NOT_FOUND


def _serve(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = _Conn(sock)
    try:
        while True:
            while b"\r\n\r\n" not in conn.buf:
                if not conn.fill():
                    return
            head, _, conn.buf = conn.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target, _version = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            discard = method == b"POST" and target.split(b"?", 1)[0] == b"/v1/files"
            body = b""
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = conn.chunked_body(keep=not discard)
            elif b"content-length" in headers:
                length = int(headers[b"content-length"])
                if discard:
                    conn.discard(length)
                else:
                    body = conn.read_exact(length)
            with _LOCK:
                STATS["requests"] += 1
            delay = headers.get(b"x-bench-delay-ms")
            if delay:  # simulated network and model latency (this connection's thread only)
                time.sleep(int(delay) / 1000.0)
            out = _route(method, target, headers, body)
            if isinstance(out, tuple):  # a generated download body
                head_bytes, size = out
                sock.sendall(head_bytes)
                block = memoryview(_BLOCK)
                while size > 0:
                    n = min(size, len(block))
                    sock.sendall(block[:n])
                    size -= n
            else:
                sock.sendall(out)
            if headers.get(b"connection", b"").lower() == b"close":
                return
    except (ConnectionError, OSError):
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> None:
    global DOWNLOAD_SIZE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--download-size", type=int, default=DOWNLOAD_SIZE)
    args = parser.parse_args(argv)
    DOWNLOAD_SIZE = args.download_size
    # precompute the common bodies before announcing the port
    sse_response(2000, True)
    sse_response(2000, False)
    embed_response(64)
    embed_response(1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(256)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        try:
            sock, _ = listener.accept()
        except KeyboardInterrupt:
            return
        with _LOCK:
            STATS["connections"] += 1
        threading.Thread(target=_serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
