"""The command line's bulk commands: ``run`` and ``batch run|list|status|results|cancel``.

::

    mistral-lite run INPUT.jsonl -o OUTPUT.jsonl [--op chat] [--engine live|batch] [--concurrency N]
                     [--rpm N] [--tpm N] [--skip-invalid] [--no-resume] [-m MODEL]
    mistral-lite batch run FILE.jsonl [-o RESULTS.jsonl] [--endpoint PATH] [-m MODEL] [--no-wait]
    mistral-lite batch list | status ID | results ID -o FILE | cancel ID

``run`` shows a progress bar (done, failed, rate, ETA) when stderr is a terminal and a plain
line every ``PLAIN_EVERY`` seconds otherwise, then a summary. Exit codes: 0 every line
succeeded, 1 some failed, 2 bad input (the bad lines are named, a missing input file), bad usage
or a run refused (another run writes the output, the input changed since the output was
written, a damaged state file: one line saying so), 130 interrupted (run the same command again
to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from mistral_lite._bulk.jobs import RESULT_FILES, TERMINAL
from mistral_lite._bulk.jsonl import read_lines
from mistral_lite._core.files import save_atomically
from mistral_lite.cli.base import (
    Parser,
    ProgressBar,
    UsageError,
    clean,
    err,
    isatty,
    loads,
    positive_seconds,
    print_json,
)
from mistral_lite.exceptions import BulkInputError, BulkRunError

if TYPE_CHECKING:
    from mistral_lite._bulk.prepare import BulkProgress
    from mistral_lite.client import Client

__all__ = ["COMMANDS", "add_parsers", "cmd_batch", "cmd_batch_run", "cmd_run"]

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY = 10.0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """Register ``batch`` and ``run`` on the command line's subparsers."""
    p = sub.add_parser("batch", help="run a JSONL file of requests through the batch API")
    batch = p.add_subparsers(dest="batch_command", metavar="ACTION", parser_class=Parser)
    batch.required = True
    p = batch.add_parser(
        "run", help="upload, create the job, wait with progress, write results in input order",
        description="Each line of FILE is a request body, or {\"custom_id\": ..., \"body\": {...}}. The results "
                    "file has one line per request, in input order: custom_id, status_code, body, error.",
    )
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--endpoint", default="/v1/chat/completions", help="default /v1/chat/completions")
    p.add_argument("-m", "--model", help="the model every request uses")
    p.add_argument("-o", "--output", metavar="RESULTS.jsonl", help="default: stdout")
    p.add_argument("--interval", type=positive_seconds, metavar="SECONDS",
                   help="poll interval (default: 1 s, growing to 60 s)")
    p.add_argument("--wait-timeout", type=positive_seconds, default=24 * 3600.0, metavar="SECONDS",
                   help="give up waiting after this long (default 24 h)")
    p.add_argument("--no-wait", action="store_true", help="print the created job and return")
    _add_batch_parsers(batch)
    _add_run_parser(sub)


def _add_run_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a JSONL file of requests into a JSONL file of results (resumable)",
        description="Each input line is {\"custom_id\": ..., \"body\": {...}} (the batch API's format); each "
                    "output line is {\"custom_id\", \"response\": {\"status_code\", \"body\"}, \"error\"}. Run the "
                    "same command again after an interruption: finished lines are not sent again. Exit codes: "
                    "0 all succeeded, 1 some failed, 2 bad input (nothing sent), 130 interrupted.",
    )
    p.add_argument("input", metavar="INPUT.jsonl")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT.jsonl")
    p.add_argument("--op", default="chat", metavar="OPERATION", help="the operation each line calls (default chat)")
    p.add_argument("--engine", choices=("live", "batch"), default="live",
                   help="live: call the API now; batch: Mistral's batch jobs (default live)")
    p.add_argument("--concurrency", type=_positive_int, default=16, metavar="N", help="requests in flight (live)")
    p.add_argument("--rpm", type=_positive_number, metavar="N", help="requests per minute at most (live)")
    p.add_argument("--tpm", type=_positive_number, metavar="N", help="tokens per minute at most (live)")
    p.add_argument("-m", "--model", help="the model of lines whose body names none")
    p.add_argument("--skip-invalid", action="store_true",
                   help="run the valid lines and write an error for each invalid one")
    p.add_argument("--no-resume", action="store_true", help="start the output afresh")


