"""Negative: a stream is not the response dict."""

from mistral_lite import Client

stream = Client("key").chat(model="m", messages=[{"role": "user", "content": "Hi"}], stream=True)
print(stream["choices"])  # E: Stream[CompletionChunk]
