"""Request building: an endpoint row plus validated options become method, URL, headers, body.

Path parameters are percent-encoded so that ``/``, ``?``, ``#`` and dot segments cannot change
the path. Query values follow the API's conventions: arrays as repeated keys, objects (such as
``metadata`` filters) JSON-encoded, booleans as ``true``/``false``. The body is compact JSON,
or a streamed multipart body when the row says ``body = "multipart"``; a row's ``body_option`` is
an option whose value is the whole JSON body (an array), and its ``wire`` map gives the API's name
of an option Python cannot spell (``from_`` is sent as ``from``). ``extra_query``,
``extra_body`` and ``extra_headers`` are merged after validation. A body JSON cannot carry (NaN,
a cycle, a non-JSON object) is a :class:`ValidationError` naming where. Nothing here performs I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mistral_lite._core.files import MultipartBody
from mistral_lite._core.inputs import array_default, is_array, json_problems
from mistral_lite._core.jsoncodec import dumps
from mistral_lite._table import Endpoint
from mistral_lite.exceptions import ValidationError

__all__ = ["Built", "all_proxy", "build_request", "encode_path", "encode_path_value"]

def all_proxy(url: str) -> str | None:
    """The ``ALL_PROXY`` of the environment for ``url``, as requests applies it: when no proxy is set
    for the URL's scheme and ``NO_PROXY`` does not exclude its host (None otherwise)."""
    import urllib.request  # only with ALL_PROXY set: it loads http.client and email (import cost)

    proxies = urllib.request.getproxies()
    parts = urlsplit(url)
    if "all" not in proxies or parts.scheme in proxies:
        return None
    if getattr(urllib.request, "proxy_bypass_environment")(parts.hostname or "", proxies):  # noqa: B009
        return None
    return proxies["all"]


_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def encode_path(path: str) -> str:
    """A whole path percent-encoded as both transports send it: spaces, non-ASCII (as UTF-8) and a
    bare ``%`` encoded; ``/``, existing ``%XX`` escapes and RFC 3986's sub-delimiters kept."""
    return quote(_BARE_PERCENT.sub("%25", path), safe="/%:@!$&'()*+,;=-._~")


def encode_path_value(value: Any) -> str:
    """Percent-encode one path segment; ``.`` and ``..`` are encoded too."""
    text = quote(str(value), safe=":@")
    if text in (".", ".."):
        text = text.replace(".", "%2E")
    return text


def _query_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict) or is_array(value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=array_default)
    return str(value)


def _query_pairs(query: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        if value is None:
            continue
        if is_array(value):
            pairs.extend((name, _query_value(v)) for v in value)
        else:
            pairs.append((name, _query_value(value)))
    return pairs


class Built:
    """A request ready to send: everything but the transport."""

    __slots__ = ("body", "client_options", "headers", "json_body", "method", "path", "path_params", "query", "url")

    def __init__(
        self, method: str, url: str, path: str, path_params: dict[str, str], query: dict[str, Any],
        headers: dict[str, str], body: Any, json_body: Any, client_options: dict[str, Any],
    ) -> None:
        self.method, self.url, self.path = method, url, path
        self.path_params, self.query, self.headers = path_params, query, headers
        self.body = body  # bytes, a MultipartBody, or None
        self.json_body = json_body  # the body as data (for the cache key), or None
        self.client_options = client_options


def build_request(
    endpoint: Endpoint,
    base_url: str,
    options: Mapping[str, Any],
    *,
    stream: bool = False,
    extra_query: Mapping[str, Any] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Built:
    """Sort validated ``options`` into path, query, body and client-only parts."""
    path_params: dict[str, str] = {}
    query: dict[str, Any] = {}
    body: dict[str, Any] = {}
    client: dict[str, Any] = {}
    path_names, query_names, client_names, wire = endpoint.path_params, endpoint.query, endpoint.client, endpoint.wire
    for name, value in options.items():
        if name in path_names:
            path_params[name] = str(value)
        elif name in query_names:
            query[wire.get(name, name) if wire else name] = value
        elif name in client_names:
            client[name] = value
        else:
            body[wire.get(name, name) if wire else name] = value
    path = endpoint.path
    if extra_query:
        query.update(extra_query)
    try:
        for name, value in path_params.items():
            path = path.replace("{" + name + "}", encode_path_value(value))
        url = base_url + path
        pairs = _query_pairs(query)
        if pairs:
            url += "?" + urlencode(pairs)
    except (TypeError, ValueError, RecursionError) as exc:  # lone surrogates, NaN or cycles in objects
        problems = json_problems({**path_params, **query}) or [("<query>", str(exc)[:200])]
        raise ValidationError(endpoint.name, problems) from None
    headers: dict[str, str] = {"Accept": "text/event-stream" if stream else "application/json"}
    payload: Any = None
    json_body: Any = None
    if endpoint.body == "json" or (extra_body and endpoint.body == "none"):
        if extra_body:
            body.update(extra_body)
        if endpoint.body_option is not None and not extra_body:  # the body is that one option's value (an array)
            json_body = body.get(endpoint.body_option)
            payload = dumps(json_body)
            headers["Content-Type"] = "application/json"
        elif body or endpoint.body == "json":
            json_body = body
            try:
                payload = dumps(body)
            except (TypeError, ValueError, RecursionError, OverflowError) as exc:  # UnicodeError is a ValueError
                raise ValidationError(endpoint.name, json_problems(body) or [("<body>", str(exc)[:200])]) from None
            headers["Content-Type"] = "application/json"
    elif endpoint.body == "multipart":
        if extra_body:
            body.update(extra_body)
        files = {k: v for k, v in body.items() if endpoint.options.get(k, {}).get("x-file")}  # checked by validate
        # arrays of scalars become repeated parts (OpenAPI's default multipart encoding)
        problems = json_problems({k: v for k, v in body.items() if k not in files})
        if problems:
            raise ValidationError(endpoint.name, problems)
        fields = [(k, _query_value(item)) for k, v in body.items() if k not in files
                  for item in (v if is_array(v) else (v,))]
        multipart = MultipartBody(fields, files)
        payload = multipart
        json_body = fields
        headers["Content-Type"] = multipart.content_type
        headers["Content-Length"] = str(multipart.length)
    if extra_headers:
        headers.update(extra_headers)
    return Built(endpoint.method, url, path, path_params, query, headers, payload, json_body, client)
