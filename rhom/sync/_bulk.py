"""Bulk sync (protocol.md §7): install a server-built SQLite file per partition, then blobs.

Run by the engine once the session and client id are ready, while ``bulksync_state`` is
0 (or 2: blobs still to fetch):

1. Per partition holding synced models (``user``, then ``app``; never ``local``): ask
   ``bulk_data`` with every synced source name (§7.2), polling every
   ``client.bulksync_timeout`` seconds (stoppable) while the server answers ``wait``.
   ``nop`` ends the partition; ``url:""`` is a bulk error.
2. Download ``<url>.rzip`` (the bare ``<url>`` if that gets a 4xx), judge the payload by
   its signature (ZIP, gzip or SQLite; never ``Content-Type``), unpack it into a temporary
   folder of the data folder and check it is a sound SQLite file with the §10.1 tables.
3. Install its data in ONE transaction per database (below).
4. ``bulksync_state = 2``; the blob phase (§8.3) downloads every blob value that is a URL
   and stores the file's name (one small transaction each); then ``bulksync_state = 1``.

Notifications (§7.7, ``sync_type="bulk"``): ``start`` (partition ``""``); per partition
``start``, ``download``, ``change_db``, ``ok`` (``nop``: ``ok`` with status ``ok``);
``blobs``; ``complete`` with status ``ok``. A failing partition sends ``bulk_status=""``,
status ``error`` with its ``error_code``, and the run ends in error with
``bulksync_state`` still 0. A failing blob sends ``error`` (status ``in_progress``, no
code), leaves the state at 2 and lets the incremental sync go on.

Decisions
---------
* **Swap the data, not the file.** The C++ client swaps the file in, copies its own state
  across (``client_info``, the change log with source ids remapped by name, pending
  changes re-applied) and adopts the server's source ids. rhom gets the same result from
  the other side: in one transaction of the live database it deletes the rows of each
  source the file carries, inserts the file's rows under *rhom's* source id (matched by
  name), re-applies pending local changes and updates the ``sources`` row (token 0,
  metadata, ``source_attribs``, ``backend_refresh_time``). rhom's schema, typed columns,
  triggers, source ids, ``client_info``, settings and change log stay as they are; a crash
  leaves the old data or the new, never half; other threads' connections stay valid.
* **Sources swapped**: every synced source whose row in the file's ``sources`` has a
  ``sync_type`` other than ``none``, also one of this partition switched off here with
  ``set_sync_type("none")`` and so not requested: the file replaces the partition's data,
  as Rhodes swaps the whole file (bulksync_spec "should do selective bulk sync"), and that
  source is emptied. Its pending local changes stay, and the server is asked at the next
  run to forget what this client holds of it, so its data comes back whole when it is
  switched on again. Sources the file does not list keep their data. One the server files under this partition but
  the app keeps in another is installed into its own database: handing the file out moved
  its server-side state to the snapshot (§7.3 step 4), so skipping it would lose data. A
  source is read from the file's table named like it if there is one (fixed schema), else
  from ``object_values``; either fills either layout. Attributes a frozen model does not
  declare are dropped, as in a pull.
* **Pending local changes survive** (§7.4 step 3): queued creates (the whole object) and
  updates (the changed attributes) are upserted over the new data, queued deletes applied
  again. Creates accepted but not linked yet (``sent`` 2, or in doubt) are kept too: the
  coming link merges them, whereas dropping them would lose data.
* **Local models in a synced partition** (§15 q10) keep their rows: only synced sources
  the file carries are touched.
* **Blob files** (§15 q15): only files of the swapped sources whose values are gone are
  deleted (blob trash, after the commit, if nothing still names them); other files stay.
* **``-rhoblob`` names** (§8.3 step 1) are stored bare. Those the model does not declare
  as blobs are kept in the partition's ``_rhom_config`` (``bulk_blob_attribs``), in the
  same transaction, for a blob phase retried after a restart. A blob URL the app set
  itself and has not pushed is the user's value, not the server's: it is not downloaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _runtime, _sql, blobs
from ..changelog import no_changelog
from ..database import PARTITIONS, Database
from ..exceptions import ServerError, SyncError
from . import _state, notify, protocol
from ._bulk_file import _download, _open_read_only, check_file
from .notify import SyncNotification
from .source import BLOB_SUFFIX, SyncSource

if TYPE_CHECKING:
    from ._host import SyncHost
    from .engine import SyncRun

__all__ = ["BulkState", "check_file", "partitions", "run"]

log = logging.getLogger("rhom.sync")


class BulkState(str, enum.Enum):
    """The ``bulksync_state`` setting (rhom-api §6.6, protocol.md §7.1)."""

    PENDING = "0"  # bulk sync at the start of the next run
    DONE = "1"  # nothing to do (also when the setting is absent)
    BLOBS = "2"  # files installed, blobs still to download


#: The key in a partition's ``_rhom_config`` naming blob attributes the server marked.
BLOB_ATTRIBS_KEY = "bulk_blob_attribs"

#: Objects read from a bulk file and written in one go.
CHUNK = 2000

_TEMP_PREFIX = ".rhom-bulk-"


def run(client: SyncHost, sync_run: SyncRun) -> None:
    """Run the bulk sync (or only its blob phase, when ``bulksync_state`` is 2).

    :raises SyncError: a partition could not be bulk-synced (after its ``error``
        notification); ``bulksync_state`` is then unchanged.
    :raises StopRequested: the application stopped the sync.
    """
    if _state.get_config("bulksync_state") == BulkState.PENDING.value:
        _remove_stale_temp_dirs()
        _phase(client, "start", "")
        for partition in partitions(sync_run.active):
            _sync_partition(client, sync_run, partition)
        _state.set_config("bulksync_state", BulkState.BLOBS.value)
    if not _blob_phase(client, sync_run):
        return
    _state.set_config("bulksync_state", BulkState.DONE.value)
    _phase(client, "complete", "", status="ok")


def partitions(sources: Sequence[SyncSource]) -> list[str]:
    """The partitions to bulk-sync: those holding a synced source, ``local`` never."""
    used = {s.partition for s in sources}
    return [p for p in PARTITIONS if p != "local" and p in used]


# -- notifications ---------------------------------------------------------------------


def _emit(client: SyncHost, note: SyncNotification) -> None:
    """Report a bulk phase: the call's notification list, ``bulk_progress``, the ``*`` callback.

    Not ``client._notify``: that sends ``sync_finished`` for any notification without a
    source, and a bulk phase is not the end of the run.
    """
    collected = client._collected
    if collected is not None:
        collected.append(note)
    notify.bulk_progress.send(client, notification=note, bulk_status=note.bulk_status, partition=note.partition)
    entry = client._callbacks.get("*")
    if entry is None:
        return
    callback, data = entry
    try:
        callback(note.with_data(data))
    except Exception:
        log.exception("a sync notification callback raised")


def _phase(client: SyncHost, bulk_status: str, partition: str, status: str = "in_progress") -> None:
    _emit(client, SyncNotification(status=status, sync_type="bulk", bulk_status=bulk_status, partition=partition))


# -- one partition ---------------------------------------------------------------------------


def _sync_partition(client: SyncHost, sync_run: SyncRun, partition: str) -> None:
    from .engine import StopRequested

    _phase(client, "start", partition)
    try:
        reply = _request(client, sync_run, partition)
        if reply.result == "nop":
            _phase(client, "ok", partition, status="ok")
            return
        if not reply.is_ready:
            raise ServerError(
                f'bulk data of partition {partition!r}: the server could not build the file (url "")',
                status_code=200,
            )
        assert reply.url is not None
        _phase(client, "download", partition)
        with tempfile.TemporaryDirectory(prefix=_TEMP_PREFIX, dir=_runtime.current().data_dir) as tmp:
            bulk_path = _download(sync_run, reply.url, Path(tmp))
            sync_run.check_stop()
            _phase(client, "change_db", partition)
            off = [s for s in sync_run.sources if s.sync_type == "none" and s.partition == partition
                   and not _awaiting_links(s)]  # fmt: skip
            installed = _install(partition, sync_run.active, bulk_path, emptied=off)
            _forget_on_server([s.name for s in installed if s in off])
        _phase(client, "ok", partition)
    except StopRequested:
        raise
    except SyncError as exc:
        log.warning("bulk sync of partition %s failed: %s", partition, exc)
        note = sync_run.error_notification(exc)
        _emit(client, dataclasses.replace(note, sync_type="bulk", bulk_status="", partition=partition))
        raise


def _request(client: SyncHost, sync_run: SyncRun, partition: str) -> protocol.BulkReply:
    """Ask for the partition's file until the server stops answering ``wait`` (§7.3)."""
    names = [s.name for s in sync_run.active]
    started = time.monotonic()
    polls = 0
    while True:
        sync_run.check_stop()
        reply = sync_run.transport.call(protocol.bulk_data(partition, names, client_id=sync_run.client_id))
        if reply.result != "wait":
            return reply
        waited = time.monotonic() - started
        if waited >= client.bulksync_max_wait:
            raise ServerError(
                f"bulk data of partition {partition!r}: the server still answered wait after {polls + 1} "
                f"requests over {waited:.0f} s (bulksync_max_wait={client.bulksync_max_wait:g}). A server "
                f"whose bulk_sync_poll_interval is shorter than the client's bulksync_timeout "
                f"({client.bulksync_timeout:g} s) builds a new file before every poll",
                status_code=200,
            )
        polls += 1
        log.debug("bulk data of partition %s: wait", partition)
        sync_run.stop.wait(max(min(float(client.bulksync_timeout), client.bulksync_max_wait - waited), 0.0))


