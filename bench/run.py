"""mistral_lite benchmark suite: every row against bare ``requests``, measured in the same run.

    python bench/run.py [--quick] [--out results.json] [--rows chat,stream,...]

Starts ``bench/server.py`` in its own process (loopback, keep-alive), then runs each row in a
fresh worker subprocess (so imports, orjson blocking and peak memory are isolated). Within a
row, bare requests and mistral_lite batches alternate round by round (the order flips every
round) and the medians of the per-round values are compared. CPU figures are
``time.process_time`` of the client process only; the server never shares its GIL.

``--quick`` (CI) uses small counts and 20 MB transfers and asserts no timings. Uses only the
package's dependencies (requests, jsonschema, cachetools) and the standard library; orjson
is used by mistral_lite when installed, and rows marked "std json" block it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_KEY = "bench"
CHAT_BODY: dict[str, Any] = {
    "model": "mistral-small-latest",
    "messages": [
        {"role": "system", "content": "You are a terse poet."},
        {"role": "user", "content": "Write a haiku about tables."},
    ],
    "temperature": 0.3,
    "max_tokens": 64,
}
EMBED_TEXTS = [f"benchmark sentence number {i} about tables and dispatchers" for i in range(64)]
STREAM_CHUNKS = 2000


# ============================================================================ worker side ====
def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _interleave(rounds: int, batch: int, sides: dict[str, Callable[[], Any]], warmup: int = 3) -> dict[str, Any]:
    """Alternate batches of each side; per-call CPU and wall seconds, one value per round."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    names = list(sides)
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            fn = sides[name]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(batch):
                fn()
            c1, w1 = time.process_time(), time.perf_counter()
            cpu[name].append((c1 - c0) / batch)
            wall[name].append((w1 - w0) / batch)
    return {"cpu": {n: _median(v) for n, v in cpu.items()}, "wall": {n: _median(v) for n, v in wall.items()},
            "cpu_rounds": cpu, "wall_rounds": wall}


def _row(name: str, unit: str, bare: float | None, ml: float | None, target: str, ratio: float | None = None,
         met: bool | None = None, **extra: Any) -> dict[str, Any]:
    if ratio is None and bare and ml is not None:
        ratio = ml / bare
    if met is None and ratio is not None and target:
        op, value = target.split()
        met = ratio <= float(value) if op == "<=" else ratio >= float(value)
    return {"row": name, "unit": unit, "bare": bare, "mistral_lite": ml, "ratio": ratio, "target": target,
            "met": met, **extra}


def _bare_session() -> Any:
    import requests

    return requests.Session()


def _bare_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", "Accept": "application/json"}


def _client(url: str, **kw: Any) -> Any:
    from mistral_lite import Client

    return Client(api_key=API_KEY, base_url=url, **kw)


def _json_impl() -> str:
    from mistral_lite._core import jsoncodec as _json

    return _json.backend_name()


def w_chat(url: str, quick: bool) -> list[dict[str, Any]]:
    s = _bare_session()
    h = _bare_headers()
    curl = url + "/v1/chat/completions"
    client = _client(url)

    def bare() -> Any:
        r = s.post(curl, data=json.dumps(CHAT_BODY), headers=h, timeout=(10, 120))
        if r.status_code >= 400:
            raise RuntimeError(r.status_code)
        return json.loads(r.content)

    def ml() -> Any:
        return client.chat(**CHAT_BODY)

    assert bare() == ml()
    res = _interleave(5 if quick else 21, 30 if quick else 300, {"bare": bare, "ml": ml}, warmup=10)
    impl = _json_impl()
    return [
        _row(f"chat non-stream, CPU/call ({impl})", "us", res["cpu"]["bare"] * 1e6, res["cpu"]["ml"] * 1e6, "<= 1.10",
             wall_us={k: v * 1e6 for k, v in res["wall"].items()},
             round_ratios=[m / b for m, b in zip(res["cpu_rounds"]["ml"], res["cpu_rounds"]["bare"])]),
        _row(f"chat non-stream, wall/call ({impl})", "us", res["wall"]["bare"] * 1e6, res["wall"]["ml"] * 1e6, ""),
    ]


