"""Server errors kept until the app answers them, in the device's own database.

The server reports a refused create, update or delete once, on the page after the push
(RhoConnect clears it when the page is acknowledged), and Rhodes' engine hands it to
the app in one notification (``SyncSource::processServerErrors``). A refused create
leaves its rows at ``sent = 2`` until ``on_sync_create_error`` answers it: if the app
missed the notification (it crashed, or it is a shell running ``rhom sync``) the object
stays stuck with nothing left to say why. So every error a page brings is also written
into the partition's ``_rhom_server_errors`` table, in the page's own transaction:

* object errors (``create-error``, ``update-error`` with its ``update-rollback`` values,
  ``delete-error``, and rhom's own ``blob-error`` for a file the server would not hand
  out) stay until answered: ``on_sync_*_error`` deletes them in its transaction; a later
  successful push of the object, a page linking it (a create sent again), and for a
  blob the file downloaded after all, delete them too;
* source errors (``query-error``, ``login-error``, ...) are the last run's: the end of
  the source's next run keeps the ones it saw again and drops the others.

The table is not one of the system tables, so the resets empty it with the data. Its
rows read back in the notifications' ``server_errors`` shape (``SyncClient.unanswered_errors``,
``rhom errors``), so an app answers them with the calls it already knows.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from .. import blobs
from ..changelog import no_changelog
from .source import SyncSource, write_transaction

log = logging.getLogger("rhom.sync")

TABLE = "_rhom_server_errors"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    source_id BIGINT NOT NULL, kind TEXT NOT NULL, object TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '', attributes TEXT, rollback TEXT, since REAL NOT NULL,
    PRIMARY KEY (source_id, kind, object))"""

#: Kinds kept per object, until answered. ``blob-error`` is rhom's own: a file a page
#: named that the server refused to hand out (404, 403, ...).
OBJECT_KINDS = ("create-error", "update-error", "delete-error", "blob-error")
#: What each kind's answer may be, as ``on_sync_*_error`` takes it (rhom-api §2.4).
ACTIONS = {"create-error": ("delete", "recreate"), "update-error": ("retry", "rollback"), "delete-error": ("retry",)}

Connection = Any  # a sqlite3.Connection, or what peewee's Database.connection() returns


@dataclasses.dataclass(frozen=True)
class KeptError:
    """One unanswered error, as the table keeps it."""

    source_id: int
    kind: str
    object: str | None  # None for a source error
    message: str
    attributes: dict[str, str]
    rollback: dict[str, str] | None
    since: _dt.datetime


def exists(conn: Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone())


def _text_attrs(attrs: Any) -> dict[str, str]:
    if not isinstance(attrs, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in attrs.items()}


def record(conn: Connection, source_id: int, errors: Mapping[str, Any], *, messages: bool = True,
           now: float | None = None) -> None:  # fmt: skip
    """Keep *errors* (the ``server_errors`` shape of a page or a push) on the caller's
    connection and transaction. An error already kept keeps its ``since``.

    :param messages: keep source errors too (not for a search's pages: a
        ``search-error`` belongs to that search call).
    """
    if not errors:
        return
    now = time.time() if now is None else now
    conn.execute(DDL)
    upsert = (f"INSERT INTO {TABLE} (source_id, kind, object, message, attributes, since) VALUES (?, ?, ?, ?, ?, ?) "
              "ON CONFLICT (source_id, kind, object) DO UPDATE SET message = excluded.message, "
              "attributes = excluded.attributes")  # fmt: skip
    for kind, entry in errors.items():
        if kind == "update-rollback" or not isinstance(entry, Mapping):
            continue
        if kind in OBJECT_KINDS:
            for oid, item in entry.items():
                item = item if isinstance(item, Mapping) else {}
                attrs = json.dumps(_text_attrs(item.get("attributes")), sort_keys=True)
                conn.execute(upsert, (source_id, kind, str(oid), str(item.get("message") or ""), attrs, now))
        elif messages:
            conn.execute(upsert, (source_id, kind, "", str(entry.get("message") or ""), None, now))
    for oid, item in (errors.get("update-rollback") or {}).items():
        attrs = json.dumps(_text_attrs(item.get("attributes") if isinstance(item, Mapping) else None), sort_keys=True)
        conn.execute(
            f"INSERT INTO {TABLE} (source_id, kind, object, rollback, since) VALUES (?, 'update-error', ?, ?, ?) "
            "ON CONFLICT (source_id, kind, object) DO UPDATE SET rollback = excluded.rollback",
            (source_id, str(oid), attrs, now),
        )


