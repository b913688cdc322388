"""Retry, backoff, Retry-After, logging, redaction and timeouts, with `responses` and no waiting."""

from __future__ import annotations

import email.utils
import logging
import re
import time
from typing import Any

import pytest
import requests
import responses
import urllib3
from _samples import ARGS

from mistral_lite import Client
from mistral_lite._dev.testing import make_client
from mistral_lite._core.retry import backoff, parse_retry_after
from mistral_lite._table import load_spec
from mistral_lite.exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)

API_KEY = "sk-test-0123456789abcdef"
BASE = "https://api.mistral.ai"
ANY_URL = re.compile(r"https://api\.mistral\.ai/.*")


IDEMPOTENT_POSTS = ["chat", "fim", "agent_completion", "embed", "classify", "classify_chat", "moderate",
                    "moderate_chat", "ocr"]
IDEMPOTENT_OTHER = ["list_models", "get_model", "delete_model", "get_file", "delete_file", "get_batch_job",
                    "create_or_update_agent_alias", "unarchive_fine_tuned_model", "delete_conversation"]
IDEMPOTENT = IDEMPOTENT_POSTS + IDEMPOTENT_OTHER
CREATE = ["create_agent", "create_batch_job", "create_fine_tuning_job", "upload_file", "create_conversation",
          "append_conversation", "restart_conversation", "start_fine_tuning_job", "cancel_fine_tuning_job",
          "cancel_batch_job", "archive_fine_tuned_model", "update_agent"]
RETRY_STATUSES = [408, 429, 500, 502, 503, 504]
NEVER_STATUSES = [400, 401, 403, 404, 409, 422, 501, 505]

SPEC = load_spec()


def method_of(op: str) -> str:
    return SPEC.endpoints[op].method


def ok(op: str) -> Any:
    """What a successful ``{"id": "ok"}`` reply decodes to for ``op``."""
    return {} if SPEC.endpoints[op].response == "empty" else {"id": "ok"}


def call(client: Client, op: str, **extra: Any) -> Any:
    return client.call(op, **ARGS[op], **extra)


def add(mock: responses.RequestsMock, op: str, *, status: int = 200, json: Any = None,
        body: Any = None, headers: dict[str, str] | None = None) -> None:
    if body is not None:
        mock.add(method_of(op), ANY_URL, body=body)
    else:
        mock.add(method_of(op), ANY_URL, status=status, json={"ok": True} if json is None else json,
                 headers=headers)


def refused() -> requests.exceptions.ConnectionError:
    """The request never left: a failed TCP connect."""
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        pool=None, url="/v1/x",  # type: ignore[arg-type]
        reason=urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused"),  # type: ignore[arg-type]
    ))


def unresolved() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        pool=None, url="/v1/x",  # type: ignore[arg-type]
        reason=urllib3.exceptions.NameResolutionError("api.mistral.ai", None, OSError("no such host")),  # type: ignore[arg-type]
    ))


def reset() -> requests.exceptions.ConnectionError:
    """The request was sent, then the connection broke."""
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")))


FAILURES = {
    "refused": (refused, False, APIConnectionError),
    "name_resolution": (unresolved, False, APIConnectionError),
    "connect_timeout": (lambda: requests.exceptions.ConnectTimeout("connect timed out"), False, APITimeoutError),
    "reset": (reset, True, APIConnectionError),
    "read_timeout": (lambda: requests.exceptions.ReadTimeout("read timed out"), True, APITimeoutError),
}


# -- the table's classes ---------------------------------------------------------------------


def test_table_retry_classes_match_the_requirements() -> None:
    for op in CREATE:
        assert SPEC.endpoints[op].retry == "create", op
    for op in IDEMPOTENT_POSTS:
        assert SPEC.endpoints[op].retry == "idempotent", op
    for name, ep in SPEC.endpoints.items():
        if ep.method in ("GET", "PUT", "DELETE"):
            assert ep.retry == "idempotent", name


