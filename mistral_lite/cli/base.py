"""What every command-line module shares: the usage error, the parser that raises it, output.

:mod:`~mistral_lite.cli.app` (the commands of the table) and the command modules beside it
(:mod:`~mistral_lite.cli.bulk`, :mod:`~mistral_lite.cli.embed`, :mod:`~mistral_lite.cli.shortcuts`,
:mod:`~mistral_lite.cli.realtime`) print through these helpers, so that JSON is pretty on a
terminal and compact in a pipe everywhere, and progress looks the same in every command.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from typing import IO, Any, NoReturn

from mistral_lite._core.files import save_atomically
from mistral_lite.exceptions import UsageError  # re-exported: the command line's modules import it from here

__all__ = ["Parser", "ProgressBar", "UsageError", "clean", "dumps", "err", "isatty", "loads", "positive_seconds",
           "print_json", "print_line", "read_stdin", "size_text", "write_bytes"]


def positive_seconds(text: str) -> float:
    """An argument of seconds: a finite number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


# --- input ----------------------------------------------------------------------------------


def read_stdin(what: str) -> str:
    """All of stdin as text; a closed, unreadable or non-UTF-8 stdin is a :class:`UsageError`."""
    stream = sys.stdin
    if stream is None:  # the process was started with its stdin closed
        raise UsageError(f"{what}: stdin is closed (pipe the input in, or give it as an argument)")
    try:
        return stream.read()
    except UnicodeDecodeError:
        raise UsageError(f"{what}: stdin is not UTF-8 text") from None
    except (OSError, ValueError) as exc:  # a closed descriptor or file object
        raise UsageError(f"{what}: cannot read stdin: {getattr(exc, 'strerror', None) or exc}") from None


def loads(text: str | bytes) -> Any:
    """``json.loads``, with input nested too deeply for the parser a ``ValueError`` like any other bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


# --- output ---------------------------------------------------------------------------------


def dumps(value: Any, *, pretty: bool | None = None) -> str:
    if pretty is None:
        pretty = isatty(sys.stdout)
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def print_line(value: Any) -> None:
    """One compact JSON object per line, flushed at once (streams, JSON lines)."""
    sys.stdout.write(dumps(value, pretty=False) + "\n")
    sys.stdout.flush()


def write_bytes(data: bytes, out: str | None) -> None:
    if out is not None and out != "-":
        save_atomically([data], out)
        return
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stdout (rare): keep the bytes intact through latin-1
        sys.stdout.write(data.decode("latin-1"))
    else:
        buffer.write(data)
        buffer.flush()


#: Terminal control sequences (CSI, OSC and other ESC sequences) and the C0/C1 control characters
#: but tab and newline: what a server string must not carry to a terminal.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?"
                      r"|\x9b[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str, *, newlines: bool = True) -> str:
    """``text`` without terminal control sequences and control characters (tab and newline kept,
    unless ``newlines`` is false: then each becomes a space, so that a table cell stays one line)."""
    cleaned = _CONTROL.sub("", text)
    return cleaned if newlines else cleaned.replace("\n", " ").replace("\t", " ")


def err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


class Parser(argparse.ArgumentParser):
    """Usage errors raise instead of exiting, so ``main`` returns the code."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


# --- progress -------------------------------------------------------------------------------


class ProgressBar:
    """A bar on a terminal, redrawn in place at most ten times a second (downloads, batch jobs)."""

    def __init__(self, stream: IO[str], width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, done: int, total: int | None, unit: str = "bytes") -> None:
        now = time.monotonic()
        if self.shown and now - self.last < 0.1 and done != total:
            return
        self.last, self.shown = now, True
        size = size_text if unit == "bytes" else (lambda n: f"{n:.0f} {unit}")
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"\r[{bar}] {done * 100 // total:3d}% {size(done)}/{size(total)}"
        else:
            text = f"\r{size(done)}"
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def size_text(count: float) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ..., ``2.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover
