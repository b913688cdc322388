"""Reading OpenAPI documents, for the maintainer tools: ``load_openapi`` and the operations in it.

Shared by the spec-drift tool (:mod:`mistral_lite._dev.spec`), the import of new rows
(:mod:`mistral_lite._dev.spec_import`) and the response schemas (:mod:`mistral_lite._dev.responses`).
YAML input needs PyYAML (imported only when a YAML file is read); JSON always works.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mistral_lite._core.extras import install_hint
from mistral_lite.exceptions import SpecFileError

__all__ = [
    "HTTP_METHODS",
    "STREAM_SUFFIX",
    "SpecOp",
    "iter_operations",
    "load_openapi",
    "norm_path",
    "placeholders",
    "spec_operations",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: The path suffix of an operation that is the SSE variant of the same HTTP endpoint.
STREAM_SUFFIX = "#stream"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def load_openapi(path: str | Path) -> dict[str, Any]:
    """Read an OpenAPI document: JSON always, YAML when PyYAML is importable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    data: Any = None
    if not is_yaml:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            if path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"{", b"["):
                raise SpecFileError(f"{path}: not valid JSON: {exc}") from None
            is_yaml = True
    if is_yaml:
        data = _load_yaml(path, raw)
    if not isinstance(data, dict) or not isinstance(data.get("paths"), dict):
        raise SpecFileError(f"{path}: not an OpenAPI document (no 'paths' object)")
    if not str(data.get("openapi", "")).startswith("3."):
        raise SpecFileError(f"{path}: not an OpenAPI 3.x document (openapi: {data.get('openapi')!r})")
    return data


def _load_yaml(path: Path, raw: bytes) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]  # optional: not a dependency
    except ImportError:
        raise SpecFileError(
            f"{path}: reading YAML needs PyYAML, which is not installed; install it (pip install pyyaml, "
            f"or the spec extra: {install_hint('spec')}) or convert the file to JSON"
        ) from None
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        """A safe loader that reads JSON-style floats such as ``1e-08`` as floats (YAML 1.1 does not)."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"),
        list("-+0123456789"),
    )
    try:
        return yaml.load(raw, Loader=Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecFileError(f"{path}: not valid YAML: {exc}") from None


@dataclass(frozen=True)
class SpecOp:
    """One operation of the document; ``stream`` is its ``#stream`` (SSE) variant, if any."""

    method: str
    path: str
    operation_id: str
    op: Mapping[str, Any]
    item: Mapping[str, Any]
    stream: SpecOp | None = None


def norm_path(path: str) -> str:
    """The path template with placeholders blanked and any ``#fragment`` (``#id``, ``#idOrName``) dropped."""
    return _PLACEHOLDER.sub("{}", path.split("#")[0])


def placeholders(path: str) -> list[str]:
    """The placeholder names of a path template, in order."""
    return [p[1:-1] for p in _PLACEHOLDER.findall(path)]


def iter_operations(openapi: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str, Mapping[str, Any]]]:
    """``(path, path item, method, operation)`` for every operation of an OpenAPI document."""
    for path, item in openapi.get("paths", {}).items():
        if not isinstance(item, Mapping):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, Mapping):
                yield path, item, method, op


def spec_operations(openapi: Mapping[str, Any]) -> tuple[dict[tuple[str, str], SpecOp], int]:
    """Operations keyed by (METHOD, normalised path); ``#stream`` variants only when alone."""
    ops: dict[tuple[str, str], SpecOp] = {}
    streams: list[SpecOp] = []
    for path, item, method, op in iter_operations(openapi):
        entry = SpecOp(method.upper(), path, str(op.get("operationId", "")), op, item)
        if path.endswith(STREAM_SUFFIX):
            streams.append(entry)
        else:
            ops[(entry.method, norm_path(path))] = entry
    ignored = 0
    for entry in streams:
        key = (entry.method, norm_path(entry.path[: -len(STREAM_SUFFIX)]))
        if key in ops:
            ignored += 1
            ops[key] = replace(ops[key], stream=entry)
        else:
            ops[key] = entry
    return ops, ignored