def _remove_stale_temp_dirs() -> None:
    """Folders left by a bulk sync that died (they are never in use at this point)."""
    for path in _runtime.current().data_dir.glob(_TEMP_PREFIX + "*"):
        shutil.rmtree(path, ignore_errors=True)


# -- installing the data ----------------------------------------------------------------------


@dataclasses.dataclass
class _Pending:
    """A source's unpushed local changes, read before its rows are replaced."""

    #: objects created locally (temporary ids)
    creates: set[str]
    #: object -> the attributes edited locally (None: all of them, a full_update marker)
    updates: dict[str, set[str] | None]
    #: object -> attributes deleted locally
    deletes: dict[str, set[str]]
    #: the current local values of those objects
    values: dict[str, dict[str, str]]


def _awaiting_links(source: SyncSource) -> bool:
    """Whether a create of *source* waits for its link (or its fate): a server reset of
    the source would take the link with it. Such a switched-off source keeps its data;
    a later bulk sync empties it."""
    row = (
        source.db.connection()
        .execute(
            "SELECT 1 FROM changed_values WHERE source_id = ? AND update_type = 'create' "
            "AND sent IN (2, 4, 5, 6) LIMIT 1",
            (source.id,),
        )
        .fetchone()
    )
    if row is not None:
        log.info("bulk sync: %s is switched off but a create of it waits for its link: its data stays", source.name)
    return row is not None


