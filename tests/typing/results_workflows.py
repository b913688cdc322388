"""User-style code: ``call`` with positional path arguments, both clients' workflows typed per
row, a reply's message back into a typed history, ``run_tools`` results, and the overloads on
an option that picks the result's shape (``dry_run``)."""

from __future__ import annotations

import asyncio

from typing_extensions import assert_type

from mistral_lite import AsyncClient, Client
from mistral_lite.types import (
    BatchJob,
    ChatCompletionResponseWithMessages,
    ClassifierJobOut,
    CompletionJobOut,
    ContentChunk,
    FileSchema,
    LegacyJobMetadataOut,
    MessageParam,
)

client = Client("key")

# call: path arguments positional, in route order, typed like the method's
assert_type(client.call("get_model", "mistral-small-latest")["id"], str)
assert_type(client.call("get_model", model_id="mistral-small-latest")["id"], str)
assert_type(client.call("get_library_document", "lib", "doc")["id"], str)
assert_type(client.call("get_batch_job", "job"), BatchJob)

# a reply's message goes back into the history as it is
history: list[MessageParam] = [{"role": "user", "content": "Hi"}]
reply = client.chat(model="mistral-small-latest", messages=history)
history.append(reply["choices"][0]["message"])
history.append({"role": "user", "content": "And then?"})
client.chat(model="mistral-small-latest", messages=history)

# run_tools: the row's result plus the transcript
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


done = client.run_tools(model="mistral-small-latest", messages=history, tools=[get_weather])
assert_type(done, ChatCompletionResponseWithMessages)
assert_type(done["messages"], list[MessageParam])
assert_type(done["choices"][0]["message"]["content"], str | list[ContentChunk] | None)
history = done["messages"]

# dry_run picks the result's shape
job = client.create_fine_tuning_job(model="open-mistral-7b", hyperparameters={"learning_rate": 1e-4})
assert_type(job, CompletionJobOut | ClassifierJobOut)
assert_type(job["id"], str)
estimate = client.create_fine_tuning_job(model="open-mistral-7b", hyperparameters={}, dry_run=True)
assert_type(estimate, LegacyJobMetadataOut)
either = client.create_fine_tuning_job(model="open-mistral-7b", hyperparameters={}, dry_run=bool(history))
assert_type(either, CompletionJobOut | ClassifierJobOut | LegacyJobMetadataOut)


async def main() -> None:
    async with AsyncClient("key") as aclient:
        async for item in aclient.paginate("list_files", page_size=100):
            assert_type(item, FileSchema)
        batch = await aclient.wait("get_batch_job", job_id="j", timeout=60, interval=1)
        assert_type(batch, BatchJob)
        assert_type((await aclient.call("get_model", "m"))["id"], str)
        ran = await aclient.run_tools(model="m", messages=[{"role": "user", "content": "Hi"}], tools=[get_weather])
        assert_type(ran["messages"], list[MessageParam])
        turns: list[MessageParam] = []
        answer = await aclient.chat(model="m", messages=turns)
        turns.append(answer["choices"][0]["message"])


asyncio.run(main())
