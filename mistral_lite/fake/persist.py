"""The fake's state on disk: ``fake-server --state DIR`` keeps every resource across restarts.

The whole :class:`~.state.State` is saved generically: every attribute except the transient
ones (:data:`TRANSIENT`: its lock, clock settings, base URL and runner) is encoded as JSON,
with tags for what JSON cannot say (bytes, tuples, sets, non-string keys, infinities, and the
dataclasses of ``mistral_lite.fake``), and written atomically to ``DIR/state.json`` after each
request. Loading sets the saved attributes back; names the current State no longer has are
skipped. Meant for development states (files are stored inline, base64-encoded).
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .state import State

__all__ = ["TRANSIENT", "Persistence", "decode", "encode"]

#: State attributes that are not resources and are never saved.
TRANSIENT = frozenset({"lock", "batch_step", "base_url", "runner"})
FORMAT = 1
_TAG = "__fake__"


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
        if not kind.__module__.startswith("mistral_lite.fake"):
            raise TypeError(f"cannot save a {kind.__module__}.{kind.__qualname__} in the fake's state")
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "type": f"{kind.__module__}:{kind.__qualname__}", "value": fields}
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
        module, _, name = str(value.get("type")).partition(":")
        if not module.startswith("mistral_lite.fake"):
            raise ValueError(f"refusing to load a {module}:{name} from the fake's state")
        kind = getattr(importlib.import_module(module), name)
        return kind(**{k: decode(v) for k, v in inner.items()})
    raise ValueError(f"unknown tag {tag!r} in the fake's state")


class Persistence:
    """Loads a :class:`State` from ``directory`` and saves it back after each change."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "state.json"
        self._last: str | None = None

    def load(self, state: State) -> bool:
        """Set the saved resources on ``state``; False when nothing was saved yet."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        saved = json.loads(text)
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a state file of this fake (format {FORMAT})")
        with state.lock:
            for name, value in saved.get("state", {}).items():
                if name not in TRANSIENT and hasattr(state, name):
                    setattr(state, name, decode(value))
        self._last = text
        return True

    def save(self, state: State) -> None:
        """Write the state atomically (nothing is written when it did not change)."""
        with state.lock:
            snapshot = {name: encode(value) for name, value in vars(state).items() if name not in TRANSIENT}
            text = json.dumps({"format": FORMAT, "state": snapshot}, separators=(",", ":"), sort_keys=True)
            if text == self._last:
                return
            fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".json", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._last = text
