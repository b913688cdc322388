"""``Client.run_jsonl``: a JSONL file of requests into a JSONL file of results, by either engine.

``engine="live"`` runs :func:`~mistral_lite._bulk.live.run_live` (threads);
``engine="batch"`` runs the same file through Mistral's batch API
(:func:`~mistral_lite._bulk.batch.run_batch_engine`). ``AsyncClient.run_jsonl`` is
:func:`mistral_lite._bulk.aio.run_jsonl_async`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mistral_lite._bulk.batch import run_batch_engine
from mistral_lite._bulk.live import run_live
from mistral_lite._bulk.prepare import BulkProgress, check_arguments, prepare

if TYPE_CHECKING:
    from mistral_lite.client import Client

__all__ = ["run_jsonl"]


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
    prepared = prepare(client.operations, client._spec, input_path, output, operation=operation, resume=resume,
                       skip_invalid=skip_invalid, model=model, engine="batch")
    return run_batch_engine(prepared, call=client.call, defaults=client._spec.defaults, model=model,
                            timeout=timeout, on_progress=on_progress, sleep=client.sleep, clock=client.clock,
                            resume=resume)
