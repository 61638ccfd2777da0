"""Recovery from "Unknown client": a client reset that keeps unpushed local changes.

The documented reaction (protocol.md §3.6) is ``database_client_reset`` and a new sync,
which deletes every local change not yet pushed. rhom keeps them: the objects with queued
changes, and the queued rows themselves, are put back after the reset, so the next push
(under the new client id) still sends them.

Creates the server took (``sent=2``) or may have taken (in doubt after a crash) but never
linked lose their link with the old client. Their queued edits cannot be sent as updates
(the server never knew the temporary id: it would create a partial record under it), so
such an object is queued again as a create when the user edited it since, when a kept
object refers to it, or when the first push may never have arrived; the server may then
hold it twice, but nothing the user wrote is lost. An unedited, unreferenced one is
dropped: the server's copy comes back with the next pull. One the user deleted meanwhile
is created again as it was sent, and deleted once linked: the backend's idempotency key
answers the first record, which then goes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .. import _runtime, maintenance
from ..changelog import no_changelog
from ..database import Database
from ._push import IN_DOUBT, RESEND, resend_current
from .source import SyncSource

Kept = tuple[SyncSource, dict[str, dict[str, str]], list[tuple[Any, ...]], list[str]]


def _snapshot() -> list[Kept]:
    """Per source: the objects to restore, the queued rows, the objects to create again."""
    found = []
    referenced: set[Any] = set()
    for model in _runtime.current().models:
        if not model._rhom.is_sync:
            continue
        source = SyncSource(model)
        conn = source.db.connection()
        rows = conn.execute(
            "SELECT source_id, attrib, object, value, attrib_type, update_type, 0 FROM changed_values "
            "WHERE source_id = ? AND sent <= 1 ORDER BY id", (source.id,)).fetchall()  # fmt: skip
        unlinked = dict(conn.execute(
            "SELECT object, MAX(sent) FROM changed_values WHERE source_id = ? AND update_type = 'create' "
            "AND sent IN (2, 4, ?, ?) GROUP BY object", (source.id, IN_DOUBT, RESEND)).fetchall())  # fmt: skip
        if source.pass_through:
            unlinked = {}  # no server memory of creates: one sent is never sent again
        if source.belongs_to:
            live = {r[2] for r in rows if r[5] in ("create", "update")}
            for attrs in source.read_objects(live).values():
                referenced.update(attrs.get(attrib) for attrib in source.belongs_to)
        found.append((source, rows, unlinked))
    kept: list[Kept] = []
    for source, rows, unlinked in found:
        edited = {r[2] for r in rows}
        again = {oid for oid, sent in unlinked.items()
                 if sent in (IN_DOUBT, RESEND) or oid in edited or oid in referenced}  # fmt: skip
        # deleted here while its create waited: the create goes again as it was sent, and
        # its delete after the link (_push.prepare holds it): the record, made or not by
        # the first push, ends deleted once
        deleted = {r[2] for r in rows if r[5] == "delete"} & again
        deleted -= source.existing(deleted)
        rows = [r for r in rows if r[2] not in again or r[2] in deleted]  # the create carries the edits
        if deleted:
            rows += _sent_creates(source, deleted)
        live = {r[2] for r in rows if r[5] in ("create", "update")} | again
        objects = source.read_objects(live)
        kept.append((source, objects, rows, sorted((again - deleted) & objects.keys())))
    return kept


def _sent_creates(source: SyncSource, object_ids: set[str]) -> list[tuple[Any, ...]]:
    """The create rows of *object_ids* as their push sent them (attribute and value), to
    be sent again until answered (``RESEND``): the first push may have made the record."""
    return (
        source.db.connection()
        .execute(
            "SELECT source_id, attrib, object, value, attrib_type, update_type, ? FROM changed_values "
            "WHERE source_id = ? AND update_type = 'create' AND sent IN (2, 4, ?, ?) "
            "AND object IN (SELECT value FROM json_each(?)) ORDER BY id",
            (RESEND, source.id, IN_DOUBT, RESEND, json.dumps(sorted(object_ids))),
        )
        .fetchall()
    )


def reset_keeping_local_changes() -> None:
    def keep() -> Callable[[Database], None]:  # every partition is locked: nothing changes now
        kept = _snapshot()

        def restore(db: Database) -> None:  # inside the transaction that emptied db
            for source, objects, rows, again in kept:
                if source.db is not db:
                    continue
                with no_changelog(db):
                    source.upsert(objects)
                    db.connection().executemany(
                        "INSERT INTO changed_values (source_id, attrib, object, value, attrib_type, update_type, sent) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip
                    # the server may have made them: sent until answered, edits waiting for the link
                    resend_current(source, again)

        return restore

    maintenance._client_reset(reset_local_models=False, keep=keep)
