"""The fake's model catalogue: which models exist and what each can do, as data.

A model's capabilities are the ``true`` entries of its card's ``capabilities`` (what
``list_models`` serves; the catalogue is ``state.CATALOGUE``), plus the fake-only ``embeddings``
(the API's cards have no such flag, yet only embedding models embed).
:data:`OPERATION_CAPABILITY` says which capability an operation needs of the model its ``model``
option names, :data:`CHUNK_CAPABILITY` what the content chunks of its messages need (an
``image_url`` chunk needs vision). :func:`check_model` is the one general rule applied before
every handler: a ``model`` that is neither a model id nor an alias is a 400 ``invalid_model``; a
model that lacks a capability the request needs is a 400 too.
:func:`model_card` builds a card for ``FakeMistral.add_model``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from mistral_lite.exceptions import APIStatusError
from mistral_lite.fake.replies import api_error
from mistral_lite.fake.state import State, capability_flags

__all__ = ["CAPABILITY_NAMES", "CHUNK_CAPABILITY", "OPERATION_CAPABILITY", "capabilities_of", "check_model",
           "chunk_needs", "find_model", "model_card"]

#: The operations whose ``model`` option names a model to use, and the capability each needs
#: of it (a card capability name, ``embeddings``, or None: the model only has to exist). Other
#: operations' ``model`` options (``list_models``' filter) are not checked.
OPERATION_CAPABILITY: dict[str, str | None] = {
    "chat": "completion_chat",
    "fim": "completion_fim",
    "embed": "embeddings",
    "ocr": "ocr",
    "moderate": "moderation",
    "moderate_chat": "moderation",
    "classify": "classification",
    "classify_chat": "classification",
    "transcribe_audio": "audio_transcription",
    "create_agent": "completion_chat",
    "create_conversation": "completion_chat",
    "create_fine_tuning_job": "fine_tuning",
    "create_batch_job": None,
}

#: Short names a test may use in ``add_model(capabilities=...)``, and the card flag each sets.
CAPABILITY_NAMES: dict[str, str] = {
    "chat": "completion_chat", "fim": "completion_fim", "function_calling": "function_calling",
    "tools": "function_calling", "vision": "vision", "ocr": "ocr", "moderation": "moderation",
    "classification": "classification", "audio": "audio_transcription", "fine_tuning": "fine_tuning",
    "embeddings": "embeddings", "reasoning": "reasoning", "audio_input": "audio", "speech": "audio_speech",
}

#: Content chunks that need a capability of the model, wherever the request's messages (``messages``,
#: or a conversation's ``inputs``) carry one: an image needs vision, audio needs the audio flag.
CHUNK_CAPABILITY: dict[str, str] = {"image_url": "vision", "input_audio": "audio"}

#: What the wrong kind of model is called in the 400's message.
_NOUN = {"completion_chat": "chat completions", "completion_fim": "fill-in-the-middle completions",
         "embeddings": "embeddings", "ocr": "OCR", "moderation": "moderation", "classification": "classification",
         "audio_transcription": "audio transcription", "fine_tuning": "fine-tuning", "vision": "image input",
         "audio": "audio input", "reasoning": "reasoning", "audio_speech": "speech"}


def find_model(state: State, name: str) -> dict[str, Any] | None:
    """The card of the model whose id or alias is ``name`` (None when there is none)."""
    with state.lock:
        card = state.models.get(name)
        if card is not None:
            return card
        return next((c for c in state.models.values() if name in (c.get("aliases") or ())), None)


def capabilities_of(state: State, card: Mapping[str, Any]) -> set[str]:
    """The capability names a model has (card flags set to true, and the fake-only ones)."""
    flags = card.get("capabilities") or {}
    caps = {name for name, on in flags.items() if on is True}
    caps.update(state.model_extras.get(str(card.get("id")), ()))
    return caps


def invalid_model(name: Any) -> APIStatusError:
    """The API's answer to an unknown model, as users of the real API report it."""
    return api_error(400, f"Invalid model: {name}", type_="invalid_model", code="1500")


def check_model(state: State, operation: str, options: Mapping[str, Any]) -> None:
    """Raise the API's 400 when ``options["model"]`` is unknown or the wrong kind of model."""
    name = options.get("model")
    if not isinstance(name, str) or operation not in OPERATION_CAPABILITY:
        return
    card = find_model(state, name)
    if card is None:
        raise invalid_model(name)
    has = capabilities_of(state, card)
    needed = OPERATION_CAPABILITY.get(operation)
    for need in ([needed] if needed is not None else []) + sorted(chunk_needs(options)):
        if need not in has:
            # The API documents no separate shape for "this model cannot do that": the closest
            # documented one is the invalid-model error itself (same status, type and code), with a
            # message that says which capability was missing.
            raise api_error(400, f"Invalid model: {name} does not support {_NOUN.get(need, need)} "
                                f"(capability {need!r})", type_="invalid_model", code="1500")


def chunk_needs(options: Mapping[str, Any]) -> set[str]:
    """The capabilities the content chunks of a request's messages need (:data:`CHUNK_CAPABILITY`)."""
    needs: set[str] = set()
    for key in ("messages", "inputs"):
        messages = options.get(key)
        for message in messages if isinstance(messages, list) else ():
            content = message.get("content") if isinstance(message, Mapping) else None
            for chunk in content if isinstance(content, list) else ():
                need = CHUNK_CAPABILITY.get(str(chunk.get("type"))) if isinstance(chunk, Mapping) else None
                if need is not None:
                    needs.add(need)
    return needs


def model_card(model_id: str, capabilities: Iterable[str], *, max_context_length: int = 32768,
               aliases: Iterable[str] = (), **extra: Any) -> tuple[dict[str, Any], list[str]]:
    """A card as ``list_models`` serves it, and the fake-only capabilities (``embeddings``).

    ``capabilities`` takes card flag names (``completion_chat``) or the short names of
    :data:`CAPABILITY_NAMES` (``chat``, ``embeddings``, ``ocr``, ``fim``, ``audio``, ...).
    """
    flags: list[str] = []
    for name in capabilities:
        flag = CAPABILITY_NAMES.get(name, name)
        if flag not in _NOUN and flag not in capability_flags():
            known = sorted(set(CAPABILITY_NAMES) | set(capability_flags()))
            raise ValueError(f"unknown capability {name!r}; known: {', '.join(known)}")
        flags.append(flag)
    card_flags = capability_flags(**{f: True for f in flags if f != "embeddings"})
    card: dict[str, Any] = {
        "id": model_id, "object": "model", "created": int(time.time()), "owned_by": "mistralai",
        "capabilities": card_flags, "name": model_id, "description": f"{model_id} (added by a test)",
        "max_context_length": max_context_length, "aliases": list(aliases), "deprecation": None,
        "deprecation_replacement_model": None, "default_model_temperature": 0.3, "type": "base",
    }
    card.update(extra)
    return card, ["embeddings"] if "embeddings" in flags else []
