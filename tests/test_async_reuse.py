"""One AsyncClient across several ``asyncio.run()`` calls: the session of a finished loop is
closed as that loop ends, a new one is opened quietly, and nothing is left for the GC to warn about."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, gc
    from mistral_lite import AsyncClient
    from mistral_lite.fake import FakeMistral

    CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
    with FakeMistral() as fake:
        aclient = AsyncClient("sk-test", base_url=fake.url)

        async def first():
            await aclient.chat(**CHAT)
            await aclient.embed(input=["a"])
            return aclient.session

        async def second():
            reply = await aclient.chat(**CHAT)
            await aclient.aclose()
            return reply

        session = asyncio.run(first())
        assert session is not None and session.closed, "the first loop's session is still open"
        assert asyncio.run(second())["choices"][0]["message"]["content"] == "Echo: hi"
        assert aclient.session is None
        del aclient, session
        gc.collect()
    print("done")
""")


def test_a_client_in_two_asyncio_runs_leaves_nothing_open() -> None:
    proc = subprocess.run([sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", SCRIPT],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "Exception ignored" not in proc.stderr and "ResourceWarning" not in proc.stderr, proc.stderr
    assert "Unclosed" not in proc.stderr, proc.stderr
