"""The SSE parser and the stream objects, on bytes (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from conftest import BASE

from mistral_lite import APIConnectionError, Client, StreamError, collect_completion
from mistral_lite._http.stream import SSEParser, iter_sse

EVENTS = (
    b": keep-alive comment\n"
    b"data: {\"a\": 1}\n\n"
    b"event: message.output.delta\n"
    b"data: {\"b\": 2}\n\n"
    b"id: 7\nretry: 1000\n"
    b"data: line one\n"
    b"data: line two\n\n"
    b"data:no-space\n\n"
    b"event: only-a-name\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [(None, b'{"a": 1}'), ("message.output.delta", b'{"b": 2}'), (None, b"line one\nline two"),
            (None, b"no-space"), (None, b"[DONE]")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_parser_handles_every_line_ending(newline: bytes) -> None:
    data = EVENTS.replace(b"\n", newline)
    assert list(iter_sse([data])) == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_events_split_at_every_byte(newline: bytes) -> None:
    data = b"\xef\xbb\xbf" + EVENTS.replace(b"\n", newline)
    for cut in range(1, len(data)):
        assert list(iter_sse([data[:cut], data[cut:]])) == EXPECTED, cut
    assert list(iter_sse([bytes([b]) for b in data])) == EXPECTED


def test_bom_only_at_the_start() -> None:
    assert list(iter_sse([b"\xef\xbb", b"\xbfdata: x\n\n"])) == [(None, b"x")]
    assert list(iter_sse([b"data: \xef\xbb\xbfx\n\n"])) == [(None, b"\xef\xbb\xbfx")]


def test_unterminated_last_event_is_flushed() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\n\ndata: 2") == [(None, b"1")]
    assert parser.flush() == (None, b"2")


def sse(*events: Any, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    d = dict(delta)
    if content is not None:
        d["content"] = content
    return {"id": "c1", "model": "m", "created": 1, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_completion_stream_yields_chunks_until_done(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", body=sse(chunk("Hel", role="assistant"), chunk("lo", "stop")),
              content_type="text/event-stream", headers={"x-request-id": "s1"})
    stream = client.chat(**CHAT)
    assert stream.request_id == "s1"
    assert [c["choices"][0]["delta"]["content"] for c in stream] == ["Hel", "lo"]


def test_stream_without_done_is_a_cut(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", body=sse(chunk("a"), done=False), content_type="text/event-stream")
    stream = client.chat(**CHAT)
    assert next(stream)["choices"][0]["delta"]["content"] == "a"
    with pytest.raises(APIConnectionError, match=r"cut before its end \(\[DONE\] never came\)"):
        next(stream)


def test_malformed_event_shows_the_raw_data(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/chat/completions", body=b"data: {not json\n\n", content_type="text/event-stream")
    with pytest.raises(StreamError, match=r"malformed event data: '\{not json'"):
        list(client.chat(**CHAT))


def test_http_error_raises_at_call_time(client: Client, mock: responses.RequestsMock) -> None:
    from mistral_lite import BadRequestError

    mock.post(f"{BASE}/v1/chat/completions", status=400, json={"message": "bad model"})
    with pytest.raises(BadRequestError, match="bad model"):
        client.chat(**CHAT)


def conv(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(f"event: {t}\ndata: {json.dumps(d)}\n\n".encode() for t, d in events)


def test_conversation_stream_types_from_event_lines(client: Client, mock: responses.RequestsMock) -> None:
    body = conv(("conversation.response.started", {"conversation_id": "c1"}),
                ("message.output.delta", {"type": "message.output.delta", "content": "Hi"}),
                ("conversation.response.done", {"usage": {"total_tokens": 3}}))
    mock.post(f"{BASE}/v1/conversations", body=body, content_type="text/event-stream")
    events = list(client.create_conversation(inputs="hello", model="m", stream=True))
    assert [e["type"] for e in events] == ["conversation.response.started", "message.output.delta",
                                           "conversation.response.done"]
    assert events[0]["conversation_id"] == "c1" and events[2]["usage"] == {"total_tokens": 3}


def test_conversation_error_event_raises_with_the_event(client: Client, mock: responses.RequestsMock) -> None:
    body = conv(("conversation.response.started", {}),
                ("conversation.response.error", {"message": "tool crashed", "code": 3000}))
    mock.post(f"{BASE}/v1/conversations/c1", body=body, content_type="text/event-stream")
    stream = client.append_conversation("c1", inputs="x", stream=True)
    assert next(stream)["type"] == "conversation.response.started"
    with pytest.raises(StreamError, match="tool crashed") as info:
        next(stream)
    assert info.value.event == {"type": "conversation.response.error", "message": "tool crashed", "code": 3000}


def test_conversation_stream_cut_before_done(client: Client, mock: responses.RequestsMock) -> None:
    mock.post(f"{BASE}/v1/conversations/c1/restart",
              body=conv(("conversation.response.started", {})), content_type="text/event-stream")
    with pytest.raises(APIConnectionError, match="conversation.response.done never came"):
        list(client.restart_conversation("c1", from_entry_id="e1", stream=True))


def test_collect_completion_rebuilds_the_response() -> None:
    chunks = [
        chunk(role="assistant", content="The "),
        chunk("answer"),
        {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "t1", "function": {"name": "get_weather", "arguments": '{"ci'}}]}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}, "finish_reason": "tool_calls"}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    ]
    assert collect_completion(chunks) == {
        "object": "chat.completion", "id": "c1", "model": "m", "created": 1,
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "The answer",
            "tool_calls": [{"id": "t1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}],
    }


class _Chunks:
    """A stand-in response whose body arrives in exactly the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.headers: dict[str, str] = {}
        self.raw = object()  # no read1: the stream iterates iter_content
        self.closed = False

    def iter_content(self, size: int) -> Any:
        return iter(self.pieces)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n', b"data: [DONE]\n\n"], [{"a": 1}, {"b": 2}]),
        ([b'\xef\xbb\xbfdata: {"a": 1}\n\n', b"data: [DONE]\n\n"], [{"a": 1}]),
        ([b'data: {"a":\rdata: 1}\n\n', b"data: [DONE]\n\n"], [{"a": 1}]),  # CR ends a line: two data lines
        ([b'data: {"a": 1}\r', b'\n\r\ndata: {"b": 2}\n\n', b"data: [DONE]\n\n"], [{"a": 1}, {"b": 2}]),
        ([b'data: {"a"', b': 1}\n\n', b'data: {"b": 2}\n\ndata: [DONE]\n\n'], [{"a": 1}, {"b": 2}]),
        ([b': ping\n\n', b'data: {"a": 1}\n\n', b"data: [DONE]\n\n"], [{"a": 1}]),
    ],
)
def test_whole_event_chunks_and_split_ones_parse_alike(pieces: list[bytes], expected: list[Any]) -> None:
    from mistral_lite import Stream
    from mistral_lite._core.jsoncodec import decoder

    stream = Stream(_Chunks(pieces), kind="completion", operation="chat", loads=decoder())
    assert list(stream) == expected