def _forget_on_server(names: list[str]) -> None:
    """Ask the server, at the next run, to forget what this client holds of *names*.

    A source switched off here (``set_sync_type("none")``) is not requested, so the file
    emptied it; the server still counts its objects as delivered. Reset there, they all
    come again once the source is switched on (Rhodes, which swaps the file, would page
    only later changes: the rest would be missing for good).
    """
    if not names:
        return
    info = _state.client_info()
    pending = _state.get_config("reset_models")
    if info.get("reset") and not pending:
        return  # a reset of every source is already due
    merged = sorted({n for n in (pending or "").split(",") if n} | set(names))
    _state.set_config("reset_models", ",".join(merged))
    _state.set_client_info(reset=1)


def _install(
    partition: str, sources: Sequence[SyncSource], path: Path, *, emptied: Sequence[SyncSource] = ()
) -> list[SyncSource]:
    """Replace the data of the sources the file carries, one transaction per database;
    return those sources.

    Usually every source of the file lives in *partition*. One the server files under this
    partition but the app keeps in another is installed too, into its own database:
    handing the file out moved the client's server-side state of that source to the
    snapshot (§7.3 step 4), so skipping it would lose its data until a reset.

    :param emptied: sources not requested (switched off here) that the file lists:
        emptied, whatever rows the file has for them.
    """
    with contextlib.closing(_open_read_only(path)) as bulk:
        rows = {str(r["name"]): r for r in _rows(bulk, "SELECT * FROM sources")}
        carried = [(s, rows[s.name]) for s in sources if s.name in rows and rows[s.name].get("sync_type") != "none"]
        carried += [(s, rows[s.name]) for s in emptied if s.name in rows]
        known = {s.name for s in sources}
        for name, row in rows.items():
            if name not in known and row.get("sync_type") != "none":
                log.info("bulk file of partition %s: source %s is not synced here; ignored", partition, name)
        groups: dict[Database, list[tuple[SyncSource, dict[str, Any]]]] = {}
        for source, row in sorted(carried, key=lambda c: c[0].partition != partition):
            if source.partition != partition:
                log.info("bulk file of partition %s carries %s, kept in %s", partition, source.name, source.partition)
            groups.setdefault(source.db, []).append((source, row))
        for db, group in groups.items():
            _install_into(db, bulk, group, empty={s.name for s in emptied})
    for db in groups:
        blobs.sweep(db)
    return [source for source, _ in carried]


