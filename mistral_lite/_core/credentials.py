"""Credentials: which headers carry them, how they are named, redacted and fingerprinted.

Header names are case-insensitive on the wire, so every header mapping the client builds has
its names in one canonical spelling (``authorization`` and ``AUTHORIZATION`` both become
``Authorization``): a later mapping replaces an earlier one's value whatever the case, and the
credential read for the cache fingerprint and for redaction is the one actually sent.

:class:`Secret` is a ``str`` whose ``repr`` hides it, so the key held in settings, headers and
plan objects does not show in ``repr()``, debuggers or traceback locals (Sentry, ``pytest
--showlocals``). :func:`redact` and :func:`redact_headers` replace the key wherever a server
echoes it (error bodies, response headers, stream events, log lines).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ORIGIN_CREDENTIALS", "SECRET_HEADERS", "Secret", "canonical_headers", "credential", "drop_credentials",
           "header_name", "redact", "redact_headers", "same_origin"]

#: Headers whose values are credentials: never shown in errors, logs or cache keys.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})
REDACTED = "[redacted]"
#: The credentials meant for the server called: dropped when a redirect leaves its origin (a proxy's
#: ``Proxy-Authorization`` is the proxy's, and the transports set it per hop).
ORIGIN_CREDENTIALS = SECRET_HEADERS - {"proxy-authorization"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs share scheme, host and port (a redirect between them keeps the credentials)."""
    a, b = urlsplit(url), urlsplit(other)
    try:
        ports = (a.port or _DEFAULT_PORTS.get(a.scheme), b.port or _DEFAULT_PORTS.get(b.scheme))
    except ValueError:  # a malformed port: not the same origin
        return False
    return a.scheme.lower() == b.scheme.lower() and (a.hostname or "") == (b.hostname or "") and ports[0] == ports[1]


def drop_credentials(headers: MutableMapping[str, Any]) -> None:
    """Remove every credential header (any spelling :data:`ORIGIN_CREDENTIALS` knows, any case), in place."""
    for name in [n for n in headers if n.lower() in ORIGIN_CREDENTIALS]:
        while name in headers:  # a multidict may hold a name more than once
            del headers[name]


class Secret(str):
    """A credential: compares and sends like its text, but ``repr`` shows ``'[redacted]'``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)


_NAMES: dict[str, str] = {}


def header_name(name: str) -> str:
    """The canonical spelling of a header name: ``x-api-key`` → ``X-Api-Key``."""
    canonical = _NAMES.get(name)
    if canonical is None:
        canonical = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(_NAMES) < 1024:
            _NAMES[name] = canonical
    return canonical


def canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with canonical names (a later spelling of the same name wins); credentials as Secret."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        canonical = header_name(name)
        out[canonical] = Secret(value) if canonical.lower() in SECRET_HEADERS else value
    return out


def credential(headers: Mapping[str, str]) -> Secret | None:
    """The key in a canonical header mapping's ``Authorization`` (the token after the scheme)."""
    auth = headers.get("Authorization")
    if not auth or len(auth) <= 11:  # too short to be redacted usefully ("Bearer " + a few characters)
        return None
    return Secret(auth.split(" ", 1)[-1])


def redact(value: Any, secret: str | None) -> Any:
    """``value`` with every occurrence of ``secret`` in its strings (and bytes) replaced."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, bytes):
        return value.replace(secret.encode("latin-1", "replace"), REDACTED.encode())
    if isinstance(value, list):
        return [redact(v, secret) for v in value]
    if isinstance(value, dict):
        return {k: redact(v, secret) for k, v in value.items()}
    return value


def redact_headers(headers: Mapping[str, str], secret: str | None = None) -> dict[str, str]:
    """Headers safe to show: credential headers masked, and the key redacted wherever it appears."""
    out = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            value = value.split(" ", 1)[0] + " " + REDACTED if " " in value else REDACTED
        elif secret and secret in value:
            value = value.replace(secret, REDACTED)
        out[name] = value
    return out
