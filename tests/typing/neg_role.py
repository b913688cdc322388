"""Negative: a role the API does not know is an error."""

from mistral_lite import Client

Client("key").chat(model="m", messages=[{"role": "usr", "content": "Hi"}])  # E: MessageParam
