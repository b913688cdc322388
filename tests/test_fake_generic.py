"""The fake's generic, table-driven behaviour, on a small made-up table (tests/data/generic_table).

The rows there have no hand-made handler, so everything they answer comes from
``mistral_lite/fake/generic.py``: roles from methods and paths, a JSON store, 404s, 422s, pages,
synthesized answers, streams and bytes, each checked against the table's response schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import API_KEY
from jsonschema import Draft202012Validator

from mistral_lite import Client, NotFoundError
from mistral_lite._table import Spec, load_spec
from mistral_lite._dev.testing import make_client
from mistral_lite._core.validate import validate
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.generate import Sampler, _from_pattern
from mistral_lite.fake.generic import Generic, Role, id_fields
from mistral_lite.fake.replies import JsonReply
from mistral_lite.fake.shapes import Shapes

TABLE = Path(__file__).parent / "data" / "generic_table"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(str(TABLE), lint=True)


@pytest.fixture(scope="module")
def fake(spec: Spec) -> Iterator[FakeMistral]:
    with FakeMistral(spec=spec) as served:
        yield served


@pytest.fixture
def api(fake: FakeMistral, spec: Spec) -> Iterator[Client]:
    """A client of the fake, emptied of every item first."""
    fake.reset()
    with make_client(API_KEY, base_url=fake.url, spec=spec, max_retries=0) as client:
        yield client


def valid(spec: Spec, operation: str, body: Any, part: str = "schema") -> list[str]:
    """The problems of ``body`` against the operation's response schema (empty: valid)."""
    doc = spec.schemas["_responses.json"]
    schema = {**doc["operations"][operation][part], "$defs": doc["$defs"]}
    return [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(body)]


def test_roles_come_from_methods_and_paths(spec: Spec) -> None:
    roles = Generic(spec, {}).roles
    assert roles["create_widget"] == Role("create", "/v1/widgets", "widget_id")
    assert roles["list_widgets"] == Role("list", "/v1/widgets", "widget_id")
    assert roles["get_widget"] == Role("get", "/v1/widgets", "widget_id")
    assert roles["update_widget"] == roles["replace_widget"] == Role("update", "/v1/widgets", "widget_id")
    assert roles["delete_widget"] == Role("delete", "/v1/widgets", "widget_id")
    assert roles["create_part"] == Role("create", "/v1/widgets/{widget_id}/parts", "part_id")
    assert roles["get_part"] == Role("get", "/v1/widgets/{widget_id}/parts", "part_id")
    assert roles["list_boards"] == Role("list", "/v1/boards", "name")
    for other in ("search_widgets", "get_report", "watch_widget", "get_widget_image", "ping_widget"):
        assert roles[other].kind == "other", other
    # a collection whose creating row is hand-made is not stored generically
    handmade = Generic(spec, {"create_widget": lambda state, o: JsonReply({})}).roles
    assert handmade["get_widget"].kind == "other" and handmade["create_part"].kind == "create"


def test_id_fields() -> None:
    assert id_fields("widget_id") == ("widget_id", "id")
    assert id_fields("workspace_uuid") == ("workspace_uuid", "id", "uuid")
    assert id_fields("name") == ("name", "id")


def test_create_get_list_update_delete(api: Client, fake: FakeMistral, spec: Spec) -> None:
    made = api.call("create_widget", name="gear", size=3, tags=["a"])
    assert valid(spec, "create_widget", made) == []
    assert made["name"] == "gear" and made["size"] == 3 and made["object"] == "widget"
    assert "tags" not in made  # not a field of the response schema
    assert fake.requests[-1].method == "POST" and fake.requests[-1].path == "/v1/widgets"
    ident = made["id"]
    assert api.call("get_widget", widget_id=ident) == made
    other = api.call("create_widget", name="cog")
    listed = api.call("list_widgets")
    assert valid(spec, "list_widgets", listed) == []
    assert [w["id"] for w in listed["data"]] == [ident, other["id"]] and listed["total"] == 2
    updated = api.call("update_widget", widget_id=ident, size=5)
    assert valid(spec, "update_widget", updated) == []
    assert updated == {**made, "size": 5}
    assert api.call("get_widget", widget_id=ident)["size"] == 5
    deleted = api.call("delete_widget", widget_id=ident)
    assert deleted == {"id": ident, "deleted": True}
    with pytest.raises(NotFoundError) as info:
        api.call("get_widget", widget_id=ident)
    assert info.value.status_code == 404
    assert [w["id"] for w in api.call("list_widgets")["data"]] == [other["id"]]
    # the store is plain JSON, so it can be written to disk as it is
    assert json.loads(json.dumps(fake.state.store)) == fake.state.store


