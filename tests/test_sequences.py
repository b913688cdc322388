"""Any sequence is accepted where an array is read (tuples, a user's Sequence) and sent as a JSON array."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, overload
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import BASE

from mistral_lite import Client, ValidationError
from mistral_lite._core.inputs import is_array
from mistral_lite._core.jsoncodec import canonical, dumps

REPLY = {"id": "c", "object": "chat.completion", "model": "m", "created": 1, "choices": [], "usage": {}}


class Rows(Sequence[Any]):
    """A read-only sequence that is neither a list nor a tuple."""

    def __init__(self, *items: Any) -> None:
        self._items = items

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)


def test_is_array() -> None:
    assert is_array([]) and is_array(()) and is_array(Rows(1)) and is_array(range(2))
    assert not any(is_array(v) for v in ("ab", b"ab", bytearray(b"a"), memoryview(b"a"), {"a": 1}, 1, None))
    assert dumps({"a": Rows(1, (2, 3))}) == b'{"a":[1,[2,3]]}'
    assert canonical({"b": Rows("x"), "a": (1,)}) == canonical({"a": [1], "b": ["x"]})


@pytest.mark.parametrize("kind", [lambda *items: tuple(items), Rows], ids=["tuple", "sequence"])
def test_messages_as_a_sequence_are_sent_as_an_array(client: Client, mock: responses.RequestsMock, kind: Any) -> None:
    mock.post(f"{BASE}/v1/chat/completions", json=REPLY)
    content = kind({"type": "text", "text": "hi"})
    messages = kind({"role": "system", "content": "terse"}, {"role": "user", "content": content})
    assert client.chat(model="m", messages=messages, stop=kind("x", "y")) == REPLY
    assert json.loads(mock.calls[0].request.body) == {
        "model": "m", "stop": ["x", "y"],
        "messages": [{"role": "system", "content": "terse"},
                     {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


def test_a_sequence_in_the_query_repeats_the_key(client: Client, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/v1/batch/jobs", json={"object": "list", "data": [], "total": 0})
    client.list_batch_jobs(status=Rows("QUEUED", "RUNNING"))
    assert parse_qs(urlsplit(mock.calls[0].request.url).query) == {"status": ["QUEUED", "RUNNING"]}


def test_a_bad_item_inside_a_tuple_is_reported_with_its_path(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        client.chat(model="m", messages=({"role": "user", "content": "a"}, {"role": "usr", "content": "b"}))
    assert any(path.startswith("messages[1]") for path, _ in info.value.errors), info.value.errors


def test_text_is_not_an_array(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        client.embed(input=b"bytes are not a list of texts")
    assert {path for path, _ in info.value.errors} == {"input"}
    with pytest.raises(ValidationError):
        client.chat(model="m", messages=())  # still at least one message
