"""``run_batch``: Mistral's batch API as one call, and the batch API's rules both engines share.

``run_batch`` writes the requests as JSONL, uploads them, creates the job, waits, downloads the
output and error files, and returns results in input order. With ``inline=True`` the requests
travel inside the job (its ``requests``, at most :data:`INLINE_MAX`), nothing is uploaded, and
the results come back inline (``get_batch_job(inline=true)``'s ``outputs``).

The rules (:func:`batch_inputs`, :func:`batch_polling`, :func:`batch_results`,
:func:`result_files`) do no I/O beyond a temporary file: :func:`run_batch` drives them with the
sync client and ``AsyncClient.run_batch`` with ``await``. The batch engine of ``run_jsonl``
(:mod:`mistral_lite._bulk.batch`) shares :func:`batch_limits`, :data:`INLINE_MAX` and
:data:`TERMINAL`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from mistral_lite._bulk.jsonl import read_lines
from mistral_lite._bulk.prepare import body_problems
from mistral_lite._core.inputs import json_problems
from mistral_lite._core.jsoncodec import loads
from mistral_lite._core.structured import BatchTypes
from mistral_lite._core.workflows import wait
from mistral_lite.exceptions import BatchError, BulkInputError, MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase
    from mistral_lite.client import Client

__all__ = ["INLINE_MAX", "RESULT_FILES", "TERMINAL", "batch_file", "batch_inline", "batch_inputs", "batch_limits",
           "batch_polling", "batch_records", "batch_results", "result_files", "run_batch"]

#: The states a batch job ends in.
TERMINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
#: ``[defaults.batch]`` of the table, where it is silent. ``max_lines`` / ``max_bytes``: one input
#: file of the batch engine; ``poll_first`` / ``poll_max``: the polls back off from one to the other;
#: ``inline_max_lines`` / ``inline_max_bytes``: a run whose pending lines fit in one job this small
#: sends them inline (the spec allows 10,000 requests inline; 1,000 lines and 1 MiB keep the job's
#: create and poll bodies small, while saving the upload where it costs most: small runs).
_FALLBACK = {"max_lines": 1_000_000, "max_bytes": 512_000_000, "poll_first": 1.0, "poll_max": 60.0,
             "inline_max_lines": 1000, "inline_max_bytes": 1 << 20}


def batch_limits(defaults: Mapping[str, Any]) -> dict[str, float]:
    """The batch limits from the table's ``[defaults.batch]``."""
    table = defaults.get("batch", {})
    return {name: table.get(name, value) for name, value in _FALLBACK.items()}


#: The most requests one batch job takes inline (the spec's CreateBatchJobRequest.requests.maxItems).
INLINE_MAX = 10_000


def _batch_line(index: int, request: Mapping[str, Any],
                convert: Callable[[str, Any], Any] | None = None) -> dict[str, Any]:
    """``{"custom_id", "body"}`` of one request (a body, or a ``{"custom_id", "body"}`` mapping);
    ``convert(custom_id, body)`` turns Python types in the body into JSON first."""
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
        self.check = body_problems(client, endpoint, model)  # each body against the row serving `endpoint`
        self.problems: list[tuple[int, str]] = []
        self.types = BatchTypes(client._spec, client._endpoints, endpoint)  # types as formats, parsed results
        self.ids: list[str] = _Ids(self.types)
        self.first: dict[str, int] = {}
        self.repeats: list[tuple[str, str]] = []

    def add(self, index: int, request: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(request, Mapping):  # listed with the other bad requests (finish() raises)
            self.problems.append((index + 1, f"requests[{index}]: expected a mapping, got {type(request).__name__}"))
            return {"custom_id": str(index), "body": {}}  # never sent
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
        if not self.ids and not self.problems:
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
    limits = batch_limits(client._spec.defaults)
    return limits["poll_first"], limits["poll_max"]


def batch_records(job: Mapping[str, Any], contents: Iterable[Any]) -> Iterator[Any]:
    """The result records of a finished job: its inline ``outputs``, else the lines of its
    downloaded output and error files."""
    outputs = job.get("outputs")
    if isinstance(outputs, list):
        yield from outputs
        return
    for content in contents:
        for _, raw in read_lines(content if isinstance(content, bytes) else b""):
            yield loads(raw)


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
