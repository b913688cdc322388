"""The pytest plugin of mistral_lite: a ``fake_mistral`` fixture serving a FakeMistral."""

from __future__ import annotations

from collections.abc import Iterator

import pytest  # type: ignore[import-not-found, import-untyped, unused-ignore]

from . import FakeMistral


@pytest.fixture  # type: ignore[untyped-decorator, unused-ignore]  # untyped when pytest is not installed
def fake_mistral() -> Iterator[FakeMistral]:
    """A started :class:`FakeMistral` (any bearer token accepted), stopped after the test."""
    fake = FakeMistral().start()
    try:
        yield fake
    finally:
        fake.stop()
