"""The fake's in-memory resources: models, files, agents, conversations and jobs.

:class:`State` holds every resource behind one re-entrant lock, plus the clock used by the
job lifecycles. Handlers (``handlers.py``, ``resources.py``, ``jobs.py``) read and change it;
nothing here speaks HTTP.
"""

from __future__ import annotations

import mimetypes
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["CATALOGUE", "AgentRecord", "Job", "LibraryDocument", "LibraryRecord", "State", "StoredFile",
           "capability_flags", "iso_now", "seed_extras", "seed_models"]

#: ``(operation, options) -> (status, body)``: runs one request through the fake's handlers.
Runner = Callable[[str, dict[str, Any]], tuple[int, Any]]


def iso_now() -> str:
    """The current time as the agents API writes it."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def capability_flags(**on: bool) -> dict[str, bool]:
    """A card's ``capabilities``: every flag of the spec's ``ModelCapabilities``, false unless set in ``on``."""
    names = ("completion_chat", "function_calling", "reasoning", "completion_fim", "fine_tuning", "vision", "ocr",
             "classification", "moderation", "audio", "audio_transcription", "audio_transcription_realtime",
             "audio_speech")
    return {name: bool(on.get(name, False)) for name in names}


def seed_extras() -> dict[str, list[str]]:
    """Capabilities the cards cannot say (the API has no ``embeddings`` flag), by model id."""
    return {"mistral-embed": ["embeddings"], "codestral-embed": ["embeddings"]}


#: The models the fake starts with: ``(id, description, context length, aliases, capabilities, card extras)``.
#: Sources: the spec's ``ModelCapabilities`` (the flags) and Mistral's model documentation
#: (https://docs.mistral.ai/getting-started/models/ and the capability pages named per family).
CATALOGUE: tuple[tuple[str, str, int, tuple[str, ...], tuple[str, ...], dict[str, Any]], ...] = (
    # General models: chat, tools, vision (docs.mistral.ai/capabilities/vision lists Large 3,
    # Medium 3.1 and Small 3.2 among the vision models).
    ("mistral-small-latest", "Fast, cheap general model.", 131072, ("mistral-small-2506",),
     ("completion_chat", "function_calling", "fine_tuning", "vision"), {}),
    ("mistral-large-latest", "Top-tier general model.", 131072, ("mistral-large-2512", "mistral-large-2411"),
     ("completion_chat", "function_calling", "fine_tuning", "vision"), {}),
    ("mistral-medium-latest", "Frontier-class multimodal model.", 131072, ("mistral-medium-2508",),
     ("completion_chat", "function_calling", "vision"), {}),
    # Pixtral: the multimodal family, images in chat (docs.mistral.ai/capabilities/vision).
    ("pixtral-large-latest", "Multimodal model: text and images.", 131072, ("pixtral-large-2411",),
     ("completion_chat", "function_calling", "vision"), {}),
    # Ministral 3: edge models, every size with vision (docs.mistral.ai/capabilities/vision:
    # ministral-8b-2512, ministral-3b-2512).
    ("ministral-8b-latest", "Edge model, 8B.", 262144, ("ministral-8b-2512",),
     ("completion_chat", "function_calling", "vision"), {}),
    ("ministral-3b-latest", "Edge model, 3B.", 262144, ("ministral-3b-2512",),
     ("completion_chat", "function_calling", "vision"), {}),
    # Magistral: the reasoning models, with vision since 1.2 (docs.mistral.ai/capabilities/reasoning).
    ("magistral-medium-latest", "Reasoning model.", 131072, ("magistral-medium-2509",),
     ("completion_chat", "function_calling", "reasoning", "vision"), {}),
    ("magistral-small-latest", "Small reasoning model.", 131072, ("magistral-small-2509",),
     ("completion_chat", "function_calling", "reasoning", "vision"), {}),
    # Code: Codestral completes in the middle (FIM), Devstral is the agentic coding model
    # (docs.mistral.ai/capabilities/code_generation).
    ("codestral-latest", "Code model with fill-in-the-middle.", 256000, ("codestral-2508",),
     ("completion_chat", "function_calling", "completion_fim", "fine_tuning"), {}),
    ("devstral-medium-latest", "Agentic coding model.", 131072, ("devstral-medium-2507",),
     ("completion_chat", "function_calling"), {}),
    # Audio: Voxtral understands speech in chat and transcribes (docs.mistral.ai/capabilities/audio).
    ("voxtral-mini-latest", "Speech understanding and transcription.", 32768, ("voxtral-mini-2507",),
     ("completion_chat", "audio", "audio_transcription"), {}),
    # Documents: OCR (docs.mistral.ai/capabilities/OCR).
    ("mistral-ocr-latest", "Document OCR.", 16384, ("mistral-ocr-2505",), ("ocr",), {}),
    # Embeddings (docs.mistral.ai/capabilities/embeddings): no card flag, see seed_extras.
    ("mistral-embed", "Text embeddings.", 8192, (), (), {"dimension": 1024}),
    ("codestral-embed", "Code embeddings.", 8192, ("codestral-embed-2505",), (), {"dimension": 1536}),
    # Moderation (docs.mistral.ai/capabilities/guardrailing).
    ("mistral-moderation-latest", "Content moderation classifier.", 8192, ("mistral-moderation-2411",),
     ("classification", "moderation"), {}),
)


def seed_models(now: int) -> dict[str, dict[str, Any]]:
    """The model catalogue the fake starts with (:data:`CATALOGUE`, and one fine-tuned model)."""
    def base(mid: str, desc: str, ctx: int, aliases: list[str], caps: dict[str, bool],
             **extra: Any) -> dict[str, Any]:
        card = {"id": mid, "object": "model", "created": now, "owned_by": "mistralai",
                "capabilities": caps, "name": mid, "description": desc, "max_context_length": ctx,
                "aliases": aliases, "deprecation": None, "deprecation_replacement_model": None,
                "default_model_temperature": 0.3, "type": "base"}
        card.update(extra)
        return card

    models = [base(mid, desc, ctx, list(aliases), capability_flags(**dict.fromkeys(flags, True)), **extra)
              for mid, desc, ctx, aliases, flags, extra in CATALOGUE]
    ft = base("ft:mistral-small-latest:fake1234:20250101:a1b2c3d4", "A fine-tuned model.", 131072, [],
              capability_flags(completion_chat=True, function_calling=True), type="fine-tuned",
              job="00000000-0000-4000-8000-000000000001", root="mistral-small-latest",
              archived=False, owned_by="fake-org")
    ft["name"] = None
    models.append(ft)
    return {card["id"]: card for card in models}


@dataclass
class StoredFile:
    id: str
    filename: str
    data: bytes
    purpose: str | None
    created_at: int
    sample_type: str
    source: str = "upload"
    mimetype: str | None = None
    visibility: str = "workspace"
    expires_at: int | None = None

    def card(self, **extra: Any) -> dict[str, Any]:
        lines = self.data.count(b"\n") + (0 if self.data.endswith(b"\n") or not self.data else 1)
        out: dict[str, Any] = {
            "id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "sample_type": self.sample_type,
            "num_lines": lines if self.filename.endswith(".jsonl") else None,
            "mimetype": self.mimetype, "source": self.source, "signature": None,
            "expires_at": self.expires_at, "visibility": self.visibility,
        }
        out.update(extra)
        return out


@dataclass
class AgentRecord:
    id: str
    versions: dict[int, dict[str, Any]]
    current: int
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Job:
    """A batch or fine-tuning job: its public fields in ``data``, its clock in ``due``."""

    data: dict[str, Any]
    due: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LibraryDocument:
    """A document of a library: its public fields in ``card``, its bytes, its processing clock."""

    card: dict[str, Any]
    data: bytes
    due: float


@dataclass
class LibraryRecord:
    """A document library: its public fields in ``card`` and its documents by id."""

    card: dict[str, Any]
    documents: dict[str, LibraryDocument] = field(default_factory=dict)


class State:
    """Every resource of one fake server."""

    def __init__(self, batch_step: float) -> None:
        self.lock = threading.RLock()
        self.batch_step = batch_step
        self.base_url = ""
        self.runner: Runner | None = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.models: dict[str, dict[str, Any]] = seed_models(int(time.time()))
            self.model_extras: dict[str, list[str]] = seed_extras()
            self.files: dict[str, StoredFile] = {}
            self.agents: dict[str, AgentRecord] = {}
            self.conversations: dict[str, dict[str, Any]] = {}
            self.batch_jobs: dict[str, Job] = {}
            self.ft_jobs: dict[str, Job] = {}
            self.signatures: dict[str, str] = {}
            self.libraries: dict[str, LibraryRecord] = {}
            self.signed_blobs: dict[str, bytes] = {}
            #: Items of the generic collections (``generic.py``): ``{collection path: {id: item}}``, plain JSON.
            self.store: dict[str, dict[str, dict[str, Any]]] = {}

    def now(self) -> float:
        return time.time()

    def next_due(self) -> float:
        """When a job created now takes its next automatic step (never if ``batch_step <= 0``)."""
        return self.now() + self.batch_step if self.batch_step > 0 else float("inf")

    def add_file(self, filename: str, data: bytes, purpose: str | None, *, sample_type: str | None = None,
                 source: str = "upload", mimetype: str | None = None, visibility: str = "workspace",
                 expiry_hours: int | None = None) -> StoredFile:
        now = int(self.now())
        if sample_type is None:
            sample_type = {"batch": "batch_request", "fine-tune": "instruct", "ocr": "ocr_input"}.get(
                purpose or "", "instruct")
        if mimetype is None:
            mimetype = ("application/jsonl" if filename.endswith(".jsonl")
                        else mimetypes.guess_type(filename)[0] or "application/octet-stream")
        stored = StoredFile(id=str(uuid.uuid4()), filename=filename, data=data, purpose=purpose,
                            created_at=now, sample_type=sample_type, source=source, mimetype=mimetype,
                            visibility=visibility,
                            expires_at=now + expiry_hours * 3600 if expiry_hours else None)
        with self.lock:
            self.files[stored.id] = stored
        return stored