def record_blob(conn: Connection, source_id: int, oid: str, attrib: str, url: str, message: str) -> None:
    """Keep a blob the server would not hand out: ``attributes`` names its URL, for the
    download tried again at the next run (:func:`retry_blobs`)."""
    conn.execute(DDL)
    row = conn.execute(
        f"SELECT attributes FROM {TABLE} WHERE source_id = ? AND kind = 'blob-error' AND object = ?", (source_id, oid)
    ).fetchone()
    attrs = {**(json.loads(row[0] or "{}") if row else {}), attrib: url}
    conn.execute(
        f"INSERT INTO {TABLE} (source_id, kind, object, message, attributes, since) "
        "VALUES (?, 'blob-error', ?, ?, ?, ?) ON CONFLICT (source_id, kind, object) DO UPDATE SET "
        "message = excluded.message, attributes = excluded.attributes",
        (source_id, oid, message, json.dumps(attrs, sort_keys=True), time.time()),
    )


def settle_messages(conn: Connection, source_id: int, seen: Collection[str]) -> None:
    """The end of a source's run: drop the source errors it did not report again."""
    if not exists(conn):
        return
    kinds = json.dumps(sorted(seen))
    conn.execute(
        f"DELETE FROM {TABLE} WHERE source_id = ? AND object = '' AND kind NOT IN (SELECT value FROM json_each(?))",
        (source_id, kinds),
    )


def forget(conn: Connection, source_id: int, objects: Iterable[str], kinds: Collection[str] = OBJECT_KINDS) -> None:
    """Drop the errors of *objects* (answered, pushed again, linked)."""
    ids = [str(o) for o in objects]
    if not ids or not exists(conn):
        return
    conn.execute(
        f"DELETE FROM {TABLE} WHERE source_id = ? AND kind IN (SELECT value FROM json_each(?)) "
        "AND object IN (SELECT value FROM json_each(?))",
        (source_id, json.dumps(list(kinds)), json.dumps(ids)),
    )


def has_blob_errors(conn: Connection, source_id: int) -> bool:
    return exists(conn) and bool(
        conn.execute(f"SELECT 1 FROM {TABLE} WHERE source_id = ? AND kind = 'blob-error' LIMIT 1", (source_id,))
        .fetchone()
    )  # fmt: skip


def forget_blobs(conn: Connection, source_id: int, touched: Mapping[str, Iterable[str]]) -> None:
    """A page brought (or removed) these ``{object: attributes}``: a blob error of one of
    them is settled, whatever the page says about it now."""
    if not touched or not has_blob_errors(conn, source_id):
        return
    found = conn.execute(
        f"SELECT object, attributes FROM {TABLE} WHERE source_id = ? AND kind = 'blob-error' "
        "AND object IN (SELECT value FROM json_each(?))",
        (source_id, json.dumps(list(touched))),
    ).fetchall()
    for oid, raw in found:
        names = {n[: -len("-rhoblob")] if n.endswith("-rhoblob") else n for n in touched[oid]}
        _set_blob_urls(conn, source_id, oid, {a: u for a, u in json.loads(raw or "{}").items() if a not in names})


