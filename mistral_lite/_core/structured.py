"""Python types and callables as options, and ``parsed`` results: the two general steps.

At plan time, :func:`prepare` replaces, in the options, every value the schemas annotate with
``"x-python"`` that is not already JSON: a type given as a ``response_format`` (at any depth,
e.g. ``completion_args.response_format``) becomes a strict ``json_schema`` format, and a
callable in a tool array becomes its tool dict (:func:`mistral_lite.function_tool`). It runs
before validation and returns a *finisher* when the result must get ``parsed``: at finish
time the finisher decodes the content of each message the row's ``parsed`` path names into
the type (:class:`~mistral_lite.exceptions.OutputParseError` when it cannot). A stream gets the
finisher as its ``finish`` attribute, which :func:`~mistral_lite.collect_completion` applies.

Both steps cost a dictionary lookup or two when no type or callable is given; the type
machinery (:mod:`~mistral_lite._core.pytypes`, :mod:`~mistral_lite._core.tools`) is imported only when
one is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mistral_lite._core.jsoncodec import loads
from mistral_lite._core.speech import encode_file
from mistral_lite._table import Endpoint, Spec
from mistral_lite.exceptions import OutputParseError, ToolArgumentsError, UnsupportedTypeError, ValidationError

__all__ = ["BatchTypes", "Finisher", "annotated_options", "attach_parsed", "attach_parsed_fields", "prepare",
           "response_format_for"]

_T = TypeVar("_T")
_U = TypeVar("_U")

if TYPE_CHECKING:  # for type checkers only: a generic TypedDict needs Python 3.11 at run time
    from typing_extensions import NotRequired, TypedDict

    from mistral_lite.types import ParsedMessage  # generated: AssistantMessage with `parsed: _T | None`

    class ParsedChoice(TypedDict, Generic[_T]):
        index: int
        message: ParsedMessage[_T]
        finish_reason: str | None

    class ParsedChatCompletion(TypedDict, Generic[_T]):
        """The result of ``chat`` / ``agent_completion`` with a type as ``response_format``."""

        id: str
        object: str
        model: str
        created: int
        choices: list[ParsedChoice[_T]]
        usage: dict[str, Any]
        messages: NotRequired[list[dict[str, Any]]]  # run_tools: the transcript

    class ParsedOCRImage(TypedDict, Generic[_U]):
        """An OCR page's image when ``bbox_annotation_format`` was the type ``_U``."""

        id: str
        top_left_x: int | None
        top_left_y: int | None
        bottom_right_x: int | None
        bottom_right_y: int | None
        image_base64: NotRequired[str | None]
        image_annotation: NotRequired[str | None]
        parsed: NotRequired[_U | None]

    class ParsedOCRPage(TypedDict, Generic[_U]):
        index: int
        markdown: str
        images: list[ParsedOCRImage[_U]]
        dimensions: dict[str, Any] | None
        tables: NotRequired[list[dict[str, Any]]]
        hyperlinks: NotRequired[list[str]]
        header: NotRequired[str | None]
        footer: NotRequired[str | None]
        blocks: NotRequired[list[dict[str, Any]] | None]
        confidence_scores: NotRequired[dict[str, Any] | None]

    class ParsedOCRResponse(TypedDict, Generic[_T, _U]):
        """The result of ``ocr`` with a type as ``document_annotation_format`` (``_T``) or
        ``bbox_annotation_format`` (``_U``)."""

        pages: list[ParsedOCRPage[_U]]
        model: str
        document_annotation: NotRequired[str | None]
        usage_info: dict[str, Any]
        parsed: _T | None

Finisher = Callable[[Any], Any]
#: (option path, kind): where the row's schema accepts a Python type or callables.
Slots = tuple[tuple[tuple[str, ...], str], ...]


def annotated_options(spec: Spec, endpoint: Endpoint) -> Slots:
    """The ``x-python`` annotated option paths of a row (memoised on the spec)."""
    memo = spec.memo.get("x-python")
    if memo is None:
        memo = spec.memo.setdefault("x-python", {})
    found: Slots | None = memo.get(endpoint)
    if found is None:
        out: list[tuple[tuple[str, ...], str]] = []
        for name, schema in endpoint.options.items():
            _walk(spec, schema, endpoint.schema_name, (name,), out, 0)
        found = memo[endpoint] = tuple(out)
    return found


