"""Workflows built from the table: pagination, waiters and batch runs.

* ``paginate`` reads a row's ``paginate`` field (page/page_size, or a cursor) and yields items
  across pages, stopping at the reported total, on an empty page, on a short page when there
  is no total, or when the cursor runs out. Bare-array lists page the same way.
* ``wait`` polls a row that declares ``wait`` (its status field and terminal states), never
  through the cache, until a terminal state, and raises :class:`WaitTimeout` with the last state
  seen when time runs out.
* ``run_batch`` is Mistral's batch API as one call: write the JSONL, upload it, create the job,
  wait, download the output and error files, and return results in input order.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._inputs import json_problems, positive_number_problem
from .exceptions import MistralError, ValidationError

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BatchError", "WaitTimeout", "paginate", "run_batch", "wait"]


class WaitTimeout(MistralError):
    """A waited-for job did not reach a terminal state in time (``last`` holds its last state)."""

    def __init__(self, message: str, *, operation: str, last: Any) -> None:
        super().__init__(message, operation=operation)
        self.last = last


class BatchError(MistralError):
    """A batch job ended without results (``job`` holds its final state)."""

    def __init__(self, message: str, *, job: Mapping[str, Any]) -> None:
        super().__init__(message, operation="run_batch")
        self.job = dict(job)


def paginate(client: Client, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Iterator[Any]:
    endpoint = client.operations.get(operation)
    if endpoint is None:
        client.call(operation)  # raises UnknownOperationError with suggestions
        raise AssertionError("unreachable")  # pragma: no cover
    how = endpoint.paginate
    if not how:
        pageable = sorted(n for n, e in client.operations.items() if e.paginate)
        raise MistralError(f"{operation} does not page; these do: {', '.join(pageable)}", operation=operation)
    items_key = how["items"]

    def items_of(result: Any) -> list[Any]:
        found = result if items_key == "" else (result or {}).get(items_key) or []
        return list(found) if isinstance(found, list) else []

    if how["style"] == "cursor":
        cursor, next_key = how["cursor"], how["next"]
        token = options.pop(cursor, None)
        seen_tokens: set[Any] = set()
        while True:
            page_options = {**options, cursor: token} if token else dict(options)
            result = client.call(operation, *args, **page_options)
            yield from items_of(result)
            token = result.get(next_key) if isinstance(result, dict) else None
            if not token:
                return
            if token in seen_tokens:
                raise MistralError(f"{operation}: the server returned the cursor {token!r} twice; "
                                   "stopping instead of looping", operation=operation)
            seen_tokens.add(token)
    page = int(options.pop("page", 0) or 0)
    page_size = options.get("page_size")
    expected = page_size or endpoint.options.get("page_size", {}).get("default")
    total_key = how.get("total") or ""
    seen = 0
    previous: list[Any] | None = None
    while True:
        result = client.call(operation, *args, page=page, **options)
        items = items_of(result)
        if items and items == previous:
            raise MistralError(f"{operation}: page {page} repeats page {page - 1} (does the server ignore "
                               "`page`?); stopping instead of looping", operation=operation)
        previous = items
        yield from items
        seen += len(items)
        total = _dig(result, total_key) if total_key else None
        if not items or (isinstance(total, int) and seen >= total):
            return
        if not isinstance(total, int) and isinstance(expected, int) and len(items) < expected:
            return  # no total to go by: a short page is the last one
        page += 1


def _dig(value: Any, dotted: str) -> Any:
    """``value["a"]["b"]`` for ``"a.b"``; None where a step is missing."""
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def wait(
    client: Client,
    operation: str,
    args: tuple[Any, ...],
    options: dict[str, Any],
    *,
    timeout: float,
    interval: float,
    on_progress: Callable[[Any], None] | None,
    max_interval: float | None = None,
) -> Any:
    """Poll every ``interval`` seconds; with ``max_interval``, each wait is 1.5 times the last,
    up to ``max_interval`` (start short, back off)."""
    endpoint = client.operations.get(operation)
    if endpoint is None or not endpoint.wait:
        waitable = sorted(n for n, e in client.operations.items() if e.wait)
        raise MistralError(f"{operation} cannot be waited on; these can: {', '.join(waitable)}", operation=operation)
    problems = [(name, p) for name, p in (
        ("interval", positive_number_problem(interval)), ("timeout", positive_number_problem(timeout, zero=True)),
        ("on_progress", None if on_progress is None or callable(on_progress) else "expected a function of the state"),
    ) if p]
    if problems:
        raise ValidationError(operation, problems)
    field, terminal = endpoint.wait["status_field"], set(endpoint.wait["terminal"])
    poller = client.with_options(cache=False)
    clock, sleep = client.clock, client.sleep
    deadline = clock() + timeout
    while True:
        result = poller.call(operation, *args, **options)
        if on_progress is not None:
            on_progress(result)
        status = result.get(field) if isinstance(result, dict) else None
        if status in terminal:
            return result
        left = deadline - clock()
        if left <= 0:
            raise WaitTimeout(
                f"{operation} did not reach a terminal state ({', '.join(sorted(terminal))}) within "
                f"{timeout:g} s; last {field}: {status!r}",
                operation=operation, last=result,
            )
        sleep(min(interval, left))
        if max_interval is not None:
            interval = min(max_interval, interval * 1.5)


def _jsonl_line(index: int, request: Mapping[str, Any]) -> tuple[str, bytes]:
    if not isinstance(request, Mapping):
        problem = f"expected a mapping, got {type(request).__name__}"
        raise ValidationError("run_batch", [(f"requests[{index}]", problem)])
    if "body" in request:
        custom_id = str(request.get("custom_id", index))
        line = {"custom_id": custom_id, "body": request["body"]}
    else:
        custom_id = str(index)
        line = {"custom_id": custom_id, "body": dict(request)}
    problems = json_problems(line["body"], f"requests[{index}].body")
    if problems:
        raise ValidationError("run_batch", problems)
    return custom_id, json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _parse_jsonl(data: bytes) -> Iterator[dict[str, Any]]:
    for raw in data.splitlines():
        if raw.strip():
            yield json.loads(raw)


def run_batch(
    client: Client,
    requests: Iterable[Mapping[str, Any]],
    *,
    endpoint: str,
    model: str | None,
    wait_for_results: bool,
    timeout: float,
    interval: float | None,
    on_progress: Callable[[Any], None] | None,
    job_options: Mapping[str, Any],
) -> Any:
    if on_progress is not None and not callable(on_progress):
        raise ValidationError("run_batch", [("on_progress", "expected a function of the job's state")])
    from ._bulk import body_problems  # checks each body against the row serving `endpoint`

    ids: list[str] = []
    check = body_problems(client, endpoint, model)
    problems: list[tuple[int, str]] = []
    with tempfile.TemporaryFile() as jsonl:
        for index, request in enumerate(requests):
            custom_id, line = _jsonl_line(index, request)
            ids.append(custom_id)
            jsonl.write(line)
            body = request.get("body", request)
            found = check(dict(body)) if isinstance(body, Mapping) else ["body must be a JSON object"]
            problems.extend((index + 1, message) for message in found)
        if not ids:
            raise MistralError("run_batch needs at least one request", operation="run_batch")
        if len(set(ids)) != len(ids):
            raise MistralError("run_batch: custom_id values must be unique", operation="run_batch")
        if problems:
            from ._bulk_io import BulkInputError

            raise BulkInputError("run_batch", problems, len({number for number, _ in problems}))
        jsonl.seek(0)
        uploaded = client.upload_file(file=("batch.jsonl", jsonl), purpose="batch")
    job = client.call("create_batch_job", input_files=[uploaded["id"]], endpoint=endpoint, model=model, **job_options)
    if not wait_for_results:
        return job
    from ._bulk_batch import batch_limits

    limits = batch_limits(client._spec.defaults)
    job = wait(client, "get_batch_job", (), {"job_id": job["id"]}, timeout=timeout,
               interval=interval or limits["poll_first"], on_progress=on_progress,
               max_interval=None if interval else limits["poll_max"])
    by_id: dict[str, dict[str, Any]] = {}
    for key in ("output_file", "error_file"):
        if job.get(key):
            content = client.download_file(job[key])
            for record in _parse_jsonl(content if isinstance(content, bytes) else b""):
                response = record.get("response") or {}
                by_id[str(record.get("custom_id"))] = {
                    "custom_id": str(record.get("custom_id")),
                    "status_code": response.get("status_code"),
                    "body": response.get("body"),
                    "error": record.get("error"),
                }
    if not by_id and job.get("status") != "SUCCESS":
        raise BatchError(f"batch job {job.get('id')} ended {job.get('status')} without results", job=job)
    missing = {"status_code": None, "body": None, "error": {"message": "no result in the output or error file"}}
    return [by_id.get(i, {"custom_id": i, **missing}) for i in ids]
