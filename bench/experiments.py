"""What-if measurements behind the report's suggestions (monkeypatches in this process only).

    python bench/experiments.py [stream|stages|cache]

* ``stream``: chunk throughput of the current ``Stream._chunks`` (urllib3 ``read1`` per HTTP
  chunk) vs reading chunked bodies through urllib3's ``read_chunked`` generator, vs bare
  requests ``iter_lines``;
* ``stages``: per-call microseconds of each stage of ``Client._dispatch`` for a chat call,
  measured without the network (timeit);
* ``cache``: per-call microseconds of each stage of a cache hit (embed 1 and 64 inputs).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402


def _us(fn: Any, n: int = 20000) -> float:
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def stages() -> None:
    import requests

    from mistral_lite import Client
    from mistral_lite._core import request as _request
    from mistral_lite._core import validate as _validate
    from mistral_lite._core.request import build_request

    client = Client(api_key="bench", base_url="http://127.0.0.1:9")
    ep = client._endpoints["chat"]
    spec = client._spec
    opts = dict(bench.CHAT_BODY)
    built = build_request(ep, client.base_url, opts)
    s = client._settings
    sess = requests.Session()
    body = json.dumps(bench.CHAT_BODY)
    resp_body = (
        b'{"id":"cmpl-e5cc70bb28c444948073e77776eb30ef","object":"chat.completion","created":1702256327,'
        b'"model":"mistral-small-latest","choices":[{"index":0,"message":{"role":"assistant","content":"Tables",'
        b'"tool_calls":null,"prefix":false},"finish_reason":"stop"}],"usage":{"prompt_tokens":16,'
        b'"completion_tokens":34,"total_tokens":50}}'
    )

    def prepare_ml() -> Any:
        h = dict(s.headers)
        h.update(built.headers)
        return sess.prepare_request(requests.Request("POST", built.url, headers=h, data=built.body))

    rows = {
        "validate (compiled fast path)": lambda: _validate.validate(ep, opts, spec),
        "build_request (incl. body dumps)": lambda: build_request(ep, client.base_url, opts),
        "  of which dumps(body)": lambda: _request.dumps(opts),
        "Request + session.prepare_request (ml)": prepare_ml,
        "session.merge_environment_settings (bare pays per call)":
            lambda: sess.merge_environment_settings(built.url, {}, None, None, None),
        "json.dumps(body) (bare)": lambda: json.dumps(bench.CHAT_BODY),
        "loads(response) (ml)": lambda: _request.loads(resp_body),
        "json.loads(response) (bare)": lambda: json.loads(resp_body),
    }
    print(f"json implementation: {'orjson' if _request.loads is not json.loads else 'json'}")
    for name, fn in rows.items():
        print(f"  {_us(fn, 5000):8.2f} us  {name}")


def cache() -> None:
    from mistral_lite._core import validate as _validate
    from mistral_lite._core.cache import ResponseCache
    from mistral_lite._core.request import build_request

    server, url = bench.start_server(True)
    try:
        from mistral_lite import Client

        client = Client(api_key="bench", base_url=url, cache=True)
        ep = client._endpoints["embed"]
        for n in (1, 64):
            texts = bench.EMBED_TEXTS[:n]
            client.embed(input=texts)
            opts = {"input": texts, "model": "mistral-embed"}
            built = build_request(ep, client.base_url, opts)
            key = ResponseCache.make_key("embed", client.base_url, client._fingerprint, built.path_params,
                                         built.query, built.json_body)
            c = client.cache
            entry = c.store.get(key)
            print(f"embed {n}x1024 cache hit:")
            for name, fn in {
                "whole hit: client.embed(input=...)": lambda: client.embed(input=texts),
                "validate": lambda: _validate.validate(ep, opts, client._spec),
                "build_request (dumps of the body)": lambda: build_request(ep, client.base_url, opts),
                "make_key (json.dumps sort_keys of query+body)":
                    lambda: ResponseCache.make_key("embed", client.base_url, client._fingerprint,
                                                   built.path_params, built.query, built.json_body),
                "cache.get incl. deep copy": lambda: c.get(key),
                "  of which the copier()": lambda: entry[2](),
            }.items():
                print(f"  {_us(fn, 2000 if n == 64 else 20000):9.2f} us  {name}")
    finally:
        server.terminate()
        server.wait()


def stream() -> None:
    from mistral_lite._http import stream as _streaming

    server, url = bench.start_server(True)
    try:
        import requests

        from mistral_lite import Client

        client = Client(api_key="bench", base_url=url)
        body = dict(bench.CHAT_BODY, stream=True, max_tokens=bench.STREAM_CHUNKS)
        sess = requests.Session()
        h = dict(bench._bare_headers(), Accept="text/event-stream")
        original = _streaming.Stream._chunks

        def read_chunked_chunks(self: Any) -> Any:
            raw = self.response.raw
            if getattr(raw, "chunked", False) and raw.supports_chunked_reads():
                try:
                    yield from raw.read_chunked(self._chunk_size, decode_content=True)
                except Exception as exc:
                    raise _streaming._transport_error(exc, self.operation) from None
                return
            yield from original(self)

        def ml() -> None:
            n = 0
            with client.chat(**body) as st:
                for _ in st:
                    n += 1
            assert n == bench.STREAM_CHUNKS

        def bare() -> None:
            bench.bare_stream(sess, url + "/v1/chat/completions", body, h)

        def current() -> None:
            _streaming.Stream._chunks = original  # type: ignore[method-assign]
            ml()

        def patched() -> None:
            _streaming.Stream._chunks = read_chunked_chunks  # type: ignore[method-assign]
            ml()

        sides = {"bare": bare, "current read1": current, "read_chunked": patched}
        times: dict[str, list[float]] = {k: [] for k in sides}
        for fn in sides.values():
            fn()
        for r in range(10):
            for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                t0 = time.perf_counter()
                sides[name]()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["bare"])
        for name, v in times.items():
            med = statistics.median(v)
            print(f"  {bench.STREAM_CHUNKS / med:10,.0f} chunks/s  {base / med:5.2f}x bare  {name}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "stages"
    {"stages": stages, "cache": cache, "stream": stream}[what]()
