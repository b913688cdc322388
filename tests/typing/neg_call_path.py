"""Negative: ``call``'s path arguments are typed (a model id is a string)."""

from mistral_lite import Client

client = Client("key")
client.call("get_model", 123)  # E: call
client.call("get_model", "m")["idd"]  # E: idd