def bare_stream(session: Any, url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """The baseline: requests' ``iter_lines`` and a hand-written ``data:`` parser; returns the chunk count."""
    n = 0
    done = False
    with session.post(url, data=json.dumps(body), headers=headers, stream=True, timeout=(10, 30)) as r:
        if r.status_code >= 400:
            raise RuntimeError(r.status_code)
        for line in r.iter_lines():
            if done or not line.startswith(b"data: "):
                continue  # read on to the end so the connection returns to the pool
            data = line[6:]
            if data == b"[DONE]":
                done = True
                continue
            json.loads(data)
            n += 1
    return n


def w_stream(url: str, quick: bool) -> list[dict[str, Any]]:
    s = _bare_session()
    curl = url + "/v1/chat/completions"
    client = _client(url)
    body = dict(CHAT_BODY, stream=True, max_tokens=STREAM_CHUNKS)
    rows = []
    for framing in ("chunked", "length"):
        h = dict(_bare_headers(), Accept="text/event-stream")
        extra_headers = {}
        if framing == "length":
            h["X-Bench-Framing"] = extra_headers["X-Bench-Framing"] = "length"

        def bare(h: dict[str, str] = h) -> int:
            n = bare_stream(s, curl, body, h)
            assert n == STREAM_CHUNKS, n
            return n

        def ml(extra_headers: dict[str, str] = extra_headers) -> int:
            n = 0
            with client.chat(**body, extra_headers=extra_headers or None) as stream:
                for _chunk in stream:
                    n += 1
            assert n == STREAM_CHUNKS, n
            return n

        res = _interleave(3 if quick else 12, 1 if quick else 4, {"bare": bare, "ml": ml}, warmup=1)
        bw, mw = STREAM_CHUNKS / res["wall"]["bare"], STREAM_CHUNKS / res["wall"]["ml"]
        target = ">= 0.90" if framing == "chunked" else ""
        rows.append(_row(f"stream {STREAM_CHUNKS} chunks ({framing}), chunks/s ({_json_impl()})", "chunks/s",
                         bw, mw, target, ratio=mw / bw,
                         cpu_us_per_chunk={k: v * 1e6 / STREAM_CHUNKS for k, v in res["cpu"].items()}))
    return rows


def w_embed(url: str, quick: bool) -> list[dict[str, Any]]:
    s = _bare_session()
    h = _bare_headers()
    eurl = url + "/v1/embeddings"
    client = _client(url)
    body = {"model": "mistral-embed", "input": EMBED_TEXTS}

    def bare() -> Any:
        r = s.post(eurl, data=json.dumps(body), headers=h, timeout=(10, 120))
        if r.status_code >= 400:
            raise RuntimeError(r.status_code)
        return json.loads(r.content)

    def ml() -> Any:
        return client.embed(input=EMBED_TEXTS)

    out = ml()
    assert len(out["data"]) == 64 and len(out["data"][0]["embedding"]) == 1024
    res = _interleave(3 if quick else 15, 3 if quick else 10, {"bare": bare, "ml": ml}, warmup=2)
    impl = _json_impl()
    target = "<= 1.05" if impl == "json" else ""
    return [_row(f"embed 64x1024 decode, CPU/call ({impl})", "ms", res["cpu"]["bare"] * 1e3, res["cpu"]["ml"] * 1e3,
                 target, wall_ms={k: v * 1e3 for k, v in res["wall"].items()})]


def w_cache(url: str, quick: bool) -> list[dict[str, Any]]:
    plain = _client(url)
    cached = _client(url, cache=True)
    rows = []
    for n in (64, 1):
        texts = EMBED_TEXTS[:n]
        cached.embed(input=texts)  # prime

        def uncached(texts: list[str] = texts) -> Any:
            return plain.embed(input=texts)

        def hit(texts: list[str] = texts) -> Any:
            return cached.embed(input=texts)

        batch = (3 if quick else 10) if n == 64 else (30 if quick else 300)
        res = _interleave(3 if quick else 11, batch, {"bare": uncached, "ml": hit}, warmup=2)
        rows.append(_row(f"cache hit vs uncached embed {n}x1024, CPU/call ({_json_impl()})", "us",
                         res["cpu"]["bare"] * 1e6, res["cpu"]["ml"] * 1e6, "<= 0.02",
                         note="bare column = uncached mistral_lite call; mistral_lite column = cache hit"))
    assert cached.cache.stats["hits"] > 0
    rows.append(_row("cache hit vs uncached chat", "", None, None, "<= 0.02", met=None,
                     note="n/a: chat is not cacheable in endpoints.toml (cache = false), every call is sent"))
    return rows


def _server_stats(url: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(url + "/__stats") as r:  # a separate connection, counted too
        return json.loads(r.read())


def w_threads(url: str, quick: bool) -> list[dict[str, Any]]:
    rows = _threads_rows(url, 400 if quick else 4000, delay_ms=0)
    rows += _threads_rows(url, 160 if quick else 800, delay_ms=5)
    return rows


def _threads_rows(url: str, total: int, delay_ms: int) -> list[dict[str, Any]]:
    nthreads = 8
    curl = url + "/v1/chat/completions"
    h = _bare_headers()
    extra = {"X-Bench-Delay-Ms": str(delay_ms)} if delay_ms else {}
    h.update(extra)
    label = f", {delay_ms} ms server latency" if delay_ms else ""

    def run(call: Callable[[], Any], threads: int) -> dict[str, Any]:
        errors: list[BaseException] = []
        per = total // threads
        before = _server_stats(url)

        def worker() -> None:
            for _ in range(per):
                try:
                    call()
                except BaseException as exc:
                    errors.append(exc)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed = time.perf_counter() - t0
        after = _server_stats(url)
        return {"calls_per_s": per * threads / elapsed, "errors": len(errors),
                "connections": after["connections"] - before["connections"] - 1,  # minus the stats probe
                "first_error": repr(errors[0]) if errors else None}

    results: dict[str, dict[str, Any]] = {}
    for side in ("bare", "ml"):
        for threads in (1, nthreads):
            if side == "bare":
                s = _bare_session()

                def call(s: Any = s) -> Any:
                    return json.loads(s.post(curl, data=json.dumps(CHAT_BODY), headers=h).content)
            else:
                client = _client(url, headers=extra)

                def call(client: Any = client) -> Any:
                    return client.chat(**CHAT_BODY)
            results[f"{side}{threads}"] = run(call, threads)
    b8, m8 = results["bare8"], results["ml8"]
    return [
        _row(f"{nthreads} threads x {total} chat calls{label}, calls/s", "calls/s", b8["calls_per_s"], m8["calls_per_s"],
             ">= 0.90", ratio=m8["calls_per_s"] / b8["calls_per_s"], detail=results),
        _row(f"{nthreads} threads{label}: scaling vs 1 thread", "x",
             b8["calls_per_s"] / results["bare1"]["calls_per_s"], m8["calls_per_s"] / results["ml1"]["calls_per_s"],
             ">= 1.5" if delay_ms else "", ratio=None,
             met=(m8["calls_per_s"] / results["ml1"]["calls_per_s"] >= 1.5) if delay_ms else None),
        _row(f"{nthreads} threads{label}: TCP connections opened / errors", "conns", b8["connections"], m8["connections"],
             "<= 10 conns, 0 errors", ratio=None,
             met=m8["connections"] <= 10 and m8["errors"] == 0,
             errors={"bare": b8["errors"], "ml": m8["errors"]}),
    ]


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def w_transfer(url: str, quick: bool, op: str, side: str) -> dict[str, Any]:
    """One upload or download in this (fresh) process: tracemalloc peak and ru_maxrss growth."""
    import tracemalloc

    size = (20 if quick else 200) * 1024 * 1024
    tmp = tempfile.mkdtemp(prefix="mlbench-")
    path = os.path.join(tmp, "upload.jsonl")
    dest = os.path.join(tmp, "download.bin")
    try:
        if op == "upload":
            with open(path, "wb") as f:
                f.truncate(size)  # sparse: no disk blocks, reads return zeros
        s = _bare_session()
        client = _client(url)
        # warm up: imports, pool, first request of each kind with a tiny body
        client.chat(**CHAT_BODY)
        s.get(url + "/v1/files/bytes-10/content").content
        small = os.path.join(tmp, "small.bin")
        with open(small, "wb") as f:
            f.write(b"x" * 1000)
        client.upload_file(file=small, purpose="fine-tune")
        client.download_file("bytes-1000", to=small)
        with open(small, "rb") as f:
            s.post(url + "/v1/files", data=f, headers={"Content-Type": "application/octet-stream"}).content
        rss0 = _maxrss_mb()
        tracemalloc.start()
        t0 = time.perf_counter()
        if op == "upload":
            if side == "ml":
                client.upload_file(file=path, purpose="fine-tune")
            else:  # bare requests streaming the raw file (requests' files= would buffer it all)
                with open(path, "rb") as f:
                    r = s.post(url + "/v1/files", data=f, headers={"Content-Type": "application/octet-stream"})
                    r.raise_for_status()
        else:
            if side == "ml":
                client.download_file(f"bytes-{size}", to=dest)
            else:
                with s.get(url + f"/v1/files/bytes-{size}/content", stream=True) as r, open(dest, "wb") as f:
                    for chunk in r.iter_content(1 << 16):
                        f.write(chunk)
            assert os.path.getsize(dest) == size
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = _maxrss_mb()
        return {"tracemalloc_peak_mb": peak / 2**20, "maxrss_delta_mb": rss1 - rss0, "seconds": elapsed,
                "mb_per_s": size / 2**20 / elapsed, "size_mb": size / 2**20}
    finally:
        for p in (path, dest):
            if os.path.exists(p):
                os.unlink(p)
        for p in Path(tmp).iterdir():
            p.unlink()
        os.rmdir(tmp)


def w_mistralai(url: str, quick: bool) -> list[dict[str, Any]]:
    try:
        try:
            from mistralai import Mistral  # type: ignore[import-not-found]
        except ImportError:  # mistralai 3.x
            from mistralai.client import Mistral  # type: ignore[import-not-found]
    except Exception as exc:
        return [_row("official mistralai SDK chat, CPU/call", "us", None, None, "", met=None,
                     note=f"skipped: mistralai not importable ({type(exc).__name__})")]
    s = _bare_session()
    h = _bare_headers()
    sdk = Mistral(api_key=API_KEY, server_url=url)
    client = _client(url)

    def bare() -> Any:
        return json.loads(s.post(url + "/v1/chat/completions", data=json.dumps(CHAT_BODY), headers=h).content)

    def official() -> Any:
        return sdk.chat.complete(**CHAT_BODY)

    def ml() -> Any:
        return client.chat(**CHAT_BODY)

    res = _interleave(3 if quick else 11, 20 if quick else 200, {"bare": bare, "sdk": official, "ml": ml})
    rows = [_row("official SDK vs mistral_lite: chat CPU/call", "us", res["cpu"]["sdk"] * 1e6,
                 res["cpu"]["ml"] * 1e6, "", bare_us=res["cpu"]["bare"] * 1e6,
                 note="bare column = official SDK; ratio = mistral_lite / SDK")]

    body = dict(CHAT_BODY, max_tokens=STREAM_CHUNKS)
    sh = dict(_bare_headers(), Accept="text/event-stream")

    def bare_stream_() -> int:
        return bare_stream(s, url + "/v1/chat/completions", dict(body, stream=True), sh)

    def sdk_stream() -> int:
        return sum(1 for _ in sdk.chat.stream(**body))

    def ml_stream() -> int:
        with client.chat(**body, stream=True) as stream:
            return sum(1 for _ in stream)

    res = _interleave(3 if quick else 6, 1, {"bare": bare_stream_, "sdk": sdk_stream, "ml": ml_stream}, warmup=1)
    rows.append(_row("official SDK vs mistral_lite: stream chunks/s", "chunks/s", STREAM_CHUNKS / res["wall"]["sdk"],
                     STREAM_CHUNKS / res["wall"]["ml"], "", bare_chunks_per_s=STREAM_CHUNKS / res["wall"]["bare"],
                     note="ratio = mistral_lite / SDK (higher is better)"))

    texts = [f"text {i}" for i in range(64)]

    def sdk_embed() -> Any:
        return sdk.embeddings.create(model="mistral-embed", inputs=texts)

    def ml_embed() -> Any:
        return client.embed(input=texts)

    res = _interleave(3 if quick else 7, 2 if quick else 5, {"sdk": sdk_embed, "ml": ml_embed}, warmup=1)
    rows.append(_row("official SDK vs mistral_lite: embed 64x1024 CPU/call", "ms", res["cpu"]["sdk"] * 1e3,
                     res["cpu"]["ml"] * 1e3, "", note="ratio = mistral_lite / SDK"))

    imports = {}
    sdk_module = Mistral.__module__.rsplit(".", 1)[0] if "." in Mistral.__module__ else "mistralai"
    statements = {"requests": "import requests", "mistral_lite": IMPORT_CLIENT,
                  sdk_module: f"from {sdk_module} import Mistral"}
    for mod, statement in statements.items():
        times = []
        for _ in range(3 if quick else 9):
            out = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                                  f"{statement}; print(time.perf_counter() - t)"],
                                 capture_output=True, text=True, check=True)
            times.append(float(out.stdout))
        imports[mod] = _median(times) * 1e3
    rows.append(_row("official SDK vs mistral_lite: cold import", "ms", imports[sdk_module], imports["mistral_lite"],
                     "", requests_ms=imports["requests"], note="ratio = mistral_lite / SDK"))
    return rows


