"""What both bulk engines run on: the arguments checked, the input scanned, the output opened.

:func:`prepare` locks the output (one run per output), checks every input line against the
operation's schema (:func:`body_checker`, the check ``run_batch`` also applies to its bodies
through :func:`body_problems`) and opens the output, afresh or resumed. The :class:`Prepared`
run it returns goes to the live engine (:mod:`mistral_lite._bulk.live`, threads;
:mod:`mistral_lite._bulk.aio`, tasks) or to the batch engine (:mod:`mistral_lite._bulk.batch`),
which count what they do in its :class:`BulkProgress`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mistral_lite._bulk.jsonl import (
    DoneSet,
    InputLine,
    OutputLock,
    OutputWriter,
    bad_ids,
    iter_input,
    read_done,
    result_line,
    scan_input,
    state_path,
)
from mistral_lite._core.call import find_endpoint
from mistral_lite._core.inputs import positive_number_problem
from mistral_lite._core.validate import validate
from mistral_lite._table import CALL_KEYWORDS, Endpoint, Spec
from mistral_lite.exceptions import BulkInputError, BulkRunError, MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase

__all__ = ["ENGINES", "BulkProgress", "Prepared", "body_checker", "body_problems", "check_arguments",
           "json_endpoint", "prepare"]

#: The engines of ``run_jsonl``.
ENGINES = ("live", "batch")


class BulkProgress:
    """Counts of a bulk run, handed to ``on_progress`` and returned at the end.

    ``total`` lines in the input; ``skipped`` already in the output when the run started;
    ``succeeded`` and ``failed`` in this run; ``by_status`` failures by HTTP status (or
    ``"connection"``, ``"invalid"``); ``rate`` lines a second; ``eta`` seconds (None unknown);
    ``in_jobs`` (batch engine) lines the open batch jobs report done but not yet merged.
    """

    __slots__ = ("by_status", "elapsed", "engine", "failed", "in_jobs", "output", "rate_limited", "skipped",
                 "started", "succeeded", "total")

    def __init__(self, total: int, skipped: int, output: str, engine: str = "live") -> None:
        self.total, self.skipped, self.output, self.engine = total, skipped, output, engine
        self.succeeded = self.failed = self.rate_limited = self.in_jobs = 0
        self.by_status: dict[str, int] = {}
        self.started = time.monotonic()
        self.elapsed = 0.0

    @property
    def done(self) -> int:
        """Lines with a result line, this run and before (never more than ``total``)."""
        return min(self.total, self.skipped + self.succeeded + self.failed)

    @property
    def rate(self) -> float:
        ran = self.succeeded + self.failed
        return ran / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def count(self, key: str | None) -> None:
        if key is None:
            self.succeeded += 1
        else:
            self.failed += 1
            self.by_status[key] = self.by_status.get(key, 0) + 1
        self.elapsed = time.monotonic() - self.started

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "skipped": self.skipped, "succeeded": self.succeeded, "failed": self.failed,
                "by_status": dict(self.by_status), "elapsed": round(self.elapsed, 3), "output": self.output,
                "engine": self.engine}

    def __repr__(self) -> str:
        return f"<BulkProgress {self.as_dict()}>"


def body_checker(endpoint: Endpoint, spec: Spec, model: str | None = None) -> Callable[[dict[str, Any]], list[str]]:
    """``check(body) -> [problem, ...]`` against the operation's schema (the row's ``fill``
    and a job-level ``model`` applied first, as the client and the batch API do)."""
    def check(body: dict[str, Any]) -> list[str]:
        problems = [f"{name}: is a call keyword, not an API field" for name in body if name in CALL_KEYWORDS]
        if body.get("stream") is True:
            problems.append("stream: bulk runs do not stream; remove `stream`")
        options = {k: v for k, v in body.items() if v is not None and k not in CALL_KEYWORDS}
        if model is not None and "model" in endpoint.options:
            options.setdefault("model", model)
        for name, value in endpoint.fill.items():
            options.setdefault(name, value)
        try:
            validate(endpoint, options, spec)
        except ValidationError as exc:
            problems.extend(f"{path or '<body>'}: {message}" for path, message in exc.errors)
        return problems

    return check


def body_problems(client: ClientBase, path: str, model: str | None) -> Callable[[dict[str, Any]], list[str]]:
    """The body check of the JSON operation a batch ``endpoint`` path names (none: no check)."""
    for endpoint in client.operations.values():
        if endpoint.method == "POST" and endpoint.path == path and endpoint.body == "json":
            return body_checker(endpoint, client._spec, model)
    return lambda body: []


def json_endpoint(operations: Mapping[str, Endpoint], operation: str) -> Endpoint:
    endpoint = find_endpoint(operations, operation)
    if endpoint.body != "json" or endpoint.response != "json":
        raise MistralError(f"run_jsonl runs operations that take and return JSON; {operation} does not",
                           operation="run_jsonl")
    return endpoint


class Prepared:
    """A checked input and an opened (and locked) output, ready for an engine."""

    __slots__ = ("bad", "done", "endpoint", "input", "lock", "output", "progress", "writer")

    def __init__(self, input_path: str, output: str, endpoint: Endpoint, done: DoneSet, bad: frozenset[int],
                 writer: OutputWriter, progress: BulkProgress, lock: OutputLock | None = None) -> None:
        self.input, self.output, self.endpoint, self.done, self.bad = input_path, output, endpoint, done, bad
        self.writer, self.progress, self.lock = writer, progress, lock

    def pending(self) -> Iterator[InputLine]:
        """The lines still to run, in input order."""
        done = self.done
        for line in iter_input(self.input, self.bad):
            if line.custom_id not in done:
                yield line

    def close(self) -> None:
        """Close the output, then let another run have it."""
        try:
            self.writer.close()
        finally:
            if self.lock is not None:
                self.lock.release()


def prepare(
    operations: Mapping[str, Endpoint], spec: Spec, input_path: Any, output: Any, *, operation: str, resume: bool,
    skip_invalid: bool, model: str | None = None, engine: str = "live",
) -> Prepared:
    """Lock the output (one run per output), check every input line (raising
    :class:`BulkInputError` unless ``skip_invalid``; repeated ``custom_id``\\ s always), then open
    the output: afresh, or resumed (its ``custom_id``\\ s read back, a torn last line cut) when
    the input is the one it was written from."""
    input_path, output = os.fspath(input_path), os.fspath(output)
    endpoint = json_endpoint(operations, operation)
    if os.path.abspath(input_path) == os.path.abspath(output):
        raise MistralError("run_jsonl: the output must be another file than the input", operation="run_jsonl")
    if not os.path.isfile(input_path):
        problem = "No such file" if not os.path.exists(input_path) else "not a file"
        raise ValidationError("run_jsonl", [("input", f"{input_path}: {problem}")])
    if os.path.isdir(output):
        raise MistralError(f"{output}: cannot write the output: it is a directory", operation="run_jsonl")
    lock = OutputLock(output)
    try:
        return _prepare_locked(endpoint, spec, input_path, output, lock, resume=resume, skip_invalid=skip_invalid,
                               model=model, engine=engine)
    except BaseException:
        lock.release()
        raise


def _prepare_locked(endpoint: Endpoint, spec: Spec, input_path: str, output: str, lock: OutputLock, *,
                    resume: bool, skip_invalid: bool, model: str | None, engine: str) -> Prepared:
    check = body_checker(endpoint, spec, model)
    try:
        report = scan_input(input_path, check)
    except OSError as exc:
        raise MistralError(f"{input_path}: {exc.strerror or exc}", operation="run_jsonl") from None
    if report.count and not skip_invalid:
        raise BulkInputError(input_path, report.problems, report.count)
    if report.repeats:  # two lines, one custom_id: their results could not be told apart; never skipped
        raise BulkInputError(input_path, report.repeats, len(report.repeats))
    made_from = {"input": os.path.abspath(input_path), "sha256": report.fingerprint, "operation": endpoint.name}
    if resume:
        _check_made_from(lock.record(), made_from, input_path, output)
    done = read_done(output) if resume else DoneSet.empty()
    lock.save(made_from)
    try:
        writer = OutputWriter(output, fresh=not resume)
    except OSError as exc:
        raise MistralError(f"{output}: cannot write the output: {exc.strerror or exc}",
                           operation="run_jsonl") from None
    progress = BulkProgress(report.total, len(done), output, engine)
    bad = frozenset(report.bad)
    prepared = Prepared(input_path, output, endpoint, done, bad, writer, progress, lock)
    if bad:  # every input line gets one output line: the invalid ones get their error
        messages: dict[int, list[str]] = {}
        for number, message in report.problems:
            messages.setdefault(number, []).append(message)
        for number, custom_id in bad_ids(input_path, bad):
            if custom_id in done:
                continue
            text = "; ".join(messages.get(number, ["invalid line"]))
            writer.write(result_line(custom_id, None, None, {"message": f"line {number}: {text}",
                                                             "code": "invalid_request"}))
            progress.count("invalid")
    return prepared


def _check_made_from(record: Mapping[str, Any] | None, made_from: Mapping[str, Any], input_path: str,
                     output: str) -> None:
    """A resume goes on only over the input (and operation) the output was written from."""
    if record is None or not ((os.path.exists(output) and os.path.getsize(output) > 0)
                              or os.path.exists(state_path(output))):
        return  # nothing written yet (or by a version that kept no record): nothing to mix up
    afresh = "start afresh with resume=False (--no-resume), or choose another output"
    if record.get("sha256") != made_from["sha256"]:
        raise BulkRunError(f"{input_path}: the input changed since {output} was written from it (its SHA-256 "
                           f"differs); resuming would mix the results of two inputs: {afresh}", path=input_path)
    if record.get("operation") != made_from["operation"]:
        raise BulkRunError(f"{output} holds results of {record.get('operation')}, not {made_from['operation']}: "
                           f"{afresh}", path=output)


def check_arguments(
    input_path: Any, output: Any, *, operation: Any = "chat", engine: Any = "live", concurrency: Any = 16,
    requests_per_minute: Any = None, tokens_per_minute: Any = None, resume: Any = True, skip_invalid: Any = False,
    on_progress: Any = None, model: Any = None, timeout: Any = 1.0,
) -> None:
    """Every argument of ``run_jsonl``, checked before any I/O: one ``ValidationError`` with
    every problem."""
    problems: list[tuple[str, str]] = []
    for name, path in (("input", input_path), ("output", output)):
        text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
        if not isinstance(text, str):
            problems.append((name, f"expected a file path (str or os.PathLike), got {type(path).__name__}"))
        elif not text or "\0" in text:
            problems.append((name, f"expected a file path, got {text!r}"))
    if not isinstance(operation, str) or not operation:
        problems.append(("operation", f"expected an operation name such as 'chat', got {operation!r}"[:120]))
    if engine not in ENGINES:
        problems.append(("engine", f"expected one of {', '.join(ENGINES)}, got {engine!r}"[:120]))
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        problems.append(("concurrency", f"expected an integer of at least 1, got {concurrency!r}"[:120]))
    for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
        problem = None if value is None else positive_number_problem(value)
        if problem:
            problems.append((name, f"{problem} (a number greater than 0, or None)"))
    for name, flag in (("resume", resume), ("skip_invalid", skip_invalid)):
        if not isinstance(flag, bool):
            problems.append((name, f"expected True or False, got {flag!r}"[:120]))
    if on_progress is not None and not callable(on_progress):
        problems.append(("on_progress", "expected a function of the progress, or None"))
    if model is not None and (not isinstance(model, str) or not model):
        problems.append(("model", f"expected a model name, or None, got {model!r}"[:120]))
    problem = positive_number_problem(timeout, zero=True)
    if problem:
        problems.append(("timeout", problem))
    if problems:
        raise ValidationError("run_jsonl", problems)