# -- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", RETRY_STATUSES)
@pytest.mark.parametrize("op", IDEMPOTENT)
def test_idempotent_retried_on_status(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                                      op: str, status: int) -> None:
    add(mock, op, status=status, json={"message": "transient"})
    add(mock, op, json={"id": "ok"})
    assert call(client, op) == ok(op)
    assert len(mock.calls) == 2
    assert sleeps == [0.5]
    assert mock.calls[0].request.body == mock.calls[1].request.body


@pytest.mark.parametrize("status", RETRY_STATUSES)
@pytest.mark.parametrize("op", CREATE)
def test_create_retried_only_on_429(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                                    op: str, status: int) -> None:
    add(mock, op, status=status, json={"message": "nope"})
    if status == 429:
        add(mock, op, json={"id": "ok"})
        assert call(client, op) == ok(op)
        assert len(mock.calls) == 2
        assert sleeps == [0.5]
    else:
        with pytest.raises(APIStatusError) as info:
            call(client, op)
        assert info.value.status_code == status
        assert info.value.attempts == 1
        assert "attempts" not in str(info.value)
        assert len(mock.calls) == 1
        assert sleeps == []


@pytest.mark.parametrize("status", NEVER_STATUSES)
@pytest.mark.parametrize("op", ["get_model", "chat", "embed", "create_agent"])
def test_other_statuses_never_retried(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                                      op: str, status: int) -> None:
    add(mock, op, status=status, json={"message": "no"})
    with pytest.raises(APIStatusError) as info:
        call(client, op)
    assert info.value.status_code == status
    assert info.value.attempts == 1
    assert len(mock.calls) == 1
    assert sleeps == []


def test_status_error_types(client: Client, mock: responses.RequestsMock) -> None:
    for status, cls in [(400, BadRequestError), (401, AuthenticationError), (404, NotFoundError),
                        (501, InternalServerError)]:
        mock.add("GET", ANY_URL, status=status, json={"message": "x"})
        with pytest.raises(cls):
            client.get_model("model-a")


# -- connection errors and timeouts ----------------------------------------------------------


@pytest.mark.parametrize("kind", list(FAILURES))
@pytest.mark.parametrize("op", IDEMPOTENT)
def test_idempotent_retried_on_every_failure(client: Client, mock: responses.RequestsMock,
                                             sleeps: list[float], op: str, kind: str) -> None:
    make, _reached, _cls = FAILURES[kind]
    add(mock, op, body=make())
    add(mock, op, json={"id": "ok"})
    assert call(client, op) == ok(op)
    assert len(mock.calls) == 2
    assert sleeps == [0.5]


@pytest.mark.parametrize("kind", list(FAILURES))
@pytest.mark.parametrize("op", CREATE)
def test_create_retried_only_when_never_reached(client: Client, mock: responses.RequestsMock,
                                                sleeps: list[float], op: str, kind: str) -> None:
    make, reached, cls = FAILURES[kind]
    add(mock, op, body=make())
    if not reached:
        add(mock, op, json={"id": "ok"})
        assert call(client, op) == ok(op)
        assert len(mock.calls) == 2
        assert sleeps == [0.5]
    else:
        with pytest.raises(cls) as info:
            call(client, op)
        assert info.value.attempts == 1
        assert info.value.operation == op
        assert op in str(info.value)
        assert len(mock.calls) == 1
        assert sleeps == []


