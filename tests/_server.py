"""A tiny scripted HTTP/1.1 server on 127.0.0.1 for transport tests.

Each test scripts the handlers: the n-th request the server receives (over any connection) is
answered by the n-th handler (the last one repeats). A handler gets a :class:`Conn` and the
parsed :class:`Request` and writes raw bytes to the socket, so it can send chunked or
close-delimited SSE with pauses, stall, cut the body short, reset the connection (SO_LINGER 0)
or keep it alive for the next request. The server counts accepted TCP connections.

Every wait is interruptible: closing the server wakes all handlers at once, so a stalled
handler never makes a test slow.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conn", "Request", "ScriptedServer"]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # 1-based index of the TCP connection it arrived on

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Conn:
    """One accepted connection, as seen by a handler."""

    sock: socket.socket
    index: int
    stop: threading.Event
    keep_alive: bool = True
    peer_closed: threading.Event = field(default_factory=threading.Event)
    _buf: bytes = b""

    # -- low level ------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def pause(self, seconds: float) -> None:
        """Wait (interrupted when the server closes)."""
        self.stop.wait(seconds)

    def close(self) -> None:
        """Close normally (FIN)."""
        self.keep_alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a RST."""
        self.keep_alive = False
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def wait_peer_close(self, timeout: float) -> bool:
        """Wait until the client closes its end (EOF or reset); True if it did."""
        self.sock.settimeout(0.02)
        waited = 0.0
        try:
            while waited < timeout and not self.stop.is_set():
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    waited += 0.02
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.peer_closed.set()
                    return True
        finally:
            try:
                self.sock.settimeout(None)
            except OSError:
                pass
        return False

    # -- responses ------------------------------------------------------------------------
    def head(self, status: int = 200, headers: dict[str, str] | None = None, reason: str = "X") -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        self.head(status, all_headers)
        self.send(body)

    def chunked_head(self, status: int = 200, content_type: str = "text/event-stream") -> None:
        self.head(status, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})

    def chunk(self, data: bytes) -> None:
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def last_chunk(self) -> None:
        self.send(b"0\r\n\r\n")

    def sse_chunked(self, pieces: Iterable[bytes], pause: float = 0.0, end: bool = True) -> None:
        """A chunked SSE response, one chunk per piece, then (if ``end``) the last chunk."""
        self.chunked_head()
        for piece in pieces:
            self.chunk(piece)
            if pause:
                self.pause(pause)
        if end:
            self.last_chunk()

    def sse_close_delimited(self, pieces: Iterable[bytes], pause: float = 0.0, close: bool = True) -> None:
        """An SSE body delimited by the connection closing (no length, not chunked)."""
        self.head(200, {"Content-Type": "text/event-stream", "Connection": "close"})
        self.keep_alive = False
        for piece in pieces:
            self.send(piece)
            if pause:
                self.pause(pause)
        if close:
            self.close()


Handler = Callable[[Conn, Request], None]


class ScriptedServer:
    """``with ScriptedServer() as srv: srv.script(h1, h2, ...)``; ``srv.url``; ``srv.connections``."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.connections = 0
        self.requests: list[Request] = []
        self.conns: list[Conn] = []
        self.errors: list[BaseException] = []
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # -- scripting ------------------------------------------------------------------------
    def script(self, *handlers: Handler) -> None:
        self._handlers = list(handlers)

    def _handler_for(self, n: int) -> Handler:
        if not self._handlers:
            return lambda conn, req: conn.json({"ok": True})
        return self._handlers[min(n, len(self._handlers) - 1)]

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        self._accept_thread.join(2)
        self._listener.close()
        for conn in list(self.conns):
            try:
                conn.sock.close()
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(2)

    # -- internals ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn = Conn(sock, self.connections, self.stop)
                self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _recv(self, conn: Conn) -> bytes | None:
        """The next bytes from the client; b"" when it closed, None when the server stops."""
        while not self.stop.is_set():
            try:
                return conn.sock.recv(65536)
            except TimeoutError:
                continue
        return None

    def _read_request(self, conn: Conn) -> Request | None:
        conn.sock.settimeout(0.05)
        try:
            while b"\r\n\r\n" not in conn._buf:
                data = self._recv(conn)
                if not data:
                    if data is not None:
                        conn.peer_closed.set()
                    return None
                conn._buf += data
            head, _, rest = conn._buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length:
                data = self._recv(conn)
                if not data:
                    return None
                rest += data
            conn._buf = rest[length:]
            return Request(method, target, headers, rest[:length], conn.index)
        finally:
            try:
                conn.sock.settimeout(None)
            except OSError:
                pass

    def _serve(self, conn: Conn) -> None:
        try:
            while not self.stop.is_set() and conn.keep_alive:
                request = self._read_request(conn)
                if request is None:
                    break
                with self._lock:
                    n = len(self.requests)
                    self.requests.append(request)
                self._handler_for(n)(conn, request)
        except OSError:
            pass  # the client went away: expected in cut/stall tests
        except BaseException as exc:  # a broken handler: surfaced by the tests
            self.errors.append(exc)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass
