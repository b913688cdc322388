"""``upload_file`` (and every multipart row) takes ``on_progress`` as ``download_file`` does."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from mistral_lite import Client, ValidationError
from mistral_lite._dev.testing import make_client
from mistral_lite.fake import FakeMistral, Fault


def test_upload_reports_the_bytes_sent(fake_mistral: FakeMistral, tmp_path: Path) -> None:
    source = tmp_path / "big.jsonl"
    source.write_bytes(b"x" * 200_000)
    seen: list[tuple[int, int | None]] = []
    client = Client("k", base_url=fake_mistral.url)
    uploaded = client.upload_file(file=source, purpose="batch", on_progress=lambda done, total: seen.append((done, total)))
    body = fake_mistral.requests[-1].body
    assert uploaded["bytes"] == 200_000
    assert seen[-1] == (len(body), len(body))  # the whole multipart body, headers included
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 2
    assert {t for _, t in seen} == {len(body)}


def test_a_retried_upload_reports_again_from_zero(fake_mistral: FakeMistral) -> None:
    fake_mistral.inject("upload_file", Fault(status=429, headers={"Retry-After": "0"}))
    seen: list[int] = []
    client = make_client("k", base_url=fake_mistral.url, sleep=lambda s: None)
    client.upload_file(file=("a.jsonl", b"y" * 100_000), purpose="batch", on_progress=lambda d, t: seen.append(d))
    restarts = [i for i in range(1, len(seen)) if seen[i] < seen[i - 1]]
    assert len(restarts) == 1 and seen[-1] == seen[restarts[0] - 1]


def test_on_progress_is_in_the_signatures_and_checked() -> None:
    assert "on_progress" in inspect.signature(Client.upload_file).parameters
    assert "on_progress" in inspect.signature(Client.download_file).parameters
    assert "while the upload is sent" in (Client.upload_file.__doc__ or "")
    with pytest.raises(ValidationError):
        Client("k", base_url="http://127.0.0.1:9").upload_file(file=("a", b"z"), on_progress=5)  # type: ignore[arg-type]
