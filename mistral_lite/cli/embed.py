"""``mistral-lite embed``: texts from arguments, a file or stdin, embedded in batches the API takes.

::

    mistral-lite embed "one text" "another"              # a short summary line per text
    mistral-lite embed -f texts.txt -o vectors.jsonl     # one text per line (blank lines skipped)
    cat texts.txt | mistral-lite embed - --format csv     # stdin; CSV to stdout
    mistral-lite embed -f docs.jsonl --jsonl body -o out.jsonl   # the text is each line's "body"

Output (file or stdin input, or any ``-o``): one record per text, ``{"index", "line", "text",
"embedding"}`` as JSON lines (default), or CSV with the columns ``index,line,text,e0,e1,...``
(``--format csv``, or an ``-o`` ending in ``.csv``). ``line`` is the text's line number in the
input, to join the vectors back. Texts go through ``client.embed_many`` (batches within the
table's ``[defaults.limits]``, a few at once), a slice at a time; ``-o`` is written atomically.
The whole input is read and checked before anything is sent.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mistral_lite._bulk.jsonl import read_lines
from mistral_lite._core.files import save_atomically
from mistral_lite.cli.base import UsageError, loads, print_json, print_line, read_stdin, write_bytes

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["add_parser", "cmd_embed", "read_texts"]

Text = tuple[int, str]  # (line number, text)
#: Texts embedded before their records are written (bounds the vectors held in memory).
SLICE = 8192


def add_parser(sub: Any) -> None:
    """Register ``embed`` on the command line's subparsers."""
    p = sub.add_parser("embed", help="embed texts from arguments, a file or stdin (JSONL or CSV out)",
                       description="Embed texts: given as arguments, one per line in a file (-f FILE) or on "
                                   "stdin (-), or one field of each JSON line (--jsonl FIELD). Batches stay "
                                   "within the API's limits. key=value pairs are extra embed options.")
    p.add_argument("texts", nargs="*", metavar="TEXT|-|key=value", help="texts; - reads stdin")
    p.add_argument("-f", "--file", metavar="FILE", help="read one text per line from FILE (- for stdin)")
    p.add_argument("--jsonl", metavar="FIELD", help="the input is JSON lines: embed each line's FIELD")
    p.add_argument("-o", "--output", metavar="PATH", help="write the records to PATH (atomically)")
    p.add_argument("--format", choices=("jsonl", "csv"), help="output format (default jsonl; csv for *.csv)")
    p.add_argument("-m", "--model", help="default mistral-embed")
    p.add_argument("--dimension", type=int, help="output_dimension (models that support it)")
    p.add_argument("--batch-size", type=int, metavar="N", help="at most N texts per request")
    p.add_argument("--json", action="store_true", help="print the full response (texts given as arguments)")


def read_texts(lines: Iterable[Text], where: str, field: str | None) -> list[Text]:
    """``(line number, text)`` for each non-blank ``(line number, line)`` (or each JSON line's ``field``)."""
    texts: list[Text] = []
    for number, line in lines:
        if not line.strip():
            continue
        if field is None:
            texts.append((number, line.rstrip("\r\n")))
            continue
        try:
            record = loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}:{number}: not JSON: {exc}") from None
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            found = "no field" if not isinstance(record, dict) or field not in record else type(value).__name__
            raise UsageError(f"{where}:{number}: --jsonl {field}: expected a string field {field!r}, found {found}")
        if value.strip():
            texts.append((number, value))
    return texts


def _input_lines(ns: argparse.Namespace, texts: list[str]) -> tuple[list[Text], str] | None:
    """The numbered lines of ``-f FILE`` (or of stdin for ``-``), read by the package's JSONL line reader."""
    source = ns.file
    if source is None and texts == ["-"]:
        source = "-"
    elif ns.file is not None and texts:
        raise UsageError("embed: give texts as arguments or -f FILE, not both")
    if source is None:
        return None
    if source == "-":
        return _decoded(read_lines(read_stdin("embed").encode("utf-8"))), "stdin"
    try:
        return _decoded(read_lines(source)), source
    except OSError as exc:
        raise UsageError(f"embed: {source}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"embed: {source} is not UTF-8 text") from None


def _decoded(lines: Iterable[tuple[int, bytes]]) -> list[Text]:
    return [(number, raw.decode("utf-8")) for number, raw in lines]


def cmd_embed(ns: argparse.Namespace, client: Client, params: dict[str, Any] | None = None,
              texts: list[str] | None = None) -> int:
    """Run ``embed`` (``params``: extra options; ``texts``: the arguments that are not pairs)."""
    args = list(ns.texts) if texts is None else texts
    options: dict[str, Any] = {"model": ns.model, "output_dimension": ns.dimension, **(params or {})}
    read = _input_lines(ns, args)
    if read is None and ns.jsonl:
        raise UsageError("embed: --jsonl needs -f FILE or - (stdin)")
    items = read_texts(*read, ns.jsonl) if read is not None else [(n, t) for n, t in enumerate(args, 1)]
    if not items:
        raise UsageError("embed: no texts to embed" + (f" ({read[1]} holds only blank lines)" if read else ""))
    fmt = ns.format or ("csv" if (ns.output or "").lower().endswith(".csv") else "jsonl")
    if read is None and ns.output is None and ns.format is None:  # the short form: a summary per text
        reply = client.embed(input=[t for _, t in items], **options)
        if ns.json:
            print_json(reply)
            return 0
        for item in reply.get("data", ()):
            vector = item.get("embedding")
            size = len(vector) if isinstance(vector, list) else None
            print_line({"index": item.get("index"), "dimension": size,
                        "first_values": vector[:4] if isinstance(vector, list) else vector})
        return 0
    chunks = _records(client, options, fmt, items, ns.batch_size or None)
    if ns.output is not None and ns.output != "-":
        save_atomically(chunks, ns.output)
    else:
        for chunk in chunks:
            write_bytes(chunk, None)
    return 0


def _records(client: Client, options: dict[str, Any], fmt: str, items: list[Text],
             batch_size: int | None) -> Iterator[bytes]:
    """The records, written a slice of texts at a time (``embed_many`` batches each slice)."""
    index = 0
    header = fmt != "csv"
    options = {k: v for k, v in options.items() if v is not None}
    for start in range(0, len(items), SLICE):
        group = items[start:start + SLICE]
        vectors = client.embed_many([text for _, text in group], batch_size=batch_size, **options)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        for (line, text), vector in zip(group, vectors):
            if writer is None:
                out.write(json.dumps({"index": index, "line": line, "text": text, "embedding": vector},
                                     ensure_ascii=False, separators=(",", ":")) + "\n")
            else:
                values = vector if isinstance(vector, list) else [vector]
                if not header:
                    writer.writerow(["index", "line", "text", *(f"e{i}" for i in range(len(values)))])
                    header = True
                writer.writerow([index, line, text, *values])
            index += 1
        yield out.getvalue().encode("utf-8")
