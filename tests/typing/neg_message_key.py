"""Negative: a misspelled key inside a message is an error."""

from mistral_lite import Client

Client("key").chat(model="m", messages=[{"role": "user", "contnet": "Hi"}])  # E: MessageParam
