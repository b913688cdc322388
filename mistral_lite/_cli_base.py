"""What every command-line module shares: the usage error, the parser that raises it, output.

``cli.py`` (the commands of the table) and the shortcut modules (``_cli_embed``,
``_cli_shortcuts``) print through these helpers, so that JSON is pretty on a terminal and
compact in a pipe everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from ._files import save_atomically

__all__ = ["Parser", "UsageError", "dumps", "err", "isatty", "print_json", "print_line", "write_bytes"]


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


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


def err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


class Parser(argparse.ArgumentParser):
    """Usage errors raise instead of exiting, so ``main`` returns the code."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)