def test_unknown_ids_are_404_in_the_api_shape(fake: FakeMistral) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for method, path in (("GET", "/v1/widgets/nope"), ("PATCH", "/v1/widgets/nope"), ("DELETE", "/v1/widgets/nope"),
                         ("GET", "/v1/widgets/nope/parts"), ("POST", "/v1/widgets/nope/parts"),
                         ("GET", "/v1/widgets/nope/parts/p1")):
        body = {"label": "x"} if method == "POST" else {"name": "x"} if method == "PATCH" else None
        r = requests.request(method, fake.url + path, json=body, headers=auth, timeout=5)
        assert r.status_code == 404, (method, path)
        error = r.json()
        assert error["object"] == "error" and error["code"] == "not_found" and "nope" in error["message"]


def test_invalid_input_is_422_from_the_row_schema(api: Client, fake: FakeMistral) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    r = requests.post(fake.url + "/v1/widgets", json={"size": "big"}, headers=auth, timeout=5)
    assert r.status_code == 422
    detail = r.json()["message"]["detail"]
    assert {(tuple(d["loc"]), d["type"]) for d in detail} >= {(("body", "size"), "type_error"),
                                                             (("body", "name"), "missing")}
    assert "/v1/widgets" not in fake.state.store  # nothing was created


def test_nested_items_live_under_their_parent(api: Client, fake: FakeMistral, spec: Spec) -> None:
    widget = api.call("create_widget", name="gear")["id"]
    parts = [api.call("create_part", widget_id=widget, label=f"p{n}") for n in range(3)]
    assert all(valid(spec, "create_part", p) == [] for p in parts)
    assert all(p["widget_id"] == widget for p in parts)  # the path parameter laid over its field
    assert api.call("get_part", widget_id=widget, part_id=parts[1]["id"]) == parts[1]
    other = api.call("create_widget", name="cog")["id"]
    with pytest.raises(NotFoundError):
        api.call("get_part", widget_id=other, part_id=parts[1]["id"])
    api.call("delete_widget", widget_id=widget)
    assert not any(key.startswith(f"/v1/widgets/{widget}/") for key in fake.state.store)


def test_pages_and_cursors(api: Client, spec: Spec) -> None:
    ids = [api.call("create_widget", name=f"w{n}")["id"] for n in range(5)]
    assert [w["id"] for w in api.call("list_widgets", name="w3")["data"]] == [ids[3]]  # a field filters
    page = api.call("list_widgets", page=1, page_size=2)
    assert [w["id"] for w in page["data"]] == ids[2:4] and page["total"] == 5
    assert [w["id"] for w in api.paginate("list_widgets", page_size=2)] == ids
    widget = ids[0]
    labels = [api.call("create_part", widget_id=widget, label=f"p{n}")["label"] for n in range(5)]
    first = api.call("list_parts", widget_id=widget, page_size=2)
    assert valid(spec, "list_parts", first) == [] and isinstance(first["next"], str)
    assert [p["label"] for p in api.paginate("list_parts", widget_id=widget, page_size=2)] == labels
    last = api.call("list_parts", widget_id=widget, cursor=first["next"], page_size=10)
    assert [p["label"] for p in last["items"]] == labels[2:] and last["next"] is None


def test_an_id_given_by_the_caller_names_the_item(api: Client) -> None:
    board = api.call("create_board", name="roadmap", color="blue")
    assert board == {"name": "roadmap", "color": "blue"}
    assert api.call("get_board", name="roadmap") == board
    with pytest.raises(Exception) as info:
        api.call("create_board", name="roadmap")
    assert getattr(info.value, "status_code", None) == 409


def test_put_and_patch_on_one_path_share_a_hand_made_handler(api: Client, spec: Spec) -> None:
    made = api.call("create_widget", name="gear")
    assert api.call("replace_widget", widget_id=made["id"], name="cog")["name"] == "cog"  # generic: an update
    seen: list[dict[str, Any]] = []

    def update(state: Any, o: dict[str, Any]) -> JsonReply:
        seen.append(o)
        return JsonReply({"id": o["widget_id"], "object": "widget", "name": o["name"], "created_at": "now"})

    with FakeMistral(spec=spec) as other, make_client(API_KEY, base_url=other.url, spec=spec) as client:
        other.handlers["update_widget"] = update
        assert client.call("replace_widget", widget_id="w9", name="bolt")["name"] == "bolt"
    assert seen == [{"widget_id": "w9", "name": "bolt"}]


