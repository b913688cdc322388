"""cProfile of mistral_lite's hot paths against the bench server (for the report, not CI).

    python bench/hotpaths.py [chat|stream|embed|cache|bare_chat|bare_stream] [--calls N] [--top 25]

Prints the top functions by self time (tottime) and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["chat", "stream", "embed", "cache", "bare_chat", "bare_stream"])
    p.add_argument("--calls", type=int, default=0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-orjson", action="store_true")
    a = p.parse_args()
    if a.no_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]
    server, url = bench.start_server(True)
    try:
        import requests

        from mistral_lite import Client

        client = Client(api_key="bench", base_url=url)
        cached = Client(api_key="bench", base_url=url, cache=True)
        s = requests.Session()
        h = bench._bare_headers()
        body = dict(bench.CHAT_BODY, stream=True, max_tokens=bench.STREAM_CHUNKS)

        def chat() -> None:
            client.chat(**bench.CHAT_BODY)

        def bare_chat() -> None:
            json.loads(s.post(url + "/v1/chat/completions", data=json.dumps(bench.CHAT_BODY), headers=h).content)

        def stream() -> None:
            with client.chat(**body) as st:
                for _ in st:
                    pass

        def bare_stream() -> None:
            bench.bare_stream(s, url + "/v1/chat/completions", body, h)

        def embed() -> None:
            client.embed(input=bench.EMBED_TEXTS)

        def cache() -> None:
            cached.embed(input=bench.EMBED_TEXTS[:1])

        fn = {"chat": chat, "stream": stream, "embed": embed, "cache": cache, "bare_chat": bare_chat,
              "bare_stream": bare_stream}[a.what]
        calls = a.calls or {"stream": 20, "bare_stream": 20, "embed": 50, "cache": 20000}.get(a.what, 2000)
        for _ in range(5):
            fn()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            fn()
        prof.disable()
        st = pstats.Stats(prof)
        print(f"== {a.what}: {calls} calls; top {a.top} by self time (tottime)")
        st.sort_stats("tottime").print_stats(a.top)
        print(f"== {a.what}: top {a.top} by cumulative time")
        st.sort_stats("cumulative").print_stats(a.top)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
