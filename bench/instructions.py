"""Instruction counts of the hot paths under valgrind: a CPU figure that a loaded machine does not move.

    python bench/instructions.py [stream|bare_stream|chat|bare_chat|embed|bare_embed ...] [--calls N] [--json]

Each workload runs in a child under ``valgrind --tool=callgrind`` (the loopback bench server runs
outside it), once with 0 measured calls and once with N; the difference divided by N is the
instruction count per call, free of import and start-up costs. Ratios against the bare
``requests`` baselines are what to read; wall-clock figures still come from ``bench/run.py`` on an
idle machine. Needs ``valgrind`` (Debian: ``apt-get install valgrind``); not used by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CALLS = {"stream": 10, "bare_stream": 10, "chat": 200, "bare_chat": 200, "embed": 10, "bare_embed": 10}


def _child(what: str, calls: int, url: str) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import requests
    import run as bench

    from mistral_lite import Client

    client = Client(api_key=bench.API_KEY, base_url=url)
    session = requests.Session()
    headers = bench._bare_headers()
    body = dict(bench.CHAT_BODY, stream=True, max_tokens=bench.STREAM_CHUNKS)
    embed_body = {"model": "mistral-embed", "input": bench.EMBED_TEXTS}

    def stream() -> None:
        with client.chat(**body) as st:
            for _ in st:
                pass

    def bare_stream() -> None:
        bench.bare_stream(session, url + "/v1/chat/completions", body, dict(headers, Accept="text/event-stream"))

    def chat() -> None:
        client.chat(**bench.CHAT_BODY)

    def bare_chat() -> None:
        json.loads(session.post(url + "/v1/chat/completions", data=json.dumps(bench.CHAT_BODY),
                                headers=headers).content)

    def embed() -> None:
        client.embed(**embed_body)

    def bare_embed() -> None:
        json.loads(session.post(url + "/v1/embeddings", data=json.dumps(embed_body), headers=headers).content)

    fn = {"stream": stream, "bare_stream": bare_stream, "chat": chat, "bare_chat": bare_chat, "embed": embed,
          "bare_embed": bare_embed}[what]
    for _ in range(3):
        fn()
    for _ in range(calls):
        fn()


def _instructions(what: str, calls: int, url: str, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
             "--child", what, str(calls), url],
            env=env, capture_output=True, text=True, check=False)
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"{what}: valgrind failed:\n{proc.stderr[-2000:]}")
        return int(match.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    p = argparse.ArgumentParser()
    p.add_argument("what", nargs="*", default=["stream", "bare_stream", "chat", "bare_chat", "embed", "bare_embed"])
    p.add_argument("--calls", type=int, default=0)
    p.add_argument("--no-orjson", action="store_true", help="hide orjson (the std-json paths)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    sys.path.insert(0, str(HERE))
    import run as bench

    env = dict(os.environ)
    if a.no_orjson:
        env["MISTRAL_LITE_BENCH_NO_ORJSON"] = "1"
    server, url = bench.start_server(False)
    results = {}
    try:
        for what in a.what:
            n = a.calls or CALLS[what]
            base = _instructions(what, 0, url, env)
            full = _instructions(what, n, url, env)
            results[what] = (full - base) / n
            if not a.json:
                print(f"{what:12s} {results[what] / 1e6:10.3f} M instructions/call ({n} calls)", flush=True)
    finally:
        server.kill()
    pairs = [(w, "bare_" + w) for w in ("stream", "chat", "embed") if w in results and "bare_" + w in results]
    for ml, bare in pairs:
        if not a.json:
            print(f"{ml}: {results[ml] / results[bare]:.3f}x bare")
    if a.json:
        print(json.dumps(results))


if __name__ == "__main__":
    if os.environ.get("MISTRAL_LITE_BENCH_NO_ORJSON"):
        sys.modules["orjson"] = None  # type: ignore[assignment]
    main()
