"""mistral_lite: a small, fast, table-driven client for the Mistral AI API.

    >>> from mistral_lite import Client
    >>> client = Client()                       # MISTRAL_API_KEY from the environment
    >>> client.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])

Every operation is a row of ``endpoints.toml``; ``client.call("chat", ...)`` and the generated
``client.chat(...)`` go through the same dispatcher.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from ._headers import RateLimit
from ._raw_response import RawResponse
from ._streaming import Stream, acollect_completion, collect_completion
from ._structured import response_format_for
from ._usage import Usage
from ._workflows import BatchError, WaitTimeout
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
    from . import mcp as mcp
    from ._async import AsyncClient, AsyncStream
    from ._bulk import BulkInputError, BulkProgress
    from ._conversations import acollect_conversation, citations, collect_conversation, output_text
    from ._subtitles import to_srt, to_vtt
    from ._tools import function_tool

#: Helpers on results, loaded on first use (each name -> its module): they cost nothing at import.
_RESULT_HELPERS = {"acollect_conversation": "_conversations", "citations": "_conversations",
                   "collect_conversation": "_conversations", "output_text": "_conversations",
                   "to_srt": "_subtitles", "to_vtt": "_subtitles"}


def __getattr__(name: str) -> object:
    if name in ("AsyncClient", "AsyncStream"):  # asyncio is imported only when asked for
        from . import _async

        return getattr(_async, name)
    if name in ("BulkInputError", "BulkProgress"):  # the bulk-run modules only when used
        from . import _bulk

        return getattr(_bulk, name)
    if name in _RESULT_HELPERS:  # the result helpers' modules only when used
        import importlib

        return getattr(importlib.import_module(f".{_RESULT_HELPERS[name]}", __name__), name)
    if name == "function_tool":  # inspect and typing only when used
        from ._tools import function_tool

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
