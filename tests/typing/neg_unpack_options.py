"""Negative: the options each row's TypedDict declares (``**options: Unpack[...]`` in the stub)
are checked as named parameters were: a misspelled, missing or wrongly typed option is an error
in a method, its stream overloads, ``with_raw_response`` and the async client."""

from mistral_lite import AsyncClient, Client

client = Client("key")
client.embed(input="x", timeout="slow")  # E: timeout
client.embed()  # E: input
client.get_model(123)  # E: get_model
client.chat(model="m", messages=[], temperature="hot")  # E: chat
client.chat(model="m", messages=[], stream=True, temprature=0.2)  # E: chat
client.download_file("file-id", to=3)  # E: download_file
client.with_raw_response.embed(inptu="x")  # E: inptu
client.with_raw_response.list_models(timeout="slow")  # E: timeout


async def main(aclient: AsyncClient) -> None:
    await aclient.embed(inptu="x")  # E: inptu
    await aclient.with_raw_response.embed(input=3)  # E: embed
