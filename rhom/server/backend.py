"""Backend-driven changes: a backend that knows what changed writes it into the change log.

A source whose adapter runs a full ``query`` every ``poll_interval`` pays for the whole
data set at each refresh. A backend that knows its own changes (an ORM hook, a message
queue, a nightly import) can instead push them, and clients receive them with their next
page, without any ``query``::

    from rhom.server import backend

    backend.push_objects(app, "Product", {"42": {"price": "9.99"}}, user="alice")
    backend.push_deletes(app, "Product", ["17"], user="alice")

The same calls exist over HTTP as RhoConnect's ``POST /app/v1/{source}/push_objects``,
``push_deletes``, ``fast_insert``, ``fast_update`` and ``fast_delete`` routes (API token
required; docs/server.md). Such a source usually sets ``poll_interval = -1``: a ``query``
that ran later would replace the pushed data with the adapter's result, and the objects
written here that it does not return would vanish from the clients. RhoConnect does the
same; rhom.server logs a warning, once per source, the first time a source that is still
queried is written to.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from rhom.server import live
from rhom.server._call import server_of
from rhom.server._log import Change, log_name, write_objects
from rhom.server._state import Doc, State, partition_key
from rhom.server.adapters import SourceAdapter
from rhom.server.pages import fitting, normalize

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

__all__ = ["delete_attributes", "push_deletes", "push_objects"]

_CHUNK = 1000

logger = logging.getLogger("rhom.server")

#: Adapters whose source was written to while still queried (warned once each).
_warned: weakref.WeakSet[SourceAdapter] = weakref.WeakSet()


def push_objects(
    app: Starlette | Request,
    source: str,
    objects: Mapping[str, Mapping[str, Any]] | Iterable[tuple[Any, Mapping[str, Any]]],
    *,
    user: str | None = None,
) -> int:
    """Merge ``objects`` into the source's data: the given attributes replace or extend
    those the objects have (a new id creates an object). Values become strings.

    :param app: the app :func:`rhom.server.create_app` made, or a request it serves
        (``request`` in a route added with ``create_app(routes=...)``).
    :param source: the source name.
    :param objects: ``{id: {attr: value}}``, or an iterable of ``(id, attrs)`` pairs
        (read in chunks, so a generator can feed millions of objects).
    :param user: whose data; required for a ``partition = "user"`` source, ignored for
        an ``"app"`` one.
    :returns: how many objects changed.
    :raises ValueError: an unknown source, or a user missing for a user partition.
    """
    state, log = _target(app, source, user)
    pairs = objects.items() if isinstance(objects, Mapping) else objects
    changed = 0
    for chunk in _chunks(pairs):
        doc = fitting(state, source, normalize(chunk))
        with state.master_lock(log):
            current = _live(state, log, doc)
            merged: list[Change] = [(oid, {**current.get(oid, {}), **attrs}) for oid, attrs in doc.items()]
            changed += _write(state, log, merged, current)
    _announce(app, source, user, changed)
    return changed


def push_deletes(app: Starlette | Request, source: str, ids: Iterable[Any], *, user: str | None = None) -> int:
    """Delete objects by id (unknown ids are ignored); return how many were deleted.

    :raises ValueError: an unknown source, or a user missing for a user partition.
    """
    state, log = _target(app, source, user)
    deleted = 0
    for chunk in _chunks((str(oid), None) for oid in ids):
        with state.master_lock(log):
            current = _live(state, log, dict(chunk))
            deleted += _write(state, log, [(oid, None) for oid, _ in chunk if oid in current], current)
    _announce(app, source, user, deleted)
    return deleted


def delete_attributes(
    app: Starlette | Request, source: str, objects: Mapping[str, Iterable[str]], *, user: str | None = None
) -> int:
    """Remove the named attributes of objects; an object left with none is deleted.

    :param objects: ``{id: attribute names}`` (a ``{attr: value}`` mapping works too:
        its keys are the names).
    :returns: how many objects changed.
    """
    state, log = _target(app, source, user)
    changed = 0
    for chunk in _chunks((str(oid), [str(a) for a in names]) for oid, names in objects.items()):
        with state.master_lock(log):
            current = _live(state, log, dict(chunk))
            changes: list[Change] = []
            for oid, names in chunk:
                if oid in current:
                    left = {a: v for a, v in current[oid].items() if a not in names}
                    changes.append((oid, left or None))
            changed += _write(state, log, changes, current)
    _announce(app, source, user, changed)
    return changed


def _target(app: Starlette | Request, source: str, user: str | None) -> tuple[State, str]:
    server = server_of(app)
    adapter: SourceAdapter | None = server.adapters.get(source)
    if adapter is None:
        raise ValueError(f"rhom.server: unknown source {source!r}")
    if adapter.pass_through:
        raise ValueError(f"rhom.server: source {source!r} is pass-through: the server keeps no data for it")
    if adapter.partition == "user" and not user:
        raise ValueError(f"rhom.server: source {source!r} is partitioned by user: name the user")
    _warn_if_queried(adapter)
    return server.state, log_name(partition_key(adapter.partition, user or ""), adapter.name)


def _warn_if_queried(adapter: SourceAdapter) -> None:
    """The write is taken (RhoConnect takes it too), but a source whose adapter still runs
    ``query`` loses what its result does not hold at the next refresh: say so, once."""
    if adapter.poll_interval < 0 or type(adapter).changes is not SourceAdapter.changes or adapter in _warned:
        return
    _warned.add(adapter)
    logger.warning(
        "rhom.server: objects written into %s by push_objects (or push_deletes, fast_*) while its adapter is "
        "still queried (poll_interval = %d): the next query replaces the source's data with its result, and "
        "objects it does not return vanish from the clients. Set poll_interval = -1 on a source whose data "
        "comes only through these calls.", adapter.name, adapter.poll_interval,
        extra={"source": adapter.name},
    )  # fmt: skip


def _announce(app: Starlette | Request, source: str, user: str | None, changed: int) -> None:
    """Tell the live clients that read the source that it changed (rhom.server.live)."""
    if not changed:
        return
    server = server_of(app)
    partition = server.adapters[source].partition
    stream = live.APP_STREAM if partition == "app" else live.user_stream(user or "")
    live.publish(server.state, [stream], {"type": "changed", "sources": [source]}, server.hub)


def _live(state: State, log: str, oids: Iterable[str]) -> Doc:
    entries = state.store.log_current(log, oids)
    return {oid: orjson.loads(e.value) for oid, e in entries.items() if e.value is not None}


def _write(state: State, log: str, changes: list[Change], current: Doc) -> int:
    """Write the changes that change something; return how many."""
    effective = [(oid, attrs) for oid, attrs in changes if current.get(oid) != attrs]
    write_objects(state, log, effective, time.time())
    return len(effective)


def _chunks(pairs: Iterable[tuple[str, Any]]) -> Iterable[list[tuple[str, Any]]]:
    chunk: list[tuple[str, Any]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
