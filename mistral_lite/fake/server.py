"""The HTTP side of the fake: server lifecycle, request plumbing, routing, auth and faults.

:class:`FakeMistral` runs a ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on 127.0.0.1,
records every request, routes it through the endpoint table (``routing.py``), validates it,
hands it to the operation's handler and writes the reply: JSON or bytes with a
Content-Length, 204s, or a chunked SSE stream. Injected :class:`~.faults.Fault` objects are
acted out here, on the socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from mistral_lite._table import Spec
from mistral_lite.exceptions import APIStatusError
from mistral_lite.fake import audio, inference, jobs, libraries, realtime, resources
from mistral_lite.fake.faults import Fault, FaultQueues, Queues
from mistral_lite.fake.generic import Generic
from mistral_lite.fake.limits import Limits
from mistral_lite.fake.models import check_model, model_card
from mistral_lite.fake.multipart import parse_multipart
from mistral_lite.fake.persist import Persistence
from mistral_lite.fake.ratelimit import RateLimits, Use
from mistral_lite.fake.replies import (
    BytesReply,
    EmptyReply,
    JsonReply,
    Reply,
    StreamReply,
    api_error,
    error_body,
    gateway_body,
    new_request_id,
    validation_body,
)
from mistral_lite.fake.routing import Match, Router, build_options, coerce_form, validation_details
from mistral_lite.fake.scripted import Scripted, scripted_reply
from mistral_lite.fake.state import State

if TYPE_CHECKING:
    import requests

__all__ = ["FakeMistral", "RecordedRequest", "run"]

#: The most a refused request's unread body is drained (and dropped) so that its client reads the answer.
_DISCARD_LIMIT = 8 << 20

Handler = Callable[[State, dict[str, Any]], Reply]
HANDLERS: dict[str, Handler] = {**inference.HANDLERS, **resources.HANDLERS, **jobs.HANDLERS,
                                **audio.HANDLERS, **libraries.HANDLERS}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (header names are lower-case)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    operation: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: listen backlog: socketserver's 5 drops the SYNs of a wide client's connects (AsyncClient.run_jsonl at
    #: concurrency 64 opens 64 at once), and each dropped one waits out TCP's 1, 3, 7... s retransmissions
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal for a test server: stay quiet."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeMistral:
    """An in-process fake of the Mistral REST API, served over real HTTP on 127.0.0.1."""

    def __init__(self, api_key: str | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 batch_step: float = 0.2, spec: Spec | None = None,
                 state_dir: str | os.PathLike[str] | None = None, log: Callable[[str], None] | None = None) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.latency = 0.0
        self.fine_tuning_gone = False
        self.requests: list[RecordedRequest] = []
        self.state = State(batch_step)
        self.state.runner = self.call_path
        self.faults = FaultQueues()
        self.rate_limits = RateLimits()
        self.scripts: Queues[Scripted] = Queues()
        #: Scripted realtime sessions (``script_realtime``), first queued first served.
        self.realtime_scripts: list[list[dict[str, Any]]] = []
        self.router = Router(spec)
        self.handlers: dict[str, Handler] = dict(HANDLERS)
        self.limits = Limits.from_table(self.router.spec)
        self.generic = Generic(self.router.spec, self.handlers)
        #: ``state_dir``: the state is loaded from and saved to ``state_dir/state.json``.
        self.persistence = Persistence(state_dir) if state_dir is not None else None
        if self.persistence is not None:
            self.persistence.load(self.state)
        #: Called with one line per request answered (``fake-server -v``).
        self.log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeMistral:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self.handler())
        self.port = self._server.server_address[1]
        self.state.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fake-mistral-{self.port}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and close the listening socket."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeMistral:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- test controls --------------------------------------------------------------------

    def inject(self, operation: str, *faults: Fault) -> None:
        """Queue faults for ``operation``: each request to it consumes one."""
        if operation not in self.router.spec.endpoints:
            raise KeyError(f"unknown operation {operation!r}")
        self.faults.push(operation, faults)

    def add_model(self, model_id: str, capabilities: Iterable[str] = ("chat",), *,
                  max_context_length: int = 32768, aliases: Iterable[str] = (), **card: Any) -> dict[str, Any]:
        """Add a model to the catalogue (``list_models`` serves it); returns its card.

        ``capabilities``: ``chat``, ``fim``, ``embeddings``, ``ocr``, ``moderation``,
        ``classification``, ``audio``, ``vision``, ``tools``, ``fine_tuning`` (or card flag names).
        """
        built, extras = model_card(model_id, capabilities, max_context_length=max_context_length,
                                   aliases=aliases, **card)
        with self.state.lock:
            self.state.models[model_id] = built
            self.state.model_extras[model_id] = extras
        if self.persistence is not None:
            self.persistence.save(self.state)
        return built

    def script(self, operation: str, *replies: Scripted) -> None:
        """Queue canned replies for ``operation``: each request to it (once validated) gets the
        next one instead of the generated answer (see ``scripted.py`` for what a reply is)."""
        if operation not in self.router.spec.endpoints:
            raise KeyError(f"unknown operation {operation!r}")
        self.scripts.push(operation, replies)

    def script_realtime(self, *events: Mapping[str, Any]) -> None:
        """Queue one realtime transcription session: after ``session.created`` the server sends
        these events (e.g. an ``error`` event, or deltas without ``transcription.done``) and closes."""
        self.realtime_scripts.append([dict(e) for e in events])

    def tick(self) -> None:
        """Advance every unfinished batch and fine-tuning job by one status, and finish the
        processing of every pending library document, now."""
        jobs.tick(self.state)
        libraries.tick(self.state)

    def rate_limit(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None,
                   window: float = 60.0) -> None:
        """Answer 429 with ``Retry-After`` beyond these limits per API key (``None``: no limit);
        see :mod:`.ratelimit`. ``rate_limit()`` turns them off."""
        self.rate_limits.configure(requests_per_minute, tokens_per_minute, window)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class serving this fake (over TCP, or in-process by :meth:`session`)."""
        return type("BoundHandler", (_RequestHandler,), {"fake": self})

    def session(self) -> requests.Session:
        """A ``requests.Session`` served by this fake in-process, without sockets: use it with
        ``Client(key, base_url=fake.inprocess_url, session=fake.session())``."""
        from mistral_lite.client import in_process_session  # import cost: the client and requests, for this only

        return in_process_session(self.handler(), self.inprocess_url)

    #: The base URL the in-process session answers (nothing listens there).
    inprocess_url = "http://127.0.0.1:9"

    def reset(self) -> None:
        """Forget recorded requests, queued faults and replies, and every resource (back to the seed)."""
        with self._lock:
            self.requests.clear()
        self.faults.clear()
        self.rate_limits.configure(None, None, 60.0)
        self.scripts.clear()
        self.realtime_scripts.clear()
        self.state.reset()
        self.latency = 0.0
        self.fine_tuning_gone = False
        self.limits = Limits.from_table(self.router.spec)
        if self.persistence is not None:
            self.persistence.save(self.state)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # --- dispatch -------------------------------------------------------------------------

    def call(self, operation: str, options: dict[str, Any]) -> tuple[int, Any]:
        """Run one operation without HTTP (validation included): ``(status, body)``."""
        ep = self.router.spec.endpoints[operation]
        details = validation_details(ep, options, self.router.spec)
        if details:
            return 422, validation_body(details)
        try:
            reply = self.dispatch(operation, options, advance=False)
        except APIStatusError as exc:
            return exc.status_code, exc.body
        if isinstance(reply, JsonReply):
            return reply.status, reply.body
        if isinstance(reply, EmptyReply):
            return reply.status, None
        if isinstance(reply, BytesReply):
            return reply.status, reply.data.decode("utf-8", "replace")
        return 400, error_body("Streaming is not supported here")

    def call_path(self, path: str, options: dict[str, Any]) -> tuple[int, Any]:
        """Like :meth:`call`, for ``POST <path>`` (what a batch job's ``endpoint`` names)."""
        ep = self.router.by_path.get(("POST", path))
        if ep is None:
            return 404, error_body(f"Endpoint {path} is not supported in batches")
        return self.call(ep.name, options)

    def dispatch(self, operation: str, options: dict[str, Any], advance: bool = True, sse: bool = False) -> Reply:
        """Call the operation's handler (after letting due jobs advance, when ``advance``); a row
        without a hand-made handler gets the generic one (``generic.py``; ``sse``: the client
        asked for an event stream)."""
        try:
            check_model(self.state, operation, options)
            self.limits.check(self.state, operation, options)
            if advance:
                jobs.advance_due(self.state)
                libraries.advance_due(self.state)
            canned = self.scripts.pop(operation)
            if canned is not None:
                return scripted_reply(canned, options, self.router.spec.endpoints[operation].stream)
            handler = self.handlers.get(operation)
            if handler is None:
                return self.generic.answer(operation, self.state, options, sse)
            return handler(self.state, options)
        finally:
            if self.persistence is not None:
                self.persistence.save(self.state)


