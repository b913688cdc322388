"""``mistral-lite transcribe --realtime FILE``: raw PCM over the realtime WebSocket, the text as it arrives.

The command line's half of realtime transcription: its arguments and what it prints. The
socket is the client's (``Client.transcribe_realtime``, which needs the ``async`` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["transcribe_realtime"]


def transcribe_realtime(ns: argparse.Namespace, client: Client, path: Path) -> int:
    """Send the raw PCM file at ``path`` (``--encoding``, ``--sample-rate``) and print each text
    delta as it comes, then a newline once the transcription is done."""
    fmt = {"encoding": ns.encoding, "sample_rate": ns.sample_rate}
    ended = False
    for event in client.transcribe_realtime(path, model=ns.model, audio_format=fmt):
        if event.get("type") == "transcription.text.delta":
            sys.stdout.write(str(event.get("text", "")))
            sys.stdout.flush()
        ended = ended or event.get("type") == "transcription.done"
    sys.stdout.write("\n" if ended else "")
    sys.stdout.flush()
    return 0
