"""An embedded fake of the Mistral AI REST API for tests and offline development.

``FakeMistral`` serves the operations of ``mistral_lite``'s endpoint table over real HTTP on
127.0.0.1 with in-memory state; ``Fault`` describes a misbehaviour to inject. Module map:
``server`` (HTTP, routing, faults), ``routing`` (table-driven routes and validation),
``state`` (resources), ``inference`` / ``resources`` / ``jobs`` / ``audio`` / ``libraries``
(handlers), ``generate``
(deterministic output), ``sse`` (event encoding), ``multipart`` (upload parsing).
"""

from .faults import Fault
from .server import FakeMistral, RecordedRequest, run

__all__ = ["FakeMistral", "Fault", "RecordedRequest", "run"]
