"""Bulk runs: one JSONL file of requests, live through a client or through the batch API, resumable."""