def test_items_found_one_level_down(api: Client, spec: Spec) -> None:
    boards = [api.call("create_board", name=f"b{n}") for n in range(3)]
    listed = api.call("list_boards")
    assert valid(spec, "list_boards", listed) == []
    assert listed == {"boards": {"count": 3, "next": None, "results": boards}}


def test_other_rows_answer_a_synthesized_valid_response(api: Client, spec: Spec) -> None:
    found = api.call("search_widgets", query="gear")
    assert valid(spec, "search_widgets", found) == []
    assert len(found["hits"]) == 1 and 0 <= found["took_ms"] < 1
    report = api.call("get_report", report_id="r-42")
    assert valid(spec, "get_report", report) == []
    assert report["report_id"] == "r-42"  # the path parameter, laid over its field
    assert report["title"] == "Quarterly numbers"  # the schema's example
    assert api.call("get_report", report_id="r-42") == report  # deterministic


def test_streams_end_with_the_rows_end_event(api: Client, spec: Spec) -> None:
    events = list(api.call("watch_widget", widget_id="w1", stream=True))
    assert [e["type"] for e in events] == ["progress", "done"]
    assert all(valid(spec, "watch_widget", e, "events") == [] for e in events)
    plain = api.call("watch_widget", widget_id="w1")
    assert valid(spec, "watch_widget", plain) == []


def test_bytes_and_empty_answers(api: Client, fake: FakeMistral) -> None:
    sound = api.call("get_widget_image", widget_id="w1")
    assert isinstance(sound, bytes) and sound[:4] == b"RIFF" and sound[8:12] == b"WAVE"
    assert api.call("ping_widget", widget_id="w1") == {}
    r = requests.post(fake.url + "/v1/widgets/w1/ping", headers={"Authorization": "Bearer k"}, timeout=5)
    assert r.status_code == 204 and r.content == b""


def test_sampled_options_are_valid_and_deterministic(spec: Spec) -> None:
    shapes = Shapes.of(spec)
    for name, ep in spec.endpoints.items():
        options = shapes.options(name)
        validate(ep, options, spec)  # raises when invalid
        assert options == Shapes(spec).options(name)
    assert shapes.options("create_board") == {"name": "name"}  # matches ^[a-z][a-z0-9-]*$


def test_sampler_follows_the_schema() -> None:
    files = {"a.json": {"$defs": {"Pet": {"type": "object", "properties": {"kind": {"const": "cat"}},
                                          "required": ["kind"]}}}}
    sampler = Sampler(files)
    assert sampler.sample({"$ref": "#/$defs/Pet"}, "a.json") == {"kind": "cat"}
    assert sampler.sample({"type": "integer", "exclusiveMinimum": 3, "maximum": 9}, "a.json") == 4
    assert sampler.sample({"type": "number", "minimum": 0, "maximum": 0.25}, "a.json") == 0.25
    assert sampler.sample({"type": "number", "minimum": 0, "exclusiveMaximum": 0.25}, "a.json") == 0.125
    assert sampler.sample({"type": "string", "format": "date-time"}, "a.json") == "2025-01-01T00:00:00Z"
    assert sampler.sample({"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
                          "a.json", name="tag") == ["tag", "tag1"]
    assert sampler.sample({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, "a.json") is False
    both = {"allOf": [{"$ref": "#/$defs/Pet"}, {"properties": {"age": {"type": "integer"}}, "required": ["age"]}]}
    assert sampler.sample(both, "a.json") == {"kind": "cat", "age": 1}
    assert sampler.sample({"type": "object", "properties": {"x": {"type": "string"}}}, "a.json") == {}
    assert sampler.sample({"type": "object", "properties": {"x": {"type": "string"}}}, "a.json", full=True) == {
        "x": "x"}


def test_strings_for_simple_patterns() -> None:
    assert _from_pattern("^[0-9a-f]{16}$") == "0" * 16
    assert _from_pattern(r"^\d{4}-\d{2}$") == "0000-00"
    assert _from_pattern("^[a-z][a-z0-9-]{2,30}$") == "aaa"