def _set_blob_urls(conn: Connection, source_id: int, oid: str, urls: Mapping[str, str]) -> None:
    if urls:
        conn.execute(
            f"UPDATE {TABLE} SET attributes = ? WHERE source_id = ? AND kind = 'blob-error' AND object = ?",
            (json.dumps(dict(urls), sort_keys=True), source_id, oid),
        )
    else:
        conn.execute(f"DELETE FROM {TABLE} WHERE source_id = ? AND kind = 'blob-error' AND object = ?",
                     (source_id, oid))  # fmt: skip


def rows(conn: Connection, source_id: int | None = None) -> list[KeptError]:
    """The kept errors (of one source), oldest first."""
    if not exists(conn):
        return []
    sql = f"SELECT source_id, kind, object, message, attributes, rollback, since FROM {TABLE}"
    params: tuple[Any, ...] = ()
    if source_id is not None:
        sql, params = sql + " WHERE source_id = ?", (source_id,)
    out = []
    for sid, kind, oid, message, attrs, rollback, since in conn.execute(sql + " ORDER BY since, kind, object", params):
        out.append(KeptError(
            source_id=int(sid), kind=kind, object=oid if kind in OBJECT_KINDS else None, message=message or "",
            attributes=json.loads(attrs) if attrs else {}, rollback=json.loads(rollback) if rollback else None,
            since=_dt.datetime.fromtimestamp(float(since), _dt.timezone.utc),
        ))  # fmt: skip
    return out


def as_server_errors(kept: Iterable[KeptError]) -> dict[str, Any]:
    """Kept errors in the notifications' ``server_errors`` shape, each entry with its
    ``since`` (an aware UTC datetime): ``{kind: {object: {"message", "attributes",
    "since"}}, "update-rollback": {object: {"attributes"}}, "query-error": {"message",
    "since"}}``."""
    out: dict[str, Any] = {}
    for error in kept:
        if error.object is None:
            out[error.kind] = {"message": error.message, "since": error.since}
            continue
        out.setdefault(error.kind, {})[error.object] = {
            "message": error.message, "attributes": dict(error.attributes), "since": error.since,
        }  # fmt: skip
        if error.rollback is not None:
            out.setdefault("update-rollback", {})[error.object] = {"attributes": dict(error.rollback)}
    return out


def of_source(source: SyncSource) -> list[KeptError]:
    return rows(source.db.connection(), source.id)


def record_now(source: SyncSource, errors: Mapping[str, Any]) -> None:
    """:func:`record` in a transaction of its own (errors no page brought: a push refused
    as too large)."""
    with write_transaction(source.db):
        record(source.db.connection(), source.id, errors)


def retry_blobs(source: SyncSource, download: Callable[[str], str]) -> None:
    """Download again the files of the source's ``blob-error`` entries: the server may
    hand them out now. A file that comes is stored as the object's value (no changelog
    row: it is the server's); one that still fails stays kept, silently (its page's run
    reported it). An object gone, or given a file here meanwhile, settles its entry."""
    conn = source.db.connection()
    kept = [e for e in rows(conn, source.id) if e.kind == "blob-error"]
    for error in kept:
        assert error.object is not None
        current = source.read_objects([error.object]).get(error.object)
        left = dict(error.attributes)
        fetched: dict[str, str] = {}
        for attrib, url in error.attributes.items():
            if current is None or current.get(attrib):
                left.pop(attrib)  # the object is gone, or has a file now
                continue
            try:
                fetched[attrib] = download(url)
            except Exception as exc:  # never fails the run: the page that named it did
                log.info("%s %s: %s still not downloaded: %s", source.name, error.object, attrib, exc)
                continue
            left.pop(attrib)
        with write_transaction(source.db), no_changelog(source.db):
            if fetched and source.existing([error.object]):
                source.write_values({error.object: fetched})
                fetched = {}
            _set_blob_urls(source.db.connection(), source.id, error.object, left)
        for value in fetched.values():  # the object went meanwhile: its files with it
            blobs.path(value).unlink(missing_ok=True)
