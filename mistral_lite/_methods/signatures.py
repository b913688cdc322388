"""Signatures and docstrings of the operation methods, derived from the option schemas.

The types come from one place, :class:`mistral_lite._methods.typeexpr.RowTypes` (option types, result
and stream item types, named as in :mod:`mistral_lite.types`); the runtime signatures
(``inspect.Signature``), the Google-style docstrings and the committed type stub
(``_methods/operations.pyi``) are all built from it, so they cannot disagree.
"""


from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from mistral_lite._methods.typeexpr import RowTypes
from mistral_lite._table import Endpoint, Spec

__all__ = ["CALL_PARAMS", "annotation", "as_optional", "docstring", "option_type", "param_order", "result_section",
           "return_annotation", "row_types", "signature", "takes_progress"]

PROGRESS = "Callable[[int, int | None], None] | None"
CALL_PARAMS: tuple[tuple[str, str], ...] = (
    ("extra_body", "Mapping[str, Any] | None"),
    ("extra_query", "Mapping[str, Any] | None"),
    ("extra_headers", "Mapping[str, str] | None"),
    ("timeout", "float | tuple[float, float] | None"),
)


def _resolve(schema: Mapping[str, Any], spec: Spec, current: str) -> tuple[Mapping[str, Any], str]:
    return row_types(spec).inputs.resolve(schema, current)


def row_types(spec: Spec) -> RowTypes:
    """The table's :class:`RowTypes` (built on first use, kept in ``spec.memo``)."""
    rows: RowTypes | None = spec.memo.get("row_types")
    if rows is None:
        rows = spec.memo["row_types"] = RowTypes(spec)
    return rows


def annotation(schema: Mapping[str, Any], spec: Spec, current: str, owner: str = "Option") -> str:
    """A Python type expression (as text) for an option schema; nested objects are ``...Param`` types."""
    return row_types(spec).inputs.expr(schema, current, owner)


def option_type(endpoint: Endpoint, name: str, spec: Spec) -> str:
    """The type of one option of a row (the name of a nested object says where it sits)."""
    return row_types(spec).option(endpoint, name)


def param_order(endpoint: Endpoint) -> tuple[list[str], list[str], list[str]]:
    props = list(endpoint.options)
    required = set(endpoint.required) - set(endpoint.fill)
    positional = list(endpoint.path_params)
    keyword_required = [p for p in props if p in required and p not in positional]
    keyword_optional = [p for p in props if p not in required and p not in positional]
    return positional, keyword_required, keyword_optional


def signature(endpoint: Endpoint, spec: Spec) -> inspect.Signature:
    """The method's signature: ``(self, <path params>, *, <required>, <optional>=None, ...)``."""
    P = inspect.Parameter
    ann = {n: option_type(endpoint, n, spec) for n in endpoint.options}
    positional, required, optional = param_order(endpoint)
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, annotation=ann[n]) for n in positional]
    params += [P(n, P.KEYWORD_ONLY, annotation=ann[n]) for n in required]
    for n in optional:
        default = endpoint.fill.get(n)
        params.append(P(n, P.KEYWORD_ONLY, default=default,
                        annotation=ann[n] if default is not None else as_optional(ann[n])))
    for n, a in CALL_PARAMS:
        params.append(P(n, P.KEYWORD_ONLY, default=None, annotation=a))
    if endpoint.stream != "none":
        params.append(P("stream_timeout", P.KEYWORD_ONLY, default=None, annotation="float | None"))
    if takes_progress(endpoint):
        params.append(P("on_progress", P.KEYWORD_ONLY, default=None, annotation=PROGRESS))
    return inspect.Signature(params, return_annotation=return_annotation(endpoint, spec))


def takes_progress(endpoint: Endpoint) -> bool:
    """Whether calls of the row take ``on_progress``: downloads and uploads."""
    return endpoint.response == "bytes" or endpoint.body == "multipart"


def as_optional(text: str) -> str:
    return text if text == "Any" or text.endswith("| None") else f"{text} | None"


def return_annotation(endpoint: Endpoint, spec: Spec, stream: bool | None = None) -> str:
    """What a call returns: the result type, ``Stream[<item>]`` with ``stream=True`` (``stream``
    None: either), ``Path`` for a download given its target."""
    rows = row_types(spec)
    if endpoint.response == "bytes":
        return "bytes | Path" if endpoint.client else "bytes"
    result = rows.result(endpoint)
    if endpoint.always_stream:  # the endpoint only streams
        return f"Stream[{rows.event(endpoint)}]"
    if endpoint.stream == "none" or "stream" not in endpoint.options or stream is False:
        return result
    streamed = f"Stream[{rows.event(endpoint)}]"
    return streamed if stream else f"{result} | {streamed}"


