"""Bulk runs through Mistral's batch API: the same JSONL in, the same JSONL out, resumable.

:func:`run_batch_engine` takes a :class:`~._bulk.Prepared` run (input checked, output open):

1. the lines still to run are cut into chunks within ``[defaults.batch]`` of the table (lines
   and bytes per input file), each spooled to a temporary file (memory stays flat), uploaded
   (purpose ``batch``) and turned into a job (``endpoint`` is the operation's path);
2. each job's id is written to a small state file next to the output (``OUTPUT.batch.json``,
   replaced atomically) the moment it exists. Jobs are also tagged with ``metadata``
   (``mistral_lite_run``, ``mistral_lite_chunk``), so a run killed between creating a job and
   saving its id finds the job again by listing instead of creating it twice;
3. the jobs are polled (every ``poll_first`` seconds at first, growing by half up to
   ``poll_max``), and each finished job's output and error files are downloaded to temporary
   files and merged into the output: one line per ``custom_id``, in any order, none twice. A
   line a finished job has no result for (a job cancelled, failed or timed out) gets its error.

The engine only calls ``call(operation, **options)``, so the sync client and, on a worker
thread, the async one share it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._bulk import BulkProgress, Prepared
from ._bulk_io import InputLine, iter_input
from ._json import dumps, loads
from .exceptions import MistralError

__all__ = ["batch_limits", "run_batch_engine", "state_path"]

TERMINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
_FALLBACK = {"max_lines": 1_000_000, "max_bytes": 512_000_000, "poll_first": 1.0, "poll_max": 60.0}

Call = Callable[..., Any]


def batch_limits(defaults: Mapping[str, Any]) -> dict[str, float]:
    """The batch engine's limits from the table's ``[defaults.batch]``."""
    table = defaults.get("batch", {})
    return {name: table.get(name, value) for name, value in _FALLBACK.items()}


def state_path(output: str) -> str:
    return output + ".batch.json"


class _State:
    """The state file: the run's token and its jobs, saved whole and atomically."""

    def __init__(self, path: str, fresh: bool, input_path: str, operation: str) -> None:
        self.path = path
        data: dict[str, Any] = {}
        if not fresh and os.path.exists(path):
            try:
                with open(path, "rb") as handle:
                    data = loads(handle.read())
            except (OSError, ValueError) as exc:
                raise MistralError(f"{path}: cannot read the batch state ({exc}); remove it or start afresh",
                                   operation="run_jsonl") from None
        if data and (data.get("input") != input_path or data.get("operation") != operation):
            raise MistralError(f"{path}: this output belongs to a run of {data.get('operation')} over "
                               f"{data.get('input')}; start afresh (resume=False) or choose another output",
                               operation="run_jsonl")
        self.token: str = data.get("run") or uuid.uuid4().hex
        self.jobs: list[dict[str, Any]] = list(data.get("jobs") or [])
        self.chunks: int = int(data.get("chunks") or 0)  # chunk numbers are never reused
        self.input, self.operation = input_path, operation

    def save(self) -> None:
        body = {"run": self.token, "input": self.input, "operation": self.operation, "chunks": self.chunks,
                "jobs": self.jobs}
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".batch-state-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(body, indent=1).encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with _quiet():
                os.unlink(tmp)
            raise

    def open_jobs(self) -> list[dict[str, Any]]:
        return [job for job in self.jobs if not job.get("merged")]


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def _chunks(lines: Iterator[InputLine], max_lines: int, max_bytes: int) -> Iterator[tuple[list[int], Any]]:
    """Spool lines into temporary files of at most ``max_lines`` lines and ``max_bytes`` bytes;
    yield ``([first, last, count], file)`` for each."""
    spool: Any = None
    first = last = count = size = 0
    for line in lines:
        data = dumps({"custom_id": line.custom_id, "body": line.body}) + b"\n"
        if len(data) > max_bytes:
            raise MistralError(f"line {line.number} is {len(data)} bytes, more than a batch file may hold "
                               f"({max_bytes})", operation="run_jsonl")
        if spool is not None and (count >= max_lines or size + len(data) > max_bytes):
            spool.seek(0)
            yield [first, last, count], spool
            spool = None
        if spool is None:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
            first, count, size = line.number, 0, 0
        spool.write(data)
        last, count, size = line.number, count + 1, size + len(data)
    if spool is not None:
        spool.seek(0)
        yield [first, last, count], spool


def run_batch_engine(
    prepared: Prepared, *, call: Call, defaults: Mapping[str, Any], model: str | None, timeout: float,
    on_progress: Callable[[BulkProgress], None] | None, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic, resume: bool = True,
) -> BulkProgress:
    limits = batch_limits(defaults)
    endpoint = prepared.endpoint
    progress = prepared.progress
    state = _State(state_path(prepared.output), not resume, os.path.abspath(prepared.input), endpoint.name)
    try:
        _find_lost_jobs(call, state)
        claimed = [(int(job["first"]), int(job["last"])) for job in state.open_jobs()]
        lines = (line for line in prepared.pending() if not any(a <= line.number <= b for a, b in claimed))
        for span, spool in _chunks(lines, int(limits["max_lines"]), int(limits["max_bytes"])):
            with spool:
                state.chunks += 1
                _submit(call, state, endpoint.path, model, span, spool, state.chunks)
        _wait_and_merge(call, state, prepared, limits, timeout, on_progress, sleep, clock)
    finally:
        prepared.writer.close()
    progress.elapsed = time.monotonic() - progress.started
    return progress


