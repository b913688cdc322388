"""Minimal valid options per operation, shared by the transport suites (path parameters as keywords)."""

from __future__ import annotations

from typing import Any

MSG = [{"role": "user", "content": "hi"}]
ARGS: dict[str, dict[str, Any]] = {
    "chat": {"model": "m", "messages": MSG},
    "fim": {"model": "m", "prompt": "def f():"},
    "agent_completion": {"agent_id": "ag_1", "messages": MSG},
    "embed": {"input": ["x"]},
    "classify": {"model": "m", "input": "x"},
    "classify_chat": {"model": "m", "input": [{"messages": MSG}]},
    "moderate": {"model": "m", "input": "x"},
    "moderate_chat": {"model": "m", "input": MSG},
    "ocr": {"model": "m", "document": {"type": "document_url", "document_url": "https://example.com/a.pdf"}},
    "list_models": {},
    "get_model": {"model_id": "model-a"},
    "get_agent_version": {"agent_id": "ag_1", "version": "3"},
    "delete_model": {"model_id": "model-a"},
    "get_file": {"file_id": "f1"},
    "delete_file": {"file_id": "f1"},
    "get_batch_job": {"job_id": "j1"},
    "create_or_update_agent_alias": {"agent_id": "ag_1", "alias": "prod", "version": 2},
    "unarchive_fine_tuned_model": {"model_id": "ft:a"},
    "delete_conversation": {"conversation_id": "c1"},
    "create_agent": {"model": "m", "name": "n"},
    "create_batch_job": {"endpoint": "/v1/chat/completions", "input_files": ["f1"]},
    "create_fine_tuning_job": {"model": "m", "hyperparameters": {"learning_rate": 0.0001}},
    "upload_file": {"file": ("a.jsonl", b"{}\n")},
    "create_conversation": {"inputs": "hi", "model": "m"},
    "append_conversation": {"conversation_id": "c1", "inputs": "more"},
    "restart_conversation": {"conversation_id": "c1", "from_entry_id": "e1", "inputs": "again"},
    "start_fine_tuning_job": {"job_id": "j1"},
    "cancel_fine_tuning_job": {"job_id": "j1"},
    "cancel_batch_job": {"job_id": "j1"},
    "archive_fine_tuned_model": {"model_id": "ft:a"},
    "update_agent": {"agent_id": "ag_1", "name": "n2"},
}

