"""Bulk runs, live: one JSONL file of requests through the client, concurrently, paced, resumable.

``Client.run_jsonl`` (threads, here) and ``AsyncClient.run_jsonl`` (asyncio tasks,
:mod:`mistral_lite._bulk.aio`) share everything but the loop: :func:`~mistral_lite._bulk.prepare.prepare`
checks the input and opens the output (resuming it), and a :class:`LiveRun` decides what each
answer means (a result line, or wait and try again); only the waiting and the calling differ.

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
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mistral_lite._bulk.jsonl import InputLine, result_line
from mistral_lite._bulk.pacer import InFlight, Pacer, estimate_tokens
from mistral_lite._bulk.prepare import BulkProgress, Prepared, check_arguments, prepare
from mistral_lite.exceptions import APIStatusError, MistralError

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["MAX_BACKOFFS", "MAX_RETRY_AFTER", "BulkProgress", "LiveRun", "engine_client", "prepare", "run_live"]

#: How many times one line waits out a 429 / Retry-After before its error is final.
MAX_BACKOFFS = 20
#: The longest one Retry-After makes the engine wait (seconds).
MAX_RETRY_AFTER = 3600.0
#: Statuses that, with a Retry-After, mean "slow down" rather than "this request failed".
_BACKOFF_STATUSES = frozenset({429, 503})


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


def _widen_pool(client: Client, concurrency: int) -> None:
    """Give a client-owned session a connection pool as wide as the run (requests keeps 10);
    a session the caller passed in is never changed (the client's transport decides)."""
    widen = getattr(client, "_widen_pool", None)  # a client-like object without one keeps its pool
    if widen is not None:
        widen(concurrency)