def _add_batch_parsers(batch: Any) -> None:
    batch.add_parser("list", help="list batch jobs, newest first")
    p = batch.add_parser("status", help="show a batch job")
    p.add_argument("job_id", metavar="ID")
    p = batch.add_parser("results", help="write a finished job's results (output and errors) as JSONL")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p = batch.add_parser("cancel", help="cancel a batch job")
    p.add_argument("job_id", metavar="ID")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Reporter:
    """Progress on stderr: a bar redrawn in place on a terminal, a plain line now and then otherwise."""

    def __init__(self, stream: IO[str], tty: bool, clock: Callable[[], float] = time.monotonic,
                 every: float = PLAIN_EVERY, width: int = 24) -> None:
        self.stream, self.tty, self.clock, self.every, self.width = stream, tty, clock, every, width
        self.last = -1e9
        self.drawn = False

    def __call__(self, progress: BulkProgress) -> None:
        now = self.clock()
        if now - self.last < (0.2 if self.tty else self.every):
            return
        self.last = now
        total = max(progress.total, 1)
        rate = progress.rate
        in_jobs = f" (+{progress.in_jobs} in batch jobs)" if progress.in_jobs else ""
        text = (f"{progress.done}/{progress.total} done{in_jobs}, {progress.failed} failed, {rate:.1f} lines/s, "
                f"ETA {_duration(progress.eta)}")
        if self.tty:
            filled = int(self.width * progress.done / total)
            self.stream.write(f"\r[{'#' * filled}{'-' * (self.width - filled)}] {progress.done * 100 // total:3d}% "
                              f"{text}\x1b[K")
            self.drawn = True
        else:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def summary(progress: BulkProgress) -> str:
    statuses = ", ".join(f"{key}: {count}" for key, count in sorted(progress.by_status.items()))
    failed = f"{progress.failed} failed" + (f" ({statuses})" if statuses else "")
    skipped = f"; {progress.skipped} already in {progress.output}" if progress.skipped else ""
    return (f"{progress.total} lines: {progress.succeeded} succeeded, {failed} in {progress.elapsed:.1f} s"
            f"{skipped}")


def cmd_run(ns: argparse.Namespace, client: Client) -> int:
    reporter = Reporter(sys.stderr, isatty(sys.stderr))
    try:
        progress = client.run_jsonl(
            ns.input, ns.output, operation=ns.op, engine=ns.engine, concurrency=ns.concurrency,
            requests_per_minute=ns.rpm, tokens_per_minute=ns.tpm, resume=not ns.no_resume,
            skip_invalid=ns.skip_invalid, on_progress=reporter, model=ns.model,
        )
    except BulkInputError as exc:
        reporter.close()
        shown = exc.problems[:5]
        lines = "; ".join(f"line {number}: {' '.join(message.split())}" for number, message in shown)
        more = f"; and {exc.count - len(shown)} more" if exc.count > len(shown) else ""
        err(f"mistral-lite: {exc.path}: {exc.count} bad line{'' if exc.count == 1 else 's'} (nothing was sent): "
             f"{lines}{more} (fix the lines, or pass --skip-invalid to run the others)")
        return 2
    except BulkRunError as exc:  # the output in use, the input changed, a damaged file: one line
        reporter.close()
        err(f"mistral-lite: {' '.join(exc.message.split())}")
        return 2
    except KeyboardInterrupt:
        reporter.close()
        err(f"interrupted: run the same command again to resume into {ns.output}")
        return 130
    reporter.close()
    err(summary(progress))
    return 1 if progress.failed else 0


def cmd_batch(ns: argparse.Namespace, client: Client) -> int:
    if ns.batch_command == "run":
        return cmd_batch_run(ns, client)
    return _BATCH[ns.batch_command](ns, client)


def cmd_batch_run(ns: argparse.Namespace, client: Client) -> int:
    requests_ = _batch_requests(ns.file)
    if ns.model is None and ns.endpoint != "/v1/conversations":
        unnamed = [n for n, r in enumerate(requests_, 1) if "model" not in r.get("body", r)]
        if unnamed:
            raise UsageError(f"{ns.file}: request(s) {unnamed[:5]} name no model; pass -m MODEL")
    bar = ProgressBar(sys.stderr) if isatty(sys.stderr) else None

    def progress(job: Any) -> None:
        if bar is not None and isinstance(job, dict):
            done = int(job.get("succeeded_requests") or 0) + int(job.get("failed_requests") or 0)
            bar.update(done, int(job.get("total_requests") or 0) or None, unit="requests")

    interval = min(ns.interval or 0.2, 0.2) if ns.mock else ns.interval
    try:
        result = client.run_batch(requests_, endpoint=ns.endpoint, model=ns.model, wait=not ns.no_wait,
                                  interval=interval, timeout=ns.wait_timeout, on_progress=progress)
    finally:
        if bar is not None:
            bar.finish()
    if ns.no_wait:
        print_json(result)
        return 0
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in result)
    failed = sum(1 for r in result if r.get("error") or (r.get("status_code") or 200) >= 400)
    if ns.output and ns.output != "-":
        save_atomically([lines.encode("utf-8")], ns.output)
        err(f"{len(result)} results written to {ns.output} ({failed} failed)")
    else:
        sys.stdout.write(lines)
        err(f"{len(result)} results ({failed} failed)")
    return 1 if failed == len(result) else 0  # every request failed: the run did not do its job


