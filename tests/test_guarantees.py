"""Promises of the README's Guarantees section that no other test checked directly."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import responses
from conftest import API_KEY, BASE, Sleeps, make_client

from mistral_lite import APIStatusError, Client, MistralError, ValidationError
from mistral_lite.fake import FakeMistral


@pytest.mark.parametrize("status", [300, 302, 304])
def test_an_unfollowed_3xx_is_never_retried(client: Client, mock: responses.RequestsMock, sleeps: Sleeps,
                                            status: int) -> None:
    mock.get(f"{BASE}/v1/models", status=status, body=b"")
    with pytest.raises(APIStatusError) as info:
        client.list_models()
    assert info.value.status_code == status
    assert len(mock.calls) == 1 and list(sleeps) == []


def test_a_body_over_max_response_size_is_never_retried(mock: responses.RequestsMock, sleeps: Sleeps) -> None:
    mock.get(f"{BASE}/v1/models", body=b"[" + b"1," * 600 + b"1]")
    with make_client(API_KEY, max_response_size=1000, sleep=sleeps) as client, \
            pytest.raises(MistralError, match="max_response_size=1000"):
        client.list_models()
    assert len(mock.calls) == 1 and list(sleeps) == []


def test_threads_sharing_one_client_never_mix_responses(fake: FakeMistral, fake_client: Client) -> None:
    def ask(n: int) -> str:
        reply = fake_client.chat(model="mistral-small-latest",
                                 messages=[{"role": "user", "content": f"question {n}"}])
        return str(reply["choices"][0]["message"]["content"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(64)))
    assert answers == [f"Echo: question {n}" for n in range(64)]


def test_a_body_nested_deeper_than_200_is_a_validation_error(client: Client, mock: responses.RequestsMock) -> None:
    nested: object = "leaf"
    for _ in range(250):
        nested = {"a": nested}
    with pytest.raises(ValidationError, match=r"extra_body\.x\.a\.a"):
        client.chat(model="m", messages=[{"role": "user", "content": "hi"}], extra_body={"x": nested})
    assert len(mock.calls) == 0
