"""What every command-line module shares: the usage error, the parser that raises it, output.

``cli.py`` (the commands of the table) and the shortcut modules (``_cli_embed``,
``_cli_shortcuts``) print through these helpers, so that JSON is pretty on a terminal and
compact in a pipe everywhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, NoReturn

from mistral_lite._core.files import save_atomically

__all__ = ["Parser", "UsageError", "clean", "dumps", "err", "isatty", "loads", "print_json", "print_line", "read_stdin",
           "write_bytes"]


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


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
