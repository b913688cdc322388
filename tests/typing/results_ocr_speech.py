"""User-style code: OCR annotations typed by their formats, conversation helpers, speech files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from typing_extensions import assert_type

from mistral_lite import Client, citations, collect_conversation, output_text, to_srt


@dataclasses.dataclass
class Invoice:
    number: str


@dataclasses.dataclass
class Figure:
    caption: str


client = Client("key")
both = client.ocr(model="mistral-ocr-latest", document={"type": "document_url", "document_url": "u"},
                  document_annotation_format=Invoice, bbox_annotation_format=Figure)
assert_type(both["parsed"], Invoice | None)
assert_type(both["pages"][0]["images"][0].get("parsed"), Figure | None)
doc = client.ocr(model="mistral-ocr-latest", document={"type": "document_url", "document_url": "u"},
                 document_annotation_format=Invoice)
assert_type(doc["parsed"], Invoice | None)
plain = client.ocr(model="mistral-ocr-latest", document={"type": "document_url", "document_url": "u"})
assert_type(plain.get("document_annotation"), str | None)

answer = collect_conversation(client.create_conversation(model="m", inputs="hi", stream=True))
text = output_text(answer)
assert_type(text, str | None)
for ref in citations(answer):
    print(ref["url"])
files: list[Path] = client.download_outputs(answer, "out")
subtitles: str = to_srt(client.transcribe_audio(model="voxtral-mini-latest", file="a.wav"))
