"""Handlers of the document libraries (``/v1/libraries``) and their documents.

A library holds documents. An uploaded document starts with ``process_status`` ``todo``
(``processing_status`` ``Running``) and is processed one step later (``done`` /
``Completed``): when ``batch_step`` seconds have passed (checked on every request, see
:func:`advance_due`) or at once through :func:`tick`. Its text content is derived from the
uploaded bytes (UTF-8 text as is; anything else a one-line description); pages are separated
by form feeds. Signed URLs are served by the fake itself under ``/signed/``.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from mistral_lite.fake.replies import EmptyReply, JsonReply, Reply, api_error, find, not_found
from mistral_lite.fake.state import LibraryDocument, LibraryRecord, State, iso_now

__all__ = ["HANDLERS", "advance_due", "decode_cursor", "encode_cursor", "tick"]

OWNER_ID = "00000000-0000-4000-8000-00000000a11c"
#: Processing statuses after which a document is not processed again (until reprocessed).
FINISHED = frozenset({"done", "error", "noop", "missing_content", "self_managed"})


def encode_cursor(offset: int) -> str:
    """An opaque page token for the item at ``offset``."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(token: Any) -> int:
    """The offset a page token stands for (a 400 when it is not one of ours)."""
    if token in (None, ""):
        return 0
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "offset" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except ValueError:
        raise api_error(400, f"Invalid page_token {token!r}", code="invalid_page_token") from None


# --- processing ---------------------------------------------------------------------------


def text_of(doc: LibraryDocument) -> str:
    """The document's text content, derived from its bytes."""
    try:
        text = doc.data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and "\x00" not in text:
        return text
    return f"{doc.card['name']}: {len(doc.data)} bytes of {doc.card['mime_type'] or 'binary data'}."


def _finish(state: State, doc: LibraryDocument) -> None:
    text = text_of(doc)
    tokens = len(text.split())
    doc.card.update(process_status="done", processing_status="Completed", last_processed_at=iso_now(),
                    number_of_pages=text.count("\f") + 1, tokens_processing_main_content=tokens,
                    tokens_processing_summary=0, tokens_processing_total=tokens,
                    summary=" ".join(text.split()[:12]) or None)
    doc.due = float("inf")


def _pending(state: State) -> list[LibraryDocument]:
    return [doc for lib in state.libraries.values() for doc in lib.documents.values()
            if doc.card["process_status"] not in FINISHED]


def tick(state: State) -> None:
    """Finish the processing of every pending document now."""
    with state.lock:
        for doc in _pending(state):
            _finish(state, doc)


def advance_due(state: State) -> None:
    """Finish the processing of every document whose time has come."""
    with state.lock:
        now = state.now()
        for doc in _pending(state):
            if doc.due <= now:
                _finish(state, doc)


# --- libraries ----------------------------------------------------------------------------


def _library(state: State, library_id: str) -> LibraryRecord:
    return find(state.libraries, library_id, "Library")


def _library_view(record: LibraryRecord) -> dict[str, Any]:
    docs = record.documents.values()
    return dict(record.card, nb_documents=len(docs), total_size=sum(len(d.data) for d in docs))


def create_library(state: State, o: dict[str, Any]) -> Reply:
    now = iso_now()
    card: dict[str, Any] = {
        "id": str(uuid.uuid4()), "name": o["name"], "created_at": now, "updated_at": now,
        "owner_id": OWNER_ID, "owner_type": o.get("owner_type") or "Workspace", "total_size": 0,
        "nb_documents": 0, "chunk_size": o.get("chunk_size"), "emoji": None,
        "description": o.get("description"), "generated_description": None,
        "explicit_user_members_count": None, "explicit_workspace_members_count": None,
        "org_sharing_role": None, "generated_name": None,
    }
    record = LibraryRecord(card)
    with state.lock:
        state.libraries[card["id"]] = record
        return JsonReply(_library_view(record), status=201)


