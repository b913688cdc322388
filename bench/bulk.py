"""Bulk runs benchmark: the live engine's lines/s, its pacing at a rate limit, its memory.

    python bench/bulk.py [--quick] [--out results.json] [--only throughput,ratelimit,memory,soak]

* ``throughput``: lines/s of ``Client.run_jsonl`` against ``FakeMistral`` with no latency, over
  loopback HTTP and in-process (``FakeMistral.session()``), at concurrency 16.
* ``ratelimit``: the fake answers after 200 ms and limits the key to ``RPM`` requests a minute
  (429 + Retry-After beyond); the engine runs at ``--rpm RPM`` with the concurrency the limit
  needs (rate x latency, doubled). Reports the achieved rate against the limit and the 429s.
* ``memory``: peak RSS (``VmHWM``, Linux) of a fresh process running 100,000 and 1,000,000 lines
  through the asyncio engine with a client that answers at once (the engine's own memory:
  reading, checking, pacing, writing).
* ``aimd``: without a configured rate, random 429s (3%, ``Retry-After: 1``) against the fake
  answering after 150 ms, 2,000 lines at concurrency 32: lines/s against the fault-free run
  measured in the same process (``ratio``; the target is at least 0.6).
* ``soak``: 100,000 lines through the real client and fake in-process with 2% 429s, 2% 503s
  and 2% cut connections; every custom_id exactly once.

``--quick`` (CI) shrinks every count and asserts only correctness (each custom_id once), never
timings. Figures from a shared machine are noisy: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from mistral_lite import Client  # noqa: E402
from mistral_lite.fake import FakeMistral  # noqa: E402
from mistral_lite.fake.faults import Fault  # noqa: E402

MODEL = "mistral-small-latest"


def write_input(path: Path, count: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(count):
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}], "max_tokens": 16}
            handle.write(json.dumps({"custom_id": f"q{n}", "body": body}) + "\n")
    return path


def check_output(path: Path, count: int) -> None:
    ids = [json.loads(line)["custom_id"] for line in path.read_text(encoding="utf-8").splitlines()]
    if len(ids) != count or len(set(ids)) != count:
        raise SystemExit(f"{path}: {len(ids)} lines, {len(set(ids))} distinct ids, expected {count}")


def _quiet(fake: FakeMistral) -> None:
    fake.record = lambda request: None  # type: ignore[method-assign]  # keep no per-request memory


def throughput(folder: Path, count: int) -> dict[str, Any]:
    source = write_input(folder / "t.jsonl", count)
    out: dict[str, Any] = {"lines": count}
    with FakeMistral() as fake:
        _quiet(fake)
        with Client("bench", base_url=fake.url) as client:
            started = time.perf_counter()
            client.run_jsonl(source, folder / "t-http.jsonl", resume=False)
            out["loopback_lines_per_s"] = round(count / (time.perf_counter() - started), 1)
        check_output(folder / "t-http.jsonl", count)
        with Client("bench", base_url=fake.inprocess_url, session=fake.session()) as client:
            started = time.perf_counter()
            client.run_jsonl(source, folder / "t-inproc.jsonl", resume=False)
            out["inprocess_lines_per_s"] = round(count / (time.perf_counter() - started), 1)
        check_output(folder / "t-inproc.jsonl", count)
    return out


def ratelimit(folder: Path, rpm: int, seconds: float) -> dict[str, Any]:
    latency = 0.2
    count = int(rpm / 60 * seconds)
    concurrency = max(2, math.ceil(rpm / 60 * latency * 2))
    source = write_input(folder / "r.jsonl", count)
    with FakeMistral() as fake:
        _quiet(fake)
        fake.latency = latency
        fake.rate_limit(requests_per_minute=rpm)
        with Client("bench", base_url=fake.url) as client:
            started = time.perf_counter()
            progress = client.run_jsonl(source, folder / "r-out.jsonl", resume=False, concurrency=concurrency,
                                        requests_per_minute=rpm)
            elapsed = time.perf_counter() - started
        refused = fake.rate_limits.refused
    check_output(folder / "r-out.jsonl", count)
    # the pacer allows one second of burst, then rpm/60 a second: the ideal time for `count`
    ideal = max(0.0, (count - rpm / 60) / (rpm / 60)) + latency
    return {"lines": count, "rpm_limit": rpm, "latency_s": latency, "concurrency": concurrency,
            "achieved_rpm": round(count / elapsed * 60, 1), "ideal_seconds": round(ideal, 2),
            "seconds": round(elapsed, 2), "of_ideal": round(ideal / elapsed, 3), "http_429": refused,
            "failed": progress.failed}


MEMORY_CHILD = """
import asyncio, json, resource, sys
sys.path.insert(0, sys.argv[3])
from mistral_lite._bulk.aio import run_live_async

