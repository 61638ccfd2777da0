"""Helpers of the end-to-end tests beyond the fixtures: edits "during" a push, failures.

An edit during a push is made from another thread (its own SQLite connection, as an app's
UI thread would) while the engine holds the push's rows in flight: the ``push_sent``
signal fires after the server answered and before the engine settles the rows
(rhom-api §6.4: the test seam that replaces Rhodes' ``sync_push_callback``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rhom.sync import notify

from .conftest import World, server_down


@contextlib.contextmanager
def during_push(model: Any, edit: Callable[[], Any], *, times: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Run *edit* in another thread while *model*'s next push is in flight.

    Yields the list of ``{"body": ..., "ok": ...}`` of the pushes seen.
    """
    seen: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def receiver(sender: Any, body: Any, ok: bool) -> None:
        seen.append({"body": body, "ok": ok})
        if len(seen) > times:
            return

        def run() -> None:
            try:
                edit()
            except BaseException as exc:  # noqa: BLE001 -- reported in the test's thread
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(30)

    with notify.push_sent.connected_to(receiver, sender=model):
        yield seen
    if errors:
        raise errors[0]
    assert seen, f"{model.__name__} pushed nothing"


@contextlib.contextmanager
def pushes(model: Any) -> Iterator[list[dict[str, Any]]]:
    """Record the bodies of *model*'s pushes (``[{"body": ..., "ok": ...}]``)."""
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, body: Any, ok: bool) -> None:
        seen.append({"body": body, "ok": ok})

    with notify.push_sent.connected_to(receiver, sender=model):
        yield seen


@contextlib.contextmanager
def failing(world: World, kind: str, source: str = "Product") -> Iterator[None]:
    """Make pushes of *source* fail for the block.

    ``network``: the server is down (error 1). ``refused``: the server answers a push
    with 500 ``Unknown source`` (error 2), as it does for a source it does not serve; its
    pull pages then carry a ``query-error``.
    """
    if kind == "network":
        with server_down(world):
            yield
        return
    adapters = world.server.app.state.rhom.adapters
    adapter = adapters.pop(source)
    try:
        yield
    finally:
        adapters[source] = adapter


FAILURES = ("network", "refused")
FAILURE_CODES = {"network": 1, "refused": 2}


def reported_errors(result: Any, source: Any) -> Any:
    """The source's final notification of a run where the server refused something of it.

    Checks that every place an app reads server errors has them (rhom-api §7.4): the
    page's ``error`` notification, the source's final one (error 8, the same errors) and
    the run's result, which is not ``ok``.
    """
    name = source if isinstance(source, str) else source.get_source_name()
    page, end = notes(result, source, "error")
    assert (page.error_code, end.error_code) == (8, 8)
    assert dict(end.server_errors) == dict(page.server_errors) and end.error_message
    assert result.sources[name] is end
    for kind, entry in end.server_errors.items():
        assert result.server_errors[kind] == entry
    assert not result.ok and name in result.failed_sources
    return end


def notes(result: Any, source: Any = None, status: str | None = None) -> list[Any]:
    """The notifications of a result, of one source (model or name) and status."""
    name = source if source is None or isinstance(source, str) else source.get_source_name()
    return [
        n
        for n in result.notifications
        if (source is None or n.source_name == name) and (status is None or n.status == status)
    ]


def row_values(model: Any) -> list[tuple[Any, ...]]:
    """``(object, attrib, update_type, sent, value)`` of the model's changelog rows."""
    from .conftest import rows

    return rows(model, "object", "attrib", "update_type", "sent", "value")
