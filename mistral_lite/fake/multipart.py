"""A small multipart/form-data parser for uploads (the whole body is in memory)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Part", "parse_multipart"]


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _param(header: str, key: str) -> str | None:
    m = re.search(rf'(?:^|[;\s]){key}\*?=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', header, re.IGNORECASE)
    if m is None:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)).replace('\\"', '"')


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split ``body`` into its parts; raises ValueError when it is not multipart."""
    boundary = _param(content_type, "boundary")
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        if name is None:
            continue
        parts.append(Part(name, _param(disposition, "filename"), headers.get("content-type"), data))
    return parts
