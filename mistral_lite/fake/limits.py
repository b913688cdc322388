"""Limits the API enforces, acted out by the fake before each handler runs.

The figures come from the table (``[defaults.limits]`` in ``endpoints.toml``, where each one's
source is given) and from the model cards (``max_context_length``); a test changes them on
``fake.limits`` (``fake.limits.embed_max_inputs = 2``) or turns one off with ``None``. Which
option of which operation each rule reads is data (:data:`NON_EMPTY`, :data:`BATCHED`,
:data:`PROMPTS`); :meth:`Limits.check` applies them all.

Answers: every limit is a 400 in the API's error shape, except a file over the upload limit
(413, as an HTTP front end answers a body that is too large). The messages of the embedding
limits are the ones users of the real API report; the others are ours, in the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mistral_lite._table import Spec
from mistral_lite.fake import generate as gen
from mistral_lite.fake.models import find_model
from mistral_lite.fake.replies import api_error
from mistral_lite.fake.state import State

__all__ = ["BATCHED", "Limits", "NON_EMPTY", "PROMPTS"]

#: Options that must not be empty (``""``, ``[]``, or a list holding an empty text).
NON_EMPTY: dict[str, str] = {
    "chat": "messages", "agent_completion": "messages", "fim": "prompt", "embed": "input",
    "moderate": "input", "moderate_chat": "input", "classify": "input", "classify_chat": "input",
}

#: Operations whose option is a batch of texts, held to the batch and per-input limits.
BATCHED: dict[str, str] = {"embed": "input"}

#: Operations whose prompt plus ``max_tokens`` must fit the model's context length, and the
#: options that make up the prompt.
PROMPTS: dict[str, tuple[str, ...]] = {"chat": ("messages",), "fim": ("prompt", "suffix")}


def _tokens(value: Any) -> int:
    """The fake tokenizer's count for a text, a message list or a list of texts."""
    if isinstance(value, str):
        return gen.count_tokens(value)
    if isinstance(value, Mapping):
        return gen.count_tokens(gen.message_text(value.get("content"))) + 2
    if isinstance(value, list):
        return sum(_tokens(v) for v in value)
    return 0


def _empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not value or any(isinstance(v, str) and not v.strip() for v in value)
    return False


@dataclass
class Limits:
    """The limits one fake enforces (``None`` turns a limit off)."""

    embed_max_inputs: int | None = None
    embed_max_tokens: int | None = None
    upload_max_bytes: int | None = None
    context_length: bool = True
    non_empty: bool = True

    @classmethod
    def from_table(cls, spec: Spec) -> Limits:
        """The figures of the table's ``[defaults.limits]``."""
        table = spec.defaults.get("limits", {})

        def figure(name: str) -> int | None:
            return int(table[name]) if name in table else None

        return cls(figure("embed_max_inputs"), figure("embed_max_tokens"), figure("upload_max_bytes"))

    def check(self, state: State, operation: str, options: Mapping[str, Any]) -> None:
        """Raise the API's error for the first limit ``options`` break."""
        name = NON_EMPTY.get(operation)
        if self.non_empty and name is not None and name in options and _empty(options[name]):
            raise api_error(400, f"{name} must not be empty")
        card = find_model(state, options["model"]) if isinstance(options.get("model"), str) else None
        context = card.get("max_context_length") if card is not None else None
        name = BATCHED.get(operation)
        if name is not None and isinstance(options.get(name), (str, list)):
            self._check_batch(options[name], context)
        prompt = PROMPTS.get(operation)
        if self.context_length and prompt is not None and isinstance(context, int):
            used = sum(_tokens(options.get(part)) for part in prompt)
            wanted = options.get("max_tokens")
            total = used + (wanted if isinstance(wanted, int) else 0)
            if total > context:
                asked = f" and max_tokens {wanted}" if isinstance(wanted, int) else ""
                raise api_error(400, f"Prompt contains {used} tokens{asked}: too large for model with {context} "
                                    "maximum context length", code="3051")
        if self.upload_max_bytes is not None:
            for value in options.values():
                if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], bytes) \
                        and len(value[1]) > self.upload_max_bytes:
                    raise api_error(413, f"File {value[0]!r} is {len(value[1])} bytes; the maximum is "
                                        f"{self.upload_max_bytes} bytes", code="file_too_large")

    def _check_batch(self, value: str | list[Any], context: Any) -> None:
        texts = [value] if isinstance(value, str) else value
        if self.embed_max_inputs is not None and len(texts) > self.embed_max_inputs:
            raise api_error(400, "Too many inputs in request, split into more batches.", code="3210")
        counts = [_tokens(t) for t in texts]
        if isinstance(context, int):
            for index, count in enumerate(counts):
                if count > context:
                    raise api_error(400, f"Input {index} is too long: {count} tokens; the model's maximum is "
                                        f"{context}", code="3210")
        if self.embed_max_tokens is not None and sum(counts) > self.embed_max_tokens:
            raise api_error(400, f"Too many tokens in batch. Max is {self.embed_max_tokens} got {sum(counts)}")
