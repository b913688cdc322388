"""The fake's state on disk: ``fake-server --state DIR`` keeps every resource across restarts.

The whole :class:`~.state.State` is saved generically: every attribute except the transient
ones (:data:`TRANSIENT`: its lock, clock settings, base URL and runner) is encoded as JSON,
with tags for what JSON cannot say (bytes, tuples, sets, non-string keys, infinities, and the
fake's own record classes, :data:`RECORDS`: a state file can name nothing else), and written
atomically to ``DIR/state.json`` after each request. Loading sets the saved attributes back;
names the current State no longer has are skipped; a file that is not a state of this fake is a
``ValueError`` naming it, in one line.

Several processes may share ``DIR`` (a ``fake-server --state DIR`` and ``mistral-lite
--mock-state DIR`` commands, or many commands at once): each save takes an exclusive lock on
``DIR/.state.lock`` and, when another process wrote the file since this one last read or wrote
it, merges the two (three-way, from what this process last saw: an item only one side changed
takes that side's value, items added on either side are kept, items deleted on one side go,
and this process wins where both changed the same item), sets the merged resources back on its
own state, and writes the result. Nothing another process saved is lost. Meant for development
states (files are stored inline, base64-encoded).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mistral_lite.fake.state import AgentRecord, Job, LibraryDocument, LibraryRecord, State, StoredFile

try:  # POSIX: an advisory lock on a file, released when its process ends (even by kill -9)
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per state directory
    fcntl = None  # type: ignore[assignment]

__all__ = ["RECORDS", "TRANSIENT", "Persistence", "decode", "encode"]

#: State attributes that are not resources and are never saved.
TRANSIENT = frozenset({"lock", "batch_step", "base_url", "runner"})
FORMAT = 1
_TAG = "__fake__"
#: The record classes a state file may name, by the tag that names them: nothing else is ever
#: built from a state file (no other class, and never a function).
RECORDS: dict[str, type[Any]] = {f"{kind.__module__}:{kind.__qualname__}": kind
                                 for kind in (StoredFile, AgentRecord, Job, LibraryDocument, LibraryRecord)}
_MISSING: Any = object()


def encode(value: Any) -> Any:
    """``value`` as plain JSON, with tagged objects for what JSON lacks."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG: "float", "value": repr(value)}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "value": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "value": [encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _TAG for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "map", "value": [[encode(k), encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        name = f"{kind.__module__}:{kind.__qualname__}"
        if RECORDS.get(name) is not kind:
            raise TypeError(f"cannot save a {kind.__module__}.{kind.__qualname__} in the fake's state")
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "type": name, "value": fields}
    raise TypeError(f"cannot save a {type(value).__qualname__} in the fake's state")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    inner: Any = value.get("value")
    if tag == "float":
        return float(inner)
    if tag == "bytes":
        return base64.b64decode(inner)
    if tag == "tuple":
        return tuple(decode(v) for v in inner)
    if tag == "set":
        return {decode(v) for v in inner}
    if tag == "map":
        return {decode(k): decode(v) for k, v in inner}
    if tag == "dataclass":
        kind = RECORDS.get(str(value.get("type")))
        if kind is None:
            raise ValueError(f"refusing to load a {str(value.get('type'))[:80]!r} from the fake's state "
                             f"(only its records: {', '.join(sorted(RECORDS))})")
        if not isinstance(inner, dict) or not inner.keys() <= {f.name for f in dataclasses.fields(kind)}:
            raise ValueError(f"a {kind.__qualname__} record with other fields than its own")
        return kind(**{k: decode(v) for k, v in inner.items()})
    raise ValueError(f"unknown tag {tag!r} in the fake's state")


