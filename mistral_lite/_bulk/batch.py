"""Bulk runs through Mistral's batch API: the same JSONL in, the same JSONL out, resumable.

:func:`run_batch_engine` takes a :class:`~mistral_lite._bulk.prepare.Prepared` run (input
checked, output open):

1. the lines still to run are cut into chunks within ``[defaults.batch]`` of the table (lines
   and bytes per input file), each spooled to a temporary file (memory stays flat), uploaded
   (purpose ``batch``) and turned into a job (``endpoint`` is the operation's path). When all
   of them fit in one small job (at most ``inline_max_lines`` lines and ``inline_max_bytes``
   bytes), the job carries them inline (its ``requests``) and nothing is uploaded: one request
   less, and no file left in the account; its results come inline too (``outputs``);
2. each job's id is written to a small state file next to the output (``OUTPUT.batch.json``,
   replaced atomically) the moment it exists. Jobs are also tagged with ``metadata``
   (``mistral_lite_run``, ``mistral_lite_chunk``), so a run killed between creating a job and
   saving its id finds the job again by listing instead of creating it twice;
3. the jobs are polled (every ``poll_first`` seconds at first, growing by half up to
   ``poll_max``), and each finished job's output and error files are downloaded to temporary
   files and merged into the output: one line per ``custom_id`` of that job's own lines (a
   result for any other id is ignored), in any order, none twice. A line a finished job has no
   result for (a job cancelled, failed or timed out) gets its error.

A resume adopts only jobs tagged with the run's own token. A damaged state file, a result line
that is not JSON or a result file gone from the server is a :class:`~.exceptions.BulkRunError`
naming the file and saying how to start afresh.

The engine only calls ``call(operation, **options)``, so the sync client and, on a worker
thread, the async one share it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mistral_lite._bulk.jobs import INLINE_MAX, RESULT_FILES, TERMINAL, batch_limits
from mistral_lite._bulk.jsonl import InputLine, iter_input, read_lines, state_path
from mistral_lite._bulk.prepare import BulkProgress, Prepared
from mistral_lite._core.jsoncodec import dumps, loads
from mistral_lite.exceptions import BulkRunError, MistralError, NotFoundError

__all__ = ["batch_limits", "run_batch_engine", "state_path"]

Call = Callable[..., Any]


class _State:
    """The state file: the run's token and its jobs, saved whole and atomically."""

    def __init__(self, path: str, fresh: bool, input_path: str, operation: str) -> None:
        self.path = path
        data = {} if fresh or not os.path.exists(path) else _read_state(path)
        if data and (data.get("input") != input_path or data.get("operation") != operation):
            raise BulkRunError(f"{path}: this output belongs to a run of {data.get('operation')} over "
                               f"{data.get('input')}; start afresh with resume=False (--no-resume) or choose "
                               "another output", path=path)
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
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def open_jobs(self) -> list[dict[str, Any]]:
        return [job for job in self.jobs if not job.get("merged")]


def _read_state(path: str) -> dict[str, Any]:
    """The state file's content, checked: anything else is a :class:`BulkRunError`."""
    afresh = "remove it, or start afresh with resume=False (--no-resume)"
    try:
        with open(path, "rb") as handle:
            data = loads(handle.read())
    except OSError as exc:
        raise BulkRunError(f"{path}: cannot read the batch state ({exc.strerror or exc}); {afresh}",
                           path=path) from None
    except ValueError:
        raise BulkRunError(f"{path}: the batch state is damaged (not JSON); {afresh}", path=path) from None
    if not _state_shape_ok(data):
        raise BulkRunError(f"{path}: the batch state is damaged (not the state of a run); {afresh}", path=path)
    return dict(data)


def _state_shape_ok(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("run"), str) or not isinstance(data.get("jobs"), list):
        return False
    if not isinstance(data.get("chunks", 0), int):
        return False
    for job in data["jobs"]:
        if not isinstance(job, dict) or not isinstance(job.get("chunk"), str):
            return False
        if not all(isinstance(job.get(key), int) and not isinstance(job.get(key), bool)
                   for key in ("first", "last", "count")):
            return False
        if job.get("id") is not None and not isinstance(job.get("id"), str):
            return False
        skip = job.get("skip", [])
        if not isinstance(skip, list) or not all(
                isinstance(span, list) and len(span) == 2 and all(type(n) is int for n in span) for span in skip):
            return False
    return True


def _request_line(line: InputLine) -> bytes:
    return dumps({"custom_id": line.custom_id, "body": line.body}) + b"\n"


def _chunks(lines: Iterator[InputLine], max_lines: int, max_bytes: int) -> Iterator[tuple[list[int], Any]]:
    """Spool lines into temporary files of at most ``max_lines`` lines and ``max_bytes`` bytes;
    yield ``([first, last, count], file)`` for each."""
    spool: Any = None
    first = last = count = size = 0
    for line in lines:
        data = _request_line(line)
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


