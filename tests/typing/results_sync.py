"""User-style code against the synchronous client: typed results, streams and workflows."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from typing_extensions import assert_type

from mistral_lite import Client, Stream, collect_completion
from mistral_lite.types import (
    BatchJob,
    ChatCompletionResponse,
    CompletionChunk,
    ContentChunk,
    CreateFileResponse,
    EmbeddingResponse,
    FileSchema,
    MessageParam,
)

client = Client("key")
messages: list[MessageParam] = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Hello"},
]

reply = client.chat(model="mistral-small-latest", messages=messages)
assert_type(reply, ChatCompletionResponse)
assert_type(reply["choices"][0]["message"]["content"], str | list[ContentChunk] | None)
assert_type(reply["usage"]["total_tokens"], int)
assert_type(reply["choices"][0]["finish_reason"], Literal["stop", "length", "model_length", "error", "tool_calls"])

same = client.call("chat", model="m", messages=({"role": "user", "content": "a tuple works"},))
assert_type(same, ChatCompletionResponse)

with client.chat(model="m", messages=messages, stream=True) as stream:
    assert_type(stream, Stream[CompletionChunk])
    for chunk in stream:
        assert_type(chunk, CompletionChunk)
        assert_type(chunk["choices"][0]["delta"]["content"], str | list[ContentChunk] | None)

streamed = client.call("chat", model="m", messages=messages, stream=True)
assert_type(collect_completion(streamed), ChatCompletionResponse)

embedding = client.embed(input=["a", "b"])
assert_type(embedding, EmbeddingResponse)
assert_type(embedding["data"][0]["embedding"], list[float])

models = client.list_models()
assert_type(models["data"][0]["id"], str)
assert_type(client.get_model("mistral-small-latest")["id"], str)

uploaded = client.upload_file(file="train.jsonl", purpose="fine-tune")
assert_type(uploaded, CreateFileResponse)
assert_type(uploaded["id"], str)
assert_type(client.download_file(uploaded["id"]), bytes)
assert_type(client.download_file(uploaded["id"], to="copy.jsonl"), Path)

for item in client.paginate("list_files", page_size=100):
    assert_type(item, FileSchema)
    assert_type(item["id"], str)

job = client.wait("get_batch_job", job_id="j", timeout=60, on_progress=lambda j: print(j["status"]))
assert_type(job, BatchJob)

future = client.submit("embed", input="hello")
assert_type(future, Future[EmbeddingResponse])
answers = client.map("chat", [{"model": "m", "messages": messages}], return_exceptions=False)
assert_type(answers, list[ChatCompletionResponse])
assert_type(client.map("embed", [{"input": "a"}]), list[EmbeddingResponse | BaseException])

conversation = client.create_conversation(inputs="Hi", model="mistral-small-latest")
outputs = conversation["outputs"]
for entry in outputs:
    if entry["type"] == "message.output":
        print(entry["content"])

for event in client.create_conversation(inputs="Hi", model="m", stream=True):
    if event["type"] == "message.output.delta":
        print(event["content"])

deleted = client.delete_conversation("c")
assert_type(deleted, dict[str, Any])
