"""Bulk runs on asyncio: ``AsyncClient.run_jsonl``.

The live engine runs on ``concurrency`` tasks (:func:`run_live_async`, sharing
:class:`~mistral_lite._bulk.live.LiveRun` with the threads engine); the batch engine, which
mostly waits, runs on a worker thread whose calls go back to the event loop
(:func:`run_jsonl_async`). Kept apart from :mod:`mistral_lite._bulk.live` so that a sync run
never imports asyncio.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from mistral_lite._bulk.batch import run_batch_engine
from mistral_lite._bulk.jsonl import InputLine
from mistral_lite._bulk.live import LiveRun, engine_client
from mistral_lite._bulk.prepare import BulkProgress, Prepared, check_arguments, prepare
from mistral_lite._table import Endpoint, Spec, load_spec
from mistral_lite.exceptions import MistralError

__all__ = ["run_jsonl_async", "run_live_async"]


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


async def run_jsonl_async(
    aclient: Any, input_path: Any, output: Any, *, operation: str = "chat", engine: str = "live",
    concurrency: int = 16, requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
    resume: bool = True, skip_invalid: bool = False, on_progress: Callable[[BulkProgress], None] | None = None,
    model: str | None = None, timeout: float = 24 * 3600.0,
) -> BulkProgress:
    """``AsyncClient.run_jsonl``: the live engine on tasks; the batch engine on a worker thread
    whose calls run on the event loop."""
    check_arguments(input_path, output, operation=operation, engine=engine, concurrency=concurrency,
                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, resume=resume,
                    skip_invalid=skip_invalid, on_progress=on_progress, model=model, timeout=timeout)
    if engine == "live":
        return await run_live_async(aclient, input_path, output, operation=operation, concurrency=concurrency,
                                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                                    resume=resume, skip_invalid=skip_invalid, on_progress=on_progress, model=model)
    loop = asyncio.get_running_loop()
    operations, spec = _async_table(aclient)
    stop = threading.Event()  # set when the awaiting task is cancelled: the worker thread stops

    # told to stop (the awaiting task was cancelled), the thread's next call or sleep raises
    # CancelledError: the engine unwinds, closing the output, and nobody awaits the result
    def call(op: str, **options: Any) -> Any:
        if stop.is_set():
            raise CancelledError
        future = asyncio.run_coroutine_threadsafe(aclient.call(op, **options), loop)
        while True:
            try:
                return future.result(0.1)
            except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
                if stop.is_set():
                    future.cancel()
                    raise CancelledError from None

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise CancelledError

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


def _async_table(aclient: Any) -> tuple[Mapping[str, Endpoint], Spec]:
    inner = getattr(aclient, "client", None)
    spec: Spec = getattr(aclient, "_spec", None) or getattr(inner, "_spec", None) or load_spec()
    operations = getattr(aclient, "operations", None) or getattr(inner, "operations", None) or spec.endpoints
    return operations, spec