def list_libraries(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        views = [_library_view(r) for r in state.libraries.values()]
    if o.get("search"):
        views = [v for v in views if o["search"].lower() in v["name"].lower()]
    views.sort(key=lambda v: (v["created_at"], v["id"]), reverse=True)
    size = int(o.get("page_size") or 100)
    body: dict[str, Any] = {}
    if o.get("page_token") is None and o.get("page") is not None:  # deprecated offset paging
        number = int(o["page"])
        start = number * size
        total_pages = -(-len(views) // size)
        body["pagination"] = {"total_items": len(views), "total_pages": total_pages, "current_page": number,
                              "page_size": size, "has_more": start + size < len(views)}
    else:
        start = decode_cursor(o.get("page_token"))
    body["data"] = views[start:start + size]
    body["next_page_token"] = encode_cursor(start + size) if start + size < len(views) else None
    return JsonReply(body)


def get_library(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(_library_view(_library(state, o["library_id"])))


def update_library(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        record = _library(state, o["library_id"])
        for key in ("name", "description"):
            if key in o:
                record.card[key] = o[key]
        record.card["updated_at"] = iso_now()
        return JsonReply(_library_view(record))


def delete_library(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        view = _library_view(_library(state, o["library_id"]))
        del state.libraries[o["library_id"]]
    return JsonReply(view)  # the API still answers 200 with the deleted library (204 announced)


# --- documents ----------------------------------------------------------------------------


def _document(state: State, o: Mapping[str, Any]) -> LibraryDocument:
    record = _library(state, o["library_id"])
    doc = record.documents.get(o["document_id"])
    if doc is None:
        raise not_found("Document", o["document_id"])
    return doc


def _processed(doc: LibraryDocument) -> None:
    if doc.card["process_status"] != "done":
        raise api_error(409, f"Document {doc.card['id']} has not been processed yet "
                            f"(process_status {doc.card['process_status']!r})", code="document_not_processed")


def upload_library_document(state: State, o: dict[str, Any]) -> Reply:
    upload = o["file"]
    filename, data, ctype = upload if isinstance(upload, tuple) else ("upload.bin", bytes(upload), None)
    digest = hashlib.sha256(data).hexdigest()
    with state.lock:
        record = _library(state, o["library_id"])
        for existing in record.documents.values():
            if existing.card["hash"] == digest:
                return JsonReply(dict(existing.card))  # 200: the same content is already there
        if ctype in (None, "application/octet-stream"):
            ctype = mimetypes.guess_type(filename)[0] or ctype
        extension = filename.rsplit(".", 1)[1].lower() if "." in filename else None
        card: dict[str, Any] = {
            "id": str(uuid.uuid4()), "library_id": o["library_id"], "hash": digest, "mime_type": ctype,
            "extension": extension, "size": len(data), "name": filename, "summary": None,
            "created_at": iso_now(), "last_processed_at": None, "number_of_pages": None,
            "process_status": "todo", "uploaded_by_id": OWNER_ID, "uploaded_by_type": "Workspace",
            "tokens_processing_main_content": None, "tokens_processing_summary": None, "url": None,
            "attributes": None, "expires_at": None, "processing_status": "Running",
            "tokens_processing_total": 0,
        }
        doc = LibraryDocument(card, data, state.next_due())
        record.documents[card["id"]] = doc
        record.card["updated_at"] = iso_now()
        return JsonReply(dict(card), status=201)


def list_library_documents(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        cards = [dict(d.card) for d in _library(state, o["library_id"]).documents.values()]
    if o.get("search"):
        cards = [c for c in cards if o["search"].lower() in c["name"].lower()]
    key = o.get("sort_by") or "created_at"
    cards.sort(key=lambda c: (str(c.get(key) if c.get(key) is not None else ""), c["id"]),
               reverse=(o.get("sort_order") or "desc") != "asc")
    number, size = int(o.get("page") or 0), int(o.get("page_size") or 100)
    start = number * size
    pagination = {"total_items": len(cards), "total_pages": -(-len(cards) // size), "current_page": number,
                  "page_size": size, "has_more": start + size < len(cards)}
    return JsonReply({"pagination": pagination, "data": cards[start:start + size]})


def get_library_document(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        return JsonReply(dict(_document(state, o).card))


def update_library_document(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        doc = _document(state, o)
        for key in ("name", "attributes", "expires_at"):
            if key in o:
                doc.card[key] = o[key]
        return JsonReply(dict(doc.card))


def delete_library_document(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        _document(state, o)
        del state.libraries[o["library_id"]].documents[o["document_id"]]
    return EmptyReply()


def get_library_document_text(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        doc = _document(state, o)
        _processed(doc)
        pages = text_of(doc).split("\f")
    first = o.get("page_start")
    last = o.get("page_end")
    chosen = pages[(first or 0):(last + 1 if last is not None else None)]
    return JsonReply({"text": "\f".join(chosen)})


def get_library_document_status(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        card = _document(state, o).card
        return JsonReply({"document_id": card["id"], "process_status": card["process_status"],
                          "processing_status": card["processing_status"]})


def _sign(state: State, name: str, data: bytes) -> str:
    token = secrets.token_urlsafe(16)
    state.signed_blobs[token] = data
    return f"{state.base_url}/signed/{token}/{name}"


def get_library_document_url(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        doc = _document(state, o)
        return JsonReply(_sign(state, doc.card["name"], doc.data))


def get_library_document_extracted_text_url(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        doc = _document(state, o)
        _processed(doc)
        return JsonReply(_sign(state, doc.card["name"] + ".txt", text_of(doc).encode("utf-8")))


def reprocess_library_document(state: State, o: dict[str, Any]) -> Reply:
    with state.lock:
        doc = _document(state, o)
        doc.card.update(process_status="todo", processing_status="Running")
        doc.due = state.next_due()
    return EmptyReply()


HANDLERS: dict[str, Callable[[State, dict[str, Any]], Reply]] = {fn.__name__: fn for fn in (
    list_libraries, create_library, get_library, update_library, delete_library,
    list_library_documents, upload_library_document, get_library_document, update_library_document,
    delete_library_document, get_library_document_text, get_library_document_status,
    get_library_document_url, get_library_document_extracted_text_url, reprocess_library_document,
)}
