"""OCR annotations as types: ``document_annotation_format`` / ``bbox_annotation_format`` take a
pydantic model, a dataclass or a TypedDict (a strict ``json_schema``, as chat's
``response_format``), and the result gets ``parsed`` (document) and ``image["parsed"]``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, TypedDict

import pytest
from conftest import API_KEY

from mistral_lite import AsyncClient, Client, OutputParseError, response_format_for
from mistral_lite.fake import FakeMistral

pydantic = pytest.importorskip("pydantic")

DOC = {"type": "document_url", "document_url": "https://example.com/invoice.pdf"}
OCR_MODEL = "mistral-ocr-latest"


@dataclasses.dataclass
class Invoice:
    number: str
    total: float


class Figure(pydantic.BaseModel):
    caption: str
    kind: str


class Summary(TypedDict):
    title: str
    pages: int


def test_types_are_sent_as_strict_json_schemas_and_parsed(fake_client: Client, fake: FakeMistral) -> None:
    result = fake_client.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=Invoice,
                             bbox_annotation_format=Figure)
    sent = fake.requests[-1].json
    assert sent["document_annotation_format"] == response_format_for(Invoice)
    assert sent["bbox_annotation_format"] == response_format_for(Figure)
    assert sent["document_annotation_format"]["json_schema"]["strict"] is True
    assert isinstance(result["parsed"], Invoice)
    assert result["parsed"] == Invoice(**json.loads(result["document_annotation"]))  # the raw text stays
    images = [image for page in result["pages"] for image in page["images"]]
    assert len(images) == 2
    for image in images:
        assert isinstance(image["parsed"], Figure)
        assert image["parsed"] == Figure(**json.loads(image["image_annotation"]))


def test_a_typeddict_and_plain_dict_formats(fake_client: Client, fake: FakeMistral) -> None:
    result = fake_client.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=Summary)
    assert set(result["parsed"]) == {"title", "pages"} and isinstance(result["parsed"]["pages"], int)
    assert all(page["images"] == [] for page in result["pages"])
    plain = response_format_for(Invoice)
    raw = fake_client.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=plain)
    assert "parsed" not in raw and json.loads(raw["document_annotation"]).keys() == {"number", "total"}
    assert fake.requests[-1].json["document_annotation_format"] == plain


def _scripted(annotation: Any, images: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": OCR_MODEL, "document_annotation": annotation,
            "pages": [{"index": 0, "markdown": "x", "images": images, "dimensions": None}],
            "usage_info": {"pages_processed": 1}}


def _image(annotation: Any) -> dict[str, Any]:
    return {"id": "img-0.jpeg", "top_left_x": 0, "top_left_y": 0, "bottom_right_x": 1, "bottom_right_y": 1,
            "image_annotation": annotation}


def test_null_annotations_get_parsed_none(fake_client: Client, fake: FakeMistral) -> None:
    good = json.dumps({"caption": "c", "kind": "chart"})
    fake.script("ocr", _scripted(None, [_image(None), _image(good)]))
    result = fake_client.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=Invoice,
                             bbox_annotation_format=Figure)
    assert result["parsed"] is None
    first, second = result["pages"][0]["images"]
    assert first["parsed"] is None and first["image_annotation"] is None
    assert second["parsed"] == Figure(caption="c", kind="chart")


def test_bad_json_raises_output_parse_error_with_the_text(fake_client: Client, fake: FakeMistral) -> None:
    fake.script("ocr", _scripted('{"number": "A1", "total": ', []))
    with pytest.raises(OutputParseError) as info:
        fake_client.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=Invoice)
    assert info.value.content == '{"number": "A1", "total": '
    fake.script("ocr", _scripted(json.dumps({"number": "A1"}), [_image("not json")]))
    with pytest.raises(OutputParseError) as info:
        fake_client.ocr(model=OCR_MODEL, document=DOC, bbox_annotation_format=Figure)
    assert info.value.content == "not json"


def test_async_ocr_parses_too(fake: FakeMistral) -> None:
    pytest.importorskip("aiohttp")

    async def main() -> Any:
        async with AsyncClient(API_KEY, base_url=fake.url) as aclient:
            return await aclient.ocr(model=OCR_MODEL, document=DOC, document_annotation_format=Invoice,
                                     bbox_annotation_format=Figure)

    result = asyncio.run(main())
    assert isinstance(result["parsed"], Invoice)
    assert isinstance(result["pages"][0]["images"][0]["parsed"], Figure)


def test_a_batch_run_of_ocr_with_a_type_parses_every_line(fake: FakeMistral) -> None:
    from mistral_lite._dev.testing import make_client

    client = make_client(API_KEY, base_url=fake.url, sleep=lambda s: fake.tick())
    fake.script("ocr", {"model": OCR_MODEL, "document_annotation": "not json", "pages": [],
                        "usage_info": {"pages_processed": 0}})
    requests = [{"custom_id": "bad", "body": {"document": DOC, "document_annotation_format": Invoice}},
                {"custom_id": "good", "body": {"document": DOC, "document_annotation_format": Invoice,
                                               "bbox_annotation_format": Figure}},
                {"custom_id": "plain", "body": {"document": DOC}}]
    bad, good, plain = client.run_batch(requests, endpoint="/v1/ocr", model=OCR_MODEL, interval=0.01)
    upload = next(r for r in fake.requests if r.operation == "upload_file")
    lines = [json.loads(line) for line in upload.body.split(b"\r\n\r\n", 1)[1].splitlines() if line.startswith(b"{")]
    assert lines[1]["body"]["document_annotation_format"] == response_format_for(Invoice)
    assert isinstance(good["body"]["parsed"], Invoice) and good["error"] is None
    assert isinstance(good["body"]["pages"][0]["images"][0]["parsed"], Figure)
    assert "parsed" not in plain["body"]
    assert bad["status_code"] == 200 and bad["error"]["content"] == "not json"
