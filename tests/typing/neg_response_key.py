"""Negative: a misspelled key of a result is an error."""

from mistral_lite import Client

reply = Client("key").chat(model="m", messages=[{"role": "user", "content": "Hi"}])
print(reply["choises"])  # E: choises