def _walk(spec: Spec, schema: Any, current: str, path: tuple[str, ...],
          out: list[tuple[tuple[str, ...], str]], depth: int) -> None:
    if not isinstance(schema, Mapping) or depth > 4:
        return
    kind = schema.get("x-python")
    if isinstance(kind, str):
        out.append((path, kind))
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        file, _, pointer = ref.partition("#")
        file = file or current
        target: Any = spec.schemas[file]
        for part in pointer.strip("/").split("/") if pointer.strip("/") else ():
            target = target[part]
        _walk(spec, target, file, path, out, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            _walk(spec, sub, current, path, out, depth + 1)
    for name, sub in (schema.get("properties") or {}).items():
        _walk(spec, sub, current, (*path, name), out, depth + 1)


def prepare(spec: Spec, endpoint: Endpoint, options: dict[str, Any]) -> Finisher | None:
    """Convert types and callables in ``options`` (in place, copying nested dicts it changes);
    return the finisher that attaches ``parsed``, or None."""
    slots = annotated_options(spec, endpoint)
    if not slots:
        return None
    target: Any = None
    fields: list[tuple[Any, tuple[str, ...]]] = []  # (type, path of the JSON text it shapes)
    for path, kind in slots:
        value = options.get(path[0])
        for part in path[1:]:
            if type(value) is not dict:
                value = None
                break
            value = value.get(part)
        if value is None:
            continue
        if kind == "response-format":
            if type(value) is dict:
                continue
            converted: Any = response_format_for(value, endpoint.name, ".".join(path))
            field = endpoint.parsed_fields.get(path[0]) if len(path) == 1 else None
            if field is not None:
                fields.append((value, field))
            elif len(path) == 1 or target is None:
                target = value
        elif kind == "tools":
            if type(value) is list and all(type(t) is dict for t in value):
                continue
            converted = _tools_for(value, endpoint.name, ".".join(path))
        elif kind == "base64-file":
            if type(value) is str:
                continue
            converted = encode_file(value, endpoint.name, ".".join(path))
        else:  # pragma: no cover - the table's lint names the kinds
            continue
        _assign(options, path, converted)
    if fields:
        return lambda result: attach_parsed_fields(result, fields, endpoint.name)
    if target is None or not endpoint.parsed:
        return None
    where = endpoint.parsed
    return lambda result: attach_parsed(result, target, where, endpoint.name)


class BatchTypes:
    """Types given in the bodies of a batch run: each body's types become their JSON formats as
    the line is added, and :meth:`parse` gives each successful result body its ``parsed``
    values, as the same call gives them (a line that cannot be parsed gets an ``error``)."""

    def __init__(self, spec: Spec, endpoints: Mapping[str, Endpoint], path: str) -> None:
        self.spec = spec
        self.row = next((e for e in endpoints.values() if e.method == "POST" and e.path == path), None)
        self.finishers: dict[str, Finisher] = {}

    def convert(self, custom_id: str, body: Any) -> Any:
        """``body`` with its types converted (a copy when it had any)."""
        if self.row is None or not isinstance(body, Mapping) or not annotated_options(self.spec, self.row):
            return body
        body = dict(body)
        try:
            finisher = prepare(self.spec, self.row, body)
        except ValidationError:
            return body  # the body check names the problem
        if finisher is not None:
            self.finishers[custom_id] = finisher
        return body

    def parse(self, result: dict[str, Any]) -> dict[str, Any]:
        finisher = self.finishers.get(result["custom_id"])
        body = result.get("body")
        if finisher is None or not isinstance(body, dict) or not 200 <= (result.get("status_code") or 0) < 300:
            return result
        try:
            finisher(body)
        except OutputParseError as exc:
            result["error"] = {"message": str(exc), "content": exc.content}
        return result


def _assign(options: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``options[path]`` without mutating the caller's nested dicts."""
    node = options
    for part in path[:-1]:
        node[part] = dict(node[part])
        node = node[part]
    node[path[-1]] = value


def response_format_for(value: Any, operation: str = "", where: str = "response_format") -> dict[str, Any]:
    """The strict ``json_schema`` response format for a type (pydantic model, dataclass, TypedDict)."""
    from mistral_lite._core.pytypes import is_schema_type, schema_for, strict_schema, type_name  # import cost (types)

    if not is_schema_type(value):
        got = type_name(value) if isinstance(value, type) else type(value).__name__
        raise ValidationError(operation, [(where, f"expected a dict, or a pydantic model, dataclass or TypedDict "
                                                  f"class, got {got}")])
    try:
        schema = strict_schema(schema_for(value))
    except UnsupportedTypeError as exc:
        raise ValidationError(operation, [(where, exc.message)]) from None
    json_schema: dict[str, Any] = {"name": type_name(value), "schema": schema, "strict": True}
    if schema.get("description"):
        json_schema["description"] = schema["description"]
    return {"type": "json_schema", "json_schema": json_schema}


def _tools_for(value: Any, operation: str, where: str) -> Any:
    if not isinstance(value, (list, tuple)):
        return [_one_tool(value, operation, f"{where}[0]")] if callable(value) else value
    return [_one_tool(tool, operation, f"{where}[{i}]") for i, tool in enumerate(value)]


def _one_tool(tool: Any, operation: str, where: str) -> Any:
    if type(tool) is dict or not callable(tool):
        return tool  # dicts (and mistakes) are for the validator to judge
    from mistral_lite._core.tools import function_tool  # import cost: inspect and typing, for a callable only

    try:
        return function_tool(tool)
    except UnsupportedTypeError as exc:
        raise ValidationError(operation, [(where, exc.message)]) from None


# --- finish: parsed ------------------------------------------------------------------------


def attach_parsed(result: Any, target: Any, where: tuple[str, ...], operation: str) -> Any:
    """Give each message under ``where`` with text content its ``parsed`` value; a stream is
    returned with the finisher as its ``finish`` attribute."""
    if not isinstance(result, dict):
        if hasattr(result, "__next__") or hasattr(result, "__anext__"):
            result.finish = lambda done: attach_parsed(done, target, where, operation)
        return result
    for message, holder in _messages(result, where, None):
        content = message.get("content")
        text = _text(content)
        if not text and message.get("tool_calls"):
            message["parsed"] = None  # the model called a tool instead of answering
            continue
        if text is None and message.get("type") not in (None, "message.output"):
            continue  # a function call or tool execution entry
        message["parsed"] = _parse(text or "", target, result, holder, operation)
    return result


def attach_parsed_fields(result: Any, fields: list[tuple[Any, tuple[str, ...]]], operation: str) -> Any:
    """Give each dict holding a JSON text a row's ``parsed_fields`` names its ``parsed`` value
    (None when the text is null): ``result["parsed"]`` for an OCR's ``document_annotation``,
    ``image["parsed"]`` for each image's ``image_annotation``."""
    if not isinstance(result, dict):
        return result
    for target, path in fields:
        for holder, _ in _messages(result, path[:-1], None):
            text = holder.get(path[-1])
            holder["parsed"] = None if text is None else _parse(
                text if isinstance(text, str) else "", target, result, holder, operation)
    return result


def _messages(node: Any, path: tuple[str, ...], holder: Any) -> list[tuple[dict[str, Any], Any]]:
    if isinstance(node, list):
        return [m for item in node for m in _messages(item, path, item)]
    if not isinstance(node, dict):
        return []
    if not path:
        return [(node, holder if holder is not None else node)]
    return _messages(node.get(path[0]), path[1:], node if isinstance(node.get(path[0]), dict) else holder)


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # chunks: the text ones, joined
        return "".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type", "text") == "text")
    return None


def _parse(text: str, target: Any, response: Any, holder: Any, operation: str) -> Any:
    from mistral_lite._core.pytypes import load, type_name  # import cost: the type machinery, for a type only

    finish = holder.get("finish_reason") if isinstance(holder, dict) else None
    cut = " (finish_reason is \"length\": the output was cut at max_tokens; raise max_tokens)" \
        if finish == "length" else ""
    try:
        value = loads(text)
    except ValueError:
        raise OutputParseError(f"{operation}: the model's answer is not valid JSON{cut}", content=text,
                               response=response, finish_reason=finish, operation=operation) from None
    try:
        return load(target, value)
    except ToolArgumentsError as exc:  # the value does not fit the type
        raise OutputParseError(f"{operation}: the model's answer does not match {type_name(target)}: {exc}{cut}",
                               content=text, response=response, finish_reason=finish,
                               operation=operation) from None
