"""Module attributes loaded on first use (PEP 562), for the package root and ``fake``.

A package whose submodules must stay light (``mistral_lite.exceptions`` runs the root first; the
pytest plugin runs ``fake/__init__``) lists its public names in one table, name -> defining
module, and takes its ``__getattr__`` and ``__dir__`` from :func:`lazy_attributes`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``table`` imports its module on
    first access and is then stored in the package's namespace. A name whose module is
    ``package.name`` is that submodule itself."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        module_name = table.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value  # later look-ups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