@pytest.mark.parametrize("kind", list(FAILURES))
def test_failure_exhaustion_reports_attempts(client: Client, mock: responses.RequestsMock,
                                             sleeps: list[float], kind: str) -> None:
    make, _reached, cls = FAILURES[kind]
    for _ in range(4):
        mock.add("GET", ANY_URL, body=make())
    with pytest.raises(cls) as info:
        client.get_model("model-a")
    assert type(info.value) is cls
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert info.value.operation == "get_model"
    assert "get_model" in str(info.value)
    assert len(mock.calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_status_exhaustion_reports_attempts(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    for _ in range(4):
        mock.add("GET", ANY_URL, status=503, json={"message": "overloaded"})
    with pytest.raises(InternalServerError) as info:
        client.get_model("model-a")
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert "overloaded" in str(info.value)
    assert len(mock.calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_create_429_exhaustion(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    for _ in range(4):
        mock.add("POST", ANY_URL, status=429, json={"message": "slow down"})
    with pytest.raises(RateLimitError) as info:
        client.create_agent(model="m", name="n")
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert sleeps == [0.5, 1.0, 2.0]


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_formula() -> None:
    assert [backoff(n, 1.0, 60.0, lambda: 1.0) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [backoff(n, 1.0, 60.0, lambda: 0.25) for n in range(3)] == [0.25, 0.5, 1.0]
    assert backoff(0, 1.0, 60.0, lambda: 0.0) == 0.0
    assert backoff(10_000, 1.0, 60.0, lambda: 1.0) == 60.0  # no overflow


def test_backoff_delays_and_cap(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 1.0, max_retries=8) as c:
        for _ in range(9):
            mock.add("GET", ANY_URL, status=500, json={})
        with pytest.raises(InternalServerError) as info:
            c.get_model("model-a")
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert info.value.attempts == 9


def test_backoff_uses_fresh_random_each_retry(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    values = iter([0.1, 0.9, 0.5])
    with make_client(API_KEY, sleep=sleeps, rand=lambda: next(values)) as c:
        for _ in range(3):
            mock.add("GET", ANY_URL, status=502, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        assert c.get_model("model-a") == {"id": "ok"}
    assert sleeps == pytest.approx([0.1, 1.8, 2.0])


def test_default_max_retries_is_three() -> None:
    with Client(API_KEY) as c:
        assert c.max_retries == 3


def test_max_retries_on_client_and_per_call(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, max_retries=1) as c:
        for _ in range(2):
            mock.add("GET", ANY_URL, status=503, json={})
        with pytest.raises(InternalServerError) as info:
            c.get_model("model-a")
        assert info.value.attempts == 2
        assert sleeps == [0.5]
        mock.add("GET", ANY_URL, status=503, json={})
        with pytest.raises(InternalServerError) as info:
            c.with_options(max_retries=0).get_model("model-a")
        assert info.value.attempts == 1
        assert "attempts" not in str(info.value)
    assert sleeps == [0.5]
    assert len(mock.calls) == 3


def test_custom_retry_delay(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    seen: list[int] = []

    def delay(n: int) -> float:
        seen.append(n)
        return 0.1 * (n + 1)

    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, retry_delay=delay) as c:
        for _ in range(3):
            mock.add("GET", ANY_URL, status=500, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        assert c.get_model("model-a") == {"id": "ok"}
    assert seen == [0, 1, 2]
    assert sleeps == pytest.approx([0.1, 0.2, 0.3])


def test_custom_retry_delay_per_call(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    mock.add("POST", ANY_URL, body=reset())
    mock.add("POST", ANY_URL, json={"data": []})
    assert client.with_options(retry_delay=lambda n: 7.0).embed(input=["x"]) == {"data": []}
    assert sleeps == [7.0]
    mock.add("GET", ANY_URL, status=500, json={})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")  # the original client keeps its backoff
    assert sleeps == [7.0, 0.5]


def test_retry_false_disables(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, retry=False) as c:
        mock.add("GET", ANY_URL, status=503, json={"message": "busy"})
        with pytest.raises(InternalServerError) as info:
            c.get_model("model-a")
        assert info.value.attempts == 1
        mock.add("GET", ANY_URL, body=refused())
        with pytest.raises(APIConnectionError):
            c.get_model("model-a")
        mock.add("POST", ANY_URL, status=429, json={}, headers={"Retry-After": "2"})
        with pytest.raises(RateLimitError) as rl:
            c.create_agent(model="m", name="n")
        assert rl.value.retry_after == 2.0
    assert len(mock.calls) == 3
    assert sleeps == []


def test_retry_false_per_call(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    mock.add("POST", ANY_URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        client.with_options(retry=False).chat(**ARGS["chat"])
    assert sleeps == []
    assert len(mock.calls) == 1


def test_with_options_retry_true_reenables(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, retry=False) as c:
        mock.add("GET", ANY_URL, status=500, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        assert c.with_options(retry=True).get_model("model-a") == {"id": "ok"}
    assert sleeps == [0.5]


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": "0"}, 0.0),
    ({"Retry-After": "2.5"}, 2.5),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"Retry-After": "60"}, 60.0),
])
def test_retry_after_honoured(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                              status: int, headers: dict[str, str], expected: float) -> None:
    mock.add("GET", ANY_URL, status=status, json={}, headers=headers)
    mock.add("GET", ANY_URL, json={"id": "ok"})
    assert client.get_model("model-a") == {"id": "ok"}
    assert sleeps == [expected]


def test_retry_after_http_date(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    mock.add("GET", ANY_URL, status=429, json={}, headers={"Retry-After": when})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    assert len(sleeps) == 1
    assert 25.0 <= sleeps[0] <= 30.0


def test_retry_after_http_date_in_the_past_means_now(client: Client, mock: responses.RequestsMock,
                                                     sleeps: list[float]) -> None:
    mock.add("GET", ANY_URL, status=503, json={}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    assert sleeps == [0.0]


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=lambda: now) == 42.0
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_retry_after_on_create_429(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    mock.add("POST", ANY_URL, status=429, json={}, headers={"Retry-After": "5"})
    mock.add("POST", ANY_URL, json={"id": "ag"})
    assert client.create_agent(model="m", name="n") == {"id": "ag"}
    assert sleeps == [5.0]


def test_retry_after_ignored_on_other_statuses(client: Client, mock: responses.RequestsMock,
                                               sleeps: list[float]) -> None:
    mock.add("GET", ANY_URL, status=500, json={}, headers={"Retry-After": "9"})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    assert sleeps == [0.5]


def test_invalid_retry_after_falls_back_to_backoff(client: Client, mock: responses.RequestsMock,
                                                   sleeps: list[float]) -> None:
    mock.add("GET", ANY_URL, status=429, json={}, headers={"Retry-After": "soon"})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    assert sleeps == [0.5]


@pytest.mark.parametrize(("headers", "asked"), [
    ({"Retry-After": "120"}, 120.0),
    ({"Retry-After": "60.5"}, 60.5),
    ({"retry-after-ms": "61000"}, 61.0),
])
def test_retry_after_over_cap_raises_at_once(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                                             headers: dict[str, str], asked: float) -> None:
    mock.add("GET", ANY_URL, status=429, json={"message": "quota"}, headers=headers)
    with pytest.raises(RateLimitError) as info:
        client.get_model("model-a")
    assert info.value.retry_after == asked
    assert info.value.attempts == 1
    assert sleeps == []
    assert len(mock.calls) == 1


def test_retry_after_http_date_over_cap(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    mock.add("POST", ANY_URL, status=429, json={}, headers={"Retry-After": when})
    with pytest.raises(RateLimitError) as info:
        client.create_agent(model="m", name="n")
    assert info.value.retry_after is not None and 3590 <= info.value.retry_after <= 3600
    assert sleeps == []


def test_retry_after_over_cap_on_503(client: Client, mock: responses.RequestsMock, sleeps: list[float]) -> None:
    mock.add("GET", ANY_URL, status=503, json={}, headers={"Retry-After": "300"})
    with pytest.raises(InternalServerError) as info:
        client.get_model("model-a")
    assert info.value.retry_after == 300.0
    assert sleeps == []
    assert len(mock.calls) == 1


def test_max_retry_after_configurable(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, max_retry_after=10) as c:
        mock.add("GET", ANY_URL, status=429, json={}, headers={"Retry-After": "11"})
        with pytest.raises(RateLimitError) as info:
            c.get_model("model-a")
        assert info.value.retry_after == 11.0
        mock.add("GET", ANY_URL, status=429, json={}, headers={"Retry-After": "11"})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        assert c.with_options(max_retry_after=20).get_model("model-a") == {"id": "ok"}
    assert sleeps == [11.0]


def test_rate_limit_exhausted_keeps_retry_after(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    with make_client(API_KEY, sleep=sleeps, max_retries=1) as c:
        for _ in range(2):
            mock.add("GET", ANY_URL, status=429, json={}, headers={"Retry-After": "3"})
        with pytest.raises(RateLimitError) as info:
            c.get_model("model-a")
    assert info.value.retry_after == 3.0
    assert info.value.attempts == 2
    assert sleeps == [3.0]


# -- streaming -------------------------------------------------------------------------------


SSE = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize("first", ["503", "429", "reset", "read_timeout"])
def test_stream_retried_before_it_starts(client: Client, mock: responses.RequestsMock, sleeps: list[float],
                                         first: str) -> None:
    if first == "reset":
        mock.add("POST", ANY_URL, body=reset())
    elif first == "read_timeout":
        mock.add("POST", ANY_URL, body=requests.exceptions.ReadTimeout("no head"))
    else:
        mock.add("POST", ANY_URL, status=int(first), json={"message": "busy"})
    mock.add("POST", ANY_URL, body=SSE, content_type="text/event-stream")
    with client.chat(**ARGS["chat"], stream=True) as stream:
        events = list(stream)
    assert [e["choices"][0]["delta"]["content"] for e in events] == ["a"]
    assert sleeps == [0.5]
    assert len(mock.calls) == 2


def test_create_stream_not_retried_after_reset(client: Client, mock: responses.RequestsMock,
                                               sleeps: list[float]) -> None:
    mock.add("POST", ANY_URL, body=reset())
    with pytest.raises(APIConnectionError):
        client.create_conversation(inputs="hi", stream=True)
    assert sleeps == []


# -- logging ---------------------------------------------------------------------------------


def test_retry_logged_at_warning(client: Client, mock: responses.RequestsMock,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mistral_lite")
    mock.add("GET", ANY_URL, status=503, json={})
    mock.add("GET", ANY_URL, body=reset())
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    records = [r for r in caplog.records if r.name == "mistral_lite"]
    assert len(records) == 2
    assert all(r.levelno == logging.WARNING for r in records)
    first, second = (r.getMessage() for r in records)
    assert "get_model" in first and "503" in first and "0.50" in first
    assert re.search(r"\b1 of 3\b", first)
    assert "get_model" in second and "ConnectionError" in second and "1.00" in second
    assert re.search(r"\b2 of 3\b", second)


def test_retry_log_level_configurable(mock: responses.RequestsMock, sleeps: list[float],
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mistral_lite")
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, retry_log_level=logging.INFO) as c:
        mock.add("GET", ANY_URL, status=500, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        c.get_model("model-a")
        assert [r.levelno for r in caplog.records if r.name == "mistral_lite"] == [logging.INFO]
        caplog.clear()
        mock.add("GET", ANY_URL, status=500, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        c.with_options(retry_log_level=logging.ERROR).get_model("model-a")
        assert [r.levelno for r in caplog.records if r.name == "mistral_lite"] == [logging.ERROR]


def test_retry_log_level_false_silences(mock: responses.RequestsMock, sleeps: list[float],
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(API_KEY, sleep=sleeps, rand=lambda: 0.5, retry_log_level=False) as c:
        mock.add("GET", ANY_URL, status=500, json={})
        mock.add("GET", ANY_URL, json={"id": "ok"})
        c.get_model("model-a")
    assert sleeps == [0.5]
    assert [r for r in caplog.records if r.name == "mistral_lite"] == []  # http debug lines are separate


def test_retry_log_level_false_per_call(client: Client, mock: responses.RequestsMock,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mock.add("GET", ANY_URL, status=500, json={})
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.with_options(retry_log_level=False).get_model("model-a")
    assert [r for r in caplog.records if r.name == "mistral_lite"] == []  # http debug lines are separate


def test_no_log_without_retry(client: Client, mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mistral_lite")
    mock.add("GET", ANY_URL, json={"id": "ok"})
    client.get_model("model-a")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- the key never leaks -----------------------------------------------------------------------


def _all_text(exc: BaseException) -> str:
    return f"{exc} {exc!r} {exc.args!r}"


@pytest.mark.parametrize("kind", list(FAILURES))
def test_key_not_in_logs_or_connection_errors(client: Client, mock: responses.RequestsMock,
                                              caplog: pytest.LogCaptureFixture, kind: str) -> None:
    caplog.set_level(logging.DEBUG)
    make = FAILURES[kind][0]
    for _ in range(4):
        mock.add("GET", ANY_URL, body=make())
    with pytest.raises(APIConnectionError) as info:
        client.get_model("model-a")
    assert API_KEY not in _all_text(info.value)
    assert API_KEY not in caplog.text
    assert len([r for r in caplog.records if r.name == "mistral_lite"]) == 3


def test_key_not_in_logs_or_status_errors(client: Client, mock: responses.RequestsMock,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(4):
        mock.add("GET", ANY_URL, status=503, json={"message": "overloaded"})
    with pytest.raises(InternalServerError) as info:
        client.get_model("model-a")
    assert API_KEY not in _all_text(info.value)
    assert API_KEY not in caplog.text
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_key_not_in_message_when_server_echoes_it(client: Client, mock: responses.RequestsMock) -> None:
    mock.add("GET", ANY_URL, status=401, json={"message": f"Invalid API key: Bearer {API_KEY}"})
    with pytest.raises(AuthenticationError) as info:
        client.get_model("model-a")
    assert API_KEY not in str(info.value)
    assert info.value.server_message == "Invalid API key: Bearer [redacted]"


# -- timeouts --------------------------------------------------------------------------------


def sent_timeout(mock: responses.RequestsMock, index: int = -1) -> Any:
    return mock.calls[index].request.req_kwargs["timeout"]


def test_default_timeouts(client: Client, mock: responses.RequestsMock) -> None:
    assert client.timeout == (10.0, 120.0)
    mock.add("GET", ANY_URL, json={})
    client.get_model("model-a")
    assert sent_timeout(mock) == (10.0, 120.0)


def test_client_timeout_number_and_pair(mock: responses.RequestsMock) -> None:
    mock.add("GET", ANY_URL, json={})
    with Client(API_KEY, timeout=5) as c:
        c.get_model("model-a")
        assert sent_timeout(mock) == (5.0, 5.0)
    with Client(API_KEY, timeout=(1, 2)) as c:
        c.get_model("model-a")
        assert sent_timeout(mock) == (1.0, 2.0)


def test_per_call_timeouts(client: Client, mock: responses.RequestsMock) -> None:
    mock.add("GET", ANY_URL, json={})
    client.get_model("model-a", timeout=3)
    assert sent_timeout(mock) == (3.0, 3.0)
    client.get_model("model-a", timeout=(0.5, 4))
    assert sent_timeout(mock) == (0.5, 4.0)
    client.with_options(timeout=(4, 5)).get_model("model-a")
    assert sent_timeout(mock) == (4.0, 5.0)
    client.get_model("model-a")
    assert sent_timeout(mock) == (10.0, 120.0)


def test_stream_read_timeout_is_stream_timeout(client: Client, mock: responses.RequestsMock) -> None:
    mock.add("POST", ANY_URL, body=SSE, content_type="text/event-stream")
    list(client.chat(**ARGS["chat"], stream=True))
    assert sent_timeout(mock) == (10.0, 30.0)
    list(client.chat(**ARGS["chat"], stream=True, stream_timeout=0.3))
    assert sent_timeout(mock) == (10.0, 0.3)
    list(client.with_options(stream_timeout=2).chat(**ARGS["chat"], stream=True))
    assert sent_timeout(mock) == (10.0, 2.0)
    with Client(API_KEY, stream_timeout=1.5, timeout=(3, 60)) as c:
        list(c.chat(**ARGS["chat"], stream=True))
    assert sent_timeout(mock) == (3.0, 1.5)


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout("c"), requests.exceptions.ReadTimeout("r")])
def test_timeout_raises_api_timeout_error_naming_operation(exc: Exception, mock: responses.RequestsMock) -> None:
    mock.add("POST", ANY_URL, body=exc)
    with Client(API_KEY, retry=False) as c, pytest.raises(APITimeoutError) as info:
        c.embed(input=["x"])
    assert info.value.operation == "embed"
    assert "embed" in str(info.value)
    assert isinstance(info.value, APIConnectionError)
