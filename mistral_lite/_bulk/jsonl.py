"""JSONL files: the one line reader, and the files of a bulk run (input, output, resume scan).

* **Reading**: :func:`read_lines` is the package's JSONL line reader (a path, an open binary
  file or bytes in; numbered non-blank lines out); every JSONL file the package reads goes
  through it: a bulk run's input and output, the batch engine's result files, ``run_batch``'s
  downloaded results and the command line's ``batch run`` input.

* **Input** is the batch API's format, one request a line: ``{"custom_id": "...", "body":
  {...}}``; a line without ``custom_id`` is named by its line number (counting from 1); blank
  lines are skipped (they keep their number). :func:`scan_input` checks every line in one
  streaming pass (JSON, shape, the body against the operation's schema, repeated ids) and
  reports every problem with its line number; :func:`iter_input` yields the lines to run.
* **Output** is the batch API's output format, one result a line: ``{"id", "custom_id",
  "response": {"status_code", "body"} | null, "error": {"message", "code"} | null}``.
  :class:`OutputWriter` appends each line with a single ``write`` on an unbuffered descriptor
  (so a killed process leaves whole lines, or at worst one torn last line) and ``fsync``\\ s at
  most once a second and on close: a ``kill -9`` loses nothing already written; a power loss
  may lose the last second, which a resume then runs again.
* **Resume**: :func:`read_done` reads the ``custom_id``\\ s already in the output into a
  :class:`DoneSet` (a sorted array of 64-bit fingerprints: 8 bytes a line) and cuts a torn last
  line off, so that line is run again.

Memory stays flat in the number of lines: nothing here holds a line longer than it takes to
handle it, except the fingerprints (8 bytes a line, only while checking for repeated ids and
while resuming).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import heapq
import io
import os
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from mistral_lite._core.jsoncodec import dumps, loads
from mistral_lite.exceptions import MAX_REPORTED, BulkInputError, BulkRunError, MistralError

try:
    import fcntl  # POSIX only: elsewhere a run takes no lock
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["BulkInputError", "DoneSet", "InputLine", "OutputLock", "OutputWriter", "bad_ids", "iter_input",
           "read_done", "read_lines", "scan_input"]

#: What :func:`read_lines` reads: a path, an open binary file, or the file's bytes.
Source = str | os.PathLike[str] | bytes | IO[bytes]


def read_lines(source: Source, digest: Any = None, *, blank: bool = False) -> Iterator[tuple[int, bytes]]:
    """The lines of a JSONL file with their numbers (from 1), newline included; blank lines are
    skipped (they keep their number) unless ``blank``. ``digest.update`` sees every byte. A
    path is opened (and closed) here; an open file is read from where it stands."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            yield from read_lines(handle, digest, blank=blank)
        return
    lines: Iterable[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source  # split at b"\n" only
    for number, raw in enumerate(lines, 1):
        if digest is not None:
            digest.update(raw)
        if blank or raw.strip():
            yield number, raw

class InputLine:
    """One request of the input: its line number, ``custom_id`` and body."""

    __slots__ = ("body", "custom_id", "number", "size")

    def __init__(self, number: int, custom_id: str, body: dict[str, Any], size: int) -> None:
        self.number, self.custom_id, self.body, self.size = number, custom_id, body, size


def _fingerprint(custom_id: str) -> int:
    return hash(custom_id)  # 64 bits, stable within the process that uses it


def _parse_line(number: int, raw: bytes) -> tuple[InputLine | None, str | None]:
    try:
        item = loads(raw)
    except ValueError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(item, dict):
        return None, f"expected a JSON object, got {type(item).__name__}"
    body = item.get("body")
    if not isinstance(body, dict):
        return None, "`body` must be a JSON object (each line is {\"custom_id\": ..., \"body\": {...}})"
    custom_id = item.get("custom_id")
    if custom_id is None:
        custom_id = str(number)
    elif not isinstance(custom_id, str) or not custom_id:
        return None, f"`custom_id` must be a non-empty string, got {custom_id!r}"
    unknown = set(item) - {"custom_id", "body"}
    if unknown:
        return None, f"unknown key(s) {sorted(unknown)} beside custom_id and body"
    return InputLine(number, custom_id, body, len(raw)), None


def _line_id(number: int, line: InputLine | None) -> str:
    """The ``custom_id`` a line's result carries: a line that does not parse (skipped, its error
    written) is named by its number."""
    return line.custom_id if line is not None else str(number)


def iter_input(path: str, skip: frozenset[int] = frozenset()) -> Iterator[InputLine]:
    """The input's requests in order (lines numbered in ``skip`` left out); lines that do not
    parse are left out too (:func:`scan_input` reports them first)."""
    for number, raw in read_lines(path):
        if number in skip:
            continue
        line, _ = _parse_line(number, raw)
        if line is not None:
            yield line


class ScanReport:
    """What :func:`scan_input` found: line counts and every problem by line number."""

    __slots__ = ("bad", "count", "fingerprint", "problems", "repeats", "total")

    def __init__(self) -> None:
        self.total = 0  # requests (non-blank lines)
        self.count = 0  # bad lines
        self.problems: list[tuple[int, str]] = []
        self.repeats: list[tuple[int, str]] = []  # repeated custom_ids: never skippable
        self.bad: set[int] = set()
        self.fingerprint = ""  # SHA-256 of the input's bytes

    def add(self, number: int, message: str) -> None:
        if number not in self.bad:
            self.count += 1
            self.bad.add(number)
        if len(self.problems) < 10 * MAX_REPORTED:
            self.problems.append((number, message))


def scan_input(path: str, check: Any = None) -> ScanReport:
    """Check every line of ``path`` in one pass; ``check(body)`` returns a list of problems
    (strings) with a body. Repeated ``custom_id``\\ s are reported on every repeat (also in
    ``repeats``), naming the line they repeat. ``fingerprint`` is the SHA-256 of the file."""
    report = ScanReport()
    prints = _Sorter()
    digest = hashlib.sha256()
    for number, raw in read_lines(path, digest):
        report.total += 1
        line, problem = _parse_line(number, raw)
        prints.add(_fingerprint(_line_id(number, line)))  # a skipped bad line's error carries an id too
        if line is None:
            report.add(number, problem or "bad line")
            continue
        if check is not None:
            for message in check(line.body):
                report.add(number, message)
    report.fingerprint = digest.hexdigest()
    repeated = {value for value, count in prints.finish().counts() if count > 1}
    if repeated:
        _report_repeats(path, report, repeated)
    return report


def _report_repeats(path: str, report: ScanReport, repeated: set[int]) -> None:
    seen: dict[str, int] = {}
    for number, raw in read_lines(path):
        custom_id = _line_id(number, _parse_line(number, raw)[0])
        if _fingerprint(custom_id) not in repeated:
            continue
        first = seen.setdefault(custom_id, number)
        if first != number:
            message = f"custom_id {custom_id!r} repeats line {first}"
            report.add(number, message)
            report.repeats.append((number, message))


def bad_ids(path: str, bad: frozenset[int]) -> Iterator[tuple[int, str]]:
    """``(number, custom_id)`` of the lines numbered in ``bad`` (a line that does not parse is
    named by its number)."""
    for number, raw in read_lines(path):
        if number in bad:
            yield number, _line_id(number, _parse_line(number, raw)[0])


class DoneSet:
    """A set of ``custom_id``\\ s as a sorted array of fingerprints (8 bytes each)."""

    def __init__(self, ordered: array[int]) -> None:
        self._prints = ordered

    @classmethod
    def empty(cls) -> DoneSet:
        return cls(array("q"))

    def __contains__(self, custom_id: object) -> bool:
        if not isinstance(custom_id, str):
            return False
        key = _fingerprint(custom_id)
        at = bisect.bisect_left(self._prints, key)
        return at < len(self._prints) and self._prints[at] == key

    def __len__(self) -> int:
        return len(self._prints)

    def counts(self) -> Iterator[tuple[int, int]]:
        previous: int | None = None
        count = 0
        for value in self._prints:
            if value != previous and previous is not None:
                yield previous, count
                count = 0
            previous = value
            count += 1
        if previous is not None:
            yield previous, count


class _Sorter:
    """Collects fingerprints into sorted runs of ``chunk`` (a list of Python ints only that
    long), then merges them into one array: 16 bytes a value at the peak, 8 after."""

    def __init__(self, chunk: int = 4096) -> None:
        self.chunk = chunk
        self.runs: list[array[int]] = []
        self.current = array("q")

    def add(self, value: int) -> None:
        self.current.append(value)
        if len(self.current) >= self.chunk:
            self.runs.append(array("q", sorted(self.current)))
            self.current = array("q")

    def finish(self) -> DoneSet:
        runs, self.runs = self.runs, []
        if self.current:
            runs.append(array("q", sorted(self.current)))
        merged = array("q", heapq.merge(*runs)) if len(runs) > 1 else (runs[0] if runs else array("q"))
        return DoneSet(merged)


def read_done(path: str) -> DoneSet:
    """The ``custom_id``\\ s already in the output at ``path`` (missing: none).

    A last line without its newline, or one that does not parse, is a write cut short by a
    kill: it is cut off the file (its request runs again). A bad line before the last is
    reported: the file is not ours to guess about.
    """
    prints = _Sorter()
    try:
        handle = open(path, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return DoneSet(array("q"))
    except OSError as exc:
        raise MistralError(f"{path}: cannot read the output to resume: {exc.strerror or exc}") from None
    with handle:
        good_end = 0
        pending_error: str | None = None
        for number, raw in read_lines(handle, blank=True):
            if pending_error is not None:
                raise BulkRunError(f"{path}: line {number - 1} is not a result line ({pending_error}); fix or "
                                   "remove it, or start afresh with resume=False (--no-resume)", path=path)
            custom_id = None
            try:
                record = loads(raw) if raw.endswith(b"\n") else None
                custom_id = record.get("custom_id") if isinstance(record, dict) else None
            except ValueError:
                record = None
            if not isinstance(custom_id, str):
                pending_error = "no custom_id" if record is not None else "not JSON"
                continue
            prints.add(_fingerprint(custom_id))
            good_end += len(raw)
        if pending_error is not None:  # the torn last line
            handle.truncate(good_end)
    return prints.finish()


def result_line(custom_id: str, status: int | None, body: Any, error: Mapping[str, Any] | None) -> bytes:
    """One output line, newline included."""
    record = {
        "id": f"bulk-{custom_id}",
        "custom_id": custom_id,
        "response": None if status is None else {"status_code": status, "body": body},
        "error": None if error is None else dict(error),
    }
    return dumps(record) + b"\n"


class OutputWriter:
    """Appends whole lines to the output; thread-safe; ``fsync`` at most every ``sync_every`` s."""

    def __init__(self, path: str, *, fresh: bool, sync_every: float = 1.0) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
        self._fd = os.open(path, flags, 0o644)
        self._lock = threading.Lock()
        self._sync_every = sync_every
        self._synced = time.monotonic()

    def write(self, line: bytes) -> None:
        """Append one whole line. After :meth:`close` (a run interrupted while calls were still
        in flight) the line is dropped, never written to a reused descriptor: a resume runs it."""
        with self._lock:
            if self._fd < 0:
                return
            try:
                view = memoryview(line)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                now = time.monotonic()
                if now - self._synced >= self._sync_every:
                    os.fsync(self._fd)
                    self._synced = now
            except OSError as exc:  # a full disk, a quota, an I/O error: stop writing here
                self._broken(exc)

    def _broken(self, exc: OSError) -> None:
        """Close the output (a torn last line stays last, and a resume cuts it) and raise."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1
        raise MistralError(f"{self.path}: cannot write the output: {exc.strerror or exc}; make room and run "
                           "again: the run resumes where it stopped", operation="run_jsonl") from None

    def write_all(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._broken(exc)
                finally:
                    if self._fd >= 0:
                        os.close(self._fd)
                        self._fd = -1


def state_path(output: str) -> str:
    """The batch engine's state file beside ``output``."""
    return output + ".batch.json"


def lock_path(output: str) -> str:
    return output + ".lock"


class OutputLock:
    """One output, one run: an exclusive ``flock`` on ``OUTPUT.lock`` beside the output, held
    while the run lasts. The kernel drops it when the process ends, however it ends (``kill -9``
    leaves no stale lock). The lock file stays (removing it would race with the next run) and
    records what the output was made from: the input's SHA-256 and the operation, so that a
    resume over a changed input is refused. Without ``fcntl`` (not POSIX) there is no lock.
    """

    def __init__(self, output: str) -> None:
        # beside the file the output really is: a symlink to an output in use names the same lock
        self.output, self.path = output, lock_path(os.path.realpath(output))
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MistralError(f"{output}: cannot write the output: {exc.strerror or exc}",
                               operation="run_jsonl") from None
        if fcntl is None:  # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = -1
            raise BulkRunError(f"{output}: another run is writing this output (it holds {self.path}); wait for "
                               "it to end, or choose another output", path=output) from None

    def record(self) -> dict[str, Any] | None:
        """What the lock file says the output was made from (None: nothing recorded)."""
        data = b""
        with contextlib.suppress(OSError):
            os.lseek(self._fd, 0, os.SEEK_SET)
            data = os.read(self._fd, 1 << 16)
        if not data.strip():
            return None
        try:
            record = loads(data)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise BulkRunError(f"{self.path}: damaged (not the record of a run); start afresh with resume=False "
                               "(--no-resume)", path=self.path)
        return record

    def save(self, record: Mapping[str, Any]) -> None:
        data = dumps(dict(record)) + b"\n"
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, data)
        except OSError as exc:
            raise MistralError(f"{self.path}: cannot write: {exc.strerror or exc}", operation="run_jsonl") from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1
