"""The Client: configuration, key handling, copies, sessions, and the key never leaking."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
import responses
from conftest import API_KEY, BASE

from mistral_lite import Client, MistralError, UnknownOperationError
from mistral_lite._dev.testing import make_client


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch, mock: responses.RequestsMock) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "env-key")
    mock.get(f"{BASE}/v1/models", json={"data": []})
    Client().list_models()
    assert mock.calls[0].request.headers["Authorization"] == "Bearer env-key"


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(MistralError, match="MISTRAL_API_KEY"):
        Client()


def test_base_url_from_environment_and_v1_suffix(monkeypatch: pytest.MonkeyPatch,
                                                 mock: responses.RequestsMock) -> None:
    monkeypatch.setenv("MISTRAL_BASE_URL", "https://eu.example.test/v1/")
    mock.get("https://eu.example.test/v1/models", json={"data": []})
    client = Client(API_KEY)
    assert client.base_url == "https://eu.example.test"
    client.list_models()


@pytest.mark.parametrize("url", ["http://api.example.test", "http://10.0.0.5:8080"])
def test_refuses_key_over_plain_http(url: str) -> None:
    with pytest.raises(MistralError, match="plain http"):
        Client(API_KEY, base_url=url)
    assert Client(API_KEY, base_url=url, allow_insecure_http=True).base_url == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_allowed_on_loopback(url: str) -> None:
    assert Client(API_KEY, base_url=url).base_url == url


def test_key_absent_from_repr_and_str() -> None:
    client = Client(API_KEY)
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert repr(client) == "<mistral_lite.Client base_url='https://api.mistral.ai'>"


def test_key_absent_from_error_messages_and_logs(mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture,
                                                 sleeps: Any) -> None:
    mock.get(f"{BASE}/v1/models", status=500, json={"message": "boom"})
    mock.get(f"{BASE}/v1/models", status=500, json={"message": "boom"})
    client = make_client(API_KEY, max_retries=1, sleep=sleeps, rand=lambda: 0.0)
    with caplog.at_level(logging.DEBUG, logger="mistral_lite"), pytest.raises(MistralError) as info:
        client.list_models()
    assert caplog.records, "the retry must be logged"
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value.__dict__)


def test_unknown_operation_lists_close_names(client: Client) -> None:
    with pytest.raises(UnknownOperationError) as info:
        client.call("list_model")
    assert info.value.suggestions[0] == "list_models"
    assert isinstance(info.value, AttributeError)


def test_with_options_shares_the_pool_and_changes_settings(mock: responses.RequestsMock) -> None:
    client = Client(API_KEY, timeout=(3, 30))
    quick = client.with_options(timeout=5, max_retries=0, headers={"X-Team": "a"})
    assert quick.session is client.session
    assert quick.timeout == (5.0, 5.0) and client.timeout == (3.0, 30.0)
    assert quick.max_retries == 0 and client.max_retries == 3
    mock.get(f"{BASE}/v1/models", json={"data": []})
    quick.list_models()
    assert mock.calls[0].request.headers["X-Team"] == "a"
    quick.close()  # a copy never closes the shared pool
    assert client.session.adapters


def test_session_passed_in_is_used_not_mutated_or_closed(mock: responses.RequestsMock) -> None:
    session = requests.Session()
    session.headers["X-Mine"] = "1"
    before = (dict(session.headers), dict(session.adapters), session.hooks.copy())
    closed: list[bool] = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    mock.get(f"{BASE}/v1/models", json={"data": []})
    with Client(API_KEY, session=session) as client:
        client.list_models()
    assert mock.calls[0].request.headers["X-Mine"] == "1"
    assert (dict(session.headers), dict(session.adapters), session.hooks.copy()) == before
    assert closed == []


def test_owned_session_closed_by_context_manager() -> None:
    closed: list[bool] = []
    with Client(API_KEY) as client:
        client.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert closed == [True]


def test_hooks_observe_every_attempt(mock: responses.RequestsMock, sleeps: Any) -> None:
    seen: list[str] = []
    mock.get(f"{BASE}/v1/models", status=503, json={"message": "busy"})
    mock.get(f"{BASE}/v1/models", json={"data": []})
    client = make_client(API_KEY, sleep=sleeps, rand=lambda: 0.0,
                    hooks={"request": [lambda r: seen.append(f"{r.method} {r.path_url}")],
                           "response": [lambda r: seen.append(str(r.status_code))]})
    client.list_models()
    assert seen == ["GET /v1/models", "503", "GET /v1/models", "200"]


def test_empty_2xx_decodes_to_empty_dict(client: Client, mock: responses.RequestsMock) -> None:
    mock.delete(f"{BASE}/v1/agents/ag1", status=204)
    assert client.delete_agent("ag1") == {}


def test_list_responses_stay_lists(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents/ag1/aliases", json=[{"alias": "prod", "version": 2}])
    assert client.list_agent_aliases("ag1") == [{"alias": "prod", "version": 2}]


def test_netrc_never_replaces_the_bearer_key(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                             mock: responses.RequestsMock) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.mistral.ai login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert requests.utils.get_netrc_auth("https://api.mistral.ai/v1/models") == ("someone", "hunter2")
    mock.get(f"{BASE}/v1/models", json={"data": []})
    Client(API_KEY).list_models()
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"