def _submit(call: Call, state: _State, path: str, model: str | None, span: list[int], spool: Any,
            chunk: int) -> None:
    entry = {"first": span[0], "last": span[1], "count": span[2], "chunk": str(chunk), "id": None}
    uploaded = call("upload_file", file=(f"bulk-{state.token[:8]}-{chunk}.jsonl", spool), purpose="batch")
    entry["file_id"] = uploaded["id"]
    state.jobs.append(entry)
    state.save()  # the file and its lines are claimed before the job exists
    options: dict[str, Any] = {"input_files": [uploaded["id"]], "endpoint": path,
                               "metadata": {"mistral_lite_run": state.token, "mistral_lite_chunk": str(chunk)}}
    if model is not None:
        options["model"] = model
    job = call("create_batch_job", **options)
    entry["id"] = job["id"]
    state.save()


def _find_lost_jobs(call: Call, state: _State) -> None:
    """Chunks whose file was uploaded but whose job id was not saved (a kill in between): the
    job is found by its metadata tag; a chunk without a job is dropped, and its lines go out
    in a new chunk."""
    lost = [job for job in state.jobs if not job.get("id")]
    if not lost:
        return
    found: dict[str, str] = {}
    listed = call("list_batch_jobs", metadata={"mistral_lite_run": state.token}, page_size=100)
    for job in listed.get("data", []) if isinstance(listed, dict) else []:
        chunk = (job.get("metadata") or {}).get("mistral_lite_chunk")
        if isinstance(chunk, str):
            found[chunk] = job["id"]
    for entry in lost:
        if entry["chunk"] in found:
            entry["id"] = found[entry["chunk"]]
        else:
            state.jobs.remove(entry)
    state.save()


def _poll_intervals(first: float, most: float) -> Iterator[float]:
    interval = first
    while True:
        yield interval
        interval = min(most, interval * 1.5)


def _wait_and_merge(
    call: Call, state: _State, prepared: Prepared, limits: Mapping[str, float], timeout: float,
    on_progress: Callable[[BulkProgress], None] | None, sleep: Callable[[float], None], clock: Callable[[], float],
) -> None:
    deadline = clock() + timeout
    intervals = _poll_intervals(float(limits["poll_first"]), float(limits["poll_max"]))
    while True:
        running = in_jobs = 0
        for entry in state.open_jobs():
            job = call("get_batch_job", job_id=entry["id"])
            entry["status"] = job.get("status")
            if job.get("status") in TERMINAL:
                _merge(call, job, entry, prepared)
                entry["merged"] = True
                state.save()
            else:
                running += 1
                in_jobs += int(job.get("completed_requests") or 0)
        prepared.progress.in_jobs = in_jobs
        if on_progress is not None:
            on_progress(prepared.progress)
        if not running:
            return
        if clock() >= deadline:
            raise MistralError(f"{running} batch job(s) still running after {timeout:g} s; run again with the same "
                               "arguments to pick them up", operation="run_jsonl")
        sleep(min(next(intervals), max(0.0, deadline - clock())))


def _download(call: Call, file_id: str) -> str:
    fd, path = tempfile.mkstemp(prefix="mistral-lite-batch-", suffix=".jsonl")
    os.close(fd)
    call("download_file", file_id=file_id, to=path)
    return path


def _merge(call: Call, job: Mapping[str, Any], entry: Mapping[str, Any], prepared: Prepared) -> None:
    """Write the job's results for lines not in the output yet; then an error for each line of
    the chunk that has none."""
    done = prepared.done
    written: set[str] = set()
    progress, writer = prepared.progress, prepared.writer
    for key in ("output_file", "error_file"):
        file_id = job.get(key)
        if not file_id:
            continue
        path = _download(call, file_id)
        try:
            with open(path, "rb") as handle:
                for raw in handle:
                    if not raw.strip():
                        continue
                    record = loads(raw)
                    custom_id = record.get("custom_id") if isinstance(record, dict) else None
                    if not isinstance(custom_id, str) or custom_id in written or custom_id in done:
                        continue
                    response = record.get("response") or None
                    error = record.get("error") or None
                    status = response.get("status_code") if isinstance(response, dict) else None
                    out = {"id": record.get("id") or f"batch-{custom_id}", "custom_id": custom_id,
                           "response": response, "error": error}
                    writer.write(dumps(out) + b"\n")
                    written.add(custom_id)
                    failed = error is not None or (isinstance(status, int) and status >= 400)
                    progress.count(str(status) if failed else None)
        finally:
            os.unlink(path)
    first, last = int(entry["first"]), int(entry["last"])
    for line in iter_input(prepared.input, prepared.bad):
        if line.number < first:
            continue
        if line.number > last:
            break
        if line.custom_id in written or line.custom_id in done:
            continue
        message = f"batch job {job.get('id')} ended {job.get('status')} without a result for this line"
        record = {"id": f"batch-{line.custom_id}", "custom_id": line.custom_id, "response": None,
                  "error": {"message": message, "code": f"batch_{str(job.get('status')).lower()}"}}
        writer.write(dumps(record) + b"\n")
        progress.count(f"batch_{str(job.get('status')).lower()}")
