"""A typed multi-turn history: every kind of reply message goes back in as a ``MessageParam``
(plain, streamed and collected, parsed into a TypedDict or a dataclass, run_tools), sync and
async, with no cast; review round 3."""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import TypedDict, assert_type

from mistral_lite import AsyncClient, Client, acollect_completion, collect_completion
from mistral_lite.types import ContentChunk, MessageParam


class Answer(TypedDict):
    city: str


@dataclass
class Point:
    x: int


def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


client = Client("key")
history: list[MessageParam] = [{"role": "user", "content": "Hi"}]
reply = client.chat(model="m", messages=history)
history.append(reply["choices"][0]["message"])
history.append({"role": "user", "content": "more"})
history.append(client.call("chat", model="m", messages=history)["choices"][0]["message"])
history.append(collect_completion(client.chat(model="m", messages=history, stream=True))["choices"][0]["message"])

parsed = client.chat(model="m", messages=history, response_format=Answer)
assert_type(parsed["choices"][0]["message"]["parsed"], Answer | None)
assert_type(parsed["choices"][0]["message"]["content"], str | list[ContentChunk] | None)
history.append(parsed["choices"][0]["message"])
as_point = client.chat(model="m", messages=history, response_format=Point)
assert_type(as_point["choices"][0]["message"]["parsed"], Point | None)
history.append(as_point["choices"][0]["message"])

result = client.run_tools(model="m", messages=history, tools=[get_weather])
assert_type(result["messages"], list[MessageParam])
assert_type(result["choices"][0]["message"]["content"], str | list[ContentChunk] | None)
history.extend(result["messages"])
history.append(result["choices"][0]["message"])


async def main(aclient: AsyncClient) -> None:
    turns: list[MessageParam] = [{"role": "user", "content": "Hi"}]
    turns.append((await aclient.chat(model="m", messages=turns))["choices"][0]["message"])
    stream = await aclient.chat(model="m", messages=turns, stream=True)
    turns.append((await acollect_completion(stream))["choices"][0]["message"])
    answer = await aclient.chat(model="m", messages=turns, response_format=Answer)
    assert_type(answer["choices"][0]["message"]["parsed"], Answer | None)
    turns.append(answer["choices"][0]["message"])
    done = await aclient.run_tools(model="m", messages=turns, tools=[get_weather])
    assert_type(done["messages"], list[MessageParam])
    turns.extend(done["messages"])
    turns.append(done["choices"][0]["message"])
