"""mistral_lite: a small, fast, table-driven client for the Mistral AI API.

    >>> from mistral_lite import Client
    >>> client = Client()                       # MISTRAL_API_KEY from the environment
    >>> client.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])

Every operation is a row of ``endpoints.toml``; ``client.call("chat", ...)`` and the generated
``client.chat(...)`` go through the same dispatcher.
"""

from typing import TYPE_CHECKING

import mistral_lite.exceptions as exceptions
from mistral_lite._core.lazy import lazy_attributes
from mistral_lite._version import __version__
from mistral_lite.exceptions import *  # noqa: F403  # every exception is public (exceptions.__all__); they are cheap

if TYPE_CHECKING:  # visible to type checkers; at run time each name loads on first use (see _LAZY)
    from mistral_lite import mcp as mcp  # the submodule, re-exported (mypy needs this form)
    from mistral_lite._bulk.prepare import BulkProgress
    from mistral_lite._core.headers import RateLimit
    from mistral_lite._core.structured import response_format_for
    from mistral_lite._core.tools import function_tool
    from mistral_lite._core.usage import Usage
    from mistral_lite._http.aio import AsyncClient
    from mistral_lite._http.aio_stream import AsyncStream
    from mistral_lite._http.stream import Stream
    from mistral_lite._methods.conversations import (
        acollect_completion,
        acollect_conversation,
        citations,
        collect_completion,
        collect_conversation,
        output_text,
    )
    from mistral_lite._methods.raw_response import RawResponse
    from mistral_lite._methods.subtitles import to_srt, to_vtt
    from mistral_lite.client import Client

#: Every public name that is not an exception -> the module defining it, imported on first use
#: (PEP 562), so that ``import mistral_lite.exceptions`` or ``mistral_lite.types`` (which run this
#: file first) load neither requests nor the client, and asyncio loads only with ``AsyncClient``.
_LAZY: dict[str, str] = {
    "Client": "mistral_lite.client",
    "AsyncClient": "mistral_lite._http.aio",
    "AsyncStream": "mistral_lite._http.aio_stream",
    "Stream": "mistral_lite._http.stream",
    "acollect_completion": "mistral_lite._methods.conversations",
    "collect_completion": "mistral_lite._methods.conversations",
    "RawResponse": "mistral_lite._methods.raw_response",
    "RateLimit": "mistral_lite._core.headers",
    "Usage": "mistral_lite._core.usage",
    "response_format_for": "mistral_lite._core.structured",
    "function_tool": "mistral_lite._core.tools",
    "BulkProgress": "mistral_lite._bulk.prepare",
    "acollect_conversation": "mistral_lite._methods.conversations",
    "citations": "mistral_lite._methods.conversations",
    "collect_conversation": "mistral_lite._methods.conversations",
    "output_text": "mistral_lite._methods.conversations",
    "to_srt": "mistral_lite._methods.subtitles",
    "to_vtt": "mistral_lite._methods.subtitles",
    "mcp": "mistral_lite.mcp",  # the submodule itself (MCP tool sources; it never imports the mcp package)
}


if not TYPE_CHECKING:  # hidden from type checkers, which see the imports above: a typo stays an error
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "AsyncStream",
    "Stream",
    "acollect_completion",
    "collect_completion",
    "RawResponse",
    "RateLimit",
    "Usage",
    "response_format_for",
    "function_tool",
    "BulkProgress",
    "acollect_conversation",
    "citations",
    "collect_conversation",
    "output_text",
    "to_srt",
    "to_vtt",
]
__all__ += exceptions.__all__  # every exception, including those added to exceptions.py later
