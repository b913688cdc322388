"""mistral_lite: a small, fast, table-driven client for the Mistral AI API.

    >>> from mistral_lite import Client
    >>> client = Client()                       # MISTRAL_API_KEY from the environment
    >>> client.chat(model="mistral-small-latest", messages=[{"role": "user", "content": "Hi"}])

Every operation is a row of ``endpoints.toml``; ``client.call("chat", ...)`` and the generated
``client.chat(...)`` go through the same dispatcher.
"""

__version__ = "0.1.0"

from ._streaming import Stream, collect_completion
from ._workflows import BatchError, WaitTimeout
from .client import Client
from .exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    UnknownOperationError,
    UnprocessableEntityError,
    ValidationError,
)


def __getattr__(name: str) -> object:
    if name in ("AsyncClient", "AsyncStream"):  # asyncio is imported only when asked for
        from . import _async

        return getattr(_async, name)
    raise AttributeError(f"module 'mistral_lite' has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "MistralError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Stream",
    "StreamError",
    "UnknownOperationError",
    "UnprocessableEntityError",
    "ValidationError",
    "WaitTimeout",
    "BatchError",
    "__version__",
    "collect_completion",
]
