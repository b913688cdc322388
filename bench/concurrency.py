"""Concurrency benchmark of the asyncio client: AsyncClient vs a bare aiohttp loop, same run.

    python bench/concurrency.py [--quick] [--rounds 3] [--out results.json]

Starts its own loopback HTTP/1.1 server in a separate process (raw asyncio; it answers a chat
request after ``--latency`` seconds, streams 50 chunks 20 ms apart, holds requests until the
client hangs up and records when it did). Every measurement runs in a fresh worker process (so
CPU and peak RSS belong to one side only); sides alternate round by round (the order flips) and
the medians of the rounds are compared.

Rows: non-streaming throughput at C = 64, 256, 1,024 (4 x C requests each) with client CPU per
request; streams at C = 64, 256 (chunks/s); 64 streams of which 8 start 3 s late (median time to
first chunk of the 56 others); cancellation (the server's hang-up time after ``task.cancel()``,
and a request right after 50 cancellations vs one on an idle client); peak RSS at C = 1,024.
The floor is bare aiohttp with ``TCPConnector(limit=0)``; the official SDK's async client is
added when ``mistralai`` is importable. ``--quick`` (CI) runs tiny sizes and asserts no timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_KEY = "bench-key-0123456789"
BODY: dict[str, Any] = {"model": "mistral-small-latest",
                        "messages": [{"role": "user", "content": "Write a haiku about tables."}], "max_tokens": 64}
REPLY = json.dumps({
    "id": "cmpl-1", "object": "chat.completion", "created": 1, "model": "mistral-small-latest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Rows of quiet light"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
}).encode()


# ============================================================================ server ====
HANGUPS: dict[str, float] = {}


def _event(i: int) -> bytes:
    data = json.dumps({"id": "c1", "object": "chat.completion.chunk", "model": "mistral-small-latest",
                       "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})
    return f"data: {data}\n\n".encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            if target.startswith("/bench/hangups"):
                data = json.dumps(HANGUPS).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(data), data))
                continue
            hold = headers.get("x-bench-hold")
            if hold:  # answer nothing; record when the client hangs up
                while await reader.read(65536):
                    pass
                HANGUPS[hold] = time.time()
                return
            latency = float(headers.get("x-bench-latency", "0") or 0)
            if latency:
                await asyncio.sleep(latency)
            if b'"stream":true' not in body.replace(b" ", b""):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: r1\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(REPLY), REPLY))
                continue
            chunks = int(headers.get("x-bench-chunks", "50"))
            gap = float(headers.get("x-bench-gap", "0.02"))
            delay = float(headers.get("x-bench-delay", "0") or 0)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            if delay:
                await writer.drain()
                await asyncio.sleep(delay)
            for i in range(chunks):
                writer.write(_chunk(_event(i)))
                await writer.drain()
                if gap:
                    await asyncio.sleep(gap)
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def serve(port_file: str) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve_connection, "127.0.0.1", 0, backlog=4096, limit=1 << 20)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ============================================================================ worker side ====
def _client(side: str, url: str, latency: float) -> Any:
    """An object with ``chat(stream, headers) -> awaitable`` and ``close()`` for one side."""
    import aiohttp

    headers = {"x-bench-latency": str(latency)}
    if side == "bare":
        class Bare:
            def __init__(self) -> None:
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                                     headers={"Authorization": f"Bearer {API_KEY}", **headers})

            async def chat(self, extra: dict[str, str] | None = None) -> Any:
                async with self.session.post(f"{url}/v1/chat/completions", json=BODY, headers=extra) as resp:
                    return await resp.json()

            async def stream(self, extra: dict[str, str] | None = None) -> Any:
                async with self.session.post(f"{url}/v1/chat/completions", json={**BODY, "stream": True},
                                             headers=extra) as resp:
                    async for line in resp.content:
                        if line.startswith(b"data: "):
                            if line.startswith(b"data: [DONE]"):
                                return
                            yield json.loads(line[6:])

            async def close(self) -> None:
                await self.session.close()

        return Bare()
    if side == "ours":
        from mistral_lite import AsyncClient

        class Ours:
            def __init__(self) -> None:
                self.client = AsyncClient(API_KEY, base_url=url, headers=headers)

            async def chat(self, extra: dict[str, str] | None = None) -> Any:
                return await self.client.chat(**BODY, extra_headers=extra)

            async def stream(self, extra: dict[str, str] | None = None) -> Any:
                async with await self.client.chat(**BODY, stream=True, extra_headers=extra) as events:
                    async for event in events:
                        yield event

            async def close(self) -> None:
                await self.client.aclose()

        return Ours()
    if side == "sdk":
        from mistralai import Mistral  # only when installed

        class Sdk:
            def __init__(self) -> None:
                self.client = Mistral(api_key=API_KEY, server_url=url)

            async def chat(self, extra: dict[str, str] | None = None) -> Any:
                return await self.client.chat.complete_async(**BODY, http_headers={**headers, **(extra or {})})

            async def stream(self, extra: dict[str, str] | None = None) -> Any:
                events = await self.client.chat.stream_async(**BODY, http_headers={**headers, **(extra or {})})
                async for event in events:
                    yield event

            async def close(self) -> None:
                pass

        return Sdk()
    raise SystemExit(f"unknown side {side}")


async def _json_load(client: Any, concurrency: int, total: int) -> dict[str, Any]:
    per = total // concurrency
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for _ in range(per):
            try:
                await client.chat()
            except Exception:
                errors += 1

    await asyncio.gather(*[client.chat() for _ in range(min(8, concurrency))])  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"requests": per * concurrency, "wall": wall, "cpu": cpu, "errors": errors}


async def _stream_load(client: Any, concurrency: int, chunks: int) -> dict[str, Any]:
    extra = {"x-bench-chunks": str(chunks)}
    counts: list[int] = []

    async def one() -> None:
        n = 0
        async for _ in client.stream(extra):
            n += 1
        counts.append(n)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[one() for _ in range(concurrency)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"chunks": sum(counts), "wall": wall, "cpu": cpu, "short": sum(1 for c in counts if c != chunks)}


async def _late_streams(client: Any, total: int, late: int, delay: float, chunks: int) -> dict[str, Any]:
    firsts: list[float] = []
    start = time.perf_counter()

    async def one(extra: dict[str, str], record: bool) -> None:
        first = True
        async for _ in client.stream(extra):
            if first and record:
                firsts.append(time.perf_counter() - start)
            first = False

    slow = {"x-bench-chunks": str(chunks), "x-bench-delay": str(delay)}
    fast = {"x-bench-chunks": str(chunks)}
    await asyncio.gather(*[one(slow, False) for _ in range(late)], *[one(fast, True) for _ in range(total - late)])
    return {"first_chunk_median": statistics.median(firsts), "first_chunk_max": max(firsts)}


async def _cancellation(client: Any, url: str, samples: int, side: str) -> dict[str, Any]:
    import aiohttp

    cancelled: dict[str, float] = {}

    async def one(key: str) -> None:
        task = asyncio.ensure_future(client.chat({"x-bench-hold": key}))
        await asyncio.sleep(0.15)  # the request is on the wire and the server holds it
        cancelled[key] = time.time()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    t = time.perf_counter()
    await client.chat()
    idle = time.perf_counter() - t
    for i in range(samples):
        await one(f"{side}-{os.getpid()}-{i}")
    burst = [asyncio.ensure_future(client.chat({"x-bench-hold": f"{side}-{os.getpid()}-b{i}"})) for i in range(50)]
    await asyncio.sleep(0.3)
    for task in burst:
        task.cancel()
    await asyncio.gather(*burst, return_exceptions=True)
    t = time.perf_counter()
    await client.chat()
    after = time.perf_counter() - t
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as session, session.get(f"{url}/bench/hangups") as resp:
        hangups = await resp.json()
    delays = [hangups[k] - v for k, v in cancelled.items() if k in hangups]
    return {"hangup_median": statistics.median(delays) if delays else None, "hangups_seen": len(delays),
            "samples": samples, "idle_request": idle, "after_50_cancels": after,
            "burst_hung_up": sum(1 for k in hangups if "-b" in k and k.startswith(f"{side}-{os.getpid()}"))}


def worker(args: argparse.Namespace) -> None:
    async def main() -> dict[str, Any]:
        client = _client(args.side, args.url, args.latency)
        try:
            if args.kind == "json":
                return await _json_load(client, args.c, args.n)
            if args.kind == "stream":
                return await _stream_load(client, args.c, args.chunks)
            if args.kind == "late":
                return await _late_streams(client, args.c, args.late, args.delay, args.chunks)
            if args.kind == "cancel":
                return await _cancellation(client, args.url, args.n, args.side)
            raise SystemExit(f"unknown kind {args.kind}")
        finally:
            await client.close()

    result = asyncio.run(main())
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# ============================================================================ driver side ====
def _run_worker(side: str, kind: str, url: str, **params: Any) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--side", side, "--kind", kind, "--url", url]
    for name, value in params.items():
        cmd += [f"--{name}", str(value)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"worker {side} {kind} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _interleaved(sides: list[str], rounds: int, kind: str, url: str, **params: Any) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r in range(rounds):
        for side in (sides if r % 2 == 0 else list(reversed(sides))):
            runs[side].append(_run_worker(side, kind, url, **params))
    return runs


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _sdk_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import mistralai"], capture_output=True)
    return probe.returncode == 0


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI; no timing asserted")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    for name in ("side", "kind", "url"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name, default in (("c", 64), ("n", 256), ("chunks", 50), ("late", 8)):
        parser.add_argument(f"--{name}", type=int, default=default, help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.worker:
        worker(args)
        return

    quick = args.quick
    rounds = 1 if quick else args.rounds
    latency = 0.05 if quick else args.latency
    json_cs = (16,) if quick else (64, 256, 1024)
    stream_cs = (8,) if quick else (64, 256)
    chunks = 5 if quick else 50
    sides = ["bare", "ours"] + (["sdk"] if _sdk_available() else [])
    started = time.perf_counter()
    with tempfile_path() as port_file:
        server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", port_file])
        try:
            url = _wait_for_port(port_file)
            results: dict[str, Any] = {"sides": sides, "quick": quick, "latency": latency, "json": {}, "stream": {}}
            rows: list[tuple[str, ...]] = []
            for c in json_cs:
                runs = _interleaved(sides, rounds, "json", url, c=c, n=4 * c, latency=latency)
                results["json"][c] = runs
                rps = {s: _med([{"v": r["requests"] / r["wall"]} for r in runs[s]], "v") for s in sides}
                cpu = {s: _med([{"v": r["cpu"] / r["requests"] * 1e6} for r in runs[s]], "v") for s in sides}
                rss = {s: _med(runs[s], "maxrss_mb") for s in sides}
                errors = {s: sum(r["errors"] for r in runs[s]) for s in sides}
                rows.append((f"non-stream C={c} ({4 * c} req, {latency * 1000:.0f} ms)", "req/s", _fmt(rps["bare"]),
                             _fmt(rps["ours"]), _fmt(rps["ours"] / rps["bare"]),
                             ">= 0.90" if c < 1024 else ">= 0.80", _fmt(rps.get("sdk"))))
                rows.append((f"  client CPU per request, C={c}", "us", _fmt(cpu["bare"]), _fmt(cpu["ours"]),
                             _fmt(cpu["ours"] / cpu["bare"]), "<= 1.5", _fmt(cpu.get("sdk"))))
                if c == json_cs[-1]:
                    rows.append((f"  peak RSS, C={c}", "MB", _fmt(rss["bare"]), _fmt(rss["ours"]),
                                 f"+{rss['ours'] - rss['bare']:.1f} MB", "<= +20 MB", _fmt(rss.get("sdk"))))
                if any(errors.values()):
                    rows.append((f"  errors, C={c}", "count", str(errors["bare"]), str(errors["ours"]), "", "0", ""))
            for c in stream_cs:
                runs = _interleaved(sides, rounds, "stream", url, c=c, chunks=chunks, latency=0)
                results["stream"][c] = runs
                cps = {s: _med([{"v": r["chunks"] / r["wall"]} for r in runs[s]], "v") for s in sides}
                rows.append((f"streams C={c} ({chunks} chunks, 20 ms apart)", "chunks/s", _fmt(cps["bare"]),
                             _fmt(cps["ours"]), _fmt(cps["ours"] / cps["bare"]), ">= 0.90", _fmt(cps.get("sdk"))))
            late_c, late_n, delay = (16, 2, 0.5) if quick else (64, 8, 3.0)
            runs = _interleaved(sides, rounds, "late", url, c=late_c, late=late_n, delay=delay, chunks=chunks,
                                latency=0)
            results["late"] = runs
            first = {s: _med(runs[s], "first_chunk_median") for s in sides}
            rows.append((f"{late_c} streams, {late_n} start {delay:g} s late: others' median first chunk", "s",
                         _fmt(first["bare"]), _fmt(first["ours"]), "", "< 0.1 s", _fmt(first.get("sdk"))))
            runs = _interleaved(sides, rounds, "cancel", url, n=5 if quick else 20, latency=latency)
            results["cancel"] = runs
            hang = {s: _med([r for r in runs[s] if r["hangup_median"] is not None] or [{"hangup_median": -1}],
                            "hangup_median") for s in sides}
            rows.append(("cancel: server sees the hang-up after", "ms", _fmt(hang["bare"] * 1000),
                         _fmt(hang["ours"] * 1000), "", "< 50 ms", _fmt(hang["sdk"] * 1000 if "sdk" in hang else None)))
            for key, label in (("idle_request", "request on an idle client"),
                               ("after_50_cancels", "request right after 50 cancellations")):
                vals = {s: _med(runs[s], key) * 1000 for s in sides}
                rows.append((f"  {label}", "ms", _fmt(vals["bare"]), _fmt(vals["ours"]), "", "same",
                             _fmt(vals.get("sdk"))))
        finally:
            server.terminate()
            server.wait(10)
    elapsed = time.perf_counter() - started
    header = ("row", "unit", "bare aiohttp", "AsyncClient", "ratio", "target", "mistralai" if "sdk" in sides else "sdk")
    print(f"| {' | '.join(header)} |")
    print("|" + "---|" * len(header))
    for row in rows:
        print(f"| {' | '.join(row)} |")
    print(f"\n{'quick' if quick else 'full'} run, {rounds} round(s), {elapsed:.0f} s; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; the official SDK {'included' if 'sdk' in sides else 'not installed (skipped)'}")
    if args.out:
        Path(args.out).write_text(json.dumps({**results, "rows": rows, "elapsed": elapsed}, indent=1, default=str))


@contextlib.contextmanager
def tempfile_path() -> Iterator[str]:
    """A fresh path in the temp dir (not created), removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="bench-port-")
    os.close(fd)
    os.unlink(path)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _wait_for_port(port_file: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(port_file) and Path(port_file).read_text().strip():
            port = int(Path(port_file).read_text())
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    raise RuntimeError("the benchmark server did not start")


if __name__ == "__main__":
    main()
