"""Bulk runs, live: one JSONL file of requests through the client, concurrently, paced, resumable.

``Client.run_jsonl`` (threads) and ``AsyncClient.run_jsonl`` (asyncio tasks) share everything
but the loop: :func:`prepare` checks the input and opens the output (resuming it), and a
:class:`LiveRun` decides what each answer means (a result line, or wait and try again); only
the waiting and the calling differ.

* Every line goes through ``client.call(operation, **body)``: the client's own retries (5xx,
  cut connections, per the row's retry class) and typed errors apply. The engine uses a copy
  of the client with ``max_retry_after=0`` so that a 429 (or 503) carrying ``Retry-After``
  comes back to the engine at once: the pacer slows every worker down and holds them until the
  server's delay has passed, then the line is tried again (up to ``MAX_BACKOFFS`` times).
* Every input line gets exactly one output line: its result, or its final error. A run stopped
  at any point and started again with ``resume=True`` skips the ``custom_id``\\ s already in the
  output; at most the lines that were in flight run twice.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mistral_lite._bulk.jsonl import (
    BulkInputError,
    DoneSet,
    InputLine,
    OutputLock,
    OutputWriter,
    iter_input,
    read_done,
    result_line,
    scan_input,
    state_path,
)
from mistral_lite._bulk.pacer import InFlight, Pacer, estimate_tokens
from mistral_lite._core.call import find_endpoint
from mistral_lite._table import CALL_KEYWORDS, Endpoint, Spec
from mistral_lite.exceptions import APIStatusError, BulkRunError, MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["BulkInputError", "BulkProgress", "LiveRun", "Prepared", "prepare", "run_live"]

#: How many times one line waits out a 429 / Retry-After before its error is final.
MAX_BACKOFFS = 20
#: The longest one Retry-After makes the engine wait (seconds).
MAX_RETRY_AFTER = 3600.0
#: Statuses that, with a Retry-After, mean "slow down" rather than "this request failed".
_BACKOFF_STATUSES = frozenset({429, 503})


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
    from mistral_lite._core.validate import validate

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


def body_problems(client: Client, path: str, model: str | None) -> Callable[[dict[str, Any]], list[str]]:
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
    import os

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
    import os

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
        for number, custom_id in _bad_ids(input_path, bad):
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
    import os

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


def _bad_ids(path: str, bad: frozenset[int]) -> Iterator[tuple[int, str]]:
    from mistral_lite._bulk.jsonl import _line_id, _parse_line, _raw_lines

    for number, raw in _raw_lines(path):
        if number in bad:
            yield number, _line_id(number, _parse_line(number, raw)[0])


class LiveRun:
    """What the live engines share: the pacer, the in-flight limit, the output and the meaning
    of each answer."""

    def __init__(self, prepared: Prepared, *, requests_per_minute: float | None, tokens_per_minute: float | None,
                 on_progress: Callable[[BulkProgress], None] | None, model: str | None = None,
                 clock: Callable[[], float] = time.monotonic, concurrency: int = 16) -> None:
        self.prepared = prepared
        self.model = model if model is not None and "model" in prepared.endpoint.options else None
        self.operation = prepared.endpoint.name
        self.pacer = Pacer(requests_per_minute, tokens_per_minute, clock=clock)
        # without a configured rate, 429s lower the requests in flight (AIMD) instead of pausing all
        self.window = None if self.pacer.limited else InFlight(concurrency, clock=clock)
        self.count_tokens = tokens_per_minute is not None
        self.lock = threading.Lock()
        self.slots = threading.Condition(self.lock)  # the threads engine waits here for a slot
        self.lines = prepared.pending()
        self.on_progress = on_progress
        self.progress = prepared.progress

    def next_line(self) -> InputLine | None:
        with self.lock:
            line = next(self.lines, None)
        if line is not None and self.model is not None and "model" not in line.body:
            line.body["model"] = self.model
        return line

    def next_lines(self, most: int = 64, budget: int = 1 << 20) -> list[tuple[InputLine, int]]:
        """Up to ``most`` lines with their token estimates (fewer once ``budget`` bytes are
        read); empty at the end."""
        taken: list[tuple[InputLine, int]] = []
        size = 0
        while len(taken) < most and size < budget:
            line = self.next_line()
            if line is None:
                break
            taken.append((line, self.tokens(line)))
            size += line.size
        return taken

    def tokens(self, line: InputLine) -> int:
        return estimate_tokens(line.body) if self.count_tokens else 0

    def reserve(self, tokens: int) -> float:
        with self.lock:
            return self.pacer.reserve(tokens)

    def try_start(self) -> bool:
        """Take an in-flight slot if one is free (always, with a configured rate)."""
        if self.window is None:
            return True
        with self.lock:
            return self.window.try_start()

    def wait_start(self, stop: threading.Event) -> bool:
        """Block until an in-flight slot is free (threads engine); False when stopped."""
        if self.window is None:
            return not stop.is_set()
        with self.slots:
            while not self.window.try_start():
                if stop.is_set():
                    return False
                self.slots.wait(0.25)
        return True

    def _ended(self, succeeded: bool) -> None:
        if self.window is not None:
            with self.slots:
                self.window.done(succeeded)
                self.slots.notify()

    def backs_off(self, exc: MistralError, backoffs: int) -> float | None:
        """A 429 / Retry-After answer: slow down; the seconds this line waits before it goes
        again (None: its error is final)."""
        if not isinstance(exc, APIStatusError) or exc.status_code not in _BACKOFF_STATUSES:
            return None
        if exc.status_code != 429 and exc.retry_after is None:
            return None
        # a Retry-After of years is a broken header: no wait may pass what a sleep can take
        retry_after = None if exc.retry_after is None else min(exc.retry_after, MAX_RETRY_AFTER)
        with self.lock:
            self.pacer.rate_limited(retry_after)
            if self.window is not None:
                self.window.rate_limited(retry_after)
            self.progress.rate_limited += 1
        if backoffs >= MAX_BACKOFFS:
            return None
        if self.window is None:
            return 0.0  # the pacer holds every start until the Retry-After has passed
        return retry_after if retry_after is not None else min(30.0, 2.0 ** backoffs)

    def heed(self, state: Any) -> None:
        """Without a configured rate, a response saying a per-minute budget is spent (a
        ``RateLimit`` with 0 (or fewer) requests or tokens remaining) holds new starts until the next minute."""
        if state is None or self.pacer.limited:
            return
        if any(left is not None and left <= 0 for left in (state.requests_remaining, state.tokens_remaining)):
            with self.lock:
                self.pacer.exhausted()

    def settle(self, line: InputLine, tokens: int, backoffs: int, result: Any,
               error: MistralError | None, state: Any = None) -> float | None:
        """Give the in-flight slot back, heed the rate-limit ``state`` the server sent, then
        write the line's result and return None, or return the seconds to wait before sending
        it again."""
        self._ended(error is None)
        self.heed(state)
        if error is not None:
            wait = self.backs_off(error, backoffs)
            if wait is not None:
                return wait
        self.finish(line, tokens, result, error)
        return None

    def finish(self, line: InputLine, tokens: int, result: Any = None, error: MistralError | None = None) -> None:
        if error is None:
            record = result_line(line.custom_id, 200, result, None)
            key = None
            usage = result.get("usage") if isinstance(result, dict) else None
            used = usage.get("total_tokens") if isinstance(usage, dict) else None
            if self.count_tokens and isinstance(used, int):
                with self.lock:
                    self.pacer.correct_tokens(used - tokens)
        elif isinstance(error, APIStatusError):
            record = result_line(line.custom_id, error.status_code, error.body,
                                 {"message": error.message, "code": error.status_code})
            key = str(error.status_code)
        else:
            kind = type(error).__name__
            record = result_line(line.custom_id, None, None, {"message": error.message, "code": kind})
            key = "connection" if "Connection" in kind or "Timeout" in kind else kind
        self.prepared.writer.write(record)
        with self.lock:
            self.progress.count(key)
            if self.on_progress is not None:
                self.on_progress(self.progress)


def engine_client(client: Client) -> Client:
    """A copy of ``client`` on which every Retry-After comes back to the engine at once."""
    return client.with_options(max_retry_after=0.0)


def run_live(
    client: Client, input_path: Any, output: Any, *, operation: str, concurrency: int,
    requests_per_minute: float | None, tokens_per_minute: float | None, resume: bool, skip_invalid: bool,
    on_progress: Callable[[BulkProgress], None] | None, model: str | None = None,
) -> BulkProgress:
    """The threads engine: ``concurrency`` workers pull lines from the input in order."""
    check_arguments(input_path, output, operation=operation, concurrency=concurrency,
                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                    skip_invalid=skip_invalid, on_progress=on_progress, model=model)
    prepared = prepare(client.operations, client._spec, input_path, output, operation=operation, resume=resume,
                       skip_invalid=skip_invalid, model=model)
    run = LiveRun(prepared, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                  on_progress=on_progress, model=model, concurrency=concurrency)
    _widen_pool(client, concurrency)
    caller = engine_client(client)
    stop = threading.Event()
    failures: list[BaseException] = []

    def work() -> None:
        try:
            while not stop.is_set():
                line = run.next_line()
                if line is None:
                    return
                tokens = run.tokens(line)
                backoffs = 0
                while True:
                    delay = run.reserve(tokens)
                    if (delay > 0 and stop.wait(delay)) or not run.wait_start(stop):
                        return
                    try:
                        result, error = caller.call(run.operation, **line.body), None
                    except MistralError as exc:
                        result, error = None, exc
                    wait = run.settle(line, tokens, backoffs, result, error, getattr(caller, "rate_limit", None))
                    if wait is None:
                        break
                    backoffs += 1
                    if wait > 0 and stop.wait(wait):
                        return
        except BaseException as exc:  # a bug, or the output failing: stop everyone, raise it
            failures.append(exc)
            stop.set()

    # each worker runs in a copy of the caller's context: its calls are children of the caller's span
    workers = [threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"mistral-lite-bulk-{n}",
                                daemon=True) for n in range(concurrency)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.25)
    except BaseException:
        stop.set()
        for worker in workers:
            worker.join(2.0)
        raise
    finally:
        prepared.close()
    if failures:
        raise failures[0]
    run.progress.elapsed = time.monotonic() - run.progress.started
    return run.progress


def check_arguments(
    input_path: Any, output: Any, *, operation: Any = "chat", engine: Any = "live", concurrency: Any = 16,
    requests_per_minute: Any = None, tokens_per_minute: Any = None, resume: Any = True, skip_invalid: Any = False,
    on_progress: Any = None, model: Any = None, timeout: Any = 1.0,
) -> None:
    """Every argument of ``run_jsonl``, checked before any I/O: one ``ValidationError`` with
    every problem."""
    import os

    from mistral_lite._core.inputs import positive_number_problem

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


def _widen_pool(client: Client, concurrency: int) -> None:
    """Give a client-owned session a connection pool as wide as the run (requests keeps 10);
    a session the caller passed in is never changed (the client's transport decides)."""
    widen = getattr(client, "_widen_pool", None)  # a client-like object without one keeps its pool
    if widen is not None:
        widen(concurrency)


async def run_live_async(
    aclient: Any, input_path: Any, output: Any, *, operation: str, concurrency: int,
    requests_per_minute: float | None, tokens_per_minute: float | None, resume: bool, skip_invalid: bool,
    on_progress: Callable[[BulkProgress], None] | None, model: str | None = None,
) -> BulkProgress:
    """The asyncio engine: ``concurrency`` tasks pull lines from the input in order.

    Works with any async client whose ``await aclient.call(op, **options)`` runs a call; its
    ``with_options(max_retry_after=0)`` copy is used when it has one (a thread-backed
    ``AsyncClient`` is rewrapped around such a copy of its sync client, ``concurrency`` threads
    wide).
    """
    import asyncio

    check_arguments(input_path, output, operation=operation, concurrency=concurrency,
                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                    skip_invalid=skip_invalid, on_progress=on_progress, model=model)
    operations, spec = _async_table(aclient)
    inner = getattr(aclient, "client", None)
    # reading and checking the whole input takes a while on a big file: not on the event loop
    prepared = await _prepare_off_loop(functools.partial(
        prepare, operations, spec, input_path, output, operation=operation, resume=resume, skip_invalid=skip_invalid,
        model=model))
    run = LiveRun(prepared, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                  on_progress=on_progress, model=model, concurrency=concurrency)
    owned = None
    if inner is not None:  # the thread-backed AsyncClient: as many threads (and pooled connections) as the run
        owned = caller = type(aclient)(client=engine_client(inner), max_workers=concurrency)
    elif hasattr(aclient, "with_options"):
        caller = aclient.with_options(max_retry_after=0.0)
    else:
        caller = aclient

    loop = asyncio.get_running_loop()
    slots = asyncio.Condition()
    buffered: list[tuple[InputLine, int]] = []
    reading = asyncio.Lock()

    async def next_line() -> tuple[InputLine, int] | None:
        # reading, checking and sizing lines (a 15 MB line is a long JSON parse) is done off the
        # loop, a few at a time
        async with reading:
            if not buffered:
                buffered.extend(reversed(await loop.run_in_executor(None, run.next_lines)))
            return buffered.pop() if buffered else None

    async def work() -> None:
        while True:
            taken = await next_line()
            if taken is None:
                return
            line, tokens = taken
            backoffs = 0
            while True:
                delay = run.reserve(tokens)
                if delay > 0:
                    await asyncio.sleep(delay)
                if not run.try_start():
                    async with slots:
                        await slots.wait_for(run.try_start)
                try:
                    result, error = await caller.call(run.operation, **line.body), None
                except MistralError as exc:
                    result, error = None, exc
                wait = run.settle(line, tokens, backoffs, result, error, getattr(caller, "rate_limit", None))
                if run.window is not None:
                    async with slots:
                        slots.notify()
                if wait is None:
                    break
                backoffs += 1
                if wait > 0:
                    await asyncio.sleep(wait)

    tasks = [asyncio.ensure_future(work()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        prepared.close()
        if owned is not None:
            await owned.aclose()
    run.progress.elapsed = time.monotonic() - run.progress.started
    return run.progress


async def _prepare_off_loop(make: Callable[[], Prepared]) -> Prepared:
    """``make()`` on a worker thread. Cancelled while it runs (a timeout, Ctrl-C), the thread
    still finishes: what it opened (the output and its lock) is closed then, never left held."""
    import asyncio

    guard = threading.Lock()
    state: dict[str, Any] = {}

    def work() -> Prepared:
        prepared = make()
        with guard:
            if state.get("abandoned"):
                prepared.close()
            else:
                state["prepared"] = prepared
        return prepared

    try:
        return await asyncio.get_running_loop().run_in_executor(None, work)
    except asyncio.CancelledError:
        with guard:
            state["abandoned"] = True
            made = state.pop("prepared", None)
        if made is not None:
            made.close()
        raise


ENGINES = ("live", "batch")


def run_jsonl(
    client: Client, input_path: Any, output: Any, *, operation: str, engine: str, concurrency: int,
    requests_per_minute: float | None, tokens_per_minute: float | None, resume: bool, skip_invalid: bool,
    on_progress: Callable[[BulkProgress], None] | None, model: str | None, timeout: float,
) -> BulkProgress:
    """``Client.run_jsonl``: the live engine on threads, or the batch engine."""
    check_arguments(input_path, output, operation=operation, engine=engine, concurrency=concurrency,
                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                    skip_invalid=skip_invalid, on_progress=on_progress, model=model, timeout=timeout)
    if engine == "live":
        return run_live(client, input_path, output, operation=operation, concurrency=concurrency,
                        requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                        resume=resume, skip_invalid=skip_invalid, on_progress=on_progress, model=model)
    from mistral_lite._bulk.batch import run_batch_engine

    prepared = prepare(client.operations, client._spec, input_path, output, operation=operation, resume=resume,
                       skip_invalid=skip_invalid, model=model, engine="batch")
    return run_batch_engine(prepared, call=client.call, defaults=client._spec.defaults, model=model,
                            timeout=timeout, on_progress=on_progress, sleep=client.sleep, clock=client.clock,
                            resume=resume)


async def run_jsonl_async(
    aclient: Any, input_path: Any, output: Any, *, operation: str = "chat", engine: str = "live",
    concurrency: int = 16, requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
    resume: bool = True, skip_invalid: bool = False, on_progress: Callable[[BulkProgress], None] | None = None,
    model: str | None = None, timeout: float = 24 * 3600.0,
) -> BulkProgress:
    """``AsyncClient.run_jsonl``: the live engine on tasks; the batch engine on a worker thread
    whose calls run on the event loop."""
    import asyncio

    check_arguments(input_path, output, operation=operation, engine=engine, concurrency=concurrency,
                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                    skip_invalid=skip_invalid, on_progress=on_progress, model=model, timeout=timeout)
    if engine == "live":
        return await run_live_async(aclient, input_path, output, operation=operation, concurrency=concurrency,
                                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                                    resume=resume, skip_invalid=skip_invalid, on_progress=on_progress, model=model)
    from mistral_lite._bulk.batch import run_batch_engine

    loop = asyncio.get_running_loop()
    operations, spec = _async_table(aclient)
    stop = threading.Event()  # set when the awaiting task is cancelled: the worker thread stops

    def call(op: str, **options: Any) -> Any:
        if stop.is_set():
            raise _Stopped
        future = asyncio.run_coroutine_threadsafe(aclient.call(op, **options), loop)
        while True:
            try:
                return future.result(0.1)
            except TimeoutError:
                if stop.is_set():
                    future.cancel()
                    raise _Stopped from None

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise _Stopped

    finished = threading.Event()

    def work() -> BulkProgress:
        try:
            prepared = prepare(operations, spec, input_path, output, operation=operation, resume=resume,
                               skip_invalid=skip_invalid, model=model, engine="batch")
            return run_batch_engine(prepared, call=call, defaults=spec.defaults, model=model, timeout=timeout,
                                    on_progress=on_progress, resume=resume, sleep=sleep)
        finally:
            finished.set()

    try:
        # in the caller's context (spans)
        return await loop.run_in_executor(None, contextvars.copy_context().run, work)
    except asyncio.CancelledError:
        # a timeout or Ctrl-C: the jobs stay on the server (a resume adopts them); the thread
        # stops at its next call or sleep and closes the output (and its lock) before we go on.
        # (Not asyncio.shield: on CPython 3.11 its cancellation here upsets the compiler's state.)
        stop.set()
        for _ in range(50):
            if finished.is_set():
                break
            await asyncio.sleep(0.1)
        raise


class _Stopped(Exception):
    """The batch engine's worker thread was told to stop (its awaiting task was cancelled)."""


def _async_table(aclient: Any) -> tuple[Mapping[str, Endpoint], Spec]:
    from mistral_lite._table import load_spec

    inner = getattr(aclient, "client", None)
    spec: Spec = getattr(aclient, "_spec", None) or getattr(inner, "_spec", None) or load_spec()
    operations = getattr(aclient, "operations", None) or getattr(inner, "operations", None) or spec.endpoints
    return operations, spec
