"""Seed conformance: every operation of the seed, called through the real ``Client``.

Each case translates an example of the seed (the hexdocs of the Elixir ``mistral`` 0.5.0
library) into a Python call: path parameters positional or keyword, options as keywords. The
call goes through the real client against ``responses`` and two checks run on the recorded
request:

* ``test_seed_request``: the EXACT request (method, path, parsed query, JSON body or multipart
  parts, ``Authorization``/``Accept`` headers) and the decoded result;
* ``test_seed_request_matches_spec``: the same request against ``tests/data/openapi_extract.json``
  (a compact extract of Mistral's OpenAPI spec, written by ``tools/extract_openapi.py``): the
  path template, every query parameter declared (its value valid after type coercion), the
  required parameters present, and the JSON body valid against the spec's request schema
  (Draft 2020-12); for multipart, every part is a property of the spec's multipart schema.

The table-level tests at the end compare every row of ``endpoints.toml`` (and its option
schema) with the extract, so a row whose options would land in the wrong place is caught even
where no seed example exercises that option.

Nothing here reads outside the repository or touches the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import responses
from _conformance import (
    BODY_LENGTH,
    Case,
    Extract,
    TmpFile,
    case_params,
    check_against_spec,
    check_request,
    expect_rejected,
    json_case,
    run_case,
)

from mistral_lite import Client

SPEC = Extract(Path(__file__).parent / "data" / "openapi_extract.json")
EXTRACT: dict[str, Any] = SPEC.data
DEFS: dict[str, Any] = SPEC.defs


# The route of each seed function (shared/docs/endpoint-map.md, section 1), written out here
# so the expectation does not come from the table under test.
ROUTES: dict[str, tuple[str, str]] = {
    "agent_completion": ("POST", "/v1/agents/completions"),
    "append_conversation": ("POST", "/v1/conversations/{conversation_id}"),
    "archive_fine_tuned_model": ("POST", "/v1/fine_tuning/models/{model_id}/archive"),
    "cancel_batch_job": ("POST", "/v1/batch/jobs/{job_id}/cancel"),
    "cancel_fine_tuning_job": ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel"),
    "chat": ("POST", "/v1/chat/completions"),
    "classify": ("POST", "/v1/classifications"),
    "classify_chat": ("POST", "/v1/chat/classifications"),
    "create_agent": ("POST", "/v1/agents"),
    "create_batch_job": ("POST", "/v1/batch/jobs"),
    "create_conversation": ("POST", "/v1/conversations"),
    "create_fine_tuning_job": ("POST", "/v1/fine_tuning/jobs"),
    "create_or_update_agent_alias": ("PUT", "/v1/agents/{agent_id}/aliases"),
    "delete_agent": ("DELETE", "/v1/agents/{agent_id}"),
    "delete_conversation": ("DELETE", "/v1/conversations/{conversation_id}"),
    "delete_file": ("DELETE", "/v1/files/{file_id}"),
    "delete_model": ("DELETE", "/v1/models/{model_id}"),
    "download_file": ("GET", "/v1/files/{file_id}/content"),
    "embed": ("POST", "/v1/embeddings"),
    "fim": ("POST", "/v1/fim/completions"),
    "get_agent": ("GET", "/v1/agents/{agent_id}"),
    "get_agent_version": ("GET", "/v1/agents/{agent_id}/versions/{version}"),
    "get_batch_job": ("GET", "/v1/batch/jobs/{job_id}"),
    "get_conversation": ("GET", "/v1/conversations/{conversation_id}"),
    "get_conversation_history": ("GET", "/v1/conversations/{conversation_id}/history"),
    "get_conversation_messages": ("GET", "/v1/conversations/{conversation_id}/messages"),
    "get_file": ("GET", "/v1/files/{file_id}"),
    "get_file_url": ("GET", "/v1/files/{file_id}/url"),
    "get_fine_tuning_job": ("GET", "/v1/fine_tuning/jobs/{job_id}"),
    "get_model": ("GET", "/v1/models/{model_id}"),
    "list_agent_aliases": ("GET", "/v1/agents/{agent_id}/aliases"),
    "list_agent_versions": ("GET", "/v1/agents/{agent_id}/versions"),
    "list_agents": ("GET", "/v1/agents"),
    "list_batch_jobs": ("GET", "/v1/batch/jobs"),
    "list_conversations": ("GET", "/v1/conversations"),
    "list_files": ("GET", "/v1/files"),
    "list_fine_tuning_jobs": ("GET", "/v1/fine_tuning/jobs"),
    "list_models": ("GET", "/v1/models"),
    "moderate": ("POST", "/v1/moderations"),
    "moderate_chat": ("POST", "/v1/chat/moderations"),
    "ocr": ("POST", "/v1/ocr"),
    "restart_conversation": ("POST", "/v1/conversations/{conversation_id}/restart"),
    "start_fine_tuning_job": ("POST", "/v1/fine_tuning/jobs/{job_id}/start"),
    "unarchive_fine_tuned_model": ("DELETE", "/v1/fine_tuning/models/{model_id}/archive"),
    "update_agent": ("PATCH", "/v1/agents/{agent_id}"),
    "update_agent_version": ("PATCH", "/v1/agents/{agent_id}/version"),
    "update_fine_tuned_model": ("PATCH", "/v1/fine_tuning/models/{model_id}"),
    "upload_file": ("POST", "/v1/files"),
}

# --- response fixtures (small, in the API's response shapes) --------------------------------

FILE_ID = "00edaf84-95b0-45db-8f83-f71138491f23"
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


def chat_reply(content: str, model: str = "mistral-small-latest", **message: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "created": 1702256327,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": USAGE,
    }


TOOL_CALL_REPLY = chat_reply(
    "",
    model="mistral-large-latest",
    tool_calls=[{"id": "D681PevKs", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
)
CLASSIFY_REPLY = {
    "id": "mod-e5cc70bb28c444948073e77776eb30ef",
    "model": "mistral-moderation-latest",
    "results": [
        {
            "categories": {"sexual": False, "hate_and_discrimination": False, "violence_and_threats": False},
            "category_scores": {"sexual": 0.0001, "hate_and_discrimination": 0.0002, "violence_and_threats": 0.0001},
        }
    ],
}
CLASSIFY_REPLY_2 = {**CLASSIFY_REPLY, "results": CLASSIFY_REPLY["results"] * 2}
EMBED_REPLY = {
    "id": "embd-aad6fc62b17349b192ef09225058bc45",
    "object": "list",
    "model": "mistral-embed",
    "data": [{"object": "embedding", "index": 0, "embedding": [-0.0165, 0.0712, 0.0308]}],
    "usage": {"prompt_tokens": 6, "completion_tokens": 0, "total_tokens": 6},
}
EMBED_REPLY_2 = {**EMBED_REPLY, "data": [EMBED_REPLY["data"][0], {**EMBED_REPLY["data"][0], "index": 1}]}
FIM_REPLY = {
    "id": "447e3e0d457e42e98248b5d2ef52a2a3",
    "object": "chat.completion",
    "created": 1713887263,
    "model": "codestral-latest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "return a + b"}, "finish_reason": "stop"}],
    "usage": USAGE,
}
AGENT = {
    "id": "ag_abc123",
    "object": "agent",
    "name": "My Agent",
    "model": "mistral-large-latest",
    "instructions": "You are a helpful assistant.",
    "tools": [],
    "completion_args": {"tool_choice": "auto"},
    "handoffs": None,
    "description": None,
    "version": 1,
    "versions": [1],
    "created_at": "2025-05-26T12:00:00Z",
    "updated_at": "2025-05-26T12:00:00Z",
}
AGENT_V2 = {**AGENT, "version": 2, "versions": [1, 2]}
ALIAS = {
    "alias": "production",
    "version": 2,
    "created_at": "2025-05-26T12:00:00Z",
    "updated_at": "2025-05-26T12:05:00Z",
}
CONVERSATION_RESPONSE = {
    "object": "conversation.response",
    "conversation_id": "conv_abc123",
    "outputs": [
        {
            "object": "entry",
            "type": "message.output",
            "id": "msg_0681a1b2",
            "role": "assistant",
            "model": "mistral-medium-latest",
            "content": "Hello! How can I help?",
            "created_at": "2025-05-26T12:00:01Z",
            "completed_at": "2025-05-26T12:00:02Z",
        }
    ],
    "usage": {"prompt_tokens": 8, "completion_tokens": 7, "total_tokens": 15, "connector_tokens": None},
}
CONVERSATION = {
    "object": "conversation",
    "id": "conv_abc123",
    "model": "mistral-medium-latest",
    "instructions": None,
    "tools": [],
    "completion_args": {},
    "name": None,
    "description": None,
    "metadata": {},
    "created_at": "2025-05-26T12:00:00Z",
    "updated_at": "2025-05-26T12:00:02Z",
}
FILE = {
    "id": FILE_ID,
    "object": "file",
    "bytes": 3749788,
    "created_at": 1741023462,
    "filename": "test_document.pdf",
    "purpose": "ocr",
    "sample_type": "ocr_input",
    "source": "upload",
    "deleted": False,
    "num_lines": None,
    "mimetype": "application/pdf",
    "signature": None,
}
FILE_LIST = {"object": "list", "data": [FILE], "total": 1}
SIGNED_URL = {"url": "https://storage.googleapis.com/mistral-file-uploads/signed-url-example"}
BATCH_JOB = {
    "id": "b_abc123",
    "object": "batch",
    "input_files": ["7d8c1c36-5d6b-4a2d-9e4c-2b0d3f1e6a51"],
    "metadata": None,
    "endpoint": "/v1/chat/completions",
    "model": "mistral-small-latest",
    "agent_id": None,
    "output_file": None,
    "error_file": None,
    "errors": [],
    "status": "QUEUED",
    "created_at": 1741023462,
    "total_requests": 1,
    "completed_requests": 0,
    "succeeded_requests": 0,
    "failed_requests": 0,
    "started_at": None,
    "completed_at": None,
}
BATCH_LIST = {"object": "list", "data": [BATCH_JOB], "total": 1}
FT_JOB = {
    "id": "ft-abc123",
    "object": "job",
    "auto_start": False,
    "model": "open-mistral-7b",
    "status": "QUEUED",
    "job_type": "completion",
    "created_at": 1717170356,
    "modified_at": 1717170357,
    "training_files": ["e7a1a6f8-3d0e-4c38-8d0d-2f6a34f2a0e1"],
    "validation_files": [],
    "hyperparameters": {"training_steps": 10, "learning_rate": 0.0001},
    "fine_tuned_model": None,
    "suffix": None,
    "integrations": [],
    "trained_tokens": None,
    "metadata": None,
}
FT_LIST = {"object": "list", "data": [FT_JOB], "total": 1}
FT_DRY_RUN = {
    "object": "job.metadata",
    "expected_duration_seconds": 300,
    "cost": 0.02,
    "cost_currency": "EUR",
    "train_tokens_per_step": 131072,
    "train_tokens": 1310720,
    "data_tokens": 305375,
    "estimated_start_time": None,
}
MODEL_CARD = {
    "id": "mistral-small-latest",
    "object": "model",
    "created": 1711430400,
    "owned_by": "mistralai",
    "capabilities": {"completion_chat": True, "function_calling": True, "vision": False},
    "name": "Mistral Small",
    "type": "base",
}
FT_MODEL = {
    "id": "ft:open-mistral-7b:abc123",
    "object": "model",
    "created": 1717170356,
    "owned_by": "user",
    "root": "open-mistral-7b",
    "archived": False,
    "name": None,
    "description": None,
    "capabilities": {"completion_chat": True, "fine_tuning": False},
    "job": "ft-abc123",
    "type": "fine-tuned",
}
OCR_REPLY = {
    "pages": [
        {
            "index": 0,
            "markdown": "# Sample\n\nHello.",
            "images": [],
            "dimensions": {"dpi": 200, "height": 2200, "width": 1700},
        }
    ],
    "model": "mistral-ocr-2505",
    "document_annotation": None,
    "usage_info": {"pages_processed": 1, "doc_size_bytes": 3002},
}

CHAT_SSE = (
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Nature"},"finish_reason":null}]}\n\n'
    b'data: {"id":"cmpl-1","object":"chat.completion.chunk","created":1702256327,"model":"mistral-small-latest",'
    b'"choices":[{"index":0,"delta":{"content":"\'s whisper"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'
    b"data: [DONE]\n\n"
)
CHAT_CHUNKS = [
    {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1702256327,
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Nature"}, "finish_reason": None}],
    },
    {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1702256327,
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "delta": {"content": "'s whisper"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    },
]
CONVERSATION_SSE = (
    b"event: conversation.response.started\n"
    b'data: {"type":"conversation.response.started","conversation_id":"conv_abc123"}\n\n'
    b"event: message.output.delta\n"
    b'data: {"type":"message.output.delta","output_index":0,"id":"msg_1","content_index":0,'
    b'"model":"mistral-medium-latest","role":"assistant","content":"Hi"}\n\n'
    b"event: conversation.response.done\n"
    b'data: {"type":"conversation.response.done",'
    b'"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}\n\n'
)
CONVERSATION_EVENTS = [
    {"type": "conversation.response.started", "conversation_id": "conv_abc123"},
    {
        "type": "message.output.delta",
        "output_index": 0,
        "id": "msg_1",
        "content_index": 0,
        "model": "mistral-medium-latest",
        "role": "assistant",
        "content": "Hi",
    },
    {"type": "conversation.response.done", "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}},
]

# --- cases ---------------------------------------------------------------------------------

HAIKU = [{"role": "user", "content": "Write a haiku."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Fetches current weather",
        "parameters": {"type": "object", "properties": {}},
    },
}
USER_SCHEMA = {
    "type": "object",
    "title": "UserProfile",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "age": {"type": "integer", "title": "Age", "minimum": 0},
        "email": {"type": "string", "title": "Email"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
BBOX_SCHEMA = {
    "type": "object",
    "title": "BoundingBoxData",
    "properties": {
        "text": {"type": "string", "title": "Text"},
        "confidence": {"type": "number", "title": "Confidence", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}
DOC_SCHEMA = {
    "type": "object",
    "title": "DocumentInfo",
    "properties": {
        "title": {"type": "string", "title": "Title"},
        "summary": {"type": "string", "title": "Summary"},
        "total_pages": {"type": "integer", "title": "TotalPages"},
    },
    "additionalProperties": False,
}
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
TRAIN_FILE = "e7a1a6f8-3d0e-4c38-8d0d-2f6a34f2a0e1"
INPUT_FILE = "7d8c1c36-5d6b-4a2d-9e4c-2b0d3f1e6a51"


# ``json_case``: the keyword arguments are the whole JSON body, sent unchanged. ``Case`` spells the
# body out where it differs from them: a default filled in, an option sent in the query, a path
# parameter, multipart parts.
CASES: list[Case] = [
    # -- chat ---------------------------------------------------------------------------------
    json_case(
        "chat",
        "seed-haiku",
        "/v1/chat/completions",
        {"model": "mistral-small-latest", "messages": HAIKU},
        reply=chat_reply("Nature's whisper soft..."),
    ),
    json_case(
        "chat",
        "seed-usage-elixir-haiku",
        "/v1/chat/completions",
        {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Write a haiku about elixir"}],
        },
        reply=chat_reply("Golden drops of code"),
    ),
    json_case(
        "chat",
        "seed-tools-tool-choice",
        "/v1/chat/completions",
        {
            "model": "mistral-large-latest",
            "messages": [{"role": "user", "content": "What is the weather?"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
        },
        reply=TOOL_CALL_REPLY,
    ),
    json_case(
        "chat",
        "tool-round-trip-named-tool-choice",
        "/v1/chat/completions",
        {
            "model": "mistral-large-latest",
            "messages": [
                {"role": "user", "content": "What is the weather?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": TOOL_CALL_REPLY["choices"][0]["message"]["tool_calls"],
                },
                {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": "D681PevKs"},
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0.3,
            "max_tokens": 64,
            "random_seed": 7,
        },
        reply=chat_reply("It is 21 °C.", model="mistral-large-latest"),
    ),
    json_case(
        "chat",
        "seed-response-format-json-object",
        "/v1/chat/completions",
        {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Generate user data in JSON format"}],
            "response_format": {"type": "json_object"},
        },
        reply=chat_reply('{"name": "Ada", "age": 36}'),
    ),
    json_case(
        "chat",
        "seed-response-format-json-schema",
        "/v1/chat/completions",
        {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Generate a user profile"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "user_profile", "schema": USER_SCHEMA, "strict": True},
            },
        },
        reply=chat_reply('{"name": "Ada", "age": 36}'),
    ),
    json_case(
        "chat",
        "seed-stream",
        "/v1/chat/completions",
        {"model": "mistral-small-latest", "messages": HAIKU, "stream": True},
        raw=CHAT_SSE,
        content_type="text/event-stream",
        result=CHAT_CHUNKS,
        stream=True,
    ),
    json_case(
        "chat",
        "seed-defaults-sent-by-elixir",
        "/v1/chat/completions",
        {
            "model": "mistral-small-latest",
            "messages": HAIKU,
            "top_p": 1.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "safe_prompt": False,
        },
        reply=chat_reply("Nature's whisper soft..."),
    ),
    json_case(
        "chat",
        "stream-false-explicit",
        "/v1/chat/completions",
        {"model": "mistral-small-latest", "messages": HAIKU, "stream": False},
        reply=chat_reply("Nature's whisper soft..."),
    ),
    # -- fim ----------------------------------------------------------------------------------
    json_case(
        "fim",
        "seed-prompt",
        "/v1/fim/completions",
        {"model": "codestral-latest", "prompt": "def add(a, b):\n "},
        reply=FIM_REPLY,
    ),
    json_case(
        "fim",
        "seed-suffix",
        "/v1/fim/completions",
        {"model": "codestral-latest", "prompt": "def ", "suffix": "return a + b"},
        reply=FIM_REPLY,
    ),
    json_case(
        "fim",
        "seed-options",
        "/v1/fim/completions",
        {
            "model": "codestral-latest",
            "prompt": "def ",
            "suffix": "",
            "temperature": 0.2,
            "top_p": 1.0,
            "max_tokens": 32,
            "min_tokens": 1,
            "stop": "\n\n",
            "random_seed": 3,
        },
        reply=FIM_REPLY,
    ),
    json_case(
        "fim",
        "seed-stream",
        "/v1/fim/completions",
        {"model": "codestral-latest", "prompt": "def ", "stream": True},
        raw=CHAT_SSE,
        content_type="text/event-stream",
        result=CHAT_CHUNKS,
        stream=True,
    ),
    # -- agent_completion ---------------------------------------------------------------------
    json_case(
        "agent_completion",
        "seed",
        "/v1/agents/completions",
        {"agent_id": "ag_abc123", "messages": [{"role": "user", "content": "Hello!"}]},
        reply=chat_reply("Hi! How can I help?", model="mistral-large-latest"),
    ),
    json_case(
        "agent_completion",
        "seed-options",
        "/v1/agents/completions",
        {
            "agent_id": "ag_abc123",
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 100,
            "stop": ["\n\n"],
            "random_seed": 42,
            "response_format": {"type": "text"},
            "tools": [WEATHER_TOOL],
            "tool_choice": "any",
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "n": 1,
            "metadata": {"user": "u-1"},
        },
        reply=chat_reply("Hi!", model="mistral-large-latest"),
    ),
    json_case(
        "agent_completion",
        "seed-stream",
        "/v1/agents/completions",
        {"agent_id": "ag_abc123", "messages": [{"role": "user", "content": "Hello!"}], "stream": True},
        raw=CHAT_SSE,
        content_type="text/event-stream",
        result=CHAT_CHUNKS,
        stream=True,
    ),
    # -- embeddings, classifiers, moderation, OCR ---------------------------------------------
    Case(
        "embed",
        "seed-default-model",
        kwargs={"input": "Hello, world!"},
        path="/v1/embeddings",
        body={"input": "Hello, world!", "model": "mistral-embed"},
        reply=EMBED_REPLY,
    ),
    Case(
        "embed",
        "seed-list",
        kwargs={"input": ["First text", "Second text"]},
        path="/v1/embeddings",
        body={"input": ["First text", "Second text"], "model": "mistral-embed"},
        reply=EMBED_REPLY_2,
    ),
    json_case(
        "classify",
        "seed-text",
        "/v1/classifications",
        {"model": "mistral-moderation-latest", "input": "Hello, world!"},
        reply=CLASSIFY_REPLY,
    ),
    json_case(
        "classify",
        "seed-list",
        "/v1/classifications",
        {"model": "mistral-moderation-latest", "input": ["First text", "Second text"]},
        reply=CLASSIFY_REPLY_2,
    ),
    json_case(
        "classify_chat",
        "seed",
        "/v1/chat/classifications",
        {"model": "mistral-moderation-latest", "input": {"messages": [{"role": "user", "content": "Hello"}]}},
        reply=CLASSIFY_REPLY,
    ),
    json_case(
        "moderate",
        "seed-text",
        "/v1/moderations",
        {"model": "mistral-moderation-latest", "input": "Hello, world!"},
        reply=CLASSIFY_REPLY,
    ),
    json_case(
        "moderate",
        "seed-list",
        "/v1/moderations",
        {"model": "mistral-moderation-latest", "input": ["First text", "Second text"]},
        reply=CLASSIFY_REPLY_2,
    ),
    json_case(
        "moderate_chat",
        "seed",
        "/v1/chat/moderations",
        {"model": "mistral-moderation-latest", "input": [{"role": "user", "content": "Hello"}]},
        reply=CLASSIFY_REPLY,
    ),
    json_case(
        "ocr",
        "seed-document-url",
        "/v1/ocr",
        {
            "model": "mistral-ocr-latest",
            "document": {"type": "document_url", "document_url": "https://example.com/sample.pdf"},
        },
        reply=OCR_REPLY,
    ),
    json_case(
        "ocr",
        "seed-image-url",
        "/v1/ocr",
        {
            "model": "mistral-ocr-latest",
            "document": {"type": "image_url", "image_url": "https://example.com/sample.png"},
        },
        reply=OCR_REPLY,
    ),
    json_case(
        "ocr",
        "seed-bbox-annotation",
        "/v1/ocr",
        {
            "model": "mistral-ocr-latest",
            "document": {"type": "document_url", "document_url": "https://example.com/invoice.pdf"},
            "bbox_annotation_format": {
                "type": "json_schema",
                "json_schema": {"name": "bbox_data", "schema": BBOX_SCHEMA},
            },
        },
        reply=OCR_REPLY,
    ),
    json_case(
        "ocr",
        "seed-document-annotation-pages",
        "/v1/ocr",
        {
            "model": "mistral-ocr-latest",
            "document": {"type": "document_url", "document_url": "https://example.com/report.pdf"},
            "pages": [0, 1],
            "include_image_base64": False,
            "document_annotation_format": {
                "type": "json_schema",
                "json_schema": {"name": "document_info", "schema": DOC_SCHEMA},
            },
        },
        reply={**OCR_REPLY, "document_annotation": '{"title": "Report"}'},
    ),
    # -- models -------------------------------------------------------------------------------
    Case("list_models", "seed", path="/v1/models", reply={"object": "list", "data": [MODEL_CARD]}),
    Case(
        "list_models",
        "provider-model-query",
        kwargs={"provider": "mistralai", "model": "mistral-small-latest"},
        path="/v1/models",
        query={"provider": ["mistralai"], "model": ["mistral-small-latest"]},
        reply={"object": "list", "data": [MODEL_CARD]},
    ),
    Case("get_model", "seed", args=("mistral-small-latest",), path="/v1/models/mistral-small-latest", reply=MODEL_CARD),
    Case(
        "get_model",
        "keyword-path-param",
        kwargs={"model_id": "mistral-small-latest"},
        path="/v1/models/mistral-small-latest",
        reply=MODEL_CARD,
    ),
    Case(
        "delete_model",
        "seed",
        args=("ft:open-mistral-7b:abc123",),
        path="/v1/models/ft:open-mistral-7b:abc123",
        reply={"id": "ft:open-mistral-7b:abc123", "object": "model", "deleted": True},
    ),
    json_case(
        "update_fine_tuned_model",
        "seed",
        "/v1/fine_tuning/models/ft:open-mistral-7b:abc123",
        {"name": "My Model", "description": "A fine-tuned model"},
        args=("ft:open-mistral-7b:abc123",),
        reply={**FT_MODEL, "name": "My Model", "description": "A fine-tuned model"},
    ),
    Case(
        "archive_fine_tuned_model",
        "seed",
        args=("ft:open-mistral-7b:abc123",),
        path="/v1/fine_tuning/models/ft:open-mistral-7b:abc123/archive",
        reply={"id": "ft:open-mistral-7b:abc123", "object": "model", "archived": True},
    ),
    Case(
        "unarchive_fine_tuned_model",
        "seed",
        args=("ft:open-mistral-7b:abc123",),
        path="/v1/fine_tuning/models/ft:open-mistral-7b:abc123/archive",
        reply={"id": "ft:open-mistral-7b:abc123", "object": "model", "archived": False},
    ),
    # -- files --------------------------------------------------------------------------------
    Case(
        "upload_file",
        "seed-path",
        kwargs={"file": TmpFile("file.pdf", PDF), "purpose": "ocr"},
        path="/v1/files",
        parts={"purpose": (None, b"ocr"), "file": ("file.pdf", PDF)},
        reply={**FILE, "filename": "file.pdf"},
    ),
    Case(
        "upload_file",
        "tuple-filename-batch",
        kwargs={"file": ("requests.jsonl", b'{"custom_id":"0","body":{"messages":[]}}\n'), "purpose": "batch"},
        path="/v1/files",
        parts={"purpose": (None, b"batch"), "file": ("requests.jsonl", b'{"custom_id":"0","body":{"messages":[]}}\n')},
        reply={**FILE, "filename": "requests.jsonl", "purpose": "batch"},
    ),
    Case(
        "upload_file",
        "bytes-expiry-visibility",
        kwargs={"file": b"hello", "purpose": "fine-tune", "expiry": 24, "visibility": "user"},
        path="/v1/files",
        parts={
            "purpose": (None, b"fine-tune"),
            "expiry": (None, b"24"),
            "visibility": (None, b"user"),
            "file": ("upload.bin", b"hello"),
        },
        reply={**FILE, "filename": "upload.bin", "purpose": "fine-tune"},
    ),
    Case(
        "upload_file",
        "framing-headers",
        kwargs={"file": TmpFile("file.pdf", PDF), "purpose": "ocr"},
        path="/v1/files",
        parts={"purpose": (None, b"ocr"), "file": ("file.pdf", PDF)},
        reply={**FILE, "filename": "file.pdf"},
        # exactly one framing header: Content-Length and Transfer-Encoding together make the
        # server parse the raw multipart as chunks (RFC 9112 6.1); MultipartBody.tell() keeps
        # requests from adding "Transfer-Encoding: chunked" next to the client's Content-Length
        headers={"Content-Length": BODY_LENGTH, "Transfer-Encoding": None},
    ),
    Case("list_files", "seed", path="/v1/files", reply=FILE_LIST),
    Case(
        "list_files",
        "seed-purpose-page-size",
        kwargs={"purpose": "ocr", "page_size": 10},
        path="/v1/files",
        query={"purpose": ["ocr"], "page_size": ["10"]},
        reply=FILE_LIST,
    ),
    Case(
        "list_files",
        "array-filters",
        kwargs={
            "sample_type": ["pretrain", "instruct"],
            "source": ["upload", "repository"],
            "mimetypes": ["application/pdf", "application/jsonl"],
            "search": "train",
            "page": 2,
            "include_total": False,
        },
        path="/v1/files",
        query={
            "sample_type": ["pretrain", "instruct"],
            "source": ["upload", "repository"],
            "mimetypes": ["application/pdf", "application/jsonl"],
            "search": ["train"],
            "page": ["2"],
            "include_total": ["false"],
        },
        reply={"object": "list", "data": [], "total": 0},
    ),
    Case("get_file", "seed", args=(FILE_ID,), path=f"/v1/files/{FILE_ID}", reply=FILE),
    Case(
        "delete_file",
        "path-param-percent-encoded",
        args=("../x y?#",),
        path="/v1/files/..%2Fx%20y%3F%23",
        reply={"id": "../x y?#", "object": "file", "deleted": True},
    ),
    Case(
        "delete_file",
        "seed",
        args=("file-abc123",),
        path="/v1/files/file-abc123",
        reply={"id": "file-abc123", "object": "file", "deleted": True},
    ),
    Case(
        "download_file",
        "seed-bytes",
        args=("file-abc123",),
        path="/v1/files/file-abc123/content",
        raw=PDF,
        content_type="application/octet-stream",
        result=PDF,
    ),
    Case(
        "download_file",
        "binary-not-utf8",
        kwargs={"file_id": FILE_ID},
        path=f"/v1/files/{FILE_ID}/content",
        raw=bytes(range(256)),
        content_type="application/octet-stream",
        result=bytes(range(256)),
    ),
    Case("get_file_url", "seed", args=(FILE_ID,), path=f"/v1/files/{FILE_ID}/url", reply=SIGNED_URL),
    Case(
        "get_file_url",
        "seed-expiry",
        args=(FILE_ID,),
        kwargs={"expiry": 48},
        path=f"/v1/files/{FILE_ID}/url",
        query={"expiry": ["48"]},
        reply=SIGNED_URL,
    ),
    # -- batch --------------------------------------------------------------------------------
    json_case(
        "create_batch_job",
        "seed-input-files",
        "/v1/batch/jobs",
        {"endpoint": "/v1/chat/completions", "input_files": [INPUT_FILE]},
        reply=BATCH_JOB,
    ),
    json_case(
        "create_batch_job",
        "seed-inline-requests",
        "/v1/batch/jobs",
        {
            "endpoint": "/v1/chat/completions",
            "model": "mistral-small-latest",
            "requests": [{"custom_id": "req-1", "body": {"messages": [{"role": "user", "content": "Hello"}]}}],
        },
        reply={**BATCH_JOB, "input_files": []},
    ),
    json_case(
        "create_batch_job",
        "metadata-timeout",
        "/v1/batch/jobs",
        {
            "endpoint": "/v1/embeddings",
            "model": "mistral-embed",
            "input_files": [INPUT_FILE],
            "metadata": {"job": "nightly"},
            "timeout_hours": 24,
        },
        reply={**BATCH_JOB, "endpoint": "/v1/embeddings", "model": "mistral-embed", "metadata": {"job": "nightly"}},
    ),
    Case("list_batch_jobs", "seed", path="/v1/batch/jobs", reply=BATCH_LIST),
    Case(
        "list_batch_jobs",
        "seed-status-list",
        kwargs={"status": ["QUEUED", "RUNNING"], "model": "mistral-small-latest"},
        path="/v1/batch/jobs",
        query={"status": ["QUEUED", "RUNNING"], "model": ["mistral-small-latest"]},
        reply=BATCH_LIST,
    ),
    Case(
        "list_batch_jobs",
        "metadata-and-filters",
        kwargs={
            "metadata": {"team": "search", "run": "7"},
            "created_by_me": True,
            "order_by": "created",
            "created_after": "2025-01-01T00:00:00Z",
            "page": 1,
            "page_size": 50,
            "agent_id": "ag_abc123",
        },
        path="/v1/batch/jobs",
        query={
            "metadata": ['{"team":"search","run":"7"}'],
            "created_by_me": ["true"],
            "order_by": ["created"],
            "created_after": ["2025-01-01T00:00:00Z"],
            "page": ["1"],
            "page_size": ["50"],
            "agent_id": ["ag_abc123"],
        },
        reply={"object": "list", "data": [], "total": 0},
    ),
    Case("get_batch_job", "seed", args=("b_abc123",), path="/v1/batch/jobs/b_abc123", reply=BATCH_JOB),
    Case(
        "get_batch_job",
        "seed-inline",
        args=("b_abc123",),
        kwargs={"inline": True},
        path="/v1/batch/jobs/b_abc123",
        query={"inline": ["true"]},
        reply={**BATCH_JOB, "status": "SUCCESS", "outputs": [{"custom_id": "req-1", "response": {"status_code": 200}}]},
    ),
    Case(
        "cancel_batch_job",
        "seed",
        args=("b_abc123",),
        path="/v1/batch/jobs/b_abc123/cancel",
        reply={**BATCH_JOB, "status": "CANCELLATION_REQUESTED"},
    ),
    # -- fine-tuning --------------------------------------------------------------------------
    json_case(
        "create_fine_tuning_job",
        "seed",
        "/v1/fine_tuning/jobs",
        {
            "model": "open-mistral-7b",
            "hyperparameters": {"training_steps": 10},
            "training_files": [{"file_id": TRAIN_FILE}],
        },
        reply=FT_JOB,
    ),
    Case(
        "create_fine_tuning_job",
        "seed-dry-run-query",
        kwargs={"model": "open-mistral-7b", "hyperparameters": {"training_steps": 10}, "dry_run": True},
        path="/v1/fine_tuning/jobs",
        query={"dry_run": ["true"]},
        body={"model": "open-mistral-7b", "hyperparameters": {"training_steps": 10}},
        reply=FT_DRY_RUN,
    ),
    json_case(
        "create_fine_tuning_job",
        "seed-all-options",
        "/v1/fine_tuning/jobs",
        {
            "model": "open-mistral-7b",
            "hyperparameters": {"training_steps": 10, "learning_rate": 0.0001},
            "training_files": [{"file_id": TRAIN_FILE, "weight": 1.0}],
            "validation_files": [INPUT_FILE],
            "suffix": "my-great-model",
            "auto_start": False,
            "invalid_sample_skip_percentage": 0.0,
            "job_type": "completion",
            "integrations": [{"type": "wandb", "project": "my-project", "name": "run-1", "api_key": "a" * 40}],
        },
        reply=FT_JOB,
    ),
    Case("list_fine_tuning_jobs", "seed", path="/v1/fine_tuning/jobs", reply=FT_LIST),
    Case(
        "list_fine_tuning_jobs",
        "seed-status-model",
        kwargs={"status": "RUNNING", "model": "open-mistral-7b"},
        path="/v1/fine_tuning/jobs",
        query={"status": ["RUNNING"], "model": ["open-mistral-7b"]},
        reply={**FT_LIST, "data": [{**FT_JOB, "status": "RUNNING"}]},
    ),
    Case(
        "list_fine_tuning_jobs",
        "seed-all-filters",
        kwargs={
            "page": 0,
            "page_size": 20,
            "created_after": "2025-01-01T00:00:00Z",
            "created_before": "2025-02-01T00:00:00Z",
            "created_by_me": True,
            "wandb_project": "my-project",
            "wandb_name": "run-1",
            "suffix": "my-great-model",
        },
        path="/v1/fine_tuning/jobs",
        query={
            "page": ["0"],
            "page_size": ["20"],
            "created_after": ["2025-01-01T00:00:00Z"],
            "created_before": ["2025-02-01T00:00:00Z"],
            "created_by_me": ["true"],
            "wandb_project": ["my-project"],
            "wandb_name": ["run-1"],
            "suffix": ["my-great-model"],
        },
        reply={"object": "list", "data": [], "total": 0},
    ),
    Case("get_fine_tuning_job", "seed", args=("ft-abc123",), path="/v1/fine_tuning/jobs/ft-abc123", reply=FT_JOB),
    Case(
        "start_fine_tuning_job",
        "seed",
        args=("ft-abc123",),
        path="/v1/fine_tuning/jobs/ft-abc123/start",
        reply={**FT_JOB, "status": "STARTED"},
    ),
    Case(
        "cancel_fine_tuning_job",
        "seed",
        args=("ft-abc123",),
        path="/v1/fine_tuning/jobs/ft-abc123/cancel",
        reply={**FT_JOB, "status": "CANCELLATION_REQUESTED"},
    ),
    # -- agents -------------------------------------------------------------------------------
    json_case(
        "create_agent",
        "seed",
        "/v1/agents",
        {"model": "mistral-large-latest", "name": "My Agent", "instructions": "You are a helpful assistant."},
        reply=AGENT,
    ),
    json_case(
        "create_agent",
        "tools-completion-args",
        "/v1/agents",
        {
            "model": "mistral-large-latest",
            "name": "Weather",
            "tools": [WEATHER_TOOL, {"type": "web_search"}],
            "completion_args": {"temperature": 0.2, "tool_choice": "auto"},
            "handoffs": ["ag_other"],
            "description": "Answers weather questions",
            "metadata": {"team": "demo"},
        },
        reply={**AGENT, "name": "Weather"},
    ),
    Case("list_agents", "seed", path="/v1/agents", reply=[AGENT]),
    Case(
        "list_agents",
        "seed-page",
        kwargs={"page": 0, "page_size": 10},
        path="/v1/agents",
        query={"page": ["0"], "page_size": ["10"]},
        reply=[AGENT],
    ),
    Case(
        "list_agents",
        "sources-list-metadata",
        kwargs={
            "sources": ["api", "playground"],
            "deployment_chat": True,
            "name": "My Agent",
            "metadata": {"team": "demo"},
            "search": "agent",
            "id": "ag_abc123",
        },
        path="/v1/agents",
        query={
            "sources": ["api", "playground"],
            "deployment_chat": ["true"],
            "name": ["My Agent"],
            "metadata": ['{"team":"demo"}'],
            "search": ["agent"],
            "id": ["ag_abc123"],
        },
        reply=[],
    ),
    Case("get_agent", "seed", args=("ag_abc123",), path="/v1/agents/ag_abc123", reply=AGENT),
    Case(
        "get_agent",
        "seed-agent-version",
        args=("ag_abc123",),
        kwargs={"agent_version": 2},
        path="/v1/agents/ag_abc123",
        query={"agent_version": ["2"]},
        reply=AGENT_V2,
    ),
    Case(
        "get_agent",
        "agent-version-alias",
        kwargs={"agent_id": "ag_abc123", "agent_version": "production"},
        path="/v1/agents/ag_abc123",
        query={"agent_version": ["production"]},
        reply=AGENT_V2,
    ),
    json_case(
        "update_agent",
        "seed",
        "/v1/agents/ag_abc123",
        {"name": "Updated Agent", "instructions": "New instructions."},
        args=("ag_abc123",),
        reply={**AGENT_V2, "name": "Updated Agent", "instructions": "New instructions."},
    ),
    Case(
        "update_agent",
        "seed-options",
        kwargs={
            "agent_id": "ag_abc123",
            "model": "mistral-medium-latest",
            "deployment_chat": True,
            "handoffs": ["ag_other"],
            "completion_args": {"max_tokens": 200, "stop": "END"},
        },
        path="/v1/agents/ag_abc123",
        body={
            "model": "mistral-medium-latest",
            "deployment_chat": True,
            "handoffs": ["ag_other"],
            "completion_args": {"max_tokens": 200, "stop": "END"},
        },
        reply={**AGENT_V2, "model": "mistral-medium-latest"},
    ),
    Case("delete_agent", "seed-204", args=("ag_abc123",), path="/v1/agents/ag_abc123", raw=b"", status=204, result={}),
    Case("get_agent_version", "seed", args=("ag_abc123", 2), path="/v1/agents/ag_abc123/versions/2", reply=AGENT_V2),
    Case(
        "get_agent_version",
        "keywords",
        kwargs={"agent_id": "ag_abc123", "version": "2"},
        path="/v1/agents/ag_abc123/versions/2",
        reply=AGENT_V2,
    ),
    Case(
        "list_agent_versions",
        "seed-bare-array",
        args=("ag_abc123",),
        path="/v1/agents/ag_abc123/versions",
        reply=[AGENT, AGENT_V2],
    ),
    Case(
        "list_agent_versions",
        "page",
        args=("ag_abc123",),
        kwargs={"page": 1, "page_size": 5},
        path="/v1/agents/ag_abc123/versions",
        query={"page": ["1"], "page_size": ["5"]},
        reply=[],
    ),
    Case(
        "update_agent_version",
        "seed-version-query",
        args=("ag_abc123",),
        kwargs={"version": 2},
        path="/v1/agents/ag_abc123/version",
        query={"version": ["2"]},
        reply=AGENT_V2,
    ),
    Case(
        "create_or_update_agent_alias",
        "seed-query",
        args=("ag_abc123",),
        kwargs={"alias": "production", "version": 2},
        path="/v1/agents/ag_abc123/aliases",
        query={"alias": ["production"], "version": ["2"]},
        reply=ALIAS,
    ),
    Case(
        "create_or_update_agent_alias",
        "keywords",
        kwargs={"agent_id": "ag_abc123", "alias": "staging-2", "version": 1},
        path="/v1/agents/ag_abc123/aliases",
        query={"alias": ["staging-2"], "version": ["1"]},
        reply={**ALIAS, "alias": "staging-2", "version": 1},
    ),
    Case(
        "list_agent_aliases",
        "seed-bare-array",
        args=("ag_abc123",),
        path="/v1/agents/ag_abc123/aliases",
        reply=[ALIAS, {**ALIAS, "alias": "staging", "version": 1}],
    ),
    # -- conversations ------------------------------------------------------------------------
    json_case("create_conversation", "seed", "/v1/conversations", {"inputs": "Hello!"}, reply=CONVERSATION_RESPONSE),
    json_case(
        "create_conversation",
        "seed-stream",
        "/v1/conversations",
        {"inputs": "Hello!", "stream": True},
        raw=CONVERSATION_SSE,
        content_type="text/event-stream",
        result=CONVERSATION_EVENTS,
        stream=True,
    ),
    json_case(
        "create_conversation",
        "agent-entries",
        "/v1/conversations",
        {
            "agent_id": "ag_abc123",
            "agent_version": 2,
            "store": False,
            "handoff_execution": "client",
            "inputs": [{"role": "user", "content": "Hello!"}],
            "name": "greeting",
            "metadata": {"k": "v"},
        },
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "create_conversation",
        "stream-false-explicit",
        "/v1/conversations",
        {"inputs": "Hello!", "stream": False},
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "create_conversation",
        "model-tools-instructions",
        "/v1/conversations",
        {
            "model": "mistral-medium-latest",
            "inputs": "Weather in Paris?",
            "instructions": "Be brief.",
            "tools": [{"type": "web_search"}, WEATHER_TOOL],
            "completion_args": {"temperature": 0.1},
            "description": "demo",
        },
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "append_conversation",
        "seed",
        "/v1/conversations/conv_abc123",
        {"inputs": "Follow up question"},
        args=("conv_abc123",),
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "append_conversation",
        "seed-stream",
        "/v1/conversations/conv_abc123",
        {"inputs": "Follow up", "stream": True},
        args=("conv_abc123",),
        raw=CONVERSATION_SSE,
        content_type="text/event-stream",
        result=CONVERSATION_EVENTS,
        stream=True,
    ),
    json_case(
        "append_conversation",
        "elixir-defaults",
        "/v1/conversations/conv_abc123",
        {
            "inputs": "Follow up question",
            "store": True,
            "handoff_execution": "server",
            "completion_args": {"temperature": 0.5},
        },
        args=("conv_abc123",),
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "restart_conversation",
        "seed",
        "/v1/conversations/conv_abc123/restart",
        {"inputs": "Try again", "from_entry_id": "entry_xyz789"},
        args=("conv_abc123",),
        reply=CONVERSATION_RESPONSE,
    ),
    json_case(
        "restart_conversation",
        "seed-stream",
        "/v1/conversations/conv_abc123/restart",
        {"inputs": "Try again", "from_entry_id": "entry_xyz789", "stream": True},
        args=("conv_abc123",),
        raw=CONVERSATION_SSE,
        content_type="text/event-stream",
        result=CONVERSATION_EVENTS,
        stream=True,
    ),
    Case("list_conversations", "seed-bare-array", path="/v1/conversations", reply=[CONVERSATION]),
    Case(
        "list_conversations",
        "seed-page",
        kwargs={"page": 0, "page_size": 10},
        path="/v1/conversations",
        query={"page": ["0"], "page_size": ["10"]},
        reply=[CONVERSATION],
    ),
    Case(
        "list_conversations",
        "metadata",
        kwargs={"metadata": {"k": "v"}},
        path="/v1/conversations",
        query={"metadata": ['{"k":"v"}']},
        reply=[],
    ),
    Case("get_conversation", "seed", args=("conv_abc123",), path="/v1/conversations/conv_abc123", reply=CONVERSATION),
    Case(
        "get_conversation_history",
        "seed",
        args=("conv_abc123",),
        path="/v1/conversations/conv_abc123/history",
        reply={
            "object": "conversation.history",
            "conversation_id": "conv_abc123",
            "entries": [
                {
                    "object": "entry",
                    "type": "message.input",
                    "id": "msg_in",
                    "role": "user",
                    "content": "Hello!",
                    "created_at": "2025-05-26T12:00:00Z",
                }
            ],
        },
    ),
    Case(
        "get_conversation_messages",
        "seed",
        args=("conv_abc123",),
        path="/v1/conversations/conv_abc123/messages",
        reply={
            "object": "conversation.messages",
            "conversation_id": "conv_abc123",
            "messages": [
                {
                    "object": "entry",
                    "type": "message.input",
                    "id": "msg_in",
                    "role": "user",
                    "content": "Hello!",
                    "created_at": "2025-05-26T12:00:00Z",
                }
            ],
        },
    ),
    Case(
        "delete_conversation",
        "seed-204",
        args=("conv_abc123",),
        path="/v1/conversations/conv_abc123",
        raw=b"",
        status=204,
        result={},
    ),
]


# --- 1. the exact request ------------------------------------------------------------------


@pytest.mark.parametrize("case", case_params(CASES, "request"))
def test_seed_request(case: Case, client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    method = ROUTES[case.op][0]
    request, result = run_case(case, method, client, mock, tmp_path)
    check_request(case, method, request, result)


# --- 2. the same request against the OpenAPI extract ---------------------------------------


@pytest.mark.parametrize("case", case_params(CASES, "spec"))
def test_seed_request_matches_spec(case: Case, client: Client, mock: responses.RequestsMock, tmp_path: Path) -> None:
    request, _ = run_case(case, ROUTES[case.op][0], client, mock, tmp_path)
    check_against_spec(SPEC, case.op, request, stream=case.stream)


# The checker itself must not be vacuous: requests the spec rejects, sent through the client's
# ``extra_body`` / ``extra_query`` escape hatches (merged after validation), must fail it.
BAD_REQUESTS = [
    pytest.param(
        "chat",
        (),
        {"model": "mistral-small-latest", "messages": HAIKU, "extra_body": {"safe_mode": True}},
        "Additional properties",
        id="chat-unknown-body-field",
    ),
    pytest.param(
        "chat",
        (),
        {"model": "mistral-small-latest", "messages": HAIKU, "extra_body": {"temperature": 3}},
        "temperature: 3 is not valid",
        id="chat-temperature-out-of-range",
    ),
    pytest.param(
        "list_files",
        (),
        {"extra_query": {"purpose": "training"}},
        "does not validate",
        id="list_files-purpose-not-in-enum",
    ),
    pytest.param(
        "list_batch_jobs",
        (),
        {"extra_query": {"status": ["QUEUED", "DONE"]}},
        "does not validate",
        id="list_batch_jobs-unknown-status",
    ),
    pytest.param(
        "get_file_url", (FILE_ID,), {"extra_query": {"expires": 3}}, "not declared", id="get_file_url-undeclared-query"
    ),
    pytest.param(
        "get_file_url",
        (FILE_ID,),
        {"extra_query": {"expiry": "soon"}},
        "does not validate",
        id="get_file_url-expiry-not-integer",
    ),
    pytest.param(
        "update_agent_version",
        ("ag_abc123",),
        {"version": 2, "extra_body": {"version": 2}},
        "takes no request body",
        id="update_agent_version-body",
    ),
    pytest.param(
        "embed", (), {"input": "x", "extra_body": {"model": None}}, "None is not of type", id="embed-null-model"
    ),
]


@pytest.mark.parametrize(("operation", "args", "kwargs", "message"), BAD_REQUESTS)
def test_spec_checker_rejects_bad_requests(
    operation: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
    client: Client,
    mock: responses.RequestsMock,
) -> None:
    expect_rejected(SPEC, operation, ROUTES[operation][0], args, kwargs, message, client, mock)


def test_every_operation_has_a_case(client: Client) -> None:
    covered = {case.op for case in CASES}
    # the 48 seed operations; rows beyond the seed are covered by test_extra_operations.py
    assert set(ROUTES) == set(EXTRACT["operations"]) == covered
    assert set(ROUTES) <= set(client.operations)
    assert len(ROUTES) == 48
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"


# --- 3. every row of the table against the extract -----------------------------------------


def _body_properties(schema: Any, seen: int = 0) -> set[str] | None:
    """The property names a body schema accepts (None: any, e.g. additionalProperties)."""
    if seen > 20 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return _body_properties(DEFS[schema["$ref"].rsplit("/", 1)[1]], seen + 1)
    names: set[str] = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        more = _body_properties(part, seen + 1)
        if more is None:
            return None
        names |= more
    if "anyOf" in schema or "oneOf" in schema:
        return None
    return names


TABLE_BUGS: dict[str, str] = {}

# Body fields the option schemas take from the newest public spec (openapi-public-doc.yaml,
# 2026-08-13) that the extract's spec (openapi.yaml, 2026-07-15) does not list yet. Both
# request schemas have additionalProperties: false in the older spec, so these are only
# accepted by a server at least as new as the newer spec; they are never sent unless given.
NEWER_SPEC_FIELDS: dict[str, set[str]] = {
    "agent_completion": {"guardrails", "service_tier"},
    "chat": {"service_tier"},
}


def _table_params() -> list[Any]:
    return [
        pytest.param(
            name, id=name, marks=[pytest.mark.xfail(strict=True, reason=TABLE_BUGS[name])] if name in TABLE_BUGS else []
        )
        for name in sorted(ROUTES)
    ]


@pytest.mark.parametrize("name", _table_params())
def test_table_row_matches_spec(name: str, client: Client) -> None:
    endpoint = client.operations[name]
    op = EXTRACT["operations"][name]
    assert (endpoint.method, endpoint.path) == (op["method"], op["path"]) == ROUTES[name]
    spec_path = sorted(p["name"] for p in op["parameters"] if p["in"] == "path")
    spec_query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    assert sorted(endpoint.path_params) == spec_path
    assert set(endpoint.query) <= spec_query, f"query options not in the spec: {set(endpoint.query) - spec_query}"
    required_query = {p["name"] for p in op["parameters"] if p["in"] == "query" and p["required"]}
    assert required_query <= set(endpoint.required), "a query parameter the spec requires is optional in the schema"
    body = [o for o in endpoint.body_options]
    spec_body = op["request_body"]
    if endpoint.body == "none":
        assert spec_body is None or not spec_body["required"], "the spec requires a body but the row sends none"
        return
    assert spec_body is not None, f"the row sends body options {body} but the spec has no request body"
    expected_type = "multipart/form-data" if endpoint.body == "multipart" else "application/json"
    assert spec_body["content_type"] == expected_type
    accepted = _body_properties(spec_body["schema"])
    if accepted is not None:
        unknown = set(body) - accepted - NEWER_SPEC_FIELDS.get(name, set())
        assert not (NEWER_SPEC_FIELDS.get(name, set()) & accepted), "the extract has caught up: drop the allowance"
        assert not unknown, f"body options the spec does not accept: {sorted(unknown)}"
    must = set(op["required"]["body"]) - {"stream"}
    optional = must - set(endpoint.required) - set(endpoint.fill)
    assert not optional, f"the spec requires {sorted(optional)} but the schema makes them optional"


# Enum values the option schemas take from the newest public spec (see NEWER_SPEC_FIELDS).
NEWER_SPEC_VALUES: dict[tuple[str, str], set[Any]] = {
    ("chat", "reasoning_effort"): {"minimal", "low", "medium", "xhigh"},
    ("agent_completion", "reasoning_effort"): {"minimal", "low", "medium", "xhigh"},
    ("ocr", "confidence_scores_granularity"): {"block"},
}


def _option_values(client: Client, schema: Any, current: str, depth: int = 0) -> list[Any]:
    """The enum/const values an option schema lists (arrays of them as one-item lists)."""
    schemas = client._spec.schemas
    while isinstance(schema, dict) and "$ref" in schema:
        file, _, pointer = schema["$ref"].partition("#")
        current = file or current
        schema = schemas[current]
        for part in [p for p in pointer.split("/") if p]:
            schema = schema[part]
    if depth > 3 or not isinstance(schema, dict):
        return []
    values = list(schema.get("enum", []))
    if "const" in schema:
        values.append(schema["const"])
    for key in ("anyOf", "oneOf"):
        for alternative in schema.get(key, []):
            values += _option_values(client, alternative, current, depth + 1)
    kinds = schema.get("type")
    if "items" in schema and (kinds == "array" or (isinstance(kinds, list) and "array" in kinds)):
        values += [[v] for v in _option_values(client, schema["items"], current, depth + 1)]
    return values


def _spec_option_schema(op: dict[str, Any], name: str) -> Any:
    for param in op["parameters"]:
        if param["name"] == name:
            return param["schema"]
    body = op["request_body"]
    if body is None:
        return None

    def props(schema: Any) -> dict[str, Any]:
        if "$ref" in schema:
            return props(DEFS[schema["$ref"].rsplit("/", 1)[1]])
        out = dict(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            out.update(props(part))
        return out

    return props(body["schema"]).get(name)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_table_enum_values_match_spec(name: str, client: Client) -> None:
    """Every enum/const value an option schema accepts is one the spec accepts too."""
    endpoint = client.operations[name]
    op = EXTRACT["operations"][name]
    rejected = []
    for option, schema in endpoint.options.items():
        spec_schema = _spec_option_schema(op, option)
        if spec_schema is None:
            continue
        allowed = NEWER_SPEC_VALUES.get((name, option), set())
        for value in _option_values(client, schema, endpoint.schema_name):
            if SPEC.errors(spec_schema, value) and not (isinstance(value, str) and value in allowed):
                rejected.append((option, value))
    assert not rejected, f"values the option schemas accept but the spec rejects: {rejected}"