def _batch_requests(name: str) -> list[dict[str, Any]]:
    """The requests of a batch input file: one JSON object per line (a body, or ``{"custom_id", "body"}``);
    the first bad line is a :class:`UsageError` naming it."""
    requests_: list[dict[str, Any]] = []
    try:
        for number, raw in read_lines(name):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"{name}:{number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
            try:
                item = loads(line)
            except ValueError as exc:
                raise UsageError(f"{name}:{number}: not JSON: {exc}") from None
            if not isinstance(item, dict):
                raise UsageError(f"{name}:{number}: each line must be a JSON object")
            if "body" in item and not isinstance(item["body"], dict):
                raise UsageError(f"{name}:{number}: `body` must be a JSON object, got {type(item['body']).__name__} "
                                 f"(each line is a request body, or {{\"custom_id\": ..., \"body\": {{...}}}})")
            requests_.append(item)
    except OSError as exc:
        raise UsageError(f"{name}: {exc.strerror or exc}") from None
    if not requests_:
        raise UsageError(f"{name}: no requests (one JSON object per line)")
    return requests_


def _batch_list(ns: argparse.Namespace, client: Client) -> int:
    out = sys.stdout
    for job in client.paginate("list_batch_jobs", page_size=100):
        done = int(job.get("succeeded_requests") or 0) + int(job.get("failed_requests") or 0)
        out.write(clean(f"{job.get('id')}  {job.get('status', '?'):<22} {done}/{job.get('total_requests', '?')}  "
                        f"{job.get('endpoint', '')}  {job.get('model') or job.get('agent_id') or ''}", newlines=False)
                  + "\n")
    out.flush()
    return 0


def _batch_status(ns: argparse.Namespace, client: Client) -> int:
    print_json(client.get_batch_job(job_id=ns.job_id))
    return 0


def _batch_cancel(ns: argparse.Namespace, client: Client) -> int:
    print_json(client.cancel_batch_job(job_id=ns.job_id))
    return 0


def _batch_results(ns: argparse.Namespace, client: Client) -> int:
    job = client.get_batch_job(job_id=ns.job_id)
    if job.get("status") not in TERMINAL:
        raise UsageError(f"batch job {ns.job_id} is {job.get('status')}: its results come when it ends "
                         f"(see: mistral-lite batch status {ns.job_id})")
    parts: list[str] = []
    try:
        for key in RESULT_FILES:
            file_id = job.get(key)
            if file_id:
                fd, path = tempfile.mkstemp(prefix="mistral-lite-results-")
                os.close(fd)
                parts.append(path)
                client.download_file(file_id=str(file_id), to=path)

        def chunks() -> Iterator[bytes]:
            for path in parts:
                with open(path, "rb") as handle:
                    tail = b"\n"
                    while block := handle.read(1 << 16):
                        tail = block[-1:]
                        yield block
                    if tail != b"\n":
                        yield b"\n"

        save_atomically(chunks(), ns.output)
    finally:
        for path in parts:
            os.unlink(path)
    done = int(job.get("succeeded_requests") or 0)
    failed = int(job.get("failed_requests") or 0)
    err(f"batch job {ns.job_id} ({job.get('status')}): {done} succeeded, {failed} failed; written to {ns.output}")
    return 1 if failed or job.get("status") != "SUCCESS" else 0


_BATCH: dict[str, Callable[[argparse.Namespace, Client], int]] = {
    "list": _batch_list, "status": _batch_status, "results": _batch_results, "cancel": _batch_cancel,
}


#: The bulk commands, by command name.
COMMANDS: dict[str, Callable[[argparse.Namespace, Client], int]] = {"batch": cmd_batch, "run": cmd_run}
