"""Workflows built from the table: pagination, waiters and batch runs.

* ``paginate`` reads a row's ``paginate`` field (page/page_size, offset/limit, or a cursor) and yields items
  across pages, stopping at the reported total, on an empty page, on a short page when there
  is no total, or when the cursor runs out. Bare-array lists page the same way.
* ``wait`` polls a row that declares ``wait`` (its status field and terminal states), never
  through the cache, until a terminal state, and raises :class:`WaitTimeout` with the last state
  seen when time runs out.
* ``run_batch`` is Mistral's batch API as one call: write the JSONL, upload it, create the job,
  wait, download the output and error files, and return results in input order. With
  ``inline=True`` the requests travel inside the job (its ``requests``, at most 10,000), nothing
  is uploaded, and the results come back inline (``get_batch_job(inline=true)``'s ``outputs``).

The rules (:class:`Pager`, :class:`Waiter`, :func:`batch_file`, :func:`batch_results`) do no
I/O; the loops here drive them with the sync client, and ``mistral_lite._http.aio`` drives the
same rules with ``await``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from mistral_lite._core.call import find_endpoint
from mistral_lite._core.inputs import json_problems, positive_number_problem
from mistral_lite.exceptions import (
    BatchError,
    BulkInputError,
    MistralError,
    ValidationError,
    WaitTimeout,
)

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase
    from mistral_lite._table import Endpoint
    from mistral_lite.client import Client

__all__ = ["INLINE_MAX", "BatchError", "Pager", "WaitTimeout", "Waiter", "batch_file", "batch_inline",
           "batch_inputs", "batch_results", "paginate", "result_files", "run_batch", "single_page_items", "wait"]


def single_page_items(result: Any) -> list[Any]:
    """The items of the answer of a row that does not page: a bare array's elements, else the
    list under ``data`` or ``items`` (or the answer's only list), else the answer itself."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        lists = [key for key, value in result.items() if isinstance(value, list)]
        key = next((k for k in ("data", "items") if k in lists), lists[0] if len(lists) == 1 else None)
        if key is not None:
            return list(result[key])
    return [result]


def _endpoint(client: ClientBase, operation: str) -> Endpoint:
    return find_endpoint(client.operations, operation)


class Pager:
    """The paging rule of a row, without I/O: the options of each page, the items of each result.

    ``first()`` gives the first page's options; ``step(result)`` the page's items and the next
    page's options (None: that was the last page).
    """

    def __init__(self, client: ClientBase, operation: str, options: dict[str, Any]) -> None:
        endpoint = _endpoint(client, operation)
        how = endpoint.paginate or {"style": "single", "items": None}  # a row that does not page: one page
        self.operation, self._how, self._items_key = operation, how, how["items"]
        self._cursor = how["style"] == "cursor"
        self._by_offset = how["style"] == "offset"
        self._single = how["style"] == "single"
        if self._cursor:
            self._token = options.pop(how["cursor"], None)
            self._seen_tokens: set[Any] = set()
        elif self._by_offset:  # the offset moves by the items received; a short or empty page is the last
            self._offset = int(options.pop(how["offset"], 0) or 0)
            limit = how["limit"]
            self._limit = options.get(limit) or endpoint.options.get(limit, {}).get("default")
        elif not self._single:
            self._page = int(options.pop("page", 0) or 0)
            page_size = options.get("page_size")
            self._expected = page_size or endpoint.options.get("page_size", {}).get("default")
            self._total_key = how.get("total") or ""
            self._seen = 0
            self._previous: list[Any] | None = None
        self._options = options

    def _items_of(self, result: Any) -> list[Any]:
        found = result if self._items_key == "" else (result or {}).get(self._items_key) or []
        return list(found) if isinstance(found, list) else []

    def first(self) -> dict[str, Any]:
        if self._single:
            return dict(self._options)
        if self._cursor:
            return self._cursor_options()
        if self._by_offset:
            return {**self._options, self._how["offset"]: self._offset}
        return {**self._options, "page": self._page}

    def _cursor_options(self) -> dict[str, Any]:
        return {**self._options, self._how["cursor"]: self._token} if self._token else dict(self._options)

    def step(self, result: Any) -> tuple[list[Any], dict[str, Any] | None]:
        if self._single:
            return single_page_items(result), None
        items = self._items_of(result)
        operation = self.operation
        if self._cursor:
            token = result.get(self._how["next"]) if isinstance(result, dict) else None
            if not token:
                return items, None
            if token in self._seen_tokens:
                raise MistralError(f"{operation}: the server returned the cursor {token!r} twice; "
                                   "stopping instead of looping", operation=operation)
            self._seen_tokens.add(token)
            self._token = token
            return items, self._cursor_options()
        if self._by_offset:
            if not items or (isinstance(self._limit, int) and len(items) < self._limit):
                return items, None
            self._offset += len(items)
            return items, {**self._options, self._how["offset"]: self._offset}
        page = self._page
        if items and items == self._previous:
            raise MistralError(f"{operation}: page {page} repeats page {page - 1} (does the server ignore "
                               "`page`?); stopping instead of looping", operation=operation)
        self._previous = items
        self._seen += len(items)
        total = _dig(result, self._total_key) if self._total_key else None
        if not items or (isinstance(total, int) and self._seen >= total):
            return items, None
        if not isinstance(total, int) and isinstance(self._expected, int) and len(items) < self._expected:
            return items, None  # no total to go by: a short page is the last one
        self._page = page + 1
        return items, {**self._options, "page": self._page}


def paginate(client: Client, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Iterator[Any]:
    pager = Pager(client, operation, options)
    page: dict[str, Any] | None = pager.first()
    while page is not None:
        items, page = pager.step(client.call(operation, *args, **page))
        yield from items


def _dig(value: Any, dotted: str) -> Any:
    """``value["a"]["b"]`` for ``"a.b"``; None where a step is missing."""
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Waiter:
    """A row's waiting rule, without I/O: ``step(state)`` is None when done, else the seconds to sleep."""

    def __init__(
        self, client: ClientBase, operation: str, *, timeout: float, interval: float, clock: Callable[[], float],
        on_progress: Any = None, max_interval: float | None = None,
    ) -> None:
        endpoint = client.operations.get(operation)
        if endpoint is None or not endpoint.wait:
            waitable = sorted(n for n, e in client.operations.items() if e.wait)
            raise MistralError(f"{operation} cannot be waited on; these can: {', '.join(waitable)}",
                               operation=operation)
        problems = [(name, p) for name, p in (
            ("interval", positive_number_problem(interval)), ("timeout", positive_number_problem(timeout, zero=True)),
            ("on_progress", None if on_progress is None or callable(on_progress)
             else "expected a function of the state"),
        ) if p]
        if problems:
            raise ValidationError(operation, problems)
        self.operation, self.timeout, self.interval, self.clock = operation, timeout, interval, clock
        self.max_interval = max_interval  # with it, each wait is 1.5 times the last, up to it
        self.field, self.terminal = endpoint.wait["status_field"], set(endpoint.wait["terminal"])
        self.deadline = clock() + timeout

    def step(self, result: Any) -> float | None:
        status = result.get(self.field) if isinstance(result, dict) else None
        if status in self.terminal:
            return None
        left = self.deadline - self.clock()
        if left <= 0:
            raise WaitTimeout(
                f"{self.operation} did not reach a terminal state ({', '.join(sorted(self.terminal))}) within "
                f"{self.timeout:g} s; last {self.field}: {status!r}",
                operation=self.operation, last=result,
            )
        pause = min(self.interval, left)
        if self.max_interval is not None:
            self.interval = min(self.max_interval, self.interval * 1.5)
        return pause


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
    waiter = Waiter(client, operation, timeout=timeout, interval=interval, clock=client.clock,
                    on_progress=on_progress, max_interval=max_interval)
    poller = client.with_options(cache=False)
    while True:
        result = poller.call(operation, *args, **options)
        if on_progress is not None:
            on_progress(result)
        pause = waiter.step(result)
        if pause is None:
            return result
        client.sleep(pause)


#: The most requests one batch job takes inline (the spec's CreateBatchJobRequest.requests.maxItems).
INLINE_MAX = 10_000


def _batch_line(index: int, request: Mapping[str, Any],
                convert: Callable[[str, Any], Any] | None = None) -> dict[str, Any]:
    """``{"custom_id", "body"}`` of one request (a body, or a ``{"custom_id", "body"}`` mapping);
    ``convert(custom_id, body)`` turns Python types in the body into JSON first."""
    if not isinstance(request, Mapping):
        problem = f"expected a mapping, got {type(request).__name__}"
        raise ValidationError("run_batch", [(f"requests[{index}]", problem)])
    if "body" in request:
        line = {"custom_id": str(request.get("custom_id", index)), "body": request["body"]}
    else:
        line = {"custom_id": str(index), "body": dict(request)}
    if convert is not None:
        line["body"] = convert(line["custom_id"], line["body"])
    problems = json_problems(line["body"], f"requests[{index}].body")
    if problems:
        raise ValidationError("run_batch", problems)
    return line


class _Ids(list[str]):
    """A batch's custom ids, carrying the types its bodies gave (``batch_results`` parses with them)."""

    def __init__(self, types: Any) -> None:
        super().__init__()
        self.types = types


class _BatchRequests:
    """The requests of a batch, checked one by one as they are added (each body against the
    schema of the operation serving ``endpoint``), then as a whole by :meth:`finish`."""

    def __init__(self, client: ClientBase, endpoint: str, model: str | None, on_progress: Any) -> None:
        if on_progress is not None and not callable(on_progress):
            raise ValidationError("run_batch", [("on_progress", "expected a function of the job's state")])
        from mistral_lite._bulk.live import body_problems  # checks each body against the row serving `endpoint`
        from mistral_lite._core.structured import BatchTypes

        self.check = body_problems(client, endpoint, model)  # type: ignore[arg-type]
        self.problems: list[tuple[int, str]] = []
        self.types = BatchTypes(client._spec, client._endpoints, endpoint)  # types as formats, parsed results
        self.ids: list[str] = _Ids(self.types)
        self.first: dict[str, int] = {}
        self.repeats: list[tuple[str, str]] = []

    def add(self, index: int, request: Mapping[str, Any]) -> dict[str, Any]:
        line = _batch_line(index, request, self.types.convert)
        custom_id = line["custom_id"]
        self.ids.append(custom_id)
        first = self.first.setdefault(custom_id, index)
        if first != index:
            self.repeats.append((f"requests[{index}].custom_id",
                                 f"custom_id values must be unique: {custom_id!r} repeats requests[{first}]"))
        body = line["body"]
        found = self.check(dict(body)) if isinstance(body, Mapping) else ["body must be a JSON object"]
        self.problems.extend((index + 1, message) for message in found)
        return line

    def finish(self) -> None:
        if not self.ids:
            raise MistralError("run_batch needs at least one request", operation="run_batch")
        if self.repeats:
            raise ValidationError("run_batch", self.repeats)
        if self.problems:
            raise BulkInputError("run_batch", self.problems, len({number for number, _ in self.problems}))


def batch_file(
    client: ClientBase, requests: Iterable[Mapping[str, Any]], endpoint: str, model: str | None,
    on_progress: Any = None,
) -> tuple[list[str], IO[bytes]]:
    """The custom ids and a temporary JSONL file (at position 0) of a batch's requests.

    Every body is checked against the schema of the operation serving ``endpoint`` first
    (``BulkInputError`` lists the bad ones by number, from 1): nothing is uploaded otherwise.
    """
    checked = _BatchRequests(client, endpoint, model, on_progress)
    jsonl = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    try:
        for index, request in enumerate(requests):
            line = checked.add(index, request)
            jsonl.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        checked.finish()
        jsonl.seek(0)
    except BaseException:
        jsonl.close()
        raise
    return checked.ids, jsonl


def batch_inline(
    client: ClientBase, requests: Iterable[Mapping[str, Any]], endpoint: str, model: str | None,
    on_progress: Any = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The custom ids and the ``requests`` of an inline batch job (at most :data:`INLINE_MAX`),
    checked as :func:`batch_file` checks them."""
    checked = _BatchRequests(client, endpoint, model, on_progress)
    lines: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        if index >= INLINE_MAX:
            raise ValidationError("run_batch", [("requests", f"an inline batch holds at most {INLINE_MAX:,} "
                                                             "requests; pass inline=False to upload them")])
        lines.append(checked.add(index, request))
    checked.finish()
    return checked.ids, lines


def batch_inputs(
    client: ClientBase, requests: Iterable[Mapping[str, Any]], endpoint: str, model: str | None, on_progress: Any,
    inline: bool,
) -> tuple[list[str], Any]:
    """``(ids, inline requests or a JSONL file)`` of ``run_batch``, checked before any I/O."""
    if not isinstance(inline, bool):
        raise ValidationError("run_batch", [("inline", f"expected True or False, got {inline!r}"[:120])])
    return (batch_inline if inline else batch_file)(client, requests, endpoint, model, on_progress)


def batch_polling(client: ClientBase, interval: float | None) -> tuple[float, float | None]:
    """``(first interval, max interval)`` of a batch job's polls: the caller's fixed interval, or
    ``[defaults.batch]``'s backing-off one."""
    if interval:
        return interval, None
    from mistral_lite._bulk.batch import batch_limits

    limits = batch_limits(client._spec.defaults)
    return limits["poll_first"], limits["poll_max"]


def _parse_jsonl(data: bytes) -> Iterator[Any]:
    for raw in data.splitlines():
        if raw.strip():
            yield json.loads(raw)


def batch_records(job: Mapping[str, Any], contents: Iterable[Any]) -> Iterator[Any]:
    """The result records of a finished job: its inline ``outputs``, else the lines of its
    downloaded output and error files."""
    outputs = job.get("outputs")
    if isinstance(outputs, list):
        yield from outputs
        return
    for content in contents:
        yield from _parse_jsonl(content if isinstance(content, bytes) else b"")


def batch_results(ids: list[str], job: Mapping[str, Any], contents: Iterable[Any]) -> list[dict[str, Any]]:
    """Results in input order from a finished job: its inline ``outputs``, or the downloaded
    output and error files."""
    by_id: dict[str, dict[str, Any]] = {}
    for record in batch_records(job, contents):
        if not isinstance(record, dict):
            continue
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
    results = [by_id.get(i, {"custom_id": i, **missing}) for i in ids]
    types = getattr(ids, "types", None)  # a type as a body's format: each body gets its parsed values
    return results if types is None or not types.finishers else [types.parse(r) for r in results]


#: The job fields naming the files a finished batch job's results are in.
RESULT_FILES = ("output_file", "error_file")


def result_files(job: Mapping[str, Any]) -> list[str]:
    """The files to download for a finished job's results (none when they came inline)."""
    if isinstance(job.get("outputs"), list):
        return []
    return [job[key] for key in RESULT_FILES if job.get(key)]


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
    inline: bool = False,
) -> Any:
    ids, inputs = batch_inputs(client, requests, endpoint, model, on_progress, inline)
    if inline:
        job = client.call("create_batch_job", requests=inputs, endpoint=endpoint, model=model, **job_options)
    else:
        with inputs:
            uploaded = client.upload_file(file=("batch.jsonl", inputs), purpose="batch")
        job = client.call("create_batch_job", input_files=[uploaded["id"]], endpoint=endpoint, model=model,
                          **job_options)
    if not wait_for_results:
        return job
    interval, max_interval = batch_polling(client, interval)
    query = {"job_id": job["id"], **({"inline": True} if inline else {})}
    job = wait(client, "get_batch_job", (), query, timeout=timeout, interval=interval,
               on_progress=on_progress, max_interval=max_interval)
    return batch_results(ids, job, [client.download_file(file_id) for file_id in result_files(job)])