def _small_enough(lines: Iterator[InputLine], limits: Mapping[str, float]) -> list[InputLine] | None:
    """The pending lines when they all fit in one inline job, else None (reading no further
    than the limits)."""
    most = int(min(limits["inline_max_lines"], limits["max_lines"], INLINE_MAX))
    room = min(limits["inline_max_bytes"], limits["max_bytes"])
    taken: list[InputLine] = []
    size = 0
    for line in lines:
        size += len(_request_line(line))
        if len(taken) >= most or size > room:
            return None
        taken.append(line)
    return taken


def run_batch_engine(
    prepared: Prepared, *, call: Call, defaults: Mapping[str, Any], model: str | None, timeout: float,
    on_progress: Callable[[BulkProgress], None] | None, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic, resume: bool = True,
) -> BulkProgress:
    limits = batch_limits(defaults)
    endpoint = prepared.endpoint
    progress = prepared.progress
    try:
        state = _State(state_path(prepared.output), not resume, os.path.abspath(prepared.input), endpoint.name)
        _adopt(call, state)
        claimed = [(int(job["first"]), int(job["last"])) for job in state.open_jobs()]

        def unclaimed() -> Iterator[InputLine]:
            return (line for line in prepared.pending() if not any(a <= line.number <= b for a, b in claimed))

        inline = _small_enough(unclaimed(), limits)
        if inline:
            state.chunks += 1
            _submit_inline(call, state, endpoint.path, model, inline, state.chunks, claimed)
        elif inline is None:
            for span, spool in _chunks(unclaimed(), int(limits["max_lines"]), int(limits["max_bytes"])):
                with spool:
                    state.chunks += 1
                    _submit(call, state, endpoint.path, model, span, spool, state.chunks, claimed)
        _wait_and_merge(call, state, prepared, limits, timeout, on_progress, sleep, clock)
    except OSError as exc:  # a full disk, a quota: the state file, a spool or a download's temporary file
        where = f" ({exc.filename})" if exc.filename else ""
        raise MistralError(f"{prepared.output}: the batch run cannot write{where}: {exc.strerror or exc}; make room "
                           "and run again: the run resumes where it stopped", operation="run_jsonl") from None
    finally:
        prepared.close()
    progress.elapsed = time.monotonic() - progress.started
    return progress


def _job_options(state: _State, path: str, model: str | None, chunk: int) -> dict[str, Any]:
    options: dict[str, Any] = {"endpoint": path,
                               "metadata": {"mistral_lite_run": state.token, "mistral_lite_chunk": str(chunk)}}
    if model is not None:
        options["model"] = model
    return options


def _entry(first: int, last: int, count: int, chunk: int, claimed: list[tuple[int, int]]) -> dict[str, Any]:
    """A job's entry in the state: its lines are those from ``first`` to ``last`` that were
    pending, but for the spans other open jobs had claimed (``skip``)."""
    skip = [[a, b] for a, b in claimed if a <= last and b >= first]
    return {"first": first, "last": last, "count": count, "chunk": str(chunk), "id": None, "skip": skip}


def _submit(call: Call, state: _State, path: str, model: str | None, span: list[int], spool: Any,
            chunk: int, claimed: list[tuple[int, int]]) -> None:
    entry = _entry(span[0], span[1], span[2], chunk, claimed)
    uploaded = call("upload_file", file=(f"bulk-{state.token[:8]}-{chunk}.jsonl", spool), purpose="batch")
    entry["file_id"] = uploaded["id"]
    state.jobs.append(entry)
    state.save()  # the file and its lines are claimed before the job exists
    job = call("create_batch_job", input_files=[uploaded["id"]], **_job_options(state, path, model, chunk))
    entry["id"] = job["id"]
    state.save()


def _submit_inline(call: Call, state: _State, path: str, model: str | None, lines: list[InputLine],
                   chunk: int, claimed: list[tuple[int, int]]) -> None:
    entry = dict(_entry(lines[0].number, lines[-1].number, len(lines), chunk, claimed), inline=True)
    state.jobs.append(entry)
    state.save()  # the lines are claimed before the job exists
    requests = [{"custom_id": line.custom_id, "body": line.body} for line in lines]
    job = call("create_batch_job", requests=requests, **_job_options(state, path, model, chunk))
    entry["id"] = job["id"]
    state.save()


def _ours(state: _State, job: Any) -> bool:
    metadata = job.get("metadata") if isinstance(job, dict) else None
    return isinstance(metadata, dict) and metadata.get("mistral_lite_run") == state.token


def _job_or_none(call: Call, job_id: str) -> Any:
    """The job ``job_id``, or None when the server has no such job (a state naming a job of
    another account, or a made-up id)."""
    try:
        return call("get_batch_job", job_id=job_id)
    except NotFoundError:
        return None


