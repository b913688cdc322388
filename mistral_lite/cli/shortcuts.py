"""Everyday shortcuts of the command line: ``models``, ``ls``, ``ocr``, ``transcribe``, ``conversation``.

::

    mistral-lite models                          # id, capabilities, context length
    mistral-lite ls files --all                  # any list_* operation as a table (--json: JSON lines)
    mistral-lite ocr scan.pdf > scan.md          # a local file is uploaded first; Markdown out
    mistral-lite ocr https://example.com/a.pdf --pages 0,1
    mistral-lite transcribe call.mp3             # the transcript's text
    mistral-lite transcribe call.mp3 --format srt > call.srt   # subtitles (srt, vtt), text or json
    mistral-lite transcribe --realtime call.pcm  # raw PCM over the realtime WebSocket, text as it comes
    mistral-lite conversation start "Hello" -m mistral-small-latest
    mistral-lite conversation append CONV_ID "And then?"
    mistral-lite conversation history CONV_ID

Every shortcut also takes ``key=value`` / ``key:=json`` options of its operation, typed by the
option's schema as in ``call``. Which operation a listing runs is read from the table:
``ls NAME`` runs ``list_NAME`` (or ``list_NAME_jobs``); ``--all`` follows the row's pagination.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mistral_lite._core.workflows import single_page_items
from mistral_lite._methods.subtitles import to_srt, to_vtt
from mistral_lite.cli.base import Parser, UsageError, clean, err, print_json, print_line, read_stdin
from mistral_lite.cli.coerce import parse_params
from mistral_lite.cli.realtime import transcribe_realtime

if TYPE_CHECKING:
    from mistral_lite._table import Endpoint
    from mistral_lite.client import Client

__all__ = ["COMMANDS", "add_parsers"]

DEFAULT_OCR_MODEL = "mistral-ocr-latest"
DEFAULT_AUDIO_MODEL = "voxtral-mini-latest"
DEFAULT_CHAT_MODEL = "mistral-small-latest"
_URL = re.compile(r"^(https?|data):", re.IGNORECASE)
_IMAGE = re.compile(r"\.(png|jpe?g|gif|webp|avif|bmp|tiff?)$|^data:image/", re.IGNORECASE)
#: Columns that hold a time (as do those ending in ``_at``): shown in ISO 8601 UTC.
_TIMES = frozenset({"created", "timestamp", "modified", "updated"})
#: Columns a listing shows when its items carry them, in this order (at most six).
_COLUMNS = ("id", "name", "filename", "status", "purpose", "model", "bytes", "version", "created_at", "created")


def _params(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("params", nargs="*", metavar="key=value|key:=json", help="more options of the operation")


def add_parsers(sub: Any) -> None:
    """Register the shortcuts on the command line's subparsers."""
    p = sub.add_parser("models", help="the models: id, capabilities, context length")
    p.add_argument("--json", action="store_true", help="print JSON lines (one model card per line)")

    p = sub.add_parser("ls", help="list a resource (files, models, agents, batch_jobs, ...) as a table",
                       description="List NAME with the list_NAME operation of the table (list_NAME_jobs also "
                                   "matches: `ls batch` runs list_batch_jobs). --all follows every page.")
    p.add_argument("resource", metavar="NAME", help="files, models, agents, batch, fine_tuning, conversations, ...")
    p.add_argument("--all", action="store_true", help="every page, not only the first")
    p.add_argument("--json", action="store_true", help="print JSON lines (one item per line)")
    _params(p)

    p = sub.add_parser("ocr", help="OCR a document (URL or local file) and print Markdown")
    p.add_argument("source", metavar="URL|FILE", help="a URL (http, https, data:) or a local file (uploaded first)")
    p.add_argument("-m", "--model", default=DEFAULT_OCR_MODEL, help=f"default {DEFAULT_OCR_MODEL}")
    p.add_argument("--pages", metavar="LIST", help="pages to read, e.g. 0,1 (0-based)")
    p.add_argument("--json", action="store_true", help="print the whole response")
    _params(p)

    p = sub.add_parser("transcribe", help="transcribe an audio file (or URL) and print the text")
    p.add_argument("source", metavar="FILE|URL")
    p.add_argument("-m", "--model", default=DEFAULT_AUDIO_MODEL, help=f"default {DEFAULT_AUDIO_MODEL}")
    p.add_argument("--language", help="the audio's language, e.g. en")
    p.add_argument("--format", choices=("text", "json", "srt", "vtt"), default="text",
                   help="text (default), json (the whole response), srt or vtt (subtitles from its segments)")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--realtime", action="store_true",
                   help="stream a raw PCM file over the realtime WebSocket and print the text as it arrives")
    p.add_argument("--encoding", default="pcm_s16le", help="--realtime: the PCM encoding (default pcm_s16le)")
    p.add_argument("--sample-rate", type=int, default=16000, help="--realtime: samples per second (default 16000)")
    _params(p)

    p = sub.add_parser("conversation", help="start, append to, or show a conversation")
    actions = p.add_subparsers(dest="conversation_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    a = actions.add_parser("start", help="start a conversation and print the answer")
    a.add_argument("text", metavar="TEXT", help="the first message (- reads stdin)")
    who = a.add_mutually_exclusive_group()
    who.add_argument("-m", "--model", help=f"default {DEFAULT_CHAT_MODEL} (unless --agent)")
    who.add_argument("--agent", metavar="AGENT_ID", help="talk to an agent")
    a.add_argument("--json", action="store_true", help="print the whole response")
    _params(a)
    a = actions.add_parser("append", help="add a message to a conversation and print the answer")
    a.add_argument("conversation_id", metavar="CONVERSATION_ID")
    a.add_argument("text", metavar="TEXT", help="the message (- reads stdin)")
    a.add_argument("--json", action="store_true", help="print the whole response")
    _params(a)
    a = actions.add_parser("history", help="print a conversation's entries")
    a.add_argument("conversation_id", metavar="CONVERSATION_ID")
    a.add_argument("--json", action="store_true", help="print JSON lines (one entry per line)")


def _options(client: Client, operation: str, items: Sequence[str]) -> dict[str, Any]:
    endpoint = client.operations[operation]
    positional, options = parse_params(items, None, endpoint)
    if positional:
        raise UsageError(f"unexpected {' '.join(positional)!r}: options are key=value or key:=json")
    return options


def _text(value: str) -> str:
    if value != "-":
        return value
    text = read_stdin("TEXT -").strip()
    if not text:
        raise UsageError("stdin was empty")
    return text


# --- models and listings ----------------------------------------------------------------------


def cmd_models(ns: argparse.Namespace, client: Client) -> int:
    cards = single_page_items(client.list_models())
    if ns.json:
        for card in cards:
            print_line(card)
        return 0
    rows = [[_cell("id", c.get("id")), _cell("", ", ".join(str(k) for k, v in sorted(
                 (c.get("capabilities") or {}).items()) if v is True) or None), _cell("", c.get("max_context_length"))]
            for c in cards if isinstance(c, Mapping)]
    _table(["ID", "CAPABILITIES", "CONTEXT"], rows)
    return 0


def _list_operation(client: Client, name: str) -> Endpoint:
    operations = client.operations
    key = name.strip().replace("-", "_")
    for candidate in (f"list_{key}", f"list_{key}s", f"list_{key}_jobs", f"list_{key.rstrip('s')}_jobs"):
        if candidate in operations:
            return operations[candidate]
    names = sorted(n[5:] for n in operations if n.startswith("list_") and not operations[n].path_params)
    raise UsageError(f"ls: no list operation for {name!r}; try one of: {', '.join(names)}")


def cmd_ls(ns: argparse.Namespace, client: Client) -> int:
    endpoint = _list_operation(client, ns.resource)
    options = _options(client, endpoint.name, ns.params)
    missing = [p for p in endpoint.path_params if p not in options]
    if missing:
        raise UsageError(f"ls {ns.resource}: {endpoint.name} needs {', '.join(f'{m}=...' for m in missing)}")
    items = list(client.paginate(endpoint.name, **options)) if ns.all else \
        _first_page(client.call(endpoint.name, **options), endpoint)
    if ns.json:
        for item in items:
            print_line(item)
        return 0
    dicts = [i for i in items if isinstance(i, Mapping)]
    if not dicts:
        err(f"(no {ns.resource})")
        return 0
    columns = [c for c in _COLUMNS if any(c in i for i in dicts)][:6] or sorted({k for i in dicts for k in i})[:6]
    _table([clean(c.upper(), newlines=False) for c in columns], [[_cell(c, i.get(c)) for c in columns] for i in dicts])
    if not ns.all and endpoint.paginate and items:
        err(f"({len(items)} shown; --all for every page)")
    return 0


def _first_page(result: Any, endpoint: Endpoint) -> list[Any]:
    key = (endpoint.paginate or {}).get("items")
    if key is None:
        return single_page_items(result)
    found = result if key == "" else (result or {}).get(key) or []
    return list(found) if isinstance(found, list) else []


def _cell(column: str, value: Any) -> str:
    """One table cell: a count for a list or object, a time in ISO 8601 UTC, any server string
    without terminal control characters, on one line."""
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, dict)):
        return str(len(value))
    if column in _TIMES or column.endswith("_at"):
        return iso_time(value)
    return clean(str(value), newlines=False)