class Answers:
    operations = None
    async def call(self, operation, **options):
        return {"id": "x", "choices": [{"message": {"content": "ok"}}], "usage": {"total_tokens": 10}}

def hwm():  # this process's own peak RSS (ru_maxrss would carry the parent's over fork and exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = hwm()
asyncio.run(run_live_async(Answers(), sys.argv[1], sys.argv[2], operation="chat", concurrency=16,
                           requests_per_minute=None, tokens_per_minute=None, resume=False, skip_invalid=False,
                           on_progress=None))
print(json.dumps({"rss_before_kib": before, "peak_rss_kib": hwm()}))
"""


def memory(folder: Path, counts: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in counts:
        source = write_input(folder / f"m{count}.jsonl", count)
        done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(source), str(folder / f"m{count}-out.jsonl"),
                               str(ROOT)], capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout)
        check_output(folder / f"m{count}-out.jsonl", count)
        out[f"{count}_lines_peak_rss_mib"] = round(figures["peak_rss_kib"] / 1024, 1)
        out[f"{count}_lines_rss_before_run_mib"] = round(figures["rss_before_kib"] / 1024, 1)
        os.unlink(source)
        os.unlink(folder / f"m{count}-out.jsonl")
    return out


def aimd(folder: Path, count: int) -> dict[str, Any]:
    latency, concurrency = 0.15, 32
    source = write_input(folder / "a.jsonl", count)
    rng = random.Random(7)
    out: dict[str, Any] = {"lines": count, "latency_s": latency, "concurrency": concurrency}
    for name, share in (("fault_free", 0.0), ("random_429", 0.03)):
        with FakeMistral() as fake:
            _quiet(fake)
            fake.latency = latency
            refusal = Fault(status=429, headers={"Retry-After": "1"})
            fake.inject("chat", *[refusal if rng.random() < share else Fault() for _ in range(count * 2)])
            with Client("bench", base_url=fake.url) as client:
                started = time.perf_counter()
                progress = client.run_jsonl(source, folder / f"a-{name}.jsonl", resume=False,
                                            concurrency=concurrency)
                elapsed = time.perf_counter() - started
        check_output(folder / f"a-{name}.jsonl", count)
        out[f"{name}_lines_per_s"] = round(count / elapsed, 1)
        out[f"{name}_429s"] = progress.rate_limited
        out[f"{name}_failed"] = progress.failed
    out["ratio"] = round(out["random_429_lines_per_s"] / out["fault_free_lines_per_s"], 3)
    return out


def soak(folder: Path, count: int) -> dict[str, Any]:
    source = write_input(folder / "s.jsonl", count)
    fake = FakeMistral()
    _quiet(fake)
    rng = random.Random(14)
    kinds = [Fault(status=429, headers={"retry-after-ms": "1"}), Fault(status=503), Fault(reset=True)]
    faults = [kinds[int(roll / 0.02)] if (roll := rng.random()) < 0.06 else Fault() for _ in range(count)]
    fake.inject("chat", *faults)
    # faults go to requests in arrival order: one line's immediate retries may take several (see test_bulk_soak)
    with Client("bench", base_url=fake.inprocess_url, session=fake.session(), retry_delay=lambda n: 0.0,
                max_retries=10) as client:
        started = time.perf_counter()
        progress = client.run_jsonl(source, folder / "s-out.jsonl", resume=False)
        elapsed = time.perf_counter() - started
    check_output(folder / "s-out.jsonl", count)
    return {"lines": count, "faults": sum(1 for f in faults if f != Fault()), "seconds": round(elapsed, 1),
            "lines_per_s": round(count / elapsed, 1), "succeeded": progress.succeeded, "failed": progress.failed,
            "rate_limited": progress.rate_limited}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for CI (no timing asserted)")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--only", default="throughput,ratelimit,aimd,memory,soak")
    ns = parser.parse_args()
    only = set(ns.only.split(","))
    results: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "quick": ns.quick}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "throughput" in only:
            results["throughput"] = throughput(folder, 500 if ns.quick else 20_000)
            print("throughput", results["throughput"], flush=True)
        if "ratelimit" in only:
            results["ratelimit"] = ratelimit(folder, 600 if ns.quick else 1200, 5.0 if ns.quick else 30.0)
            print("ratelimit", results["ratelimit"], flush=True)
        if "aimd" in only:
            results["aimd"] = aimd(folder, 300 if ns.quick else 2_000)
            print("aimd", results["aimd"], flush=True)
        if "memory" in only:
            results["memory"] = memory(folder, [2_000, 20_000] if ns.quick else [100_000, 1_000_000])
            print("memory", results["memory"], flush=True)
        if "soak" in only:
            results["soak"] = soak(folder, 2_000 if ns.quick else 100_000)
            print("soak", results["soak"], flush=True)
    results["peak_rss_mib_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if ns.out:
        Path(ns.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
