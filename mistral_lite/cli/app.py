"""The ``mistral-lite`` command line: every operation of the table, plus a few shortcuts.

::

    mistral-lite ops                               # every operation with its summary, by group
    mistral-lite ops chat                          # its route and options
    mistral-lite call get_model mistral-small-latest
    mistral-lite call chat model=mistral-small-latest messages:='[{"role":"user","content":"Hi"}]'
    mistral-lite chat "Write a haiku about tables."
    mistral-lite --mock tour                       # offline, against the embedded fake server

``key=value`` passes a string, ``key:=json`` a parsed JSON value, ``-d @file.json`` (or ``-d -``
for stdin) a JSON object of options that the pairs override. Exit codes: 0 success, 1 API or
network error, 2 bad usage or invalid options (nothing was sent), 130 interrupted.

The fake server is imported only for ``--mock``, ``tour`` and ``fake-server``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from mistral_lite import fake  # a light package: its server loads on first use of fake.FakeMistral / fake.run
from mistral_lite._core.call import find_endpoint
from mistral_lite._table import load_spec
from mistral_lite._version import __version__
from mistral_lite.cli import bulk as _cli_bulk
from mistral_lite.cli import embed as _cli_embed
from mistral_lite.cli import shortcuts as _cli_shortcuts
from mistral_lite.cli.base import Parser as _Parser
from mistral_lite.cli.base import ProgressBar, UsageError, positive_seconds
from mistral_lite.cli.base import clean as _clean
from mistral_lite.cli.base import dumps as _dumps
from mistral_lite.cli.base import err as _err
from mistral_lite.cli.base import isatty as _isatty
from mistral_lite.cli.base import loads as _loads
from mistral_lite.cli.base import print_json as _print_json
from mistral_lite.cli.base import print_line as _print_line
from mistral_lite.cli.base import read_stdin as _read_stdin
from mistral_lite.cli.base import write_bytes as _write_bytes
from mistral_lite.cli.coerce import parse_params
from mistral_lite.cli.retries import installed
from mistral_lite.exceptions import APIStatusError, MistralError, UnknownOperationError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._table import Endpoint, Spec
    from mistral_lite.client import Client
    from mistral_lite.types import MessageParam

__all__ = ["main", "parse_params"]

PROG = "mistral-lite"
DEFAULT_CHAT_MODEL = "mistral-small-latest"
#: The key ``--mock`` sends unless ``--api-key`` names one (never ``$MISTRAL_API_KEY``).
MOCK_KEY = "mock-key"
_GLOBAL_OPTIONS = frozenset({"--mock", "--mock-state", "--api-key", "--base-url", "--timeout", "--no-retry", "-v",
                             "--verbose"})


# --- arguments --------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A command line for the Mistral AI API (every operation of mistral_lite's table).",
        epilog="Exit codes: 0 success, 1 API or network error, 2 usage or invalid options, 130 interrupted. "
               "Try: mistral-lite --mock tour",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--mock", action="store_true",
                        help="run against a fake server: the one $MISTRAL_BASE_URL names when it is a loopback "
                             "address (mistral-lite fake-server), else one started for this command (no key needed)")
    parser.add_argument("--mock-state", metavar="DIR",
                        help="like --mock, with the fake's resources kept in DIR across commands")
    parser.add_argument("--api-key", help="the API key (default: $MISTRAL_API_KEY)")
    parser.add_argument("--base-url", help="the API base URL (default: $MISTRAL_BASE_URL, then https://api.mistral.ai)")
    parser.add_argument("--timeout", type=positive_seconds, metavar="SECONDS", help="connect and read timeout")
    parser.add_argument("--no-retry", action="store_true", help="do not retry failed requests")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log requests and responses to stderr (-vv: debug logging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("ops", help="list the operations by group, or show one's route and options")
    p.add_argument("name", nargs="?", help="an operation name")
    p.add_argument("-g", "--group", metavar="GROUP",
                   help="list only this group and its subgroups (e.g. workflows, beta.observability)")

    p = sub.add_parser(
        "call", help="run any operation by name",
        description="Run an operation: key=value passes a string, key:=json a JSON value (number, bool, "
                    "list, object). Bare values fill the path parameters in order. -d gives a JSON object "
                    "of options that the pairs override.",
    )
    p.add_argument("name", help="the operation (see: mistral-lite ops)")
    p.add_argument("params", nargs="*", metavar="key=value|key:=json",
                   help="options; path parameters may also be given bare, in path order")
    p.add_argument("-d", "--data", metavar="@FILE|-|JSON",
                   help="a JSON object of options: @file.json, - for stdin, or inline JSON")
    p.add_argument("-o", "--output", metavar="PATH", help="write the response to PATH (atomically)")

    p = sub.add_parser("chat", help="chat with a model (streams the answer)")
    p.add_argument("prompt", nargs="?", help="the user message (default: read stdin)")
    p.add_argument("-m", "--model", default=DEFAULT_CHAT_MODEL, help=f"default {DEFAULT_CHAT_MODEL}")
    p.add_argument("--system", metavar="TEXT", help="a system message")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    p.add_argument("-t", "--temperature", type=float)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("params", nargs="*", metavar="key=value|key:=json", help="more chat options")

    _cli_embed.add_parser(sub)

    p = sub.add_parser("upload", help="upload a file and print the file object")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--purpose", help="fine-tune, batch or ocr")

    p = sub.add_parser("download", help="download a file's content (atomically)")
    p.add_argument("file_id", metavar="FILE_ID")
    p.add_argument("-o", "--output", metavar="PATH", help="target path (default: stdout)")

    _cli_bulk.add_parsers(sub)
    _cli_shortcuts.add_parsers(sub)

    sub.add_parser("tour", help="a short offline tour of the client (use: mistral-lite --mock tour)")

    p = sub.add_parser("fake-server", help="run the fake Mistral API server in the foreground until Ctrl-C")
    p.add_argument("--port", type=_port, default=8000, help="default 8000 (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--require-key", metavar="KEY", help="answer 401 unless requests carry this key")
    p.add_argument("--state", metavar="DIR", help="keep the fake's resources in DIR across restarts")
    p.add_argument("-v", "--verbose", dest="server_verbose", action="count", default=0,
                   help="log each request to stderr")
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, got {text!r}")
    return port


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = _build_parser()
    ns, extra = parser.parse_known_args(list(argv))
    # ``call NAME a=1 -d x b=2``: argparse leaves pairs after an option unparsed; they are params.
    if extra and isinstance(getattr(ns, "params", None), list):
        unknown = [e for e in extra if e.startswith("-")]
        if not unknown:
            ns.params = [*ns.params, *extra]
            extra = []
    if extra:
        dashed = [e for e in extra if e.startswith("-")] or extra
        hint = " (global options go before the command)" if any(
            e.split("=")[0] in _GLOBAL_OPTIONS for e in dashed) else ""
        parser.error(f"unrecognized arguments: {' '.join(dashed)}{hint}")
    return ns


def _read_data(spec: str) -> dict[str, Any]:
    where = "stdin" if spec == "-" else spec[1:] if spec.startswith("@") else "the inline JSON"
    try:
        if spec == "-":
            text = _read_stdin("-d")
        elif spec.startswith("@"):
            text = Path(spec[1:]).read_text(encoding="utf-8")
        else:
            text = spec
    except OSError as exc:
        raise UsageError(f"-d: cannot read {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"-d: {where} is not UTF-8 text") from None
    try:
        value = _loads(text)
    except ValueError as exc:
        raise UsageError(f"-d: {where} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"-d: {where} must hold a JSON object of options, got {type(value).__name__}")
    return value


# --- the client ----------------------------------------------------------------------------


class _Request(Protocol):
    """What the verbose lines read of a request a hook sees (the transport's own object)."""

    method: str | None
    url: str | None


class _Response(Protocol):
    """What the verbose lines read of a response a hook sees (the transport's own object)."""

    status_code: int
    reason: str | None
    headers: Mapping[str, str]
    elapsed: timedelta


class _Observer:
    """Request and response hooks: the verbose request lines."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose

    def on_request(self, request: _Request) -> None:
        if self.verbose:
            _err(f"> {request.method} {request.url}")

    def on_response(self, response: _Response) -> None:
        if self.verbose:
            rid = response.headers.get("x-request-id")
            elapsed = response.elapsed.total_seconds()
            tail = f" [request id {rid}]" if rid else ""
            _err(f"< {response.status_code} {response.reason} ({elapsed:.3f} s){tail}")


@contextlib.contextmanager
def _client(ns: argparse.Namespace, observer: _Observer, *, mock: bool | None = None) -> Iterator[Client]:
    from mistral_lite.client import Client  # import cost: `ops`, `--help` and `fake-server` never load the HTTP client

    mock = ns.mock if mock is None else mock
    hooks: dict[str, list[Callable[..., Any]]] = {"request": [observer.on_request], "response": [observer.on_response]}
    settings: dict[str, Any] = {"hooks": hooks, "retry": not ns.no_retry}
    if ns.timeout is not None:
        settings["timeout"] = ns.timeout
    with contextlib.ExitStack() as stack:
        if mock:
            if ns.base_url:
                raise UsageError("--mock and --base-url cannot be used together")
            url = _fake_server_url() if ns.mock_state is None else None
            if url is None:
                try:  # the fake package loads its server here, on first use (PEP 562)
                    server = fake.FakeMistral(state_dir=ns.mock_state)
                except ValueError as exc:  # a state file that is not the fake's
                    raise UsageError(f"--mock-state: {exc}") from None
                url = stack.enter_context(server).url
            if ns.verbose:
                _err(f"fake server at {url}")
            # never $MISTRAL_API_KEY: a real key stays home, whatever $MISTRAL_BASE_URL names
            client = Client(ns.api_key or MOCK_KEY, base_url=url, **settings)
        else:
            try:
                client = Client(ns.api_key, base_url=ns.base_url, **settings)
            except MistralError as exc:  # a missing key or a bad base URL: configuration, exit 2
                hint = " (or pass --api-key; --mock runs offline)" if "API key" in exc.message else ""
                raise UsageError(exc.message + hint) from None
        stack.enter_context(client)
        yield client


def _fake_server_url() -> str | None:
    """``$MISTRAL_BASE_URL`` when it names a loopback server (a ``fake-server`` for ``--mock``)."""
    url = os.environ.get("MISTRAL_BASE_URL", "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises ValueError here, not at the first request
    except ValueError:
        return None
    if parts.scheme != "http":
        return None
    if host == "localhost":
        return url
    try:  # an address, not a name: ``127.0.0.1.example.com`` is somebody else's server
        return url if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


# --- commands ------------------------------------------------------------------------------


def _spec() -> Spec:
    return load_spec()


def _endpoint(spec: Spec, name: str) -> Endpoint:
    return find_endpoint(spec.endpoints, name)


def cmd_ops(ns: argparse.Namespace) -> int:
    spec = _spec()
    if ns.name is None:
        groups = operations_by_group(spec, ns.group)
        if not groups:
            print(f"error: no group starts with {ns.group!r}; groups: "
                  f"{', '.join(operations_by_group(spec, None))}", file=sys.stderr)
            return 2
        width = max(len(ep.name) for eps in groups.values() for ep in eps)
        for group, eps in groups.items():
            print(group)
            for ep in eps:
                note = " (deprecated)" if ep.deprecated is not None else ""
                print(f"  {ep.name:<{width}}  {ep.summary}{note}")
        return 0
    endpoint = _endpoint(spec, ns.name)
    print(describe(endpoint, spec))
    return 0


def operations_by_group(spec: Spec, prefix: str | None) -> dict[str, list[Endpoint]]:
    """The operations by group (the spec's tag), groups and names sorted; ``prefix`` keeps some groups."""
    groups: dict[str, list[Endpoint]] = {}
    for ep in spec.endpoints.values():
        group = ep.group or "other"
        if prefix is None or group == prefix or group.startswith(prefix + "."):
            groups.setdefault(group, []).append(ep)
    return {g: sorted(groups[g], key=lambda e: e.name) for g in sorted(groups)}


def describe(endpoint: Endpoint, spec: Spec) -> str:
    """The operation's route, notes and options, from the same docstring ``help()`` shows."""
    from mistral_lite._methods.signatures import annotation, docstring, result_section  # import cost: inspect

    lines: list[str] = []
    for line in docstring(endpoint, spec).splitlines():
        if line in ("Returns:", "Raises:"):
            break
        stripped = line.strip()
        if stripped.startswith(("extra_body,", "timeout:", "stream_timeout:")):
            continue
        if line == "Args:":
            line = "Options:" if endpoint.options else ""
        elif line.startswith("``") and line.endswith("``"):
            line = line.strip("`")
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    example = [PROG, "call", endpoint.name]
    for name in endpoint.required:
        if name in endpoint.fill:
            continue
        kind = annotation(endpoint.options[name], spec, endpoint.schema_name)
        text = kind == "str" or kind.startswith("Literal[") or kind == "FileInput"
        example.append(f"{name}=..." if text else f"{name}:=<json>")
    lines += ["", "Example:", "    " + " ".join(example)]
    if endpoint.stream != "none":
        lines.append("    (add stream:=true to print the events as JSON lines)")
    if endpoint.response == "bytes":
        lines.append("    (add -o PATH to save the bytes atomically; default: raw bytes to stdout)")
    lines += result_section(endpoint, spec)
    return "\n".join(lines)


def cmd_call(ns: argparse.Namespace, client: Client) -> int:
    spec = _spec()
    endpoint = _endpoint(spec, ns.name)
    data = _read_data(ns.data) if ns.data is not None else None
    positional, options = parse_params(ns.params, data, endpoint)
    if len(positional) > len(endpoint.path_params):
        names = ", ".join(endpoint.path_params) or "none"
        raise UsageError(
            f"{endpoint.name} takes {len(endpoint.path_params)} bare value(s) (path parameters: {names}) "
            f"but got {len(positional)}: {' '.join(positional)!r}; options are key=value or key:=json"
        )
    for name, value in zip(endpoint.path_params, positional):
        if name in options:
            raise UsageError(f"{name} given twice (bare and as an option)")
        options[name] = value
    if ns.output is not None and endpoint.response == "bytes" and "to" in endpoint.client and ns.output != "-":
        options.setdefault("to", ns.output)
    result = client.call(endpoint.name, **options)
    _emit(result, None if options.get("to") == ns.output else ns.output)  # a download to -o wrote it already
    return 0


def _emit(result: Any, output: str | None) -> None:
    if isinstance(result, Iterator):  # a Stream (stream=True; any other answer is JSON, bytes or None)
        try:
            for event in result:
                _print_line(event)
        finally:
            result.close()  # type: ignore[attr-defined]  # a Stream closes its connection
    elif isinstance(result, (bytes, bytearray)):
        _write_bytes(bytes(result), output)
    elif output is not None and output != "-":
        _write_bytes((_dumps(result, pretty=True) + "\n").encode("utf-8"), output)
    else:
        _print_json(result)


def cmd_chat(ns: argparse.Namespace, client: Client) -> int:
    words, extra = parse_params([*([ns.prompt] if ns.prompt is not None else []), *ns.params], None,
                                client.operations["chat"], known_only=True)
    prompt = " ".join(words) if words else None
    if prompt is None or prompt == "-":
        if prompt is None and _isatty(sys.stdin):
            raise UsageError("chat: give a prompt, or pipe one on stdin")
        prompt = _read_stdin("chat").strip()
        if not prompt:
            raise UsageError("chat: give a prompt, or pipe one on stdin (stdin was empty)")
    messages: list[MessageParam] = []
    if ns.system:
        messages.append({"role": "system", "content": ns.system})
    messages.append({"role": "user", "content": prompt})
    temperature, max_tokens = extra.pop("temperature", ns.temperature), extra.pop("max_tokens", ns.max_tokens)
    if ns.no_stream:
        reply: Any = client.chat(model=ns.model, messages=messages, temperature=temperature, max_tokens=max_tokens,
                                 **extra)
        choices = reply.get("choices") or [{}]
        content = (choices[0].get("message") or {}).get("content")
        sys.stdout.write(_content_text(content) + "\n")
        sys.stdout.flush()
        return 0
    with client.chat(model=ns.model, messages=messages, stream=True, temperature=temperature,
                     max_tokens=max_tokens, **extra) as stream:
        for chunk in stream:
            for choice in chunk.get("choices") or ():
                text = _content_text((choice.get("delta") or {}).get("content"))
                if text and choice.get("index", 0) == 0:
                    sys.stdout.write(text)
                    sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def cmd_embed(ns: argparse.Namespace, client: Client) -> int:
    texts, options = parse_params(ns.texts, None, client.operations["embed"], known_only=True)
    return _cli_embed.cmd_embed(ns, client, options, texts)


def cmd_upload(ns: argparse.Namespace, client: Client) -> int:
    path = Path(ns.file)
    if not path.is_file():
        raise UsageError(f"upload: {ns.file}: no such file")
    _print_json(client.upload_file(file=str(path), purpose=ns.purpose))
    return 0


def cmd_download(ns: argparse.Namespace, client: Client) -> int:
    if ns.output is None or ns.output == "-":
        content: Any = client.download_file(ns.file_id)
        _write_bytes(content, None)
        return 0
    bar = ProgressBar(sys.stderr) if _isatty(sys.stderr) else None
    try:
        path: Any = client.download_file(ns.file_id, to=ns.output, on_progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.finish()
    _print_json({"path": str(path), "bytes": Path(path).stat().st_size})
    return 0


def cmd_tour(ns: argparse.Namespace, client: Client) -> int:
    out = sys.stdout

    def step(number: int, title: str, python: str) -> None:
        out.write(f"\n{number}. {title}\n   >>> {python}\n")

    def show(text: str) -> None:
        out.write(f"   {text}\n")
        out.flush()

    out.write(f"mistral-lite tour: every call below goes to {client.base_url}\n")
    if ns.mock:
        out.write("(an in-process fake server: offline, deterministic, no key needed)\n")
    model = DEFAULT_CHAT_MODEL

    step(1, "List the models", "client.list_models()")
    ids = [m.get("id") for m in client.list_models().get("data", ())]
    show(f"{len(ids)} models: {', '.join(str(i) for i in ids[:5])}{', ...' if len(ids) > 5 else ''}")

    messages: list[MessageParam] = [{"role": "user", "content": "Hello, who are you?"}]
    step(2, "Chat", f'client.chat(model="{model}", messages=[{{"role": "user", "content": "Hello, who are you?"}}])')
    reply: Any = client.chat(model=model, messages=messages)
    show(f"-> {reply['choices'][0]['message']['content']!r} ({reply['usage']['total_tokens']} tokens)")

    step(3, "Stream a chat", f'client.chat(model="{model}", messages=[...], stream=True)')
    out.write("   -> ")
    with client.chat(model=model, messages=[{"role": "user", "content": "Count to five."}], stream=True) as stream:
        pieces = 0
        for chunk in stream:
            text = _content_text(chunk["choices"][0]["delta"].get("content"))
            if text:
                pieces += 1
                out.write(text)
                out.flush()
    out.write(f"   ({pieces} chunks)\n")

    texts = ["The cat sat on the mat.", "A cat was sitting on a mat."]
    step(4, "Embed two texts and compare them", f"client.embed(input={texts!r})")
    vectors = [item["embedding"] for item in client.embed(input=texts)["data"]]
    show(f"{len(vectors)} vectors of dimension {len(vectors[0])}; cosine similarity {_cosine(*vectors):.4f}")
    if ns.mock:
        show("(the fake's vectors are derived from a hash of the text, so this number carries no meaning)")

    step(5, "Upload a file, read it back", 'client.upload_file(file="notes.jsonl", purpose="fine-tune")')
    with tempfile.TemporaryDirectory(prefix="mistral-lite-tour-") as tmp:
        source = Path(tmp, "notes.jsonl")
        content = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
        source.write_bytes(content)
        uploaded = client.upload_file(file=str(source), purpose="fine-tune")
        show(f"-> id {uploaded['id']}, {uploaded.get('bytes')} bytes, purpose {uploaded.get('purpose')}")
        meta = client.get_file(uploaded["id"])
        show(f">>> client.get_file(id) -> filename {meta.get('filename')!r}")
        copy: Any = client.download_file(uploaded["id"], to=str(Path(tmp, "copy.jsonl")))
        same = Path(copy).read_bytes() == content
        show(f">>> client.download_file(id, to=\"copy.jsonl\") -> {'identical' if same else 'DIFFERENT'} bytes")

    step(6, "Create an agent and talk to it",
         f'client.create_agent(model="{model}", name="tour-guide", instructions="Be brief.")')
    agent = client.create_agent(model=model, name="tour-guide", instructions="Be brief.")
    show(f"-> agent {agent['id']}")
    conversation: Any = client.create_conversation(agent_id=agent["id"], inputs="What can you do?")
    show('>>> client.create_conversation(agent_id=agent["id"], inputs="What can you do?")')
    answer = " ".join(
        _content_text(e.get("content")) for e in conversation.get("outputs", ()) if e.get("type") == "message.output"
    )
    show(f"-> conversation {conversation.get('conversation_id')}: {answer!r}")

    out.write(
        "\nNext: `mistral-lite ops` lists all operations, `mistral-lite ops chat` shows one,\n"
        "`mistral-lite call NAME key=value key:=json` runs any of them; add --mock to stay offline.\n"
    )
    out.flush()
    return 0


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def cmd_fake_server(ns: argparse.Namespace) -> int:
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: keep the default handling
        previous = None
    try:
        fake.run(host=ns.host, port=ns.port, api_key=ns.require_key, state_dir=ns.state,  # returns on Ctrl-C
            verbose=bool(ns.verbose or ns.server_verbose))
    except ValueError as exc:  # a state file that is not the fake's
        raise UsageError(f"fake-server --state: {exc}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 130 if interrupted else 0


# --- main ----------------------------------------------------------------------------------


def _run(ns: argparse.Namespace) -> int:
    if ns.mock_state is not None:
        ns.mock = True
    if ns.verbose:
        logging.basicConfig(level=logging.DEBUG if ns.verbose > 1 else logging.INFO,
                            format=f"{PROG}: %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if ns.command == "ops":
        return cmd_ops(ns)
    if ns.command == "fake-server":
        return cmd_fake_server(ns)
    if ns.command == "call":
        _endpoint(_spec(), ns.name)  # an unknown name is a usage error before any server starts
    observer = _Observer(ns.verbose)
    mock = True if ns.command == "tour" else None
    command = CLIENT_COMMANDS.get(ns.command)
    if command is None:  # pragma: no cover - argparse rejects it first
        raise UsageError(f"unknown command {ns.command!r}")
    with contextlib.ExitStack() as stack:
        if not ns.verbose:  # -v shows the standard log lines instead
            stack.enter_context(installed())
        client = stack.enter_context(_client(ns, observer, mock=mock))
        return command(ns, client)


#: The commands that run against a client, by name.
CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace, Client], int]] = {
    "call": cmd_call, "chat": cmd_chat, "embed": cmd_embed, "upload": cmd_upload,
    "download": cmd_download, "tour": cmd_tour, **_cli_bulk.COMMANDS,
    **_cli_shortcuts.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1, 2 or 130)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        try:
            ns = _parse(args)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
        return _run(ns)
    except UsageError as exc:
        _err(f"{PROG}: error: {exc}")
        return 2
    except (ValidationError, UnknownOperationError) as exc:
        _err(f"{PROG}: {exc.message}")
        return 2
    except APIStatusError as exc:  # the message carries the server's words: no control characters
        _err(f"{PROG}: {_clean(exc.message)}")
        if exc.request_id and exc.request_id not in exc.message:
            _err(f"request id: {_clean(exc.request_id, newlines=False)}")
        return 1
    except MistralError as exc:
        _err(f"{PROG}: {_clean(exc.message)}")
        return 1
    except KeyboardInterrupt:
        _err("")
        return 130
    except BrokenPipeError:
        # the reader went away (``| head``): silence the final flush and stop quietly
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a writer stopped by SIGPIPE
    except OSError as exc:
        name = f": {exc.filename}" if exc.filename else ""
        _err(f"{PROG}: error{name}: {exc.strerror or exc}")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