def iso_time(value: Any) -> str:
    """A time as ``2026-12-07T11:00:00Z``: epoch seconds, or an ISO 8601 string with an offset
    (anything else is shown as it is, cleaned)."""
    when: datetime | None = None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, timezone.utc)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            when = parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError, OSError):
        when = None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else clean(str(value), newlines=False)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in [header, *rows]:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    sys.stdout.flush()


# --- documents and audio ----------------------------------------------------------------------


def _local_file(source: str, command: str) -> Path:
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"{command}: {source}: no such file (give a URL or a local file)")
    return path


def cmd_ocr(ns: argparse.Namespace, client: Client) -> int:
    options = _options(client, "ocr", ns.params)
    if ns.pages is not None:
        try:
            options["pages"] = [int(p) for p in ns.pages.split(",") if p.strip()]
        except ValueError:
            raise UsageError(f"ocr: --pages takes page numbers like 0,1,2; got {ns.pages!r}") from None
    document: Any
    if _URL.match(ns.source):
        document = ({"type": "image_url", "image_url": ns.source} if _IMAGE.search(ns.source)
                    else {"type": "document_url", "document_url": ns.source})
    else:
        uploaded = client.upload_file(file=str(_local_file(ns.source, "ocr")), purpose="ocr")
        document = {"type": "file", "file_id": uploaded["id"]}
    result = client.ocr(model=ns.model, document=document, **options)
    if ns.json:
        print_json(result)
        return 0
    pages = [p.get("markdown") or "" for p in result.get("pages", ()) if isinstance(p, Mapping)]
    sys.stdout.write("\n\n".join(page.strip("\n") for page in pages) + "\n")
    sys.stdout.flush()
    return 0


