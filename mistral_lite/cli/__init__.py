"""The ``mistral-lite`` command line (``main`` is the console script's entry point)."""

from mistral_lite.cli.app import main

__all__ = ["main"]