WORKERS: dict[str, Callable[[str, bool], list[dict[str, Any]]]] = {
    "chat": w_chat, "stream": w_stream, "embed": w_embed, "cache": w_cache, "threads": w_threads,
    "mistralai": w_mistralai,
}


def worker_main(args: argparse.Namespace) -> None:
    if os.environ.get("BENCH_BLOCK_ORJSON") == "1":
        sys.modules["orjson"] = None  # type: ignore[assignment]
    if args.worker.startswith("transfer:"):
        _, op, side = args.worker.split(":")
        out: Any = w_transfer(args.url, args.quick, op, side)
    else:
        out = WORKERS[args.worker](args.url, args.quick)
    sys.stdout.write("\nRESULT " + json.dumps(out) + "\n")


# ============================================================================ driver side ====
def _env(block_orjson: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("BENCH_BLOCK_ORJSON", None)
    if block_orjson:
        env["BENCH_BLOCK_ORJSON"] = "1"
    env.setdefault("MISTRAL_API_KEY", API_KEY)
    return env


def _run_worker(name: str, url: str, quick: bool, block_orjson: bool = False) -> Any:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--url", url]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(block_orjson), timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{proc.stdout}\n{proc.stderr}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {name} printed no result:\n{proc.stdout}\n{proc.stderr}")