def cmd_transcribe(ns: argparse.Namespace, client: Client) -> int:
    if ns.realtime:
        return transcribe_realtime(ns, client, _local_file(ns.source, "transcribe"))
    fmt = "json" if ns.json else ns.format
    options = _options(client, "transcribe_audio", ns.params)
    if ns.language:
        options["language"] = ns.language
    if fmt in ("srt", "vtt") and "timestamp_granularities" not in options:
        options["timestamp_granularities"] = ["segment"]  # subtitles need the segments
    if _URL.match(ns.source):
        options["file_url"] = ns.source
    else:
        options["file"] = str(_local_file(ns.source, "transcribe"))
    result = client.transcribe_audio(model=ns.model, **options)
    if fmt == "json" or not isinstance(result, Mapping):
        print_json(result)
        return 0
    if fmt in ("srt", "vtt"):
        sys.stdout.write((to_srt if fmt == "srt" else to_vtt)(result))
    else:
        sys.stdout.write(str(result.get("text", "")).strip() + "\n")
    sys.stdout.flush()
    return 0


# --- conversations ----------------------------------------------------------------------------


def _answer(result: Any, as_json: bool) -> int:
    if as_json:
        print_json(result)
        return 0
    texts = []
    for entry in result.get("outputs", ()) if isinstance(result, Mapping) else ():
        if isinstance(entry, Mapping) and entry.get("type") == "message.output":
            texts.append(_content(entry.get("content")))
    sys.stdout.write("\n".join(t for t in texts if t) + "\n")
    sys.stdout.flush()
    if isinstance(result, Mapping) and result.get("conversation_id"):
        err(f"conversation {result['conversation_id']} (continue: mistral-lite conversation append "
            f"{result['conversation_id']} TEXT)")
    return 0


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def cmd_conversation(ns: argparse.Namespace, client: Client) -> int:
    action = ns.conversation_command
    if action == "history":
        result = client.get_conversation_history(ns.conversation_id)
        found = result.get("entries", ()) if isinstance(result, Mapping) else ()
        entries = [e for e in found if isinstance(e, Mapping)]
        for entry in entries:
            if ns.json:
                print_line(entry)
                continue
            who = entry.get("role") or entry.get("type", "entry")
            text = _content(entry.get("content")) or _content(entry.get("arguments")) or ""
            sys.stdout.write(clean(f"{who}: {text}") + "\n")
        sys.stdout.flush()
        return 0
    if action == "start":
        options = _options(client, "create_conversation", ns.params)
        if ns.agent:
            options["agent_id"] = ns.agent
        elif "agent_id" not in options:
            options.setdefault("model", ns.model or DEFAULT_CHAT_MODEL)
        return _answer(client.create_conversation(inputs=_text(ns.text), **options), ns.json)
    options = _options(client, "append_conversation", ns.params)
    return _answer(client.append_conversation(ns.conversation_id, inputs=_text(ns.text), **options), ns.json)


#: The shortcuts, by command name.
COMMANDS: dict[str, Callable[[argparse.Namespace, Client], int]] = {
    "models": cmd_models, "ls": cmd_ls, "ocr": cmd_ocr, "transcribe": cmd_transcribe,
    "conversation": cmd_conversation,
}
