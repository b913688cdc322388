"""The generated operation methods: one per table row, attached once at import.

``Operations`` is the mixin ``Client`` inherits. For each row it gets a method named after the
operation, with the signature and docstring built by :mod:`mistral_lite._signatures` (path
parameters positional-or-keyword in path order, options keyword-only), whose body calls the one
dispatcher. Type checkers read the committed stub ``_operations.pyi`` instead of this module.
"""

from __future__ import annotations

from typing import Any

from ._signatures import docstring, signature
from ._spec import Endpoint, Spec, load_spec

__all__ = ["Operations"]


def _make_method(endpoint: Endpoint, spec: Spec) -> Any:
    name = endpoint.name

    def method(self: Any, *args: Any, **options: Any) -> Any:
        return self._dispatch(name, args, options)

    method.__name__ = name
    method.__qualname__ = f"Operations.{name}"
    method.__module__ = __name__
    method.__doc__ = docstring(endpoint, spec)
    method.__signature__ = signature(endpoint, spec)  # type: ignore[attr-defined]
    return method


class Operations:
    """Generated methods, one per operation of the table (see ``endpoints.toml``)."""

    def call(self, operation: str, /, *args: Any, **options: Any) -> Any:
        """Run any operation by name: ``client.call("chat", model=..., messages=...)``.

        Path parameters may be positional (in path order) or keywords; options are keywords.
        """
        return self._dispatch(operation, args, options)

    def _dispatch(self, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        raise NotImplementedError


def _attach(spec: Spec) -> None:
    for endpoint in spec.endpoints.values():
        if hasattr(Operations, endpoint.name):
            raise AttributeError(f"operation {endpoint.name!r} clashes with an Operations attribute")
        setattr(Operations, endpoint.name, _make_method(endpoint, spec))


_attach(load_spec())
