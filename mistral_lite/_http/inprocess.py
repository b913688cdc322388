"""A server without sockets: a ``requests`` transport adapter that serves each request in-process.

:func:`in_process_session` gives a ``requests.Session`` whose requests are written as HTTP/1.1
bytes, handed to an ``http.server`` request handler class (the same parsing and answers as over
TCP), and whose answers are parsed back from the bytes the handler wrote. Only the socket is
missing, so a client built on it runs everything real (its retries, errors and decoding) at a
fraction of the cost of loopback HTTP. A handler that cuts the connection raises
``requests.ConnectionError``, as a reset socket would.

``FakeMistral.session()`` is the user: it passes a handler class bound to the fake (through
:mod:`mistral_lite.client`, since the fake reaches the transports only through the clients' face);
what long runs in tests need (100,000 requests in seconds).
"""

from __future__ import annotations

import http.client
import io
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse

if TYPE_CHECKING:  # every client imports this module: http.server (socketserver, html) only for the checker
    from http.server import BaseHTTPRequestHandler

__all__ = ["InProcessAdapter", "in_process_session"]


class _Connection:
    """Stands in for the socket: records that the handler hung up."""

    def __init__(self) -> None:
        self.aborted = False

    def setsockopt(self, *args: Any) -> None:
        self.aborted = True

    def shutdown(self, *args: Any) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


class _Wire(io.BytesIO):
    """The bytes the handler wrote, readable by ``http.client`` as if from a socket."""

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self.getvalue())


class InProcessAdapter(BaseAdapter):
    """Serve every request with an instance of ``handler`` in the calling thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__()
        self._handler = handler
        self._builder = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        body: Any = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, (bytes, bytearray)):  # a streamed upload: read it whole
            body = b"".join(part if isinstance(part, bytes) else part.encode() for part in body)
        head = [f"{request.method} {request.path_url} HTTP/1.1", "Host: fake.invalid"]
        head += [f"{name}: {value.decode('latin-1') if isinstance(value, bytes) else value}"
                 for name, value in request.headers.items()
                 if name.lower() not in ("content-length", "transfer-encoding", "host")]
        head.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + bytes(body)
        handler = object.__new__(self._handler)  # no socket to set up: the fields are set below
        connection = _Connection()
        wire = _Wire()
        handler.connection = handler.request = connection  # type: ignore[assignment,unused-ignore]
        handler.rfile = io.BytesIO(raw)
        handler.wfile = wire
        handler.client_address = ("127.0.0.1", 0)
        handler.close_connection = True
        handler.handle_one_request()
        data = wire.getvalue()
        if connection.aborted and not data:
            raise requests.ConnectionError("the server cut the connection", request=request)
        reply = http.client.HTTPResponse(wire)  # type: ignore[arg-type]
        try:
            reply.begin()
            content = reply.read()
        except (http.client.HTTPException, OSError) as exc:
            raise requests.ConnectionError(f"the server cut the connection: {exc}", request=request) from None
        raw_response = HTTPResponse(body=io.BytesIO(content), headers=dict(reply.getheaders()), status=reply.status,
                                    reason=reply.reason, preload_content=False, decode_content=False)
        return self._builder.build_response(request, raw_response)

    def close(self) -> None:
        self._builder.close()


def in_process_session(handler: type[BaseHTTPRequestHandler], base_url: str) -> requests.Session:
    """A session whose requests to ``base_url`` are answered by ``handler`` in-process; pick a
    loopback URL nothing listens on (the client accepts plain http to it), e.g.
    ``http://127.0.0.1:9``."""
    session = requests.Session()
    session.mount(base_url, InProcessAdapter(handler))
    return session