class _RequestHandler(BaseHTTPRequestHandler):
    """One connection: parses requests and writes replies for :attr:`fake`."""

    fake: FakeMistral
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeMistral/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if self.fake.log is not None:
            status = getattr(code, "value", code)
            self.fake.log(f"{self.command} {self.path} -> {status}")

    def setup(self) -> None:
        super().setup()
        self.fake.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake.track(self.connection, False)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def do_HEAD(self) -> None:
        self.request_id = new_request_id()
        self.extra_headers: dict[str, str] = {}
        self._read_body()
        self._json(405, {"detail": "Method Not Allowed"})

    do_OPTIONS = do_HEAD

    # --- reading --------------------------------------------------------------------------

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _length(self) -> int | None:
        """The declared body length (0 for none; -1 for a chunked body); None when the header is
        not one non-negative decimal number (several values that differ, a sign, letters)."""
        if self._chunked():
            return -1
        values = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        if not values:
            return 0
        text = values.pop()
        if values or not text.isdigit() or not text.isascii() or len(text) > 18:
            return None
        return int(text)

    def _read_body(self) -> bytes:
        """The request body (a malformed chunked body is a 400 :func:`api_error`)."""
        length = self._length()
        if length == -1:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537).split(b";")[0].strip()
                try:
                    size = int(line or b"0", 16)
                except ValueError:
                    raise api_error(400, error_body("Bad Request: a malformed chunk size")) from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        return self.rfile.read(length) if length else b""

    def _refuse_unread(self, status: int, body: Any) -> None:
        """Answer without reading the request's body: say so, close, and discard (never keep)
        what the client still sends, for a moment, so that it can read the answer."""
        self.close_connection = True
        self.extra_headers["Connection"] = "close"
        self._json(status, body)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            discarded = 0
            while discarded < _DISCARD_LIMIT and (block := self.rfile.read1(65536)):
                discarded += len(block)

    # --- the request ----------------------------------------------------------------------

    def _handle(self) -> None:
        fake = self.fake
        self.request_id = new_request_id()
        self.extra_headers = {}
        self.use: Use | None = None
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if path == realtime.PATH and realtime.is_upgrade(self.headers):
            self._realtime(query)
            return
        length = self._length()
        if length is None:
            self._refuse_unread(400, error_body("Bad Request: the Content-Length header is not a number of bytes"))
            return
        if length != 0 and not path.startswith("/signed/") and not self._authorized():
            # the body of a client without the key is never read, let alone buffered: the 401
            # comes at once and the connection closes
            matched = fake.router.match(self.command, path)
            fake.record(RecordedRequest(self.command, path, query, {k.lower(): v for k, v in self.headers.items()},
                                        b"", None, matched.endpoint.name if isinstance(matched, Match) else None))
            self._refuse_unread(401, gateway_body("Unauthorized", self.request_id))
            return
        try:
            body = self._read_body()
        except APIStatusError as exc:
            self._refuse_unread(exc.status_code, exc.body)
            return
        parsed: Any = None
        if body and "json" in self.headers.get("Content-Type", ""):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        matched = fake.router.match(self.command, path)
        op = matched.endpoint.name if isinstance(matched, Match) else None
        fake.record(RecordedRequest(self.command, path, query, {k.lower(): v for k, v in self.headers.items()},
                                    body, parsed, op))
        fault = fake.faults.pop(op) if op else None
        fake.sleep(fake.latency + (fault.delay if fault else 0.0))
        if fault is not None and fault.reset:
            self._abort(rst=True)
            return
        if fault is not None and fault.status is not None:
            self._fault_error(fault)
            return
        if path.startswith("/signed/"):
            self._signed(path)
            return
        if not self._authorized():
            self._json(401, gateway_body("Unauthorized", self.request_id))
            return
        if not isinstance(matched, Match):
            status = 404 if matched == "not_found" else 405
            self._json(status, {"detail": HTTPStatus(status).phrase})
            return
        ep = matched.endpoint
        if fake.fine_tuning_gone and ep.path.startswith("/v1/fine_tuning/jobs"):
            self._json(410, error_body("The fine-tuning API has been retired.", code="gone"))
            return
        try:
            options = self._options(matched, query, body)
        except APIStatusError as exc:
            self._json(exc.status_code, exc.body)
            return
        details = validation_details(ep, options, fake.router.spec)
        if details:
            self._json(422, validation_body(details))
            return
        refusal, use = fake.rate_limits.admit(self.headers.get("Authorization", ""))
        self.use = use
        if refusal is not None:
            self.extra_headers = refusal.headers
            self._json(429, refusal.body)
            return
        try:
            reply = fake.dispatch(ep.name, options, sse="text/event-stream" in self.headers.get("Accept", ""))
        except APIStatusError as exc:
            self._json(exc.status_code, exc.body)
            return
        except Exception:  # a bug in the fake: say so, loudly
            traceback.print_exc(file=sys.stderr)
            self._json(500, error_body("Internal error in FakeMistral", "internal_error"))
            return
        if use is not None and isinstance(reply, JsonReply):
            fake.rate_limits.charge(use, reply.body)
        elif use is not None and isinstance(reply, StreamReply):
            fake.rate_limits.charge(use, _stream_usage(reply.events))
        self._reply(reply, fault)

    def _realtime(self, query: Mapping[str, list[str]]) -> None:
        """A realtime transcription WebSocket (``realtime.py``): keyed like every request."""
        fake = self.fake
        fake.record(RecordedRequest(self.command, realtime.PATH, dict(query),
                                    {k.lower(): v for k, v in self.headers.items()}, b"", None, None))
        if not self._authorized():
            self._refuse_unread(401, gateway_body("Unauthorized", self.request_id))
            return
        self.close_connection = True
        self.wfile.write(realtime.accept(self.headers))
        self.wfile.flush()
        scripted = fake.realtime_scripts.pop(0) if fake.realtime_scripts else None
        with contextlib.suppress(ConnectionError, OSError):
            realtime.serve(self.rfile, self.wfile, (query.get("model") or ["voxtral-mini-latest"])[0], scripted)

    def _authorized(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return self.fake.api_key is None or token.strip() == self.fake.api_key

    def _options(self, matched: Match, query: Mapping[str, list[str]], body: bytes) -> dict[str, Any]:
        ep = matched.endpoint
        payload: Any = None
        ctype = self.headers.get("Content-Type", "")
        if ep.body == "multipart":
            try:
                parts = parse_multipart(ctype, body)
            except ValueError as exc:
                raise api_error(422, validation_body([{"type": "value_error", "loc": ["body"],
                                                      "msg": str(exc), "input": None}])["message"]) from None
            payload = {}
            fields: dict[str, list[str]] = {}
            for part in parts:
                if part.filename is not None:
                    payload[part.name] = (part.filename, part.data, part.content_type or "application/octet-stream")
                else:  # an array is repeated parts, named ``name`` or ``name[]``
                    name = part.name[:-2] if part.name.endswith("[]") else part.name
                    fields.setdefault(name, []).append(part.data.decode("utf-8", "replace"))
            for name, values in fields.items():
                payload[name] = coerce_form(ep, name, values)
        elif body.strip():
            try:
                payload = json.loads(body)
            except ValueError as exc:
                position = getattr(exc, "pos", 0)
                raise api_error(422, {"detail": [{"type": "json_invalid", "loc": ["body", position],
                                                 "msg": "JSON decode error", "input": {},
                                                 "ctx": {"error": str(exc)}}]}) from None
            if not isinstance(payload, dict) and not (getattr(ep, "body_option", None) and isinstance(payload, list)):
                raise api_error(422, {"detail": [{"type": "model_attributes_type", "loc": ["body"],
                                                 "msg": "Input should be a valid dictionary", "input": payload}]})
        return build_options(ep, matched.path_params, query, payload)

    def _signed(self, path: str) -> None:
        token = path.split("/")[2] if path.count("/") >= 2 else ""
        with self.fake.state.lock:
            file_id = self.fake.state.signatures.get(token)
            stored = self.fake.state.files.get(file_id or "")
            blob = self.fake.state.signed_blobs.get(token)
        data = stored.data if stored is not None else blob
        if data is None:
            self._json(403, {"message": "Invalid or expired signature", "request_id": self.request_id})
            return
        self._bytes(200, data, "application/octet-stream")

    # --- writing --------------------------------------------------------------------------

    def _head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("x-request-id", self.request_id)
        limits = self.fake.rate_limits.headers(self.headers.get("Authorization", ""), getattr(self, "use", None))
        for key, value in {**limits, **headers, **self.extra_headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def _bytes(self, status: int, data: bytes, ctype: str | None, headers: Mapping[str, str] | None = None) -> None:
        head = dict(headers or {})
        if ctype:
            head["Content-Type"] = ctype
        head["Content-Length"] = str(len(data))
        self._head(status, head)
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status: int, body: Any) -> None:
        self._bytes(status, json.dumps(body).encode(), "application/json")

    def _fault_error(self, fault: Fault) -> None:
        status = fault.status or 500
        self.extra_headers = dict(fault.headers or {})
        if fault.raw is not None:
            self._bytes(status, fault.raw, "application/json")
            return
        body = fault.body
        if body is None:
            kind = "rate_limited" if status == 429 else "invalid_request_error" if status < 500 else "internal_error"
            body = error_body(HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
                              kind)
        if not isinstance(body, bytes):
            body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        data = body
        self._bytes(status, data, "application/json")

    def _reply(self, reply: Reply, fault: Fault | None) -> None:
        if isinstance(reply, StreamReply):
            self._stream(reply, fault)
        elif fault is not None and fault.raw is not None:
            self._bytes(200, fault.raw, "application/json")
        elif isinstance(reply, JsonReply):
            self._json(reply.status, reply.body)
        elif isinstance(reply, BytesReply):
            self._bytes(reply.status, reply.data, reply.content_type, reply.headers)
        else:
            self._bytes(reply.status, b"", None)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(self, reply: StreamReply, fault: Fault | None) -> None:
        closing = reply.kind == "conversation" or (fault is not None and fault.raw is not None)
        head = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        if fault is not None and fault.raw is not None:
            self._head(200, {**head, "Connection": "close"})
            self.wfile.write(fault.raw)
            self._abort(rst=False)
            return
        head["Transfer-Encoding"] = "chunked"
        if closing:
            head["Connection"] = "close"
        self._head(200, head)
        try:
            for number, event in enumerate(reply.events):
                if fault is not None and fault.cut_after is not None and number >= fault.cut_after:
                    self._abort(rst=False)
                    return
                if fault is not None and fault.stall_after is not None and number == fault.stall_after:
                    self.fake.sleep(fault.stall_seconds)
                self._chunk(event)
            if fault is not None and fault.cut_after is not None and fault.cut_after >= len(reply.events):
                self._abort(rst=False)
                return
            if reply.done:
                self._chunk(reply.done)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
            return
        if closing:
            self._abort(rst=False)

    def _abort(self, rst: bool) -> None:
        """Close the connection now: a RST when ``rst``, else a plain FIN."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            self.wfile.flush()
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.rfile.close()  # drops the makefile reference, so close() really closes
        sock.close()


def _stream_usage(events: list[bytes]) -> Any:
    """The last event of a stream that reports ``usage`` (its JSON payload), else None."""
    for event in reversed(events):
        if b'"usage"' not in event:
            continue
        for line in event.splitlines():
            if line.startswith(b"data:"):
                try:
                    payload = json.loads(line[5:])
                except ValueError:
                    continue
                if isinstance(payload, dict) and isinstance(payload.get("usage"), dict):
                    return payload
    return None


def run(host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
        batch_step: float = 0.2, state_dir: str | os.PathLike[str] | None = None, verbose: bool = False) -> None:
    """Serve a fake in the foreground until Ctrl-C (for ``mistral-lite fake-server``).

    Prints how to point a client at it; with ``state_dir`` its resources live on disk there;
    with ``verbose`` each request is logged to stderr.
    """
    def log(line: str) -> None:
        sys.stderr.write(f"fake-server: {line}\n")
        sys.stderr.flush()

    fake = FakeMistral(api_key, host=host, port=port, batch_step=batch_step, state_dir=state_dir,
                       log=log if verbose else None).start()
    key = f"the key must be {api_key}" if api_key else "any key works"
    print(f"FakeMistral listening on {fake.url} (Ctrl-C to stop)\n"
          f"Point a client at it ({key}):\n"
          f"    export MISTRAL_BASE_URL={fake.url} MISTRAL_API_KEY={api_key or 'any-key'}\n"
          f"    Client(api_key=..., base_url=\"{fake.url}\")  |  mistral-lite --mock "
          + (f"--api-key {api_key} " if api_key else "") + "... (uses MISTRAL_BASE_URL)"
          + (f"\nState kept in {fake.persistence.path}" if fake.persistence is not None else ""), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