def _adopt(call: Call, state: _State) -> None:
    """Resume: keep the saved jobs that carry this run's tag; find a job whose id was not saved
    (a kill between creating it and saving its id) by its tag. A chunk without a job of ours is
    dropped, and its lines go out in a new chunk."""
    listed: dict[str, str] = {}
    if any(not job.get("id") for job in state.open_jobs()):
        found = call("list_batch_jobs", metadata={"mistral_lite_run": state.token}, page_size=100)
        for job in found.get("data", []) if isinstance(found, dict) else []:
            chunk = (job.get("metadata") or {}).get("mistral_lite_chunk") if isinstance(job, dict) else None
            if isinstance(chunk, str) and _ours(state, job) and isinstance(job.get("id"), str):
                listed[chunk] = job["id"]
    changed = False
    for entry in state.open_jobs():
        if not entry.get("id"):
            entry["id"] = listed.get(entry["chunk"])
        elif not _ours(state, _job_or_none(call, entry["id"])):
            entry["id"] = None  # not this run's job (or no job at all): never merge its results
        if not entry.get("id"):
            state.jobs.remove(entry)
        changed = True
    if changed:
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
    progress = prepared.progress
    while True:
        running = in_jobs = 0
        for entry in state.open_jobs():
            inline = {"inline": True} if entry.get("inline") else {}
            job = call("get_batch_job", job_id=entry["id"], **inline)
            entry["status"] = job.get("status")
            if job.get("status") in TERMINAL:
                _merge(call, job, entry, prepared)
                entry["merged"] = True
                state.save()
            else:
                running += 1
                in_jobs += min(int(job.get("completed_requests") or 0), int(entry["count"]))
        progress.in_jobs = max(0, min(in_jobs, progress.total - progress.done))
        if on_progress is not None:
            on_progress(progress)
        if not running:
            return
        if clock() >= deadline:
            raise MistralError(f"{running} batch job(s) still running after {timeout:g} s; run again with the same "
                               "arguments to pick them up", operation="run_jsonl")
        sleep(min(next(intervals), max(0.0, deadline - clock())))


def _download(call: Call, job: Mapping[str, Any], file_id: str) -> str:
    fd, path = tempfile.mkstemp(prefix="mistral-lite-batch-", suffix=".jsonl")
    os.close(fd)
    try:
        call("download_file", file_id=file_id, to=path)
    except NotFoundError:
        os.unlink(path)
        raise BulkRunError(f"file {file_id} (the results of batch job {job.get('id')}) is gone from the server; "
                           "start afresh with resume=False (--no-resume) to run its lines again",
                           path=file_id) from None
    except BaseException:
        os.unlink(path)
        raise
    return path


def _result_lines(call: Call, job: Mapping[str, Any]) -> Iterator[tuple[str, bytes]]:
    """``(where, raw line)`` of a finished job's results: its inline ``outputs``, else its
    output and error files."""
    outputs = job.get("outputs")
    if isinstance(outputs, list):
        for number, record in enumerate(outputs, 1):
            yield f"outputs[{number - 1}] of batch job {job.get('id')}", dumps(record)
        return
    for key in RESULT_FILES:
        file_id = job.get(key)
        if not file_id:
            continue
        path = _download(call, job, str(file_id))
        try:
            for number, raw in read_lines(path):
                yield f"line {number} of file {file_id} ({key} of batch job {job.get('id')})", raw
        finally:
            os.unlink(path)


def _merge(call: Call, job: Mapping[str, Any], entry: Mapping[str, Any], prepared: Prepared) -> None:
    """Write the job's results for its own lines not in the output yet; then an error for each
    of its lines that has none."""
    done = prepared.done
    first, last = int(entry["first"]), int(entry["last"])
    skip = [(int(a), int(b)) for a, b in entry.get("skip") or ()]
    own: set[str] = set()
    for line in iter_input(prepared.input, prepared.bad):
        if line.number > last:
            break
        if line.number >= first and line.custom_id not in done and not any(a <= line.number <= b for a, b in skip):
            own.add(line.custom_id)
    progress, writer = prepared.progress, prepared.writer
    for where, raw in _result_lines(call, job):
        try:
            record = loads(raw)
        except ValueError:
            raise BulkRunError(f"{where} is not JSON: the results cannot be read; run again to retry, or start "
                               "afresh with resume=False (--no-resume)", path=where) from None
        custom_id = record.get("custom_id") if isinstance(record, dict) else None
        if not isinstance(custom_id, str) or custom_id not in own:
            continue  # not one of this job's lines, or already written
        own.discard(custom_id)
        response = record.get("response") or None
        error = record.get("error") or None
        status = response.get("status_code") if isinstance(response, dict) else None
        out = {"id": record.get("id") or f"batch-{custom_id}", "custom_id": custom_id,
               "response": response, "error": error}
        writer.write(dumps(out) + b"\n")
        failed = error is not None or (isinstance(status, int) and status >= 400)
        progress.count(str(status) if failed else None)
    code = f"batch_{str(job.get('status')).lower()}"
    message = f"batch job {job.get('id')} ended {job.get('status')} without a result for this line"
    for line in iter_input(prepared.input, prepared.bad):
        if line.number > last:
            break
        if line.custom_id in own:
            record = {"id": f"batch-{line.custom_id}", "custom_id": line.custom_id, "response": None,
                      "error": {"message": message, "code": code}}
            writer.write(dumps(record) + b"\n")
            progress.count(code)
