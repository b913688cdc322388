"""Negative: a misspelled option of an operation is an error."""

from mistral_lite import Client

Client("key").embed(inptu="x")  # E: inptu
