"""Negative: an embedding is a list of floats, not of strings."""

from mistral_lite import Client

vector: list[str] = Client("key").embed(input="x")["data"][0]["embedding"]  # E: list[float]
