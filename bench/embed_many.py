"""``embed_many`` benchmark: 5,000 short texts against ``FakeMistral``, the client's CPU and memory.

    python bench/embed_many.py [--quick] [--out results.json] [--texts 5000]

The fake runs in a child process, so the figures are the client's alone: CPU seconds (user +
system, ``getrusage``) of the process running ``Client.embed_many`` (and ``AsyncClient``'s),
the peak of Python allocations during the call (``tracemalloc``: the texts, the request bodies,
the 5,000 vectors of 1,024 floats kept as lists), wall time, and the requests sent.
``--quick`` (CI) embeds 300 texts and checks only correctness (each text once, in order).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mistral_lite import AsyncClient, Client  # noqa: E402

SERVE = """
import sys, time
from mistral_lite.fake import FakeMistral
with FakeMistral() as fake:
    print(fake.url, flush=True)
    sys.stdin.read()
"""
WORDS = ["table", "row", "driven", "client", "vector,", "embedding", "fast!", "small", "text", "(note)"]


def texts(count: int) -> list[str]:
    rng = random.Random(1)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + f" #{i}" for i in range(count)]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, run: Any, items: list[str]) -> dict[str, Any]:
    tracemalloc.start()
    start_cpu, start = cpu(), time.perf_counter()
    vectors = run(items)
    wall, used = time.perf_counter() - start, cpu() - start_cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if len(vectors) != len(items) or not all(vectors):
        raise SystemExit(f"{label}: {len(vectors)} vectors for {len(items)} texts")
    return {"row": label, "texts": len(items), "wall_s": round(wall, 3), "client_cpu_s": round(used, 3),
            "peak_alloc_mb": round(peak / 1e6, 1), "vectors": vectors}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--texts", type=int, default=5000)
    args = parser.parse_args()
    count = 300 if args.quick else args.texts
    items = texts(count)
    server = subprocess.Popen([sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        requests: list[int] = []
        client = Client("sk-bench", base_url=url, hooks={"request": [lambda request: requests.append(1)]})
        rows = [measure("Client.embed_many", lambda t: client.embed_many(t), items)]
        rows[0]["requests"] = len(requests)

        async def run_async(t: list[str]) -> list[list[float]]:
            async with AsyncClient("sk-bench", base_url=url) as aclient:
                return await aclient.embed_many(t)

        rows.append(measure("AsyncClient.embed_many", lambda t: asyncio.run(run_async(t)), items))
        check = [client.embed(input=[t])["data"][0]["embedding"] for t in items[:: max(1, count // 20)]]
        for row in rows:
            if row.pop("vectors")[:: max(1, count // 20)] != check:
                raise SystemExit(f"{row['row']}: vectors differ from one-by-one embeddings")
        client.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    for row in rows:
        print(json.dumps(row))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
