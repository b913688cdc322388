"""Workflows built from the table: pagination and waiters.

* ``paginate`` reads a row's ``paginate`` field (page/page_size, offset/limit, or a cursor) and yields items
  across pages, stopping at the reported total, on an empty page, on a short page when there
  is no total, or when the cursor runs out. Bare-array lists page the same way.
* ``wait`` polls a row that declares ``wait`` (its status field and terminal states), never
  through the cache, until a terminal state, and raises :class:`WaitTimeout` with the last state
  seen when time runs out.

The rules (:class:`Pager`, :class:`Waiter`) do no I/O; the loops here drive them with the sync
client, and ``mistral_lite._http.aio`` drives the same rules with ``await``. ``run_batch``
(Mistral's batch API as one call) lives with the other batch code, in
:mod:`mistral_lite._bulk.jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mistral_lite._core.call import find_endpoint
from mistral_lite._core.inputs import positive_number_problem
from mistral_lite.exceptions import MistralError, ValidationError, WaitTimeout

if TYPE_CHECKING:
    from mistral_lite._core.settings import ClientBase
    from mistral_lite._table import Endpoint
    from mistral_lite.client import Client

__all__ = ["Pager", "Waiter", "paginate", "single_page_items", "wait"]


def single_page_items(result: Any) -> list[Any]:
    """The items of the answer of a row that does not page: a bare array's elements, else the
    list under ``data`` or ``items`` (or the answer's only list), else the answer itself."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        lists = [key for key, value in result.items() if isinstance(value, list)]
        key = next((k for k in ("data", "items") if k in lists), lists[0] if len(lists) == 1 else None)
        if key is not None:
            return list(result[key])
    return [result]


def _endpoint(client: ClientBase, operation: str) -> Endpoint:
    return find_endpoint(client.operations, operation)


class Pager:
    """The paging rule of a row, without I/O: the options of each page, the items of each result.

    ``first()`` gives the first page's options; ``step(result)`` the page's items and the next
    page's options (None: that was the last page).
    """

    def __init__(self, client: ClientBase, operation: str, options: dict[str, Any]) -> None:
        endpoint = _endpoint(client, operation)
        how = endpoint.paginate or {"style": "single", "items": None}  # a row that does not page: one page
        self.operation, self._how, self._items_key = operation, how, how["items"]
        self._cursor = how["style"] == "cursor"
        self._by_offset = how["style"] == "offset"
        self._single = how["style"] == "single"
        if self._cursor:
            self._token = options.pop(how["cursor"], None)
            self._seen_tokens: set[Any] = set()
        elif self._by_offset:  # the offset moves by the items received; a short or empty page is the last
            self._offset = int(options.pop(how["offset"], 0) or 0)
            limit = how["limit"]
            self._limit = options.get(limit) or endpoint.options.get(limit, {}).get("default")
        elif not self._single:
            self._page = int(options.pop("page", 0) or 0)
            page_size = options.get("page_size")
            self._expected = page_size or endpoint.options.get("page_size", {}).get("default")
            self._total_key = how.get("total") or ""
            self._seen = 0
            self._previous: list[Any] | None = None
        self._options = options

    def _items_of(self, result: Any) -> list[Any]:
        found = result if self._items_key == "" else (result or {}).get(self._items_key) or []
        return list(found) if isinstance(found, list) else []

    def first(self) -> dict[str, Any]:
        if self._single:
            return dict(self._options)
        if self._cursor:
            return self._cursor_options()
        if self._by_offset:
            return {**self._options, self._how["offset"]: self._offset}
        return {**self._options, "page": self._page}

    def _cursor_options(self) -> dict[str, Any]:
        return {**self._options, self._how["cursor"]: self._token} if self._token else dict(self._options)

    def step(self, result: Any) -> tuple[list[Any], dict[str, Any] | None]:
        if self._single:
            return single_page_items(result), None
        items = self._items_of(result)
        operation = self.operation
        if self._cursor:
            token = result.get(self._how["next"]) if isinstance(result, dict) else None
            if not token:
                return items, None
            if token in self._seen_tokens:
                raise MistralError(f"{operation}: the server returned the cursor {token!r} twice; "
                                   "stopping instead of looping", operation=operation)
            self._seen_tokens.add(token)
            self._token = token
            return items, self._cursor_options()
        if self._by_offset:
            if not items or (isinstance(self._limit, int) and len(items) < self._limit):
                return items, None
            self._offset += len(items)
            return items, {**self._options, self._how["offset"]: self._offset}
        page = self._page
        if items and items == self._previous:
            raise MistralError(f"{operation}: page {page} repeats page {page - 1} (does the server ignore "
                               "`page`?); stopping instead of looping", operation=operation)
        self._previous = items
        self._seen += len(items)
        total = _dig(result, self._total_key) if self._total_key else None
        if not items or (isinstance(total, int) and self._seen >= total):
            return items, None
        if not isinstance(total, int) and isinstance(self._expected, int) and len(items) < self._expected:
            return items, None  # no total to go by: a short page is the last one
        self._page = page + 1
        return items, {**self._options, "page": self._page}


def paginate(client: Client, operation: str, args: tuple[Any, ...], options: dict[str, Any]) -> Iterator[Any]:
    pager = Pager(client, operation, options)
    page: dict[str, Any] | None = pager.first()
    while page is not None:
        items, page = pager.step(client.call(operation, *args, **page))
        yield from items


def _dig(value: Any, dotted: str) -> Any:
    """``value["a"]["b"]`` for ``"a.b"``; None where a step is missing."""
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Waiter:
    """A row's waiting rule, without I/O: ``step(state)`` is None when done, else the seconds to sleep."""

    def __init__(
        self, client: ClientBase, operation: str, *, timeout: float, interval: float, clock: Callable[[], float],
        on_progress: Any = None, max_interval: float | None = None,
    ) -> None:
        endpoint = find_endpoint(client.operations, operation)  # an unknown name: UnknownOperationError
        if not endpoint.wait:
            waitable = sorted(n for n, e in client.operations.items() if e.wait)
            raise MistralError(f"{operation} cannot be waited on; these can: {', '.join(waitable)}",
                               operation=operation)
        problems = [(name, p) for name, p in (
            ("interval", positive_number_problem(interval)), ("timeout", positive_number_problem(timeout, zero=True)),
            ("on_progress", None if on_progress is None or callable(on_progress)
             else "expected a function of the state"),
        ) if p]
        if problems:
            raise ValidationError(operation, problems)
        self.operation, self.timeout, self.interval, self.clock = operation, timeout, interval, clock
        self.max_interval = max_interval  # with it, each wait is 1.5 times the last, up to it
        self.field, self.terminal = endpoint.wait["status_field"], set(endpoint.wait["terminal"])
        self.deadline = clock() + timeout

    def step(self, result: Any) -> float | None:
        status = result.get(self.field) if isinstance(result, dict) else None
        if status in self.terminal:
            return None
        left = self.deadline - self.clock()
        if left <= 0:
            raise WaitTimeout(
                f"{self.operation} did not reach a terminal state ({', '.join(sorted(self.terminal))}) within "
                f"{self.timeout:g} s; last {self.field}: {status!r}",
                operation=self.operation, last=result,
            )
        pause = min(self.interval, left)
        if self.max_interval is not None:
            self.interval = min(self.max_interval, self.interval * 1.5)
        return pause


def wait(
    client: Client,
    operation: str,
    args: tuple[Any, ...],
    options: dict[str, Any],
    *,
    timeout: float,
    interval: float,
    on_progress: Callable[[Any], None] | None,
    max_interval: float | None = None,
) -> Any:
    """Poll every ``interval`` seconds; with ``max_interval``, each wait is 1.5 times the last,
    up to ``max_interval`` (start short, back off)."""
    waiter = Waiter(client, operation, timeout=timeout, interval=interval, clock=client.clock,
                    on_progress=on_progress, max_interval=max_interval)
    poller = client.with_options(cache=False)
    while True:
        result = poller.call(operation, *args, **options)
        if on_progress is not None:
            on_progress(result)
        pause = waiter.step(result)
        if pause is None:
            return result
        client.sleep(pause)
