"""File transfer: streamed multipart bodies for uploads and atomic downloads to a path.

``MultipartBody`` is a file-like object with a known length, so requests sends it with a
``Content-Length`` and urllib3 streams it in blocks: memory does not grow with the file's size.
A file part may be a path, bytes, a binary file object, or a ``(filename, bytes-or-file)``
tuple with an optional third item, the part's content type. ``save_atomically`` writes a
response body to a temporary file beside the target and renames it into place only when the
whole body arrived, so a failed download leaves nothing at the target path.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

__all__ = ["AtomicFile", "Download", "MultipartBody", "is_file_value", "remember_positions", "save_atomically"]

_BLOCK = 1 << 16


def is_file_value(value: Any) -> bool:
    """Whether ``value`` is something :class:`MultipartBody` can send as a file part."""
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True
    if isinstance(value, tuple):
        return (
            len(value) in (2, 3) and isinstance(value[0], str)
            and (isinstance(value[1], (bytes, bytearray, memoryview)) or hasattr(value[1], "read"))
            and (len(value) == 2 or isinstance(value[2], str))
        )
    return hasattr(value, "read")


def remember_positions(values: Iterable[Any]) -> Callable[[], None]:
    """A function that seeks every file object among ``values`` back to where it is now.

    Each attempt of an upload rebuilds its body from the file objects; without this, a retry
    would start where the previous attempt stopped reading and send an empty file.
    """
    marks = []
    for value in values:
        handle: Any = value[1] if isinstance(value, tuple) and len(value) >= 2 else value
        if hasattr(handle, "read") and hasattr(handle, "seek"):
            with contextlib.suppress(OSError, ValueError):
                marks.append((handle, handle.tell()))

    def rewind() -> None:
        for handle, position in marks:
            handle.seek(position)

    return rewind


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class _Part:
    def __init__(self, header: bytes, source: Any, size: int, start: int = 0) -> None:
        self.header, self.source, self.size, self.start = header, source, size, start


class MultipartBody(io.RawIOBase):
    """A ``multipart/form-data`` body read part by part, never held in memory whole."""

    def __init__(self, fields: Iterable[tuple[str, Any]] | Mapping[str, Any], files: Mapping[str, Any]) -> None:
        super().__init__()
        self.boundary = "mistral-lite-" + secrets.token_hex(12)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._opened: list[IO[bytes]] = []
        self._parts: list[_Part] = []
        pairs = cast("Iterable[tuple[str, Any]]", fields.items() if isinstance(fields, Mapping) else fields)
        for name, value in pairs:
            data = value if isinstance(value, str) else str(value)
            header = (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
            ).encode()
            encoded = data.encode()
            self._parts.append(_Part(header, encoded, len(encoded)))
        for name, value in files.items():
            media_type = "application/octet-stream"
            if isinstance(value, tuple) and len(value) == 3:
                media_type, value = value[2], value[:2]
            filename, source, size, start = self._file_source(value)
            header = (
                f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{_quote(name)}\"; "
                f"filename=\"{_quote(filename)}\"\r\nContent-Type: {_quote(media_type)}\r\n\r\n"
            ).encode()
            self._parts.append(_Part(header, source, size, start))
        self._trailer = f"--{self.boundary}--\r\n".encode()
        self.length = sum(len(p.header) + p.size + 2 for p in self._parts) + len(self._trailer)
        self._reader = self._generate()
        self._pending = memoryview(b"")
        self._position = 0
        #: Called as ``on_progress(bytes_sent, total)`` after each block is handed to the transport.
        self.on_progress: Callable[[int, int | None], None] | None = None

    def _file_source(self, value: Any) -> tuple[str, Any, int, int]:
        filename = None
        if isinstance(value, tuple):
            filename, value = value
        if isinstance(value, (str, os.PathLike)):
            path = Path(value)
            handle = open(path, "rb")  # noqa: SIM115 - closed by close()
            self._opened.append(handle)
            return filename or path.name, handle, os.fstat(handle.fileno()).st_size, 0
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return filename or "upload.bin", data, len(data), 0
        name = filename or os.path.basename(str(getattr(value, "name", "") or "")) or "upload.bin"
        start = value.tell()
        value.seek(0, os.SEEK_END)
        size = value.tell() - start
        value.seek(start)
        return name, value, size, start

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far (requests reads the length as ``len - tell``)."""
        return self._position

    def _generate(self) -> Iterator[bytes]:
        for part in self._parts:
            yield part.header
            if isinstance(part.source, bytes):
                yield part.source
            else:
                part.source.seek(part.start)
                left = part.size
                while left > 0:
                    block = part.source.read(min(_BLOCK, left))
                    if not block:
                        raise OSError("the file shrank while it was being uploaded")
                    left -= len(block)
                    yield block
            yield b"\r\n"
        yield self._trailer

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            rest = b"".join([bytes(self._pending), *self._reader])
            self._pending = memoryview(b"")
            self._position += len(rest)
            if self.on_progress is not None and rest:
                self.on_progress(self._position, self.length)
            return rest
        while not self._pending:  # the next block, without copying what is left of it
            try:
                self._pending = memoryview(next(self._reader))
            except StopIteration:
                return b""
        block = bytes(self._pending[:size])
        self._pending = self._pending[size:]
        self._position += len(block)
        if self.on_progress is not None:
            self.on_progress(self._position, self.length)
        return block

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.read(_BLOCK)
            if not block:
                return
            yield block

    def close(self) -> None:
        for handle in self._opened:
            handle.close()
        self._opened.clear()
        super().close()


def _file_mode(path: Path) -> int:
    """The existing target's mode, or what a new file gets under the process umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    # read once: setting and restoring it is the only portable way, and it is process-wide
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


class AtomicFile:
    """A temporary file beside ``target``: ``commit()`` renames it into place, ``abort()`` removes it.

    Blocking calls only; the async client runs each of them on a worker thread.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.path = Path(target)
        # the temporary name must fit where the target's name fits (255 bytes on most file
        # systems): at most 64 bytes of the target's name + ".", 8 random characters, ".part"
        stem = os.fsencode(self.path.name)[:64].decode("utf-8", "ignore")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=self.path.parent or ".")
        try:
            os.fchmod(fd, _file_mode(self.path))  # mkstemp makes 0600: give the file the mode open() would
            self._out = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.abort()
            raise

    def write(self, chunk: bytes) -> None:
        self._out.write(chunk)

    def commit(self) -> Path:
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self._out.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


class Download(AtomicFile):
    """A response body on its way to ``target`` (both clients' ``to=``): an :class:`AtomicFile` plus
    the call's ``on_progress(done, total)``, told ``received(0)`` once the file is open, then after
    each chunk.

    ``__init__``, ``write`` and ``commit`` block (the async client runs them on worker threads);
    ``received`` reports progress on the caller's thread (the event loop's, for the async client).
    """

    def __init__(self, target: str | os.PathLike[str], total: int | None,
                 on_progress: Callable[[int, int | None], None] | None) -> None:
        super().__init__(target)
        self.total, self.done, self.on_progress = total, 0, on_progress

    def received(self, size: int) -> None:
        self.done += size
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


def save_atomically(chunks: Iterable[bytes], target: str | os.PathLike[str]) -> Path:
    """Write ``chunks`` to ``target`` through a temporary file and an atomic rename."""
    out = AtomicFile(target)
    try:
        for chunk in chunks:
            out.write(chunk)
    except BaseException:
        out.abort()
        raise
    return out.commit()
