"""Tools from plain Python functions: the tool dict, and the model's arguments as a call.

:func:`function_tool` reads a function's signature (types from its annotations, a default
makes a parameter optional) and docstring (the summary as the tool's description; parameter
descriptions from a Google ``Args:`` or a NumPy ``Parameters`` section) and returns the
``{"type": "function", "function": {...}}`` dict the API takes. :func:`call_arguments` checks
the model's JSON arguments against the same annotations and returns the keyword arguments,
dataclasses and pydantic models constructed.

Loaded only when a callable is given (``inspect`` and ``typing`` are not cheap to import).
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mistral_lite._core.jsoncodec import loads
from mistral_lite._core.pytypes import load, schema_for, strict_schema
from mistral_lite.exceptions import ToolArgumentsError, UnsupportedTypeError

__all__ = ["ToolArgumentsError", "ToolDict", "call_arguments", "function_tool", "tool_name"]

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|"
                      r"Raises|Examples?|Notes?|See Also|Attributes|Warnings?|References)\s*:?\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*\**(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_PARAM = re.compile(r"^(\w+)\s*(:.*)?$")
_PARAM_SECTIONS = ("Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments")


class ToolDict(dict):  # type: ignore[type-arg]
    """A tool dict that remembers its function (``fn``) and whether a call waits for approval
    (``confirm``); it is sent, compared and serialised as the plain dict it is."""

    fn: Callable[..., Any]
    confirm: bool


#: The function names the API accepts.
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def tool_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name)


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise UnsupportedTypeError(f"cannot read the signature of {tool_name(fn)}: {exc}") from None
    return [p for p in sig.parameters.values()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) or isinstance(fn, type) else type(fn).__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise UnsupportedTypeError(f"cannot read the annotations of {tool_name(fn)}: {exc}") from None


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a Google or NumPy style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _is_section(lines, i):
        summary.append(lines[i])
        i += 1
    while i < len(lines):
        title = _SECTION.match(lines[i])
        numpy = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        i += 2 if numpy else 1
        body: list[str] = []
        while i < len(lines) and not _is_section(lines, i):
            body.append(lines[i])
            i += 1
        if title and title.group(1) in _PARAM_SECTIONS:
            params.update(_numpy_params(body) if numpy else _google_params(body))
    return " ".join(" ".join(summary).split()).strip(), params


def _is_section(lines: list[str], i: int) -> bool:
    if not _SECTION.match(lines[i]):
        return False
    numpy = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
    return numpy or lines[i].rstrip().endswith(":")


def _google_params(body: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    indent: int | None = None
    current = None
    for line in body:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        match = _GOOGLE_PARAM.match(line)
        if depth <= indent and match:
            current = match.group(1)
            out[current] = match.group(3).strip()
        elif current is not None:
            out[current] = f"{out[current]} {line.strip()}".strip()
    return out


def _numpy_params(body: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    current = None
    for line in body:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            match = _NUMPY_PARAM.match(line.strip())
            current = None
            if match:
                for name in match.group(1).split(","):
                    current = name.strip()
                    out[current] = ""
        elif current is not None:
            out[current] = f"{out[current]} {line.strip()}".strip()
    return out


def function_tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                  strict: bool = False, confirm: bool = False) -> dict[str, Any]:
    """The tool dict for ``fn``: ``{"type": "function", "function": {name, description, parameters}}``.

    Parameter types come from the annotations (str, int, float, bool, None, Literal, Enum,
    list, ``dict[str, X]``, Optional and unions, TypedDict, dataclasses, pydantic models); a
    parameter with a default is optional; descriptions come from the docstring (Google or
    NumPy style). ``strict=True`` makes the schema strict (every parameter required, optional
    ones nullable, no other properties) and sets ``strict`` on the function.

    The dict remembers ``fn``, so ``run_tools(tools=[function_tool(fn, ...)])`` runs it; with
    ``confirm=True`` the loop stops before running a call to it and asks for an approval (the
    dict sent is the same).
    """
    if not isinstance(confirm, bool):
        raise UnsupportedTypeError(f"confirm must be True or False, got {confirm!r}")
    hints = _annotations(fn)
    summary, described = parse_docstring(inspect.getdoc(fn))
    props: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    for param in _parameters(fn):
        hint = hints.get(param.name, Any if param.annotation is inspect.Parameter.empty else param.annotation)
        schema = schema_for(hint, f"{tool_name(fn)}({param.name})")
        for key, sub in schema.pop("$defs", {}).items():
            defs.setdefault(key, sub)
        if described.get(param.name) and "description" not in schema:
            schema["description"] = described[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            default = getattr(param.default, "value", param.default)  # an Enum member: its value
            if default is None or isinstance(default, (str, int, float, bool)):
                schema["default"] = default
        props[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if defs:
        parameters["$defs"] = defs
    if strict:
        parameters = strict_schema(parameters)
    final_name = name or tool_name(fn)
    if not _TOOL_NAME.fullmatch(final_name):
        raise UnsupportedTypeError(
            f"tool name {final_name!r} is not one the API accepts (letters, digits, _ and -, at most 64); "
            "pass function_tool(fn, name=...) or use a named function")
    function: dict[str, Any] = {"name": final_name, "description": description or summary,
                                "parameters": parameters}
    if strict:
        function["strict"] = True
    tool = ToolDict(type="function", function=function)
    tool.fn, tool.confirm = fn, confirm
    return tool


def call_arguments(fn: Callable[..., Any], arguments: Any) -> dict[str, Any]:
    """The keyword arguments for ``fn`` from the model's arguments (a JSON text or a dict)."""
    if isinstance(arguments, str):
        try:
            arguments = loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise ToolArgumentsError(f"the arguments are not valid JSON ({exc})") from None
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(f"the arguments must be a JSON object, got {type(arguments).__name__}")
    hints = _annotations(fn)
    params = {p.name: p for p in _parameters(fn)}
    unknown = sorted(set(arguments) - set(params))
    if unknown:
        raise ToolArgumentsError(f"unexpected argument(s) {unknown}; the parameters are {sorted(params)}")
    out: dict[str, Any] = {}
    for name, param in params.items():
        if name not in arguments or (arguments[name] is None and param.default is not inspect.Parameter.empty
                                     and param.default is not None):
            if param.default is inspect.Parameter.empty:
                raise ToolArgumentsError(f"missing argument {name!r}")
            continue
        out[name] = load(hints.get(name, Any), arguments[name], name)  # a misfit is a ToolArgumentsError
    return out
