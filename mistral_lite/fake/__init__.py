"""An embedded fake of the Mistral AI REST API for tests and offline development.

``FakeMistral`` serves every operation of ``mistral_lite``'s endpoint table over real HTTP on
127.0.0.1 with in-memory state; ``Fault`` describes a misbehaviour to inject.

Every request is validated against its row's option schema first (422 in the API's shape).
Rows with a hand-made handler (chat, FIM, embeddings, files, agents, conversations, batch and
fine-tuning jobs, libraries, transcription...) behave like the API. Every other row gets the
generic, table-driven behaviour of ``generic.py``, derived from its method and path template
alone: ``POST /x`` creates an item of the collection ``/x`` (when the table has item rows
``/x/{id}``), ``GET /x`` lists, ``GET /x/{id}`` gets, ``PATCH``/``PUT /x/{id}`` updates and
``DELETE /x/{id}`` deletes it, with a 404 for an unknown id or parent; items are plain JSON
dicts in ``State.store``. A ``PUT`` row on the path of a hand-made ``PATCH`` row (or the
reverse) shares that handler. Any other row answers a spec-valid response synthesized from the
row's response schema (``schemas/_responses.json``, examples first) with the request's path
parameters filled in: JSON, bytes (a silent WAV for audio), an empty 204, or a stream of
events ending with the row's end event.

It fails where the API fails: a ``model`` it does not know is the API's 400 ``invalid_model``
(code 1500), a model without the capability an operation needs gets the same shape naming the
capability (``models.py``; ``FakeMistral.add_model`` adds one), and the API's limits apply
(``limits.py``: empty inputs, embedding batch size and tokens, ``max_tokens`` against the
context length, upload size; ``fake.limits`` changes them). Tests script replies
(``FakeMistral.script``), inject faults (``FakeMistral.inject``) and rate limits
(``FakeMistral.rate_limit``); ``FakeMistral(state_dir=...)`` / ``fake-server --state DIR`` keep
the state on disk (``persist.py``). The README's "Testing your code: FakeMistral" section is the
full description of what the fake answers and when it calls tools.

Module map: ``server`` (HTTP, routing, faults; ``FakeMistral.session()`` serves it without
sockets through ``mistral_lite._http.inprocess``), ``routing`` (table-driven routes and
validation), ``state`` (resources), ``inference`` / ``resources`` / ``jobs`` / ``audio`` /
``libraries`` (hand-made handlers), ``realtime`` (the realtime transcription WebSocket),
``generic`` (the generic handler), ``shapes`` (response schemas: synthesized bodies and compiled
checks), ``generate`` (deterministic output and schema-valid values), ``models`` / ``limits`` /
``ratelimit`` (what the API refuses), ``persist`` (state on disk), ``sse`` (event encoding),
``multipart`` (upload parsing), ``scripted`` (canned replies queued with ``FakeMistral.script``),
``pytest_plugin`` (the ``fake_mistral`` fixture).
"""

from typing import TYPE_CHECKING

from mistral_lite._core.lazy import lazy_attributes

if TYPE_CHECKING:  # visible to type checkers; at run time each name loads on first use (see _LAZY)
    from mistral_lite.fake.faults import Fault
    from mistral_lite.fake.inference import chat_completion
    from mistral_lite.fake.server import FakeMistral, RecordedRequest, run

#: Public name -> defining module, imported on first use (PEP 562): the pytest plugin lives in
#: this package, and loading it (every pytest run) must not load the fake, the client or requests.
_LAZY: dict[str, str] = {
    "FakeMistral": "mistral_lite.fake.server",
    "RecordedRequest": "mistral_lite.fake.server",
    "run": "mistral_lite.fake.server",
    "Fault": "mistral_lite.fake.faults",
    "chat_completion": "mistral_lite.fake.inference",
}


if not TYPE_CHECKING:  # hidden from type checkers, which see the imports above: a typo stays an error
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = ["FakeMistral", "Fault", "RecordedRequest", "chat_completion", "run"]
