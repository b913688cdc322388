"""The fake's model catalogue: today's families with their capabilities, and images only for
models with vision."""

from __future__ import annotations

from typing import Any

import pytest

from mistral_lite import BadRequestError, Client
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.models import capabilities_of, find_model

IMAGE = "https://example.com/cat.png"
#: Each model of the catalogue and what it must be able to do (from Mistral's model documentation).
EXPECTED: dict[str, set[str]] = {
    "pixtral-large-latest": {"completion_chat", "vision", "function_calling"},
    "ministral-8b-latest": {"completion_chat", "vision", "function_calling"},
    "ministral-3b-latest": {"completion_chat", "vision", "function_calling"},
    "magistral-medium-latest": {"completion_chat", "reasoning", "vision"},
    "magistral-small-latest": {"completion_chat", "reasoning", "vision"},
    "devstral-medium-latest": {"completion_chat", "function_calling"},
    "codestral-latest": {"completion_chat", "completion_fim"},
    "voxtral-mini-latest": {"completion_chat", "audio", "audio_transcription"},
    "mistral-medium-latest": {"completion_chat", "vision", "function_calling"},
    "mistral-large-latest": {"completion_chat", "vision", "function_calling"},
    "mistral-small-latest": {"completion_chat", "vision", "function_calling"},
    "mistral-ocr-latest": {"ocr"},
    "mistral-embed": {"embeddings"},
    "codestral-embed": {"embeddings"},
    "mistral-moderation-latest": {"moderation", "classification"},
}
#: What each must not claim.
NOT: dict[str, set[str]] = {
    "devstral-medium-latest": {"vision", "completion_fim"}, "codestral-latest": {"vision", "reasoning"},
    "voxtral-mini-latest": {"vision"}, "mistral-ocr-latest": {"completion_chat"},
    "mistral-embed": {"completion_chat", "vision"}, "mistral-small-latest": {"reasoning"},
}


@pytest.fixture
def client(fake_mistral: FakeMistral) -> Client:
    return Client("any-key", base_url=fake_mistral.url, max_retries=0)


def image_message(form: str) -> list[Any]:
    chunk: dict[str, Any] = {"type": "image_url", "image_url": IMAGE if form == "string" else {"url": IMAGE}}
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, chunk]}]


def test_the_catalogue_has_todays_families(client: Client, fake_mistral: FakeMistral) -> None:
    cards = {card["id"]: card for card in client.list_models()["data"]}
    for model, wanted in EXPECTED.items():
        assert model in cards, model
        has = capabilities_of(fake_mistral.state, cards[model])
        assert wanted <= has, (model, wanted - has)
        assert not NOT.get(model, set()) & has, model
    assert set(cards["magistral-small-latest"]["capabilities"]) >= {"reasoning", "vision", "audio_speech"}
    assert "ministral-8b-2512" in cards["ministral-8b-latest"]["aliases"]
    assert client.chat(model="ministral-8b-2512", messages=image_message("string"))["model"] == "ministral-8b-2512"
    for model in EXPECTED:
        assert find_model(fake_mistral.state, model) is not None


@pytest.mark.parametrize("model", ["pixtral-large-latest", "ministral-3b-latest", "magistral-medium-latest",
                                   "mistral-small-latest", "mistral-large-latest"])
@pytest.mark.parametrize("form", ["string", "object"])
def test_a_vision_model_accepts_an_image(client: Client, model: str, form: str) -> None:
    reply = client.chat(model=model, messages=image_message(form))
    assert reply["object"] == "chat.completion" and reply["model"] == model


@pytest.mark.parametrize("model", ["devstral-medium-latest", "codestral-latest", "voxtral-mini-latest",
                                   "ft:mistral-small-latest:fake1234:20250101:a1b2c3d4"])
@pytest.mark.parametrize("form", ["string", "object"])
def test_an_image_to_a_model_without_vision_is_a_400(client: Client, fake_mistral: FakeMistral, model: str,
                                                     form: str) -> None:
    with pytest.raises(BadRequestError) as info:
        client.chat(model=model, messages=image_message(form))
    body = info.value.body
    assert info.value.status_code == 400
    assert body == {"object": "error", "type": "invalid_model", "code": "1500", "param": None,
                    "message": f"Invalid model: {model} does not support image input (capability 'vision')"}
    assert fake_mistral.requests[-1].operation == "chat"


def test_images_in_a_conversation_need_vision_too(client: Client) -> None:
    inputs: Any = image_message("string")
    with pytest.raises(BadRequestError, match="does not support image input"):
        client.create_conversation(model="devstral-medium-latest", inputs=inputs)
    assert client.create_conversation(model="pixtral-large-latest", inputs=inputs)["object"] == "conversation.response"


def test_audio_input_needs_an_audio_model(client: Client) -> None:
    audio: Any = [{"role": "user", "content": [{"type": "input_audio", "input_audio": "UklGRg=="}]}]
    with pytest.raises(BadRequestError, match=r"does not support audio input \(capability 'audio'\)"):
        client.chat(model="mistral-small-latest", messages=audio)
    assert client.chat(model="voxtral-mini-latest", messages=audio)["object"] == "chat.completion"


def test_a_test_can_add_a_vision_model(client: Client, fake_mistral: FakeMistral) -> None:
    fake_mistral.add_model("my-eyes", ["chat", "vision"])
    fake_mistral.add_model("my-thinker", ["chat", "reasoning"])
    assert client.chat(model="my-eyes", messages=image_message("object"))["model"] == "my-eyes"
    with pytest.raises(BadRequestError, match="my-thinker does not support image input"):
        client.chat(model="my-thinker", messages=image_message("object"))
