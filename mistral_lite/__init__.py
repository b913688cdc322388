"""mistral_lite: a small, fast, table-driven client for the Mistral AI API.

    >>> from mistral_lite import Client
    >>> client = Client()                       # MISTRAL_API_KEY from the environment
    >>> client.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])

Every operation is a row of ``endpoints.toml``; ``client.call("chat", ...)`` and the generated
``client.chat(...)`` go through the same dispatcher.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from mistral_lite._core.headers import RateLimit
from mistral_lite._core.structured import response_format_for
from mistral_lite._core.usage import Usage
from mistral_lite._core.workflows import BatchError, WaitTimeout
from mistral_lite._http.stream import Stream, acollect_completion, collect_completion
from mistral_lite._methods.raw_response import RawResponse

from .client import Client
from .exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BulkRunError,
    ConflictError,
    InternalServerError,
    MaxTurnsExceeded,
    MistralError,
    NotFoundError,
    OutputParseError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    ToolError,
    UnknownOperationError,
    UnprocessableEntityError,
    ValidationError,
)

if TYPE_CHECKING:  # visible to type checkers; at run time these load only when asked for
    from mistral_lite._bulk.live import BulkInputError, BulkProgress
    from mistral_lite._core.tools import function_tool
    from mistral_lite._http.aio import AsyncClient, AsyncStream
    from mistral_lite._methods.conversations import acollect_conversation, citations, collect_conversation, output_text
    from mistral_lite._methods.subtitles import to_srt, to_vtt

    from . import mcp as mcp

#: Helpers on results, loaded on first use (each name -> its module): they cost nothing at import.
_RESULT_HELPERS = {"acollect_conversation": "_methods.conversations", "citations": "_methods.conversations",
                   "collect_conversation": "_methods.conversations", "output_text": "_methods.conversations",
                   "to_srt": "_methods.subtitles", "to_vtt": "_methods.subtitles"}


def __getattr__(name: str) -> object:
    if name in ("AsyncClient", "AsyncStream"):  # asyncio is imported only when asked for
        from mistral_lite._http import aio as _async

        return getattr(_async, name)
    if name in ("BulkInputError", "BulkProgress"):  # the bulk-run modules only when used
        from mistral_lite._bulk import live as _bulk

        return getattr(_bulk, name)
    if name in _RESULT_HELPERS:  # the result helpers' modules only when used
        import importlib

        return getattr(importlib.import_module(f".{_RESULT_HELPERS[name]}", __name__), name)
    if name == "function_tool":  # inspect and typing only when used
        from mistral_lite._core.tools import function_tool

        return function_tool
    if name == "mcp":  # MCP tool sources (the module itself never imports the mcp package)
        import importlib

        return importlib.import_module(".mcp", __name__)
    raise AttributeError(f"module 'mistral_lite' has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BulkInputError",
    "BulkProgress",
    "BulkRunError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "MaxTurnsExceeded",
    "MistralError",
    "NotFoundError",
    "OutputParseError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RawResponse",
    "Stream",
    "StreamError",
    "ToolError",
    "UnknownOperationError",
    "UnprocessableEntityError",
    "Usage",
    "ValidationError",
    "WaitTimeout",
    "BatchError",
    "__version__",
    "acollect_completion",
    "acollect_conversation",
    "citations",
    "collect_completion",
    "collect_conversation",
    "function_tool",
    "output_text",
    "response_format_for",
    "to_srt",
    "to_vtt",
]