def _install_into(db: Database, bulk: sqlite3.Connection, carried: Sequence[tuple[SyncSource, dict[str, Any]]],
                  *, empty: Collection[str] = ()) -> None:  # fmt: skip
    """Swap the data of *carried* in *db*; the sources named in *empty* get none of the
    file's rows (it was not built for them: any it has are not this client's now)."""
    with db.lock(), no_changelog(db):
        marked: dict[str, list[str]] = _blob_names_marked(db)
        for source, row in carried:
            pending = _read_pending(source)
            source.delete_all()
            count, blob_names = (0, set()) if source.name in empty else _copy(bulk, source, row)
            _reapply(source, pending)
            extra = sorted(blob_names - set(source.blob_attribs))
            if extra:
                marked[source.name] = sorted(set(marked.get(source.name, [])) | set(extra))
            _update_source_row(source, row, count)
            log.info("bulk sync: %s now holds %d objects from the server", source.name, count)
        _set_partition_config(db, BLOB_ATTRIBS_KEY, json.dumps(marked) if marked else None)


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, tuple(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _read_pending(source: SyncSource) -> _Pending:
    pending = _Pending(set(), {}, {}, {})
    # sent 0/1: not pushed (or in flight); 2, 5 and 6: creates the server may not have linked
    rows = source.db.connection().execute(
        "SELECT object, attrib, update_type, sent FROM changed_values WHERE source_id = ? "
        "AND object IS NOT NULL AND (sent <= 2 OR sent IN (5, 6)) ORDER BY id",
        (source.id,),
    )
    for oid, attrib, update_type, sent in rows:
        if update_type == "create":
            pending.creates.add(oid)
        elif update_type == "update" and attrib:
            current = pending.updates.setdefault(oid, set())
            if attrib == "object":
                pending.updates[oid] = None
            elif current is not None:
                current.add(attrib)
        elif update_type == "delete" and sent <= 1 and attrib:
            pending.deletes.setdefault(oid, set()).add(attrib)
    pending.values = source.read_objects(pending.creates | set(pending.updates) | set(pending.deletes))
    return pending


def _reapply(source: SyncSource, pending: _Pending) -> None:
    """Put the local changes back over the server's data (§7.4 step 3).

    An object the server no longer has is not brought back by a local *update*: as in a
    pull, the server's delete wins over the edit (whose changelog rows stay queued).
    """
    upserts = {oid: pending.values[oid] for oid in pending.creates if oid in pending.values}
    removed: dict[str, dict[str, str]] = {}
    present = source.existing(pending.updates)
    for oid, attrs in pending.updates.items():
        local = pending.values.get(oid)
        if oid in upserts or oid not in present or local is None:
            continue
        names = set(local) if attrs is None else attrs
        upserts[oid] = {a: local[a] for a in names if a in local}
        gone = {a: "" for a in names if a not in local}
        if gone:
            removed[oid] = gone
    if upserts:
        source.upsert(upserts)
    whole = [oid for oid in pending.deletes if oid not in pending.values]
    if whole:
        source.delete_objects(whole)
    for oid, attrs in pending.deletes.items():
        local = pending.values.get(oid)
        gone = {a: "" for a in attrs if local is not None and a not in local and a != "object"}
        if gone:
            removed.setdefault(oid, {}).update(gone)
    if removed:
        source.delete_attributes(removed)


def _copy(bulk: sqlite3.Connection, source: SyncSource, row: Mapping[str, Any]) -> tuple[int, set[str]]:
    """Write the file's objects of *source* under rhom's source id; return (count, blob names)."""
    count = 0
    blob_names: set[str] = set()
    local_of: dict[str, str | None] = {}
    for chunk in _bulk_objects(bulk, source.name, row.get("source_id")):
        objects: dict[str, dict[str, str]] = {}
        for oid, attrs in chunk.items():
            kept: dict[str, str] = {}
            for name, value in attrs.items():
                if name not in local_of:
                    local_of[name] = _local_name(source, name)
                local = local_of[name]
                if local is None:
                    continue
                if local != name:
                    blob_names.add(local)
                kept[local] = value
            objects[oid] = kept
        source.upsert(objects)
        count += len(objects)
    return count, blob_names


def _local_name(source: SyncSource, name: str) -> str | None:
    """The attribute a file's name is stored as, or None to drop it (§8.3 step 1, freezed)."""
    local = name[: -len(BLOB_SUFFIX)] if name.endswith(BLOB_SUFFIX) else name
    if local == "object" or not source.accepts(local):
        return None
    return local


def _bulk_objects(bulk: sqlite3.Connection, name: str, bulk_id: Any) -> Iterator[dict[str, dict[str, str]]]:
    """The file's objects of source *name*, ``CHUNK`` at a time, values as text."""
    columns = [r[1] for r in bulk.execute(f"PRAGMA table_info({_sql.quote(name)})")]
    if "object" in columns:  # a fixed-schema table named like the source (§7.6)
        cursor = bulk.execute(f"SELECT * FROM {_sql.quote(name)}")
        names = [d[0] for d in cursor.description]
        while True:
            batch = cursor.fetchmany(CHUNK)
            if not batch:
                return
            chunk: dict[str, dict[str, str]] = {}
            for values in batch:
                attrs = dict(zip(names, values, strict=True))
                oid = attrs.pop("object")
                if oid is not None:
                    chunk[str(oid)] = {a: _as_text(v) for a, v in attrs.items() if v is not None}
            yield chunk
    cursor = bulk.execute(
        "SELECT object, attrib, value FROM object_values WHERE source_id = ? AND object IS NOT NULL "
        "AND attrib IS NOT NULL AND value IS NOT NULL ORDER BY object",
        (bulk_id,),
    )
    chunk = {}
    for oid, attrib, value in cursor:
        key = str(oid)
        if key not in chunk and len(chunk) >= CHUNK:
            yield chunk
            chunk = {}
        chunk.setdefault(key, {})[str(attrib)] = _as_text(value)
    if chunk:
        yield chunk


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _update_source_row(source: SyncSource, row: Mapping[str, Any], count: int) -> None:
    """The server's facts about the source; its id, type and schema stay rhom's."""
    attribs = row.get("source_attribs") or ""
    pairs = attribs.split(",") if attribs else []
    names = [n[: -len(BLOB_SUFFIX)] if n.endswith(BLOB_SUFFIX) else n for n in pairs[0::2]]
    attribs = ",".join(f"{n},{c}" for n, c in zip(names, pairs[1::2], strict=False))
    source.db.execute_sql(
        "UPDATE sources SET token = 0, metadata = ?, source_attribs = ?, backend_refresh_time = ?, "
        "last_inserted_size = ? WHERE source_id = ?",
        (row.get("metadata"), attribs or None, _int(row.get("backend_refresh_time")), count, source.id),
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _get_partition_config(db: Database, key: str) -> str | None:
    rows = db.execute_sql("SELECT value FROM _rhom_config WHERE key = ?", (key,))
    return rows[0]["value"] if rows else None


def _set_partition_config(db: Database, key: str, value: str | None) -> None:
    if value is None:
        db.execute_sql("DELETE FROM _rhom_config WHERE key = ?", (key,))
    else:
        db.execute_sql(
            "INSERT INTO _rhom_config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _blob_names_marked(db: Database) -> dict[str, list[str]]:
    raw = _get_partition_config(db, BLOB_ATTRIBS_KEY)
    try:
        loaded = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): [str(n) for n in v] for k, v in loaded.items()} if isinstance(loaded, dict) else {}


# -- blobs (§8.3) -------------------------------------------------------------------------------


def _blob_phase(client: SyncHost, sync_run: SyncRun) -> bool:
    """Download every blob value that is still a URL; False (after ``error``) on a failure."""
    from .engine import StopRequested

    _phase(client, "blobs", "")
    databases: set[Database] = set()
    try:
        for source in sync_run.active:
            if source.partition == "local":
                continue
            databases.add(source.db)
            marked = _blob_names_marked(source.db).get(source.name, [])
            for attrib in sorted(set(source.blob_attribs) | set(marked)):
                for oid, url in _url_values(source, attrib):
                    sync_run.check_stop()
                    _fetch_blob(sync_run, source, oid, attrib, url)
    except StopRequested:
        raise
    except SyncError as exc:
        log.warning("bulk sync: a blob download failed: %s", exc)
        _phase(client, "error", "")
        return False
    for db in databases:
        _set_partition_config(db, BLOB_ATTRIBS_KEY, None)
    return True


def _url_values(source: SyncSource, attrib: str) -> list[tuple[str, str]]:
    """``(object, url)`` of the server's blob URLs of *attrib*.

    A value the app itself set and has not pushed yet (a queued create of the object, or
    a queued update of the attribute) is the user's, not a server URL: it is left alone.
    """
    conn = source.db.connection()
    if source.fixed:
        if attrib not in source._fields:
            return []
        col = _sql.quote(attrib)
        sql = f"SELECT object, {col} FROM {source.table} WHERE {col} LIKE '%://%'"
        found = [(str(o), str(v)) for o, v in conn.execute(sql)]
    else:
        rows = conn.execute(
            "SELECT object, value FROM object_values WHERE source_id = ? AND attrib = ? AND value LIKE '%://%'",
            (source.id, attrib),
        )
        found = [(str(o), str(v)) for o, v in rows]
    if not found:
        return []
    own = {
        str(r[0])
        for r in conn.execute(
            "SELECT object FROM changed_values WHERE source_id = ? AND sent <= 1 AND (update_type = 'create' "
            "OR (update_type = 'update' AND attrib IN (?, 'object')))",
            (source.id, attrib),
        )
    }
    return [(oid, url) for oid, url in found if oid not in own]


def _fetch_blob(sync_run: SyncRun, source: SyncSource, oid: str, attrib: str, url: str) -> None:
    """Download one blob and store its name, unless the value changed meanwhile."""
    name = sync_run.download(url)
    db = source.db
    with db.lock(), no_changelog(db):
        conn = db.connection()
        if source.fixed:
            col = _sql.quote(attrib)
            cursor = conn.execute(
                f"UPDATE {source.table} SET {col} = ? WHERE object = ? AND {col} = ?", (name, oid, url)
            )
        else:
            cursor = conn.execute(
                "UPDATE object_values SET value = ? WHERE source_id = ? AND object = ? AND attrib = ? AND value = ?",
                (name, source.id, oid, attrib, url),
            )
        replaced = cursor.rowcount > 0
    if not replaced:  # a local edit won: the file is nobody's
        with contextlib.suppress(Exception):
            blobs.path(name).unlink(missing_ok=True)
    blobs.sweep(db)