def _merge(base: Any, ours: Any, theirs: Any) -> Any:
    """Three-way merge of encoded values (``_MISSING``: absent): one side's change wins over no
    change, plain objects merge key by key, and ours wins where both sides changed a value."""
    if ours == base:
        return theirs
    if theirs in (base, ours):
        return ours
    plain = [isinstance(v, dict) and _TAG not in v for v in (ours, theirs)]
    if all(plain):
        old = base if isinstance(base, dict) and _TAG not in base else {}
        merged = {}
        for key in [*theirs, *(k for k in ours if k not in theirs)]:
            value = _merge(old.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING))
            if value is not _MISSING:
                merged[key] = value
        return merged
    return ours


class Persistence:
    """Loads a :class:`State` from ``directory`` and saves it back after each change."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.json"
        self.lock_path = self.directory / ".state.lock"
        self._last: str | None = None
        #: The encoded state as this process last read or wrote it: the merge's common ancestor.
        self._base: dict[str, Any] = {}
        #: ``(inode, mtime, size)`` of the file as this process last read or wrote it.
        self._seen: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory's exclusive lock (other processes saving wait for it)."""
        with open(self.lock_path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read(self) -> tuple[str, dict[str, Any]] | None:
        """The file's text and its encoded state (None when there is no file); a file that is
        not a state of this fake is a one-line ``ValueError`` naming it."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.path}: cannot read the fake's state: {exc}") from None
        try:
            saved = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"{self.path} is not a state file of this fake (not JSON: {exc}); "
                             f"move it away to start afresh") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT or not isinstance(saved.get("state"), dict):
            raise ValueError(f"{self.path} is not a state file of this fake (format {FORMAT}); "
                             f"move it away to start afresh")
        return text, saved["state"]

    def _apply(self, state: State, encoded: dict[str, Any], only: dict[str, Any] | None = None) -> None:
        """Set the encoded attributes on ``state`` (those that differ from ``only``, when given)."""
        values: dict[str, Any] = {}
        for name, value in encoded.items():
            if name in TRANSIENT or not hasattr(state, name) or (only is not None and only.get(name) == value):
                continue
            try:
                values[name] = decode(value)
            except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, RecursionError) as exc:
                raise ValueError(f"{self.path} is not a state file of this fake ({name}: {exc}); "
                                 f"move it away to start afresh") from None
        for name, value in values.items():  # all decoded first: a bad file changes nothing
            setattr(state, name, value)

    def _snapshot(self, state: State) -> dict[str, Any]:
        return {name: encode(value) for name, value in vars(state).items() if name not in TRANSIENT}

    def load(self, state: State) -> bool:
        """Set the saved resources on ``state``; False when nothing was saved yet."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with state.lock:
            stamp = self._stamp()
            found = self._read()
            if found is None:
                self._base, self._seen = self._snapshot(state), None
                return False
            text, saved = found
            self._apply(state, saved)
            self._last, self._base, self._seen = text, saved, stamp
            return True

    def save(self, state: State) -> None:
        """Write the state atomically, merged with what other processes saved since this one last
        read or wrote the file (nothing is written when nothing changed)."""
        with state.lock:
            snapshot = self._snapshot(state)
            text = json.dumps({"format": FORMAT, "state": snapshot}, separators=(",", ":"), sort_keys=True)
            if text == self._last and self._stamp() == self._seen:
                return
            with self._locked():
                stamp = self._stamp()
                if stamp != self._seen:  # another process wrote it: merge theirs in
                    found = self._read()
                    if found is not None:
                        theirs = found[1]
                        merged = {name: _merge(self._base.get(name, _MISSING), snapshot.get(name, _MISSING),
                                               theirs.get(name, _MISSING))
                                  for name in {*snapshot, *theirs}}
                        merged = {name: value for name, value in merged.items() if value is not _MISSING}
                        self._apply(state, merged, only=snapshot)
                        snapshot = merged
                        text = json.dumps({"format": FORMAT, "state": snapshot}, separators=(",", ":"),
                                          sort_keys=True)
                        if text == found[0]:
                            self._last, self._base, self._seen = text, snapshot, stamp
                            return
                fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".json", dir=self.directory)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        out.write(text)
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                self._last, self._base, self._seen = text, snapshot, self._stamp()
