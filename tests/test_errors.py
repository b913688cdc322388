"""Typed errors from every error body shape the API is known to send."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import responses
from conftest import API_KEY, BASE

import mistral_lite
from mistral_lite import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    InternalServerError,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

URL = f"{BASE}/v1/models/m1"


@pytest.mark.parametrize(
    ("status", "body", "cls", "message", "etype", "code"),
    [
        (400, {"object": "error", "message": "Invalid model", "type": "invalid_request_error",
               "param": None, "code": None}, BadRequestError, "Invalid model", "invalid_request_error", None),
        (422, {"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "safe_mode"],
               "msg": "Extra inputs are not permitted"}]}, "type": "invalid_request_error", "param": None,
               "code": None}, UnprocessableEntityError, "safe_mode: Extra inputs are not permitted",
         "invalid_request_error", None),
        (422, {"detail": [{"loc": ["body", "messages", 0, "role"], "msg": "Input should be 'user'",
                           "type": "literal_error"}]},
         UnprocessableEntityError, "messages.0.role: Input should be 'user'", None, None),
        (429, {"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "param": None,
               "code": "1300", "raw_status_code": 429}, RateLimitError, "Rate limit exceeded", "rate_limited", "1300"),
        (401, {"message": "Unauthorized", "request_id": "abc"}, AuthenticationError, "Unauthorized", None, None),
        (401, {"detail": "Unauthorized"}, AuthenticationError, "Unauthorized", None, None),
        (403, {"error": {"type": "forbidden", "message": "No access"}}, PermissionDeniedError, "No access",
         "forbidden", None),
        (404, {"object": "error", "message": "Not found", "type": "not_found"}, NotFoundError, "Not found",
         "not_found", None),
        (409, {"message": "Conflict"}, ConflictError, "Conflict", None, None),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", InternalServerError,
         "<html><body><h1>502 Bad Gateway</h1></body></html>", None, None),
        (503, "", InternalServerError, "HTTP 503 (empty body)", None, None),
        (418, {"message": "teapot"}, APIStatusError, "teapot", None, None),
        # Malformed detail items (found by hypothesis): never a TypeError, always a typed error.
        (400, {"detail": [{"loc": None}]}, BadRequestError, "validation error", None, None),
        (400, {"detail": [{"loc": "model", "msg": 3}]}, BadRequestError, "model: 3", None, None),
        (400, {"detail": [{"loc": [None, "body", "x"], "msg": None}]}, BadRequestError, "None.x", None, None),
        (400, {"detail": [{"loc": 7, "msg": "bad"}, {}]}, BadRequestError, "7: bad", None, None),
    ],
)
def test_error_shapes(mock: responses.RequestsMock, status: int, body: Any, cls: type[APIStatusError],
                      message: str, etype: str | None, code: str | None) -> None:
    client = Client(API_KEY, retry=False)
    kwargs: dict[str, Any] = {"json": body} if not isinstance(body, str) else {"body": body}
    mock.get(URL, status=status, headers={"x-request-id": "req-42"}, **kwargs)
    with pytest.raises(cls) as info:
        client.get_model("m1")
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.request_id == "req-42"
    assert err.server_message == message
    assert err.type == etype and err.code == code
    assert err.operation == "get_model" and err.method == "GET" and err.path == "/v1/models/m1"
    assert str(err) == f"HTTP {status} from get_model (GET /v1/models/m1): {message} [request id req-42]"
    assert err.body == body if body != "" else err.body is None
    assert API_KEY not in str(err) and API_KEY not in repr(err.__dict__)


def test_errors_pickle_and_keep_their_fields(mock: responses.RequestsMock) -> None:
    mock.get(URL, status=404, json={"message": "nope"}, headers={"x-request-id": "r1"})
    with pytest.raises(NotFoundError) as info:
        Client(API_KEY).get_model("m1")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is NotFoundError and str(copy) == str(info.value) and copy.request_id == "r1"


def test_hierarchy() -> None:
    assert issubclass(mistral_lite.ValidationError, ValueError)
    assert issubclass(mistral_lite.APITimeoutError, mistral_lite.APIConnectionError)
    for cls in (BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError,
                UnprocessableEntityError, RateLimitError, InternalServerError):
        assert issubclass(cls, APIStatusError) and issubclass(cls, MistralError)


def test_non_json_success_body_is_a_clear_error(mock: responses.RequestsMock) -> None:
    mock.get(URL, body="<html>oops</html>", headers={"x-request-id": "r9"}, content_type="text/html")
    with pytest.raises(MistralError) as info:
        Client(API_KEY).get_model("m1")
    assert info.value.message == (
        "get_model: the server answered 200 with a body that is not JSON (text/html) for GET /v1/models/m1; "
        "is the base URL an API's? The body begins: '<html>oops</html>' [request id r9]")


def test_non_json_body_shows_200_characters_with_the_key_redacted(mock: responses.RequestsMock) -> None:
    page = "<!DOCTYPE html>\n<p>key " + API_KEY + "</p>" + "x" * 400
    mock.get(URL, body=page, content_type="text/html; charset=utf-8")
    with pytest.raises(MistralError) as info:
        Client(API_KEY).get_model("m1")
    message = info.value.message
    assert API_KEY not in message and "<p>key [redacted]</p>" in message
    shown = message.split("The body begins: ")[1]
    assert shown == repr(" ".join(page.replace(API_KEY, "[redacted]").split())[:200]) + "…"
    assert "(text/html; charset=utf-8)" in message


def test_transport_exceptions_never_escape(mock: responses.RequestsMock) -> None:
    import requests

    mock.get(URL, body=requests.exceptions.InvalidHeader("bad header"))
    mock.get(URL, body=requests.exceptions.ChunkedEncodingError("cut"))
    client = Client(API_KEY, retry=False)
    with pytest.raises(MistralError, match="could not be sent: InvalidHeader: bad header") as sent:
        client.get_model("m1")
    with pytest.raises(mistral_lite.APIConnectionError, match="ChunkedEncodingError: cut") as cut:
        client.get_model("m1")
    for err in (sent.value, cut.value):
        assert not isinstance(err, requests.RequestException)


@pytest.mark.parametrize("key", ["sk-SECRET\n-1234", "sk SECRET", "sk-SECRET\u2603"])
def test_a_key_http_cannot_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(MistralError) as info:
        Client(key)
    assert "SECRET" not in str(info.value) and "characters an HTTP header cannot carry" in str(info.value)


def test_trailing_newline_of_a_key_read_from_a_file_is_dropped(mock: responses.RequestsMock) -> None:
    mock.get(URL, json={"id": "m1"})
    Client(API_KEY + "\n").get_model("m1")
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nb"}, {"X-Num": 5}, {"X-Uni": "\u2603"}])
def test_bad_header_values_are_refused_before_any_io(headers: dict[str, object]) -> None:
    with pytest.raises(MistralError, match="must be a string of printable Latin-1"):
        Client(API_KEY, headers=headers)  # type: ignore[arg-type]
    with pytest.raises(mistral_lite.ValidationError, match="must be a string of printable Latin-1"):
        Client(API_KEY).get_model("m1", extra_headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, (5, 0)])
def test_bad_timeouts_are_refused(timeout: object) -> None:
    with pytest.raises(MistralError, match="seconds greater than 0"):
        Client(API_KEY, timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(mistral_lite.ValidationError, match="seconds greater than 0"):
        Client(API_KEY).get_model("m1", timeout=timeout)  # type: ignore[arg-type]
