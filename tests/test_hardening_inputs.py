"""Issue 9: bad input is a ValidationError before any I/O, never a raw Python exception.

Each test failed on the code before the fix (a raw ``ValueError``/``TypeError``/``OSError``
escaped, or the bad value was sent).
"""

from __future__ import annotations

import gc
import io
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from conftest import API_KEY, BASE

from mistral_lite import Client, MistralError, ValidationError
from mistral_lite._core import cache as _cache
from mistral_lite._core import jsoncodec as _json
from mistral_lite.cli.app import main

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
OK = {"id": "x", "choices": []}


@pytest.fixture(params=["orjson", "json"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with each JSON backend (orjson writes NaN as null, json as bare NaN)."""
    if request.param == "json":
        monkeypatch.setattr(_json, "_backend", (_json._dumps_std, _json._loads_std, _json._canonical_std, "json"))
    else:
        pytest.importorskip("orjson")
        monkeypatch.setattr(_json, "_backend", None)
    yield request.param


def _problems(info: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return dict(info.value.errors)


# -- item 4: NaN and Infinity ---------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_validation_errors(client: Client, mock: responses.RequestsMock, backend: str,
                                                  bad: float) -> None:
    with pytest.raises(ValidationError) as info:
        client.chat(**CHAT, temperature=bad)
    assert "temperature" in _problems(info)
    assert "not a JSON number" in _problems(info)["temperature"]
    assert len(mock.calls) == 0


@pytest.mark.parametrize("where", ["metadata", "extra_body"])
def test_non_finite_numbers_in_open_objects_are_refused(client: Client, mock: responses.RequestsMock, backend: str,
                                                         where: str) -> None:
    with pytest.raises(ValidationError) as info:
        if where == "metadata":
            client.create_batch_job(input_files=["f"], endpoint="/v1/chat/completions", model="m",
                                    metadata={"score": math.nan})
        else:
            client.chat(**CHAT, extra_body={"deep": [1.0, {"x": math.inf}]})
    problems = _problems(info)
    assert any("not a JSON number" in m for m in problems.values()), problems
    assert ("metadata.score" if where == "metadata" else "extra_body.deep[1].x") in problems
    assert len(mock.calls) == 0


def test_finite_numbers_and_nulls_still_go_out(client: Client, mock: responses.RequestsMock, backend: str) -> None:
    mock.post(f"{BASE}/v1/chat/completions", json=OK)
    client.chat(**CHAT, temperature=0.5, extra_body={"tool_choice": None, "x": 1e308})
    assert json.loads(mock.calls[0].request.body) == {**CHAT, "temperature": 0.5, "tool_choice": None, "x": 1e308}


# -- item 11: raw exceptions from bad call input ----------------------------------------------------
@pytest.mark.parametrize(("keyword", "value", "where"), [
    ("timeout", "abc", "timeout"),
    ("timeout", math.inf, "timeout"),
    ("timeout", (1, None), "timeout"),
    ("timeout", (1, 2, 3), "timeout"),
    ("timeout", True, "timeout"),
    ("stream_timeout", "x", "stream_timeout"),
    ("extra_headers", ["X-A", "b"], "extra_headers"),
    ("extra_headers", {1: "b"}, "extra_headers"),
    ("extra_headers", {"X-A": 5}, "extra_headers"),
    ("extra_headers", {"bad name": "v"}, "extra_headers"),
    ("extra_query", "a=b", "extra_query"),
    ("extra_query", {"f": math.nan}, "extra_query.f"),
    ("extra_body", [("a", 1)], "extra_body"),
    ("on_progress", 5, "on_progress"),
])
def test_bad_call_keywords_are_validation_errors(client: Client, mock: responses.RequestsMock, keyword: str,
                                                 value: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.chat(**CHAT, **{keyword: value})
    assert where in _problems(info)
    assert len(mock.calls) == 0


def test_on_progress_that_is_not_callable_is_refused_before_the_download(client: Client,
                                                                         mock: responses.RequestsMock,
                                                                         tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="on_progress"):
        client.download_file("file-1", to=tmp_path / "out.bin", on_progress=5)
    assert len(mock.calls) == 0 and not (tmp_path / "out.bin").exists()


class _Opaque:
    pass


@pytest.mark.parametrize(("metadata", "where"), [
    ({("a", "b"): "tuple key"}, "metadata.('a', 'b')"),
    ({"when": _Opaque()}, "metadata.when"),
    ({"name": "\ud800"}, "metadata.name"),
])
def test_metadata_json_cannot_carry(client: Client, mock: responses.RequestsMock, backend: str,
                                    metadata: dict[Any, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.create_batch_job(input_files=["f"], endpoint="/v1/chat/completions", model="m", metadata=metadata)
    assert where in _problems(info), _problems(info)
    assert len(mock.calls) == 0


def test_a_body_with_a_cycle(client: Client, mock: responses.RequestsMock, backend: str) -> None:
    cyclic: dict[str, Any] = {"a": "1"}
    cyclic["self"] = cyclic
    with pytest.raises(ValidationError) as info:
        client.chat(**CHAT, extra_body={"x": cyclic})
    assert "cycle" in _problems(info)["extra_body.x.self"]
    with pytest.raises(ValidationError) as info:
        client.create_batch_job(input_files=["f"], endpoint="/v1/chat/completions", model="m", metadata=cyclic)
    assert "metadata.self" in _problems(info)
    assert len(mock.calls) == 0


def test_a_lone_surrogate_in_a_path_parameter(client: Client, mock: responses.RequestsMock) -> None:
    with pytest.raises(ValidationError) as info:
        client.get_model("bad\udc80name")
    assert "lone surrogate" in _problems(info)["model_id"]
    assert len(mock.calls) == 0


def test_a_lone_surrogate_in_an_upload_file_name(client: Client, mock: responses.RequestsMock) -> None:
    with pytest.raises(ValidationError) as info:
        client.upload_file(file=("na\ud800me.jsonl", b"{}"), purpose="batch")
    assert "lone surrogate" in _problems(info)["file"]
    assert len(mock.calls) == 0


def test_text_closed_and_pipe_upload_files(client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("{}\n")
    with open(path) as text, pytest.raises(ValidationError, match="text mode"):
        client.upload_file(file=text, purpose="batch")
    closed = open(path, "rb")  # noqa: SIM115
    closed.close()
    with pytest.raises(ValidationError, match="closed"):
        client.upload_file(file=closed, purpose="batch")
    read_end, write_end = os.pipe()
    os.write(write_end, b"{}\n")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe, pytest.raises(ValidationError, match="cannot be rewound"):
        client.upload_file(file=("data.jsonl", pipe), purpose="batch")
    with pytest.raises(ValidationError, match="text mode"):
        client.upload_file(file=io.StringIO("{}"), purpose="batch")
    assert len(mock.calls) == 0


def test_deeply_nested_json_response_without_orjson(client: Client, mock: responses.RequestsMock,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_json, "_backend", (_json._dumps_std, _json._loads_std, _json._canonical_std, "json"))
    mock.get(f"{BASE}/v1/models", body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    with pytest.raises(MistralError, match="not JSON"):
        client.list_models()


# -- item 11: the constructor ------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "where"), [
    ({"max_retries": "3"}, "max_retries"),
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": True}, "max_retries"),
    ({"cache": "yes"}, "cache"),
    ({"cache": 5}, "cache"),
    ({"headers": ["X-A: b"]}, "headers"),
    ({"headers": {"X-A": 1}}, "headers"),
    ({"hooks": {"request": print}}, "hooks"),
    ({"hooks": [print]}, "hooks"),
    ({"hooks": {"request": [5]}}, "hooks"),
    ({"retry_log_level": "loud"}, "retry_log_level"),
    ({"timeout": "abc"}, "timeout"),
    ({"timeout": (1, None)}, "timeout"),
    ({"stream_timeout": math.nan}, "stream_timeout"),
    ({"cache_ttl": -1}, "cache_ttl"),
    ({"cache_maxsize": 0}, "cache_maxsize"),
    ({"max_retry_after": "x"}, "max_retry_after"),
    ({"retry_delay": 2}, "retry_delay"),
    ({"base_url": 5}, "base_url"),
    ({"session": object()}, "session"),
])
def test_wrong_constructor_arguments_are_validation_errors(kwargs: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, **kwargs)
    assert where in _problems(info)
    assert info.value.operation == "Client"


def test_unknown_hook_names_list_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, hooks={"requests": [print]})
    assert _problems(info)["hooks"] == "unknown hook 'requests'; valid hooks: 'request', 'response'"


def test_every_constructor_problem_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, max_retries="3", cache="yes", timeout="x")
    assert set(_problems(info)) == {"max_retries", "cache", "timeout"}


def test_with_options_checks_its_arguments(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        client.with_options(max_retries=1.5, timeout=math.inf, headers={"X": None})  # type: ignore[arg-type]
    assert set(_problems(info)) == {"max_retries", "timeout", "headers"}


def test_good_constructor_arguments_still_work() -> None:
    shared: dict[Any, Any] = {}
    c = Client(API_KEY, max_retries=0, cache=shared, headers={"X-A": "b"}, hooks={"request": [], "response": ()},
               retry_log_level=logging.INFO, timeout=(1, 2.5), stream_timeout=3, cache_ttl=1, max_retry_after=0)
    assert c.timeout == (1.0, 2.5) and c.max_retries == 0
    c.close()


def test_the_cli_exits_2_on_bad_input_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--mock", "call", "chat", "model=m", 'messages:=[{"role": "user", "content": "x"}]',
                 "temperature:=NaN"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "temperature: nan is not a JSON number" in err and "Traceback" not in err
    code = main(["--mock", "call", "get_model", "model_id=\udcff"])
    out, err = capsys.readouterr()
    assert code == 2 and "lone surrogate" in err and "Traceback" not in err


def test_run_batch_checks_its_requests_before_uploading(client: Client, mock: responses.RequestsMock) -> None:
    with pytest.raises(ValidationError) as info:
        client.run_batch([{"messages": [], "temperature": math.nan}], model="m")
    assert "requests[0].body.temperature" in _problems(info)
    with pytest.raises(ValidationError, match="on_progress"):
        client.run_batch([{"messages": []}], model="m", on_progress="x")  # type: ignore[arg-type]
    assert len(mock.calls) == 0


# -- item 9: nothing global outlives its clients --------------------------------------------------------
def test_shared_cache_mappings_are_not_kept_after_their_clients_go() -> None:
    gc.collect()
    before = len(_cache._shared)
    for _ in range(300):
        c = Client(API_KEY, cache={})
        c.close()
        del c
    gc.collect()
    assert len(_cache._shared) == before


def test_clients_sharing_one_mapping_keep_its_state_while_one_lives() -> None:
    shared: dict[Any, Any] = {}
    first = Client(API_KEY, cache=shared)
    second = Client(API_KEY, cache=shared)
    assert first.cache is not None and second.cache is not None
    assert first.cache._lock is second.cache._lock
    del first
    gc.collect()
    third = Client(API_KEY, cache=shared)
    assert third.cache is not None and third.cache._lock is second.cache._lock
    del second, third
    gc.collect()
    assert all(entry[0] is not shared for entry in _cache._shared.values())


# -- item 12: a long download name --------------------------------------------------------------------
def test_download_to_a_250_character_name(client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    mock.get(f"{BASE}/v1/files/file-1/content", body=b"payload")
    target = tmp_path / ("n" * 246 + ".bin")
    assert len(target.name) == 250
    assert client.download_file("file-1", to=target) == target
    assert target.read_bytes() == b"payload"
    assert os.listdir(tmp_path) == [target.name]


def test_download_to_a_long_multibyte_name(client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    mock.get(f"{BASE}/v1/files/file-1/content", body=b"payload")
    target = tmp_path / ("é" * 120 + ".bin")  # 244 bytes in UTF-8
    assert client.download_file("file-1", to=target) == target
    assert target.read_bytes() == b"payload"
