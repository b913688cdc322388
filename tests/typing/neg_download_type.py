"""Negative: a download without a target is bytes, not a path."""

from pathlib import Path

from mistral_lite import Client

saved: Path = Client("key").download_file("file-id")  # E: bytes
