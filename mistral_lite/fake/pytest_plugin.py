"""The pytest plugin of mistral_lite: a ``fake_mistral`` fixture serving a FakeMistral.

Registered as a ``pytest11`` entry point, so pytest loads it in every run wherever mistral-lite
is installed: it imports only pytest here, and the fake (some 30 modules) when a test asks for
the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest  # type: ignore[import-not-found, import-untyped, unused-ignore]

if TYPE_CHECKING:
    from mistral_lite.fake.server import FakeMistral


@pytest.fixture  # type: ignore[untyped-decorator, unused-ignore]  # untyped when pytest is not installed
def fake_mistral() -> Iterator[FakeMistral]:
    """A started :class:`FakeMistral` (any bearer token accepted), stopped after the test."""
    from mistral_lite.fake.server import FakeMistral  # import cost: the fake is ~30 modules, loaded only when used

    fake = FakeMistral().start()
    try:
        yield fake
    finally:
        fake.stop()
