"""Request building: path encoding, query conventions, bodies, escape hatches, headers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import API_KEY, BASE

from mistral_lite import Client, __version__
from mistral_lite._core.request import encode_path_value


def sent(mock: responses.RequestsMock, index: int = 0) -> Any:
    return mock.calls[index].request


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [("abc", "abc"), ("a/b", "a%2Fb"), ("..", "%2E%2E"), (".", "%2E"), ("a?b#c", "a%3Fb%23c"),
     ("ft:open-mistral-7b:x", "ft:open-mistral-7b:x"), ("sp ace", "sp%20ace"), ("%2F", "%252F"),
     ("é", "%C3%A9")],
)
def test_path_values_are_percent_encoded(value: str, encoded: str) -> None:
    assert encode_path_value(value) == encoded


@pytest.mark.parametrize("evil", ["../../v1/models", "x?admin=1", "x#frag", "/etc/passwd", ".."])
def test_path_parameters_cannot_change_the_route(client: Client, mock: responses.RequestsMock, evil: str) -> None:
    mock.get(f"{BASE}/v1/files/{encode_path_value(evil)}", json={"id": evil})
    assert client.get_file(evil) == {"id": evil}
    path = urlsplit(sent(mock).url).path
    assert path.startswith("/v1/files/") and path.count("/") == 3
    assert urlsplit(sent(mock).url).query == ""


def test_query_arrays_repeat_keys_and_objects_are_json(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/batch/jobs", json={"object": "list", "data": [], "total": 0})
    client.list_batch_jobs(status=["QUEUED", "RUNNING"], metadata={"team": "a b"}, created_by_me=True,
                           page=2, page_size=10)
    assert query(sent(mock)) == {
        "status": ["QUEUED", "RUNNING"], "metadata": ['{"team":"a b"}'], "created_by_me": ["true"],
        "page": ["2"], "page_size": ["10"],
    }
    assert sent(mock).body is None


def test_get_sends_no_body_and_json_accept(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/models", json={"object": "list", "data": []})
    client.list_models()
    req = sent(mock)
    assert req.body is None
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert req.headers["User-Agent"].startswith(f"mistral-lite/{__version__} python/")


def test_none_options_are_not_sent(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", json={"id": "c"})
    client.chat(model="m", messages=[{"role": "user", "content": "x"}], temperature=None, max_tokens=5)
    assert json.loads(sent(mock).body) == {"model": "m", "messages": [{"role": "user", "content": "x"}],
                                           "max_tokens": 5}


def test_fill_only_where_the_api_needs_a_value(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/embeddings", json={"data": []})
    mock.post(f"{BASE}/v1/embeddings", json={"data": []})
    client.embed(input="hello")
    client.embed(input="hello", model="other-embed")
    assert json.loads(sent(mock, 0).body) == {"input": "hello", "model": "mistral-embed"}
    assert json.loads(sent(mock, 1).body) == {"input": "hello", "model": "other-embed"}


def test_extra_body_query_headers_are_merged_after_validation(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", json={"id": "c"})
    client.chat(model="m", messages=[{"role": "user", "content": "x"}], extra_body={"brand_new": [1]},
                extra_query={"beta": True}, extra_headers={"X-Trace": "t1"})
    req = sent(mock)
    assert json.loads(req.body)["brand_new"] == [1]
    assert query(req) == {"beta": ["true"]}
    assert req.headers["X-Trace"] == "t1"


def test_path_args_positional_or_keyword(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/agents/ag1/versions/3", json={"id": "ag1", "version": 3})
    mock.get(f"{BASE}/v1/agents/ag1/versions/4", json={"id": "ag1", "version": 4})
    assert client.get_agent_version("ag1", 3)["version"] == 3
    assert client.call("get_agent_version", agent_id="ag1", version=4)["version"] == 4


def test_too_many_positionals_and_duplicates_are_type_errors(client: Client) -> None:
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        client.get_file("a", "b")
    with pytest.raises(TypeError, match="multiple values for argument 'file_id'"):
        client.get_file("a", file_id="b")


def test_streaming_request_asks_for_event_stream(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", body=b"data: [DONE]\n\n", content_type="text/event-stream")
    with client.chat(model="m", messages=[{"role": "user", "content": "x"}], stream=True,
                     stream_timeout=5) as stream:
        assert list(stream) == []
    req = sent(mock)
    assert req.headers["Accept"] == "text/event-stream"
    assert json.loads(req.body)["stream"] is True
    assert "stream_timeout" not in req.body.decode()


def test_body_none_rows_send_no_body(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/batch/jobs/j1/cancel", json={"id": "j1", "status": "CANCELLATION_REQUESTED"})
    client.cancel_batch_job("j1")
    assert sent(mock).body is None


def test_multipart_arrays_are_repeated_parts(client: Client, mock: responses.RequestsMock) -> None:
    import email.parser
    import email.policy

    mock.post(f"{BASE}/v1/audio/transcriptions", json={"text": "hi"})
    client.transcribe_audio(model="voxtral-mini-latest", file=("a.wav", b"RIFF"), context_bias=["Mistral", "Voxtral"],
                            timestamp_granularities=["segment"])
    req = sent(mock)
    body = req.body.read() if hasattr(req.body, "read") else req.body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + req.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
    parts = [(p.get_param("name", header="content-disposition"), p.get_payload(decode=True)) for p in msg.iter_parts()]
    assert parts == [("model", b"voxtral-mini-latest"), ("context_bias", b"Mistral"), ("context_bias", b"Voxtral"),
                     ("timestamp_granularities", b"segment"), ("file", b"RIFF")]
