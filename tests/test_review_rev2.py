"""Reviewer rev2's regressions for issue 24 (sync and async unified): each failed before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mistral_lite import AsyncClient, Client, ValidationError

CLIENTS = [Client, AsyncClient]


def _close(client: Any) -> None:
    if isinstance(client, AsyncClient):
        asyncio.run(client.aclose())
    else:
        client.close()


@pytest.mark.parametrize("cls", CLIENTS)
def test_a_bad_base_url_is_reported_with_the_other_problems(cls: type[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        cls(api_key="k", base_url="ftp://x", timeout=-1, max_retries=-1)
    assert [path for path, _ in info.value.errors] == ["timeout", "max_retries", "base_url"]
    assert "must be an http(s) URL, got 'ftp://x'" in info.value.errors[-1][1]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("url", ["https://[::1", "https://h:99999", "https://h:x", "https://", "mailto:x"])
def test_a_malformed_base_url_is_a_validation_error(cls: type[Any], url: str) -> None:
    with pytest.raises(ValidationError) as info:  # was a raw ValueError, or accepted (a bad port)
        cls(api_key="k", base_url=url)
    assert info.value.errors[0][0] == "base_url"


@pytest.mark.parametrize("cls", CLIENTS)
def test_plain_http_is_reported_with_the_other_problems(cls: type[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        cls(api_key="k", base_url="http://example.com", headers=3)
    assert [path for path, _ in info.value.errors] == ["headers", "base_url"]
    client = cls(api_key="k", base_url="http://127.0.0.1:9/v1/")
    _close(client)


@pytest.mark.parametrize("cls", CLIENTS)
def test_with_options_reports_a_bad_base_url_with_the_other_problems(cls: type[Any]) -> None:
    client = cls(api_key="k")
    try:
        with pytest.raises(ValidationError) as info:
            client.with_options(base_url="https://[::1", timeout=-2)
        assert [path for path, _ in info.value.errors] == ["timeout", "base_url"]
    finally:
        _close(client)