def _describe_option(name: str, schema: Mapping[str, Any], endpoint: Endpoint, spec: Spec, required: bool) -> str:
    resolved, _ = _resolve(schema, spec, endpoint.schema_name)
    text = (schema.get("description") or resolved.get("description") or "").strip().rstrip(".")
    facts = []
    enum = resolved.get("enum")
    if enum:
        facts.append("one of " + ", ".join(repr(v) for v in enum))
    lo = resolved.get("minimum", resolved.get("exclusiveMinimum"))
    hi = resolved.get("maximum", resolved.get("exclusiveMaximum"))
    if lo is not None or hi is not None:
        facts.append(f"range {'' if lo is None else lo}..{'' if hi is None else hi}")
    if "maxLength" in resolved:
        facts.append(f"at most {resolved['maxLength']} characters")
    if "maxItems" in resolved:
        facts.append(f"at most {resolved['maxItems']} items")
    if name in endpoint.fill:
        facts.append(f"default {endpoint.fill[name]!r} (filled in by the client)")
    elif "default" in schema or "default" in resolved:
        facts.append(f"server default {schema.get('default', resolved.get('default'))!r}")
    where = "path" if name in endpoint.path_params else "query" if name in endpoint.query else (
        "client-only" if name in endpoint.client else "")
    if where:
        facts.append(f"sent in the {where}" if where != "client-only" else "used by the client, never sent")
    kind = option_type(endpoint, name, spec)
    head = f"{name} ({kind}{'' if required else ', optional'})"
    body = (text + ". " if text else "") + ("; ".join(facts) + "." if facts else "")
    return f"    {head}: {'Required. ' if required else ''}{body}".rstrip()


def docstring(endpoint: Endpoint, spec: Spec) -> str:
    """The generated method's docstring (Google style)."""
    lines = [endpoint.summary, "", f"``{endpoint.method} {endpoint.path}``"]
    if endpoint.deprecated is not None:
        instead = f" use ``{endpoint.deprecated}`` instead" if isinstance(endpoint.deprecated, str) else ""
        lines += ["", f"Deprecated by the API:{instead}; calling it emits a DeprecationWarning."]
    notes = []
    if endpoint.retry == "idempotent":
        notes.append("Retried on 408/429/5xx, connection errors and timeouts.")
    elif endpoint.retry == "create":
        notes.append("Creates or changes state: retried only on 429 and when the request never reached the server.")
    if endpoint.cache:
        notes.append("Cached when the client has a cache.")
    if endpoint.paginate:
        notes.append(f"All pages: ``client.paginate({endpoint.name!r}, ...)``.")
    if endpoint.wait:
        notes.append(f"Poll to the end: ``client.wait({endpoint.name!r}, ...)``.")
    if notes:
        lines += ["", " ".join(notes)]
    lines += ["", "Args:"]
    positional, required, optional = param_order(endpoint)
    for name in [*positional, *required, *optional]:
        req = name in positional or name in required
        lines.append(_describe_option(name, endpoint.options[name], endpoint, spec, req))
    lines.append(
        "    extra_body, extra_query, extra_headers: fields the table does not know yet, merged after validation."
    )
    lines.append("    timeout: seconds for this call, a number or (connect, read).")
    if endpoint.stream != "none":
        lines.append("    stream_timeout: seconds without data before the stream raises APITimeoutError.")
    if endpoint.body == "multipart":
        lines.append("    on_progress: called as on_progress(bytes_sent, total) while the upload is sent.")
    elif endpoint.response == "bytes":
        lines.append("    on_progress: called as on_progress(bytes_done, total_or_None) while the content arrives.")
    lines += ["", "Returns:"]
    if endpoint.response == "bytes":
        lines.append("    bytes: the content; with ``to``, the Path it was written to atomically.")
    elif endpoint.response == "empty":
        lines.append("    dict: ``{}`` (the server answers 204 No Content).")
    else:
        items = (endpoint.paginate or {}).get("items")
        shape = "list: the decoded JSON array" if items == "" else "the decoded JSON response (usually a dict)"
        lines.append(f"    {shape}.")
    if endpoint.always_stream:
        lines.append("    Always a Stream of event dicts (the endpoint only streams), ending when the server closes.")
    elif endpoint.stream == "completion":
        lines.append("    With ``stream=True``, a Stream of chunk dicts that ends at ``[DONE]``.")
    elif endpoint.stream == "events":
        lines.append(
            f"    With ``stream=True``, a Stream of event dicts, each with its ``type``, ending after "
            f"``{endpoint.stream_end}``."
        )
    lines += [
        "",
        "Raises:",
        "    ValidationError: the options do not match the schema (nothing was sent).",
        "    APIStatusError: the server answered an error status (a subclass per status).",
        "    APIConnectionError: the server could not be reached (APITimeoutError on timeouts).",
    ]
    return "\n".join(lines + result_section(endpoint, spec))


def result_section(endpoint: Endpoint, spec: Spec) -> list[str]:
    """The closing lines of help and ``mistral-lite ops NAME``: the result's top-level fields."""
    title, fields = row_types(spec).result_fields(endpoint)
    lines = ["", f"Result: {title}" + (", with the fields:" if fields else "")]
    lines += [f"    {name} ({kind}): {facts}." for name, kind, facts in fields]
    return lines
