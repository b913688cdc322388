"""``embed_many``: many texts embedded in batches the API takes, a few batches at a time.

``client.embed_many(texts)`` returns one vector per text, in input order. The texts are cut
into consecutive batches within the table's ``[defaults.limits]`` (``embed_max_inputs`` texts
and ``embed_max_tokens`` tokens a request). Tokens are estimated as UTF-8 bytes: a tokenizer
never makes more tokens than the text has bytes (the fake counts words and punctuation marks,
each at least one byte), so no batch is refused for its size; a text longer than the budget
goes alone. Each text is sent exactly once (retries aside: every batch is an ordinary ``embed``
call, retried like any call). ``batch_size`` caps the texts a request; ``concurrency`` batches
run at once (threads on ``Client``, tasks on ``AsyncClient``); ``on_progress(done, total)`` is
called from the calling thread after each batch, with the texts done so far.

The planning and the reading of answers live here once; the two clients only run the calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mistral_lite.exceptions import MistralError, ValidationError

if TYPE_CHECKING:
    from mistral_lite._http.aio import AsyncClient
    from mistral_lite.client import Client

__all__ = ["EmbedPlan", "batches", "embed_many", "embed_many_async"]

OPERATION = "embed_many"
Progress = Callable[[int, int], None]


def batches(sizes: Sequence[int], max_inputs: int, max_tokens: int) -> list[range]:
    """Consecutive index ranges of at most ``max_inputs`` items and ``max_tokens`` estimated
    tokens (``sizes``: each item's estimate); an item over the budget goes alone."""
    out: list[range] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= max_inputs or used + size > max_tokens):
            out.append(range(start, index))
            start, used = index, 0
        used += size
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def estimate_tokens(text: str) -> int:
    """An upper bound on a text's tokens: its UTF-8 bytes."""
    return len(text.encode("utf-8"))


def limits(client: Any) -> tuple[int, int]:
    """The table's inputs and tokens per embedding request."""
    table: Mapping[str, Any] = client._spec.defaults.get("limits", {})
    return int(table.get("embed_max_inputs", 512)), int(table.get("embed_max_tokens", 16384))


@dataclass
class EmbedPlan:
    """The texts, their batches, the options of each ``embed`` call, and the vectors so far."""

    texts: list[str]
    groups: list[range]
    options: dict[str, Any]
    concurrency: int
    on_progress: Progress | None
    vectors: list[list[float] | None] = field(default_factory=list)
    done: int = 0

    def request(self, group: range) -> dict[str, Any]:
        return {**self.options, "input": self.texts[group.start:group.stop]}

    def store(self, group: range, reply: Any) -> None:
        """Put a batch's vectors in place (by each item's ``index``), then report progress."""
        data = reply.get("data") if isinstance(reply, Mapping) else None
        if not isinstance(data, list) or len(data) != len(group):
            got = len(data) if isinstance(data, list) else "no"
            raise MistralError(f"embed answered {got} embeddings for {len(group)} inputs", operation=OPERATION)
        for position, item in enumerate(sorted(data, key=lambda d: d.get("index", 0))):
            self.vectors[group.start + position] = item.get("embedding")
        self.done += len(group)
        if self.on_progress is not None:
            self.on_progress(self.done, len(self.texts))

    def result(self) -> list[list[float]]:
        return [v if v is not None else [] for v in self.vectors]


def plan(client: Any, texts: Iterable[str], model: str, batch_size: int | None, concurrency: int,
         on_progress: Progress | None, options: Mapping[str, Any]) -> EmbedPlan:
    """Check the arguments (every problem at once, before any request) and cut the batches."""
    errors: list[tuple[str, str]] = []
    items: list[Any] = []
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        errors.append(("texts", f"expected a list of strings, got {type(texts).__name__} "
                                "(wrap a single text in a list)"))
    else:
        items = list(texts)
        for index, text in enumerate(items):
            if not isinstance(text, str):
                errors.append((f"texts[{index}]", f"expected a string, got {type(text).__name__}"))
            elif not text.strip():
                errors.append((f"texts[{index}]", "empty text: the API refuses it (drop it, or embed a placeholder)"))
    if not isinstance(model, str) or not model:
        errors.append(("model", "expected a model name"))
    for name, value, allow_none in (("batch_size", batch_size, True), ("concurrency", concurrency, False)):
        if not (value is None and allow_none) and (isinstance(value, bool) or not isinstance(value, int)
                                                   or value < 1):
            errors.append((name, f"expected a positive integer, got {value!r}"))
    if "input" in options:
        errors.append(("input", "the texts are the first argument of embed_many"))
    if on_progress is not None and not callable(on_progress):
        errors.append(("on_progress", "expected a function on_progress(done, total)"))
    if errors:
        raise ValidationError(OPERATION, errors)
    max_inputs, max_tokens = limits(client)
    if batch_size is not None:
        max_inputs = min(max_inputs, batch_size)
    groups = batches([estimate_tokens(t) for t in items], max_inputs, max_tokens)
    result = EmbedPlan(items, groups, {**options, "model": model}, concurrency, on_progress)
    result.vectors = [None] * len(items)
    return result


def embed_many(client: Client, texts: Iterable[str], model: str, batch_size: int | None, concurrency: int,
               on_progress: Progress | None, options: Mapping[str, Any]) -> list[list[float]]:
    """``Client.embed_many``: the batches on ``concurrency`` threads, progress on this one."""
    work = plan(client, texts, model, batch_size, concurrency, on_progress, options)
    if not work.groups:
        if on_progress is not None:
            on_progress(0, 0)
        return []
    if len(work.groups) == 1 or work.concurrency == 1:
        for group in work.groups:
            work.store(group, client.call("embed", **work.request(group)))
        return work.result()
    todo = iter(work.groups)
    pending: dict[Future[Any], range] = {}
    with ThreadPoolExecutor(min(work.concurrency, len(work.groups)), thread_name_prefix="mistral-lite-embed") as pool:
        try:
            while True:
                while len(pending) < work.concurrency:  # at most `concurrency` batches in flight
                    following = next(todo, None)
                    if following is None:
                        break
                    # in a copy of the caller's context: each batch's call is a child of the caller's span
                    call: Callable[[], Any] = functools.partial(client.call, "embed", **work.request(following))
                    pending[pool.submit(contextvars.copy_context().run, call)] = following
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: pending[f].start):
                    work.store(pending.pop(future), future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return work.result()


async def embed_many_async(client: AsyncClient, texts: Iterable[str], model: str, batch_size: int | None,
                           concurrency: int, on_progress: Progress | None,
                           options: Mapping[str, Any]) -> list[list[float]]:
    """``AsyncClient.embed_many``: the batches as tasks, at most ``concurrency`` at once."""
    work = plan(client, texts, model, batch_size, concurrency, on_progress, options)
    if not work.groups and on_progress is not None:
        on_progress(0, 0)
    todo = iter(work.groups)
    pending: dict[asyncio.Task[Any], range] = {}
    try:
        while True:
            while len(pending) < work.concurrency:
                following = next(todo, None)
                if following is None:
                    break
                pending[asyncio.ensure_future(client.call("embed", **work.request(following)))] = following
            if not pending:
                break
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(finished, key=lambda t: pending[t].start):
                work.store(pending.pop(task), task.result())
    except BaseException:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        raise
    return work.result()
