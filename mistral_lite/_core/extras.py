"""How to install an optional extra, said the same way by every error that needs one.

``pip install "mistral-lite[async]"`` works for an install from a package index; from a clone
of the repository the same extra is ``pip install ".[async]"``. Every message that names an
install step comes from :func:`install_hint` (or :func:`needs`), so that both forms are always
given, and the extras named are those of ``setup.cfg`` (:data:`EXTRAS`).
"""

from __future__ import annotations

__all__ = ["EXTRAS", "install_hint", "needs"]

#: The optional extras of the package (``setup.cfg``), by the feature that needs each.
EXTRAS: dict[str, str] = {"async": "AsyncClient (aiohttp)", "fast": "faster JSON (orjson)",
                          "pydantic": "pydantic models", "mcp": "MCP servers (mcp)",
                          "otel": "tracing (OpenTelemetry)", "spec": "YAML OpenAPI files in the spec tool (pyyaml)"}


def install_hint(extra: str) -> str:
    """``pip install "mistral-lite[EXTRA]"`` (or ``pip install ".[EXTRA]"`` from a clone)."""
    if extra not in EXTRAS:
        raise ValueError(f"no extra {extra!r}; the extras are {', '.join(sorted(EXTRAS))}")
    return f'pip install "mistral-lite[{extra}]" (or pip install ".[{extra}]" from a clone of the repository)'


def needs(what: str, extra: str) -> str:
    """``WHAT: pip install ...`` (both install forms), e.g. ``needs("AsyncClient needs aiohttp", "async")``."""
    return f"{what}: {install_hint(extra)}"