def _timed_python(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(seconds reported by the snippet, wall seconds of the whole subprocess)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    return float(out.stdout.strip().splitlines()[-1]), wall


IMPORT_CLIENT = "from mistral_lite import Client"


def rows_import(url: str, quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fresh interpreters, interleaved. Bytecode: the target row gives both packages .pyc files
    (a private PYTHONPYCACHEPREFIX, as after ``pip install``); the "no .pyc" row keeps
    PYTHONDONTWRITEBYTECODE=1 so mistral_lite compiles from source on every start."""
    import shutil

    prefix = tempfile.mkdtemp(prefix="mlbench-pyc-")
    try:
        env = _env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = prefix
        env_nopyc = _env()
        env_nopyc["PYTHONDONTWRITEBYTECODE"] = "1"
        env_nopyc.pop("PYTHONPYCACHEPREFIX", None)
        runs = 5 if quick else 31
        timer = "import time as _t; _t0 = _t.perf_counter()\n"
        snippets = {
            "bare": (timer + "import requests\nprint(_t.perf_counter() - _t0)", env),
            # what a script does: the root alone is lazy (a few ms), Client is what costs
            "ml": (timer + f"{IMPORT_CLIENT}\nprint(_t.perf_counter() - _t0)", env),
            "ml_nopyc": (timer + f"{IMPORT_CLIENT}\nprint(_t.perf_counter() - _t0)", env_nopyc),
            "ml_root": (timer + "import mistral_lite\nprint(_t.perf_counter() - _t0)", env),
            "bare_call": (timer + (
                "import json, requests\ns = requests.Session()\n"
                f"r = s.post({url!r} + '/v1/chat/completions', data=json.dumps({CHAT_BODY!r}), "
                f"headers={_bare_headers()!r})\njson.loads(r.content)\nprint(_t.perf_counter() - _t0)"), env),
            "ml_call": (timer + (
                f"import mistral_lite\nc = mistral_lite.Client(api_key='bench', base_url={url!r})\n"
                f"c.chat(**{CHAT_BODY!r})\nprint(_t.perf_counter() - _t0)"), env),
        }
        inproc: dict[str, list[float]] = {k: [] for k in snippets}
        proc_wall: dict[str, list[float]] = {k: [] for k in snippets}
        for _ in range(2):  # write the .pyc files, warm the page cache
            for code, e in snippets.values():
                _timed_python(code, e)
        for i in range(runs):
            order = list(snippets) if i % 2 == 0 else list(snippets)[::-1]
            for k in order:
                a, w = _timed_python(*snippets[k])
                inproc[k].append(a)
                proc_wall[k].append(w)
        med = {k: _median(v) * 1e3 for k, v in inproc.items()}
        wmed = {k: _median(v) * 1e3 for k, v in proc_wall.items()}
        rows = [
            _row("cold import of Client (in-process, with .pyc)", "ms", med["bare"], med["ml"], "<= 1.15",
                 process_wall_ms={"bare": wmed["bare"], "ml": wmed["ml"]}, runs=runs),
            _row("cold import, whole python process wall (with .pyc)", "ms", wmed["bare"], wmed["ml"], ""),
            _row("cold import of Client, mistral_lite without .pyc (DONTWRITEBYTECODE)", "ms", med["bare"],
                 med["ml_nopyc"], ""),
            _row("import mistral_lite alone (the lazy root, with .pyc)", "ms", med["bare"], med["ml_root"], ""),
            _row("import + Client + first chat call (with .pyc)", "ms", med["bare_call"], med["ml_call"], "",
                 process_wall_ms={"bare": wmed["bare_call"], "ml": wmed["ml_call"]}),
        ]
        return rows, {"with_pyc": importtime_breakdown(env, 3 if quick else 9),
                      "without_pyc": importtime_breakdown(env_nopyc, 3 if quick else 5)}
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def _importtime(env: dict[str, str], statement: str, runs: int) -> dict[str, dict[str, float]]:
    per: dict[str, list[tuple[int, int]]] = {}
    pat = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement],
                             capture_output=True, text=True, env=env, check=True)
        for line in out.stderr.splitlines():
            m = pat.match(line)
            if m:
                per.setdefault(m.group(4), []).append((int(m.group(1)), int(m.group(2))))
    return {name: {"self_us": _median([s for s, _ in v]), "cumulative_us": _median([c for _, c in v])}
            for name, v in per.items()}


def importtime_breakdown(env: dict[str, str], runs: int) -> dict[str, Any]:
    """Median ``-X importtime`` self/cumulative microseconds per module, and what mistral_lite
    imports beyond what ``import requests`` already does."""
    table = _importtime(env, IMPORT_CLIENT, runs)
    base = _importtime(env, "import requests", runs)
    added = {k: v for k, v in table.items() if k not in base}
    top_added = sorted(added.items(), key=lambda kv: -kv[1]["self_us"])[:25]
    return {
        "mistral_lite_cumulative_us": sum(table.get(name, {}).get("cumulative_us", 0)
                                          for name in ("mistral_lite", "mistral_lite.client")),
        "requests_cumulative_us": base.get("requests", {}).get("cumulative_us"),
        "added_modules": len(added),
        "added_self_us": sum(v["self_us"] for v in added.values()),
        "top_added_by_self": top_added,
        "top_self_overall": sorted(table.items(), key=lambda kv: -kv[1]["self_us"])[:15],
    }


def rows_transfer(url: str, quick: bool) -> list[dict[str, Any]]:
    rows = []
    reps = 1 if quick else 2
    for op in ("upload", "download"):
        res: dict[str, list[dict[str, Any]]] = {"bare": [], "ml": []}
        for i in range(reps):
            for side in (("bare", "ml") if i % 2 == 0 else ("ml", "bare")):
                res[side].append(_run_worker(f"transfer:{op}:{side}", url, quick))
        worst = {side: max(v, key=lambda r: max(r["tracemalloc_peak_mb"], r["maxrss_delta_mb"]))
                 for side, v in res.items()}
        ml_peak = max(worst["ml"]["tracemalloc_peak_mb"], worst["ml"]["maxrss_delta_mb"])
        bare_peak = max(worst["bare"]["tracemalloc_peak_mb"], worst["bare"]["maxrss_delta_mb"])
        name = "upload_file" if op == "upload" else "download_file(to=...)"
        rows.append(_row(f"{name} {worst['ml']['size_mb']:.0f} MB, peak memory growth", "MB", bare_peak, ml_peak,
                         "< 20 MB", ratio=None, met=ml_peak < 20, detail=res))
        rows.append(_row(f"{name} {worst['ml']['size_mb']:.0f} MB, throughput", "MB/s",
                         _median([r["mb_per_s"] for r in res["bare"]]), _median([r["mb_per_s"] for r in res["ml"]]),
                         ""))
    return rows


def start_server(quick: bool) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "server.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import requests

    try:
        import orjson

        orjson_version = orjson.__version__
    except ImportError:
        orjson_version = None
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "implementation": platform.python_implementation(),
            "cpu": cpu, "platform": platform.platform(), "requests": requests.__version__, "orjson": orjson_version}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def table(rows: list[dict[str, Any]]) -> str:
    head = ["row", "unit", "bare", "mistral_lite", "ratio", "target", "met?"]
    lines = [head]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r.get("met")]
        lines.append([r["row"], r.get("unit", ""), _fmt(r["bare"]), _fmt(r["mistral_lite"]),
                      _fmt(r["ratio"]) if r["ratio"] is not None else "-", r.get("target") or "-", met])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description="mistral_lite benchmarks vs bare requests")
    parser.add_argument("--quick", action="store_true", help="small counts, 20 MB transfers (CI)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--rows", help="comma-separated subset: chat,stream,embed,cache,threads,import,"
                                       "transfer,mistralai")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    wanted = set(args.rows.split(",")) if args.rows else None
    started = time.perf_counter()
    server, url = start_server(args.quick)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    def step(label: str, fn: Callable[[], list[dict[str, Any]]]) -> None:
        t0 = time.perf_counter()
        got = fn()
        rows.extend(got)
        print(f"  {label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    try:
        if want("chat"):
            step("chat", lambda: _run_worker("chat", url, args.quick))
            step("chat (std json)", lambda: _run_worker("chat", url, args.quick, block_orjson=True))
        if want("stream"):
            step("stream", lambda: _run_worker("stream", url, args.quick))
            step("stream (std json)", lambda: _run_worker("stream", url, args.quick, block_orjson=True))
        if want("embed"):
            step("embed (std json)", lambda: _run_worker("embed", url, args.quick, block_orjson=True))
            step("embed (orjson)", lambda: _run_worker("embed", url, args.quick))
        if want("cache"):
            step("cache", lambda: _run_worker("cache", url, args.quick))
        if want("threads"):
            step("threads", lambda: _run_worker("threads", url, args.quick))
        if want("import"):
            def imports() -> list[dict[str, Any]]:
                got, extra["importtime"] = rows_import(url, args.quick)
                return got
            step("import", imports)
        if want("transfer"):
            step("transfer", lambda: rows_transfer(url, args.quick))
        if want("mistralai"):
            step("mistralai", lambda: _run_worker("mistralai", url, args.quick))
    finally:
        server.terminate()
        server.wait(timeout=10)
    # de-duplicate the orjson embed row when orjson is missing (both runs used std json)
    seen: set[str] = set()
    unique = []
    for r in rows:
        if r["row"] in seen:
            continue
        seen.add(r["row"])
        unique.append(r)
    rows = unique
    print(table(rows))
    if "importtime" in extra:
        for label, it in extra["importtime"].items():
            print(f"\n-X importtime ({label}): requests {it['requests_cumulative_us'] / 1e3:.1f} ms, mistral_lite "
                  f"{it['mistral_lite_cumulative_us'] / 1e3:.1f} ms; {it['added_modules']} modules beyond requests, "
                  f"{it['added_self_us'] / 1e3:.1f} ms self; top added (self us / cumulative us):")
            for name, v in it["top_added_by_self"][:12]:
                print(f"  {v['self_us']:>8.0f} {v['cumulative_us']:>9.0f}  {name}")
    total = time.perf_counter() - started
    print(f"\n{'quick' if args.quick else 'full'} run, {total:.1f} s", file=sys.stderr)
    if args.out:
        result = {"quick": args.quick, "seconds": total, "machine": machine(), "rows": rows, **extra,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
