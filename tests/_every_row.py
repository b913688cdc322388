"""What the every-row fake tests share: valid calls for any row of a table, built from its schemas.

:func:`prepare` gives the options of one valid call of a row: its required options from the
option schema (``Shapes.options``, deterministic; a ``model`` the fake knows can do the
operation), and for each path parameter that indexes a
collection the table can create (``POST`` on the path before ``/{param}``), the id of an item
created first through the client (recursively for parents). The id is read from the creating
call's answer (``generic.id_fields``: the field named like the parameter, ``id``, or the
parameter's last word).

``SETUP`` holds, for the few HAND-MADE handlers that enforce what their option schema cannot
say (one of several options must be given, a version or entry that must exist, a document
that must be processed), a step completing the options; generic rows never need one.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

from mistral_lite import Client
from mistral_lite._table import Spec
from mistral_lite.fake import FakeMistral
from mistral_lite.fake.generic import id_fields
from mistral_lite.fake.models import OPERATION_CAPABILITY, capabilities_of
from mistral_lite.fake.shapes import Shapes

Setup = Callable[[Client, FakeMistral, dict[str, Any]], None]
FT_MODEL = "ft:mistral-small-latest:fake1234:20250101:a1b2c3d4"  # the fake's seeded fine-tuned model


def _set(**values: Any) -> Setup:
    return lambda client, fake, o: o.update(values)


def _alias(client: Client, fake: FakeMistral, o: dict[str, Any]) -> None:
    client.call("create_or_update_agent_alias", agent_id=o["agent_id"], alias=o["alias"], version=0)


def _entry(client: Client, fake: FakeMistral, o: dict[str, Any]) -> None:
    history = client.call("get_conversation_history", conversation_id=o["conversation_id"])
    o["from_entry_id"] = history["entries"][0]["id"]


def _agent(client: Client, fake: FakeMistral, o: dict[str, Any]) -> None:
    o["agent_id"] = client.call("create_agent", model="mistral-small-latest", name="helper")["id"]


SETUP: dict[str, Setup] = {
    "create_conversation": _set(model="mistral-small-latest"),  # model or agent_id
    "create_batch_job": _set(requests=[{"custom_id": "1", "body": {"messages": [{"role": "user", "content": "hi"}]}}]),
    "transcribe_audio": _set(file_url="https://example.com/a.mp3"),  # exactly one of file, file_url, file_id
    "get_model": _set(model_id="mistral-small-latest"),
    **{op: _set(model_id=FT_MODEL) for op in ("delete_model", "update_fine_tuned_model", "archive_fine_tuned_model",
                                              "unarchive_fine_tuned_model")},
    **{op: _set(version=0) for op in ("get_agent_version", "update_agent_version", "create_or_update_agent_alias")},
    "delete_agent_alias": _alias,
    "restart_conversation": _entry,
    "agent_completion": _agent,
    "get_library_document_text": lambda client, fake, o: fake.tick(),
    "get_library_document_extracted_text_url": lambda client, fake, o: fake.tick(),
}
_ITEM = re.compile(r"\{([^{}]+)\}")


def _norm(path: str) -> str:
    return _ITEM.sub("{}", path)


def creator(spec: Spec, collection: str) -> str | None:
    """The row that creates items of the collection path template ``collection``."""
    for ep in spec.endpoints.values():
        if ep.method == "POST" and _norm(ep.path) == _norm(collection):
            return ep.name
    return None


def _accepts_int(spec: Spec, operation: str, param: str) -> bool:
    ep = spec.endpoints[operation]
    return Shapes.of(spec).check(ep.options.get(param, {}), ep.schema_name, 1)


def prepare(client: Client, fake: FakeMistral, operation: str, depth: int = 0) -> dict[str, Any]:
    """The options of one valid call of ``operation`` (creating the items its path names)."""
    spec = fake.router.spec
    ep = spec.endpoints[operation]
    options = Shapes.of(spec).options(operation)
    if isinstance(options.get("model"), str) and operation in OPERATION_CAPABILITY:  # a model able to do it
        needed = OPERATION_CAPABILITY[operation]
        options["model"] = next(card["id"] for card in fake.state.models.values()
                                if needed is None or needed in capabilities_of(fake.state, card))
    for match in _ITEM.finditer(ep.path):
        param = match.group(1)
        make = creator(spec, ep.path[: match.start() - 1])
        if make is None or make == operation or depth > 4:
            continue
        parent = prepare(client, fake, make, depth + 1)
        for name in ep.path_params:  # an item lives under the same parents
            if name in parent and name != param:
                options[name] = parent[name]
        with warnings.catch_warnings():  # the creating row may be deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            made = client.call(make, **parent)
        ident = next((made[f] for f in id_fields(param) if f in made), None) if isinstance(made, dict) else None
        if ident is not None:
            options[param] = ident if isinstance(ident, int) and _accepts_int(spec, operation, param) else str(ident)
    if operation in SETUP:
        SETUP[operation](client, fake, options)
    return options
