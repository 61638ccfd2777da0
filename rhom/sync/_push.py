"""Push: turn a source's changelog into one CUD request, and settle the rows afterwards.

The ``sent`` states (rhom.changelog.Sent) move as protocol.md §5.2 and §5.6 describe,
with two deliberate differences:

* held-back rows (objects whose create awaits its link, and dependents pointing at them)
  are never touched, so an edit of a held-back object cannot be lost (§5.2 hazard);
* create rows found ``sent=1`` when a push starts were in flight when the process died,
  and those of a push sent without an answer (:func:`settle_in_doubt`): the server may
  or may not have created the object. They are not pushed again (that
  could create a second server record); they wait, like ``sent=2`` rows, for the pull to
  bring their link. If the pull completes without it, :func:`requeue_lost_creates` turns
  them back into a queued create, or, for an object deleted here meanwhile, into rows
  sent again (``sent=6``) until the server answers, the delete held until the link.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import blobs
from ..changelog import BLOB_ATTRIB_TYPE, Sent
from . import _unanswered, protocol
from .source import SyncSource, write_transaction

#: Rows of a crashed push are re-marked with this state while their fate is unknown.
IN_DOUBT = int(Sent.IN_DOUBT)
#: The rows of an in-doubt create whose object was deleted here, sent again: they keep
#: this state until the server answers (a link, or a create-error), so that no failure
#: of a later push can take them for a first attempt and drop them with their delete.
RESEND = int(Sent.RESEND)


@dataclasses.dataclass
class PushBatch:
    """What one push sends, and the changelog rows it covers."""

    create: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    update: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    delete: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    uploads: list[protocol.BlobUpload] = dataclasses.field(default_factory=list)
    blob_fields: set[str] = dataclasses.field(default_factory=set)
    row_ids: list[int] = dataclasses.field(default_factory=list)
    marker_ids: list[int] = dataclasses.field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.update or self.delete or self.marker_ids)

    def body(self, source: str, client_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"source_name": source, "client_id": client_id}
        for key in ("create", "update", "delete"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        if self.blob_fields:
            body["blob_fields"] = sorted(self.blob_fields)
        return body


def _ids(rows: Iterable[Any]) -> str:
    return json.dumps([r[0] for r in rows])


def prepare(
    source: SyncSource,
    owners: dict[str, SyncSource],
    *,
    only: set[str] | None = None,
    skip: frozenset[str] | set[str] = frozenset(),
) -> PushBatch:
    """Collect the rows to push and mark them in flight, in one transaction.

    :param only: push just these objects (``None``: all).
    :param skip: leave these objects out.
    """
    db, sid = source.db, source.id
    with write_transaction(db):
        conn = db.connection()
        # A push that died in flight: its creates are in doubt (see module doc).
        conn.execute(
            "UPDATE changed_values SET sent = ? WHERE source_id = ? AND sent = 1 AND update_type = 'create'",
            (IN_DOUBT, sid),
        )
        _expand_markers(source)
        held = _held_back(source, owners)
        if source.full_update:
            _expand_full_update(source, held)
        batch = PushBatch()
        rows = conn.execute(
            "SELECT id, object, attrib, value, attrib_type, update_type FROM changed_values "
            "WHERE source_id = ? AND (sent <= 1 OR sent = ?) ORDER BY object, id",
            (sid, RESEND),
        ).fetchall()
        # an object with create rows here and other rows is one sent again (RESEND): edited
        # or deleted while its create's fate was unknown, its other rows wait for the link
        # (a queued create folds edits into itself, and a delete of it queues nothing)
        creating = {r[1] for r in rows if r[5] == "create"}
        for row_id, oid, attrib, value, attrib_type, update_type in rows:
            if update_type == "push_changes":
                batch.marker_ids.append(row_id)
                continue
            if oid in held or update_type not in ("create", "update", "delete"):
                continue
            if update_type != "create" and oid in creating:
                continue
            if oid in skip or (only is not None and oid not in only):
                continue
            section: dict[str, dict[str, str]] = getattr(batch, update_type)
            attrs = section.setdefault(oid, {})
            batch.row_ids.append(row_id)
            if attrib == "object":
                continue
            if attrib_type == BLOB_ATTRIB_TYPE and value and update_type != "delete":
                if not _add_upload(batch, attrib, oid, value):
                    continue  # a file gone (its object deleted): never send its name instead
                batch.blob_fields.add(attrib)
            attrs[attrib] = "" if value is None else value
        if batch.row_ids:
            conn.execute(
                "UPDATE changed_values SET sent = 1 WHERE sent = 0 AND id IN (SELECT value FROM json_each(?))",
                (json.dumps(batch.row_ids),),
            )
    return batch


def _add_upload(batch: PushBatch, attrib: str, oid: str, value: str) -> bool:
    """Add the file a blob value names to the push; whether the value is to be sent (a
    file that is gone is not: the server would record a name nothing holds)."""
    try:
        path: Path = blobs.path(value)
    except Exception:
        return True  # not a local file (a URL the server gave): sent as it is, nothing to upload
    if not path.is_file():
        return False
    batch.uploads.append(protocol.BlobUpload(attrib, oid, path))
    return True


def _expand_markers(source: SyncSource) -> None:
    """Replace object markers (a queued create) by one row per non-NULL attribute."""
    conn, sid = source.db.connection(), source.id
    markers = conn.execute(
        "SELECT id, object, update_type FROM changed_values WHERE source_id = ? AND attrib = 'object' "
        "AND sent = 0 AND update_type IN ('create', 'update')",
        (sid,),
    ).fetchall()
    if not markers:
        return
    _queue_as_they_are(source, [(oid, update_type) for _, oid, update_type in markers], 0)
    conn.execute("DELETE FROM changed_values WHERE id IN (SELECT value FROM json_each(?))", (_ids(markers),))


def _queue_as_they_are(source: SyncSource, changes: Sequence[tuple[str, str]], sent: int) -> None:
    """Queue ``(object, update_type)`` changes as rows of the objects' current attributes
    (blob ones typed as such), in state *sent*; an object no longer here queues nothing."""
    data = source.read_objects(oid for oid, _ in changes)
    rows = [
        (source.id, attrib, oid, value, BLOB_ATTRIB_TYPE if attrib in source.blob_attribs else None, update_type, sent)
        for oid, update_type in changes
        for attrib, value in data.get(oid, {}).items()
    ]
    source.db.connection().executemany(
        "INSERT INTO changed_values (source_id, attrib, object, value, attrib_type, update_type, sent) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _held_back(source: SyncSource, owners: dict[str, SyncSource]) -> set[str]:
    """Objects not to push now: creates awaiting a link, and dependents of such creates."""
    conn, sid = source.db.connection(), source.id
    held = _awaiting_link(source)
    for attrib, owner_names in source.belongs_to.items():
        for owner_name in owner_names:
            owner = owners.get(owner_name)
            if owner is None:
                continue
            pending = _unconfirmed_creates(owner)
            if not pending:
                continue
            candidates = {r[0] for r in conn.execute(
                "SELECT DISTINCT object FROM changed_values WHERE source_id = ? AND sent <= 1", (sid,))}  # fmt: skip
            for oid, attrs in source.read_objects(candidates).items():
                if attrs.get(attrib) in pending:
                    held.add(oid)
    return held


def _awaiting_link(source: SyncSource) -> set[str]:
    rows = source.db.connection().execute(
        "SELECT DISTINCT object FROM changed_values WHERE source_id = ? AND sent >= 2 AND sent <> ?",
        (source.id, RESEND),
    )
    return {r[0] for r in rows}


def _unconfirmed_creates(owner: SyncSource) -> set[str]:
    """Owner objects the server does not know under their final id yet.

    Not only creates awaiting their link (sent >= 2): a create still queued (sent 0) or
    in doubt after a crash, then re-queued by :func:`requeue_lost_creates`, has no
    server id either. A dependent pushed now would carry the temporary id to the server,
    where no link ever rewrites it.
    """
    rows = owner.db.connection().execute(
        "SELECT DISTINCT object FROM changed_values WHERE source_id = ? AND update_type = 'create' AND sent <> 3",
        (owner.id,),
    )
    return {r[0] for r in rows}


def _expand_full_update(source: SyncSource, held: set[str]) -> None:
    conn, sid = source.db.connection(), source.id
    pending = conn.execute(
        "SELECT object, attrib FROM changed_values WHERE source_id = ? AND sent = 0 AND update_type = 'update'",
        (sid,),
    ).fetchall()
    have: dict[str, set[str]] = {}
    for oid, attrib in pending:
        if oid not in held:
            have.setdefault(oid, set()).add(attrib)
    rows = []
    for oid, attrs in source.read_objects(have).items():
        for attrib, value in attrs.items():
            if attrib not in have[oid]:
                typ = BLOB_ATTRIB_TYPE if attrib in source.blob_attribs else None
                rows.append((sid, attrib, oid, value, typ))
    conn.executemany(
        "INSERT INTO changed_values (source_id, attrib, object, value, attrib_type, update_type, sent) "
        "VALUES (?, ?, ?, ?, ?, 'update', 0)",
        rows,
    )


def settle_success(source: SyncSource, batch: PushBatch) -> None:
    """The server took the push: creates await their link, the rest is done. Errors kept
    for the objects pushed are settled: the server answers this push on its own."""
    db = source.db
    ids = json.dumps(batch.row_ids + batch.marker_ids)
    with write_transaction(db):
        conn = db.connection()
        pushed = {*batch.create, *batch.update, *batch.delete}
        _unanswered.forget(conn, source.id, pushed, kinds=("create-error", "update-error", "delete-error"))
        creates_to = "DELETE FROM changed_values" if source.pass_through else "UPDATE changed_values SET sent = 2"
        conn.execute(
            f"{creates_to} WHERE sent IN (1, ?) AND update_type = 'create' AND id IN (SELECT value FROM json_each(?))",
            (RESEND, ids),
        )
        conn.execute(
            "DELETE FROM changed_values WHERE id IN (SELECT value FROM json_each(?)) "
            "AND (update_type = 'push_changes' OR (sent = 1 AND update_type IN ('update', 'delete')))",
            (ids,),
        )


def settle_failure(source: SyncSource, batch: PushBatch) -> None:
    """The push failed: put every row back in the queue, as protocol.md §5.6 says."""
    db, sid = source.db, source.id
    ids = json.dumps(batch.row_ids)
    with write_transaction(db):
        conn = db.connection()
        created = [r[0] for r in conn.execute(
            "SELECT DISTINCT object FROM changed_values WHERE sent = 1 AND update_type = 'create' "
            "AND id IN (SELECT value FROM json_each(?))", (ids,))]  # fmt: skip
        alive = source.existing(created)
        for oid in created:
            conn.execute("DELETE FROM changed_values WHERE source_id = ? AND object = ?", (sid, oid))
            if oid in alive:  # one placeholder again; the next push expands current data
                conn.execute(
                    "INSERT INTO changed_values (source_id, attrib, object, update_type, sent) "
                    "VALUES (?, 'object', ?, 'create', 0)",
                    (sid, oid),
                )
        # an update typed during the push wins over the one in flight
        conn.execute(
            "DELETE FROM changed_values AS c WHERE c.sent = 1 AND c.update_type = 'update' "
            "AND c.id IN (SELECT value FROM json_each(?)) AND EXISTS (SELECT 1 FROM changed_values n "
            "WHERE n.source_id = c.source_id AND n.object = c.object AND n.attrib = c.attrib "
            "AND n.sent = 0 AND n.update_type = 'update')",
            (ids,),
        )
        conn.execute(
            "UPDATE changed_values SET sent = 0 WHERE sent = 1 AND update_type IN ('update', 'delete') "
            "AND id IN (SELECT value FROM json_each(?))",
            (ids,),
        )


def settle_in_doubt(source: SyncSource, batch: PushBatch) -> None:
    """The push was sent and no answer came: the server may have made its creates.

    The creates are in doubt, as after a crash in flight: they are not sent again but
    wait for the pull to bring their links (:func:`requeue_lost_creates` queues them
    again if a complete pull brings none). Updates and deletes go back in the queue:
    sending them twice changes nothing.
    """
    with write_transaction(source.db):
        source.db.connection().execute(
            "UPDATE changed_values SET sent = ? WHERE sent = 1 AND update_type = 'create' "
            "AND id IN (SELECT value FROM json_each(?))",
            (IN_DOUBT, json.dumps(batch.row_ids)),
        )
    settle_failure(source, batch)


def settle_refused(source: SyncSource, batch: PushBatch) -> dict[str, dict[str, dict[str, str]]]:
    """The server refused the push of one object as too large: the object fails alone.

    Its creates wait like creates the server refused (held back until the app answers
    ``on_sync_create_error``); its updates and deletes leave the queue (the app may
    answer ``on_sync_update_error(..., "retry")``). Returns the sections sent, by kind.
    """
    with write_transaction(source.db):
        conn = source.db.connection()
        ids = json.dumps(batch.row_ids)
        conn.execute(
            "UPDATE changed_values SET sent = 2 WHERE sent IN (1, ?) AND update_type = 'create' "
            "AND id IN (SELECT value FROM json_each(?))",
            (RESEND, ids),
        )
        conn.execute(
            "DELETE FROM changed_values WHERE sent = 1 AND update_type IN ('update', 'delete') "
            "AND id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
    return {kind: getattr(batch, kind) for kind in ("create", "update", "delete") if getattr(batch, kind)}


def requeue_lost_creates(source: SyncSource) -> int:
    """After a complete pull: in-doubt creates that got no link are sent again.

    The server either never made the record, or made it and lost the link with its reply
    (killed between the two): sent again, the create is made once, or answered with its
    link through the server's memory of the client's creates or the backend's
    ``idempotency_key``. An object still here goes back to one placeholder (its current
    data is pushed, edits made meanwhile included). One the app deleted meanwhile keeps
    its in-doubt rows, to be sent again (``RESEND``) until the server answers them: its
    create resolves its fate, and its queued delete, held until the link comes
    (:func:`prepare`), then deletes the record -- whichever it is -- exactly once.
    """
    db, sid = source.db, source.id
    with write_transaction(db):
        conn = db.connection()
        rows = conn.execute(
            "SELECT DISTINCT object FROM changed_values WHERE source_id = ? AND sent = ?", (sid, IN_DOUBT)
        )
        lost = [r[0] for r in rows]
        if source.pass_through:
            # no server copy, no links, no memory of creates: sent again, one would be made
            # twice; dropped, as a pass-through create is once sent (Rhodes deletes it then)
            conn.execute("DELETE FROM changed_values WHERE source_id = ? AND sent = ?", (sid, IN_DOUBT))
            return len(lost)
        alive = source.existing(lost)
        for oid in lost:
            if oid not in alive:
                conn.execute(
                    "UPDATE changed_values SET sent = ? WHERE source_id = ? AND object = ? AND sent = ?",
                    (RESEND, sid, oid, IN_DOUBT),
                )
        # sent again with the object's current data, edits made while in doubt included
        # (their update rows would name a temporary id)
        resend_current(source, [oid for oid in lost if oid in alive])
    return len(lost)


def resend_current(source: SyncSource, object_ids: Sequence[str]) -> None:
    """Queue the creates of *object_ids*, which the server may have made already, as the
    objects are now, in state ``RESEND`` (sent until the server answers): a later failure
    cannot take them for a first attempt, a later edit or delete waits for the link, and
    the object's other queued rows go (the create carries them). Runs in the caller's
    transaction."""
    if not object_ids:
        return
    source.db.connection().execute(
        "DELETE FROM changed_values WHERE source_id = ? AND object IN (SELECT value FROM json_each(?))",
        (source.id, json.dumps(list(object_ids))),
    )
    _queue_as_they_are(source, [(oid, "create") for oid in object_ids], RESEND)
