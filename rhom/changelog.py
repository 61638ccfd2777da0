"""The changelog: ``changed_values``, and the SQLite triggers that fill it.

Every local write to a synced model lands in ``changed_values`` in the same transaction as
the data, whatever wrote it: the Rhom methods (``create``, ``save``, ``update_attributes``,
``destroy``, ``delete_all``) and peewee's own ``insert``, ``insert_many``, ``update`` and
``delete`` alike, because the rows are written by triggers that rhom generates per source at
:func:`rhom.setup`. The triggers apply Rhom's folding rules (rhom-api §12 items 1-3):

* a create is one placeholder row (``attrib='object'``, ``update_type='create'``);
* an edit of an object whose create is still queued writes nothing (the create carries it);
* otherwise an edit queues one ``update`` row per attribute, keeping only the latest value;
  a value that did not change (``NULL`` and ``''`` count as equal) is not logged;
* destroying an object whose create never left the device removes its rows and queues
  nothing; otherwise its queued rows go and one ``delete`` row per attribute is queued
  (fixed schema: per column, NULL ones included, as Rhom's destroy does).

The sync engine writes server data inside :func:`no_changelog`, which the triggers read from
the one-row table ``_rhom_state``; the flag lives in the transaction, so it can never leak
into another writer or survive a crash.

Blob attributes are logged with ``attrib_type='blob.file'`` (Rhodes' tag). Other triggers,
independent of sync, put the path of a replaced or deleted blob into ``_rhom_blob_trash``;
the files go once the transaction has committed (see :mod:`rhom.blobs`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._sql import literal, quote

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "BLOB_ATTRIB_TYPE",
    "ChangeLogEntry",
    "Sent",
    "UpdateType",
    "no_changelog",
]

#: ``changed_values.attrib_type`` of a blob attribute.
BLOB_ATTRIB_TYPE = "blob.file"


class UpdateType(str, enum.Enum):
    """``changed_values.update_type``."""

    CREATE = "create"  # one placeholder row (attrib 'object') until the push expands it
    UPDATE = "update"  # one row per changed attribute, latest value
    DELETE = "delete"  # one row per attribute, carrying its last value
    PUSH_CHANGES = "push_changes"  # marker: push this source even with nothing queued


class Sent(enum.IntEnum):
    """``changed_values.sent``: where a row is in the push cycle."""

    QUEUED = 0  # not yet sent
    IN_FLIGHT = 1  # part of the push being sent now
    AWAITING_LINK = 2  # create accepted by the server, waiting for its link or insert
    CONFIRMED = 3  # create linked, or the object deleted by the server; purged at token 0
    CONFLICT = 4  # the server sent a value over a still unconfirmed created attribute
    IN_DOUBT = 5  # a create in flight when the process died: held until a pull settles it
    RESEND = 6  # an in-doubt create of an object deleted here, sent again until answered


@dataclasses.dataclass(frozen=True)
class ChangeLogEntry:
    """One row of ``changed_values``."""

    id: int
    source_id: int
    object: str | None
    attrib: str | None
    value: str | None
    attrib_type: str | None
    update_type: str
    sent: int


SYSTEM_DDL = """
CREATE TABLE IF NOT EXISTS client_info (
    client_id VARCHAR(255), session VARCHAR(255), token VARCHAR(255),
    token_sent BIGINT DEFAULT 0, reset BIGINT DEFAULT 0, port VARCHAR(10),
    last_sync_success VARCHAR(100));
CREATE TABLE IF NOT EXISTS object_values (
    source_id BIGINT, attrib VARCHAR(255), object VARCHAR(255), value VARCHAR);
CREATE INDEX IF NOT EXISTS by_src_id ON object_values (source_id);
CREATE UNIQUE INDEX IF NOT EXISTS by_src_object ON object_values (object, attrib, source_id);
CREATE INDEX IF NOT EXISTS by_src_value ON object_values (attrib, source_id, value);
CREATE TABLE IF NOT EXISTS changed_values (
    id INTEGER PRIMARY KEY, source_id BIGINT, attrib VARCHAR(255), object VARCHAR(255),
    value VARCHAR, attrib_type VARCHAR(255), update_type VARCHAR(255), sent BIGINT DEFAULT 0);
CREATE INDEX IF NOT EXISTS changed_values_by_object ON changed_values (object, source_id);
CREATE INDEX IF NOT EXISTS changed_values_queued_deletes ON changed_values (source_id)
    WHERE update_type = 'delete' AND sent = 0;
CREATE INDEX IF NOT EXISTS changed_values_blob_files ON changed_values (value)
    WHERE attrib_type = 'blob.file' AND update_type <> 'delete';
CREATE TABLE IF NOT EXISTS sources (
    source_id BIGINT PRIMARY KEY, name VARCHAR(255), token BIGINT DEFAULT 0,
    sync_priority BIGINT, partition VARCHAR(255), sync_type VARCHAR(255), metadata VARCHAR,
    last_updated BIGINT DEFAULT 0, last_inserted_size BIGINT DEFAULT 0,
    last_deleted_size BIGINT DEFAULT 0, last_sync_duration BIGINT DEFAULT 0,
    last_sync_success BIGINT DEFAULT 0, backend_refresh_time BIGINT DEFAULT 0,
    source_attribs VARCHAR, schema VARCHAR, schema_version VARCHAR, associations VARCHAR,
    blob_attribs VARCHAR);
CREATE TABLE IF NOT EXISTS _rhom_state (nolog INTEGER NOT NULL DEFAULT 0);
INSERT INTO _rhom_state (nolog) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM _rhom_state);
CREATE TABLE IF NOT EXISTS _rhom_blob_trash (path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _rhom_config (key TEXT PRIMARY KEY, value TEXT);
"""

#: Tables that resets never empty (``client_info`` only on request).
SYSTEM_TABLES = ("sources", "client_info", "_rhom_state", "_rhom_blob_trash", "_rhom_config")

_LOGGING = "(SELECT nolog FROM _rhom_state) = 0"
_COLUMNS = "source_id, attrib, object, value, attrib_type, update_type, sent"


@contextlib.contextmanager
def no_changelog(database: Database) -> Iterator[None]:
    """Write without logging, inside one transaction of *database*.

    For the sync engine, which applies server data that must not be pushed back::

        with no_changelog(product_db):
            Product.insert(object="42", name="from server").execute()

    The block is a transaction (a savepoint when nested); on error it rolls back.
    """
    with database.atomic():
        before = database.execute_sql("SELECT nolog FROM _rhom_state")[0]["nolog"]
        database.execute_sql("UPDATE _rhom_state SET nolog = 1")
        try:
            yield
        finally:
            if not before:
                database.execute_sql("UPDATE _rhom_state SET nolog = 0")


def drop_triggers(database: Database, source_id: int | None = None) -> None:
    """Drop the triggers rhom generated in *database* for one source (or all of them)."""
    rows = database.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rhom\\_%' ESCAPE '\\'"
    )
    if source_id is not None:
        rows = [r for r in rows if r["name"].split("_")[2:3] == [str(int(source_id))]]
    for row in rows:
        database.execute_sql(f"DROP TRIGGER IF EXISTS {quote(row['name'])}")


def _pending(sid: int, obj: str, extra: str) -> str:
    return f"SELECT 1 FROM changed_values WHERE source_id = {sid} AND object = {obj} AND sent = 0 AND {extra}"


def _log_edit(sid: int, obj: str, attrib: str, value: str, attrib_type: str, when: str = "1") -> str:
    """Statements that queue an edit of one attribute (folding into queued rows)."""
    folded = _pending(sid, obj, f"(update_type = 'create' OR (update_type = 'update' AND attrib = {attrib}))")
    return f"""
    UPDATE changed_values SET value = {value}
     WHERE source_id = {sid} AND object = {obj} AND attrib = {attrib}
       AND update_type = 'update' AND sent = 0;
    INSERT INTO changed_values ({_COLUMNS})
    SELECT {sid}, {attrib}, {obj}, {value}, {attrib_type}, 'update', 0
     WHERE {when} AND NOT EXISTS ({folded});"""


def _log_create(sid: int, obj: str, when: str = "1") -> str:
    return f"""
    INSERT INTO changed_values ({_COLUMNS})
    SELECT {sid}, 'object', {obj}, NULL, NULL, 'create', 0
     WHERE {when} AND NOT EXISTS ({_pending(sid, obj, "update_type = 'create'")});"""


def _changed(old: str, new: str) -> str:
    # Rhom: NULL and '' are the same value; anything else that differs is a change.
    return f"COALESCE({old}, '') IS NOT COALESCE({new}, '')"


def fixed_schema_triggers(table: str, source_id: int, columns: Sequence[tuple[str, bool]]) -> list[str]:
    """Changelog triggers of a synced fixed-schema table.

    :param columns: ``(name, is_blob)`` of every column except ``object``.
    """
    sid, t = int(source_id), quote(table)
    ddl = [
        f"CREATE TRIGGER rhom_log_{sid}_ins AFTER INSERT ON {t} WHEN {_LOGGING} BEGIN"
        f"{_log_create(sid, 'NEW.object')}\nEND"
    ]
    for i, (name, is_blob) in enumerate(columns):
        col, typ = quote(name), literal(BLOB_ATTRIB_TYPE) if is_blob else "NULL"
        ddl.append(
            f"CREATE TRIGGER rhom_log_{sid}_upd_{i} AFTER UPDATE OF {col} ON {t} "
            f"WHEN {_LOGGING} AND {_changed(f'OLD.{col}', f'NEW.{col}')} BEGIN"
            f"{_log_edit(sid, 'NEW.object', literal(name), f'NEW.{col}', typ)}\nEND"
        )
    no_create = _pending(sid, "OLD.object", "update_type = 'create'")
    # Rhom's destroy and delete_all read the whole row (``select_from_table(tableName, '*')``)
    # and queue one delete row per column but ``object``, NULL ones included
    # (rhom_object_factory.rb, destroy, delete_all): a fixed-schema delete names every column
    deletes = "".join(
        f"""
    INSERT INTO changed_values ({_COLUMNS})
    SELECT {sid}, {literal(name)}, OLD.object, OLD.{quote(name)},
           {literal(BLOB_ATTRIB_TYPE) if is_blob else "NULL"}, 'delete', 0
     WHERE NOT EXISTS ({no_create});"""
        for name, is_blob in columns
    )
    if not columns:  # a table of ids only: the object itself is what is deleted
        deletes = f"""
    INSERT INTO changed_values ({_COLUMNS})
    SELECT {sid}, 'object', OLD.object, NULL, NULL, 'delete', 0 WHERE NOT EXISTS ({no_create});"""
    ddl.append(
        f"CREATE TRIGGER rhom_log_{sid}_del AFTER DELETE ON {t} WHEN {_LOGGING} BEGIN"
        f"""
    DELETE FROM changed_values WHERE source_id = {sid} AND object = OLD.object
       AND update_type = 'delete' AND sent = 0;{deletes}
    DELETE FROM changed_values WHERE source_id = {sid} AND object = OLD.object
       AND sent = 0 AND update_type IN ('create', 'update');
END"""
    )
    return ddl


def property_bag_triggers(source_id: int, blob_attribs: Sequence[str]) -> list[str]:
    """Changelog triggers on ``object_values`` for one synced property-bag source."""
    sid = int(source_id)
    typ = _blob_type_case("NEW.attrib", blob_attribs)
    old_typ = _blob_type_case("OLD.attrib", blob_attribs)
    others = (
        f"EXISTS (SELECT 1 FROM object_values WHERE source_id = {sid} AND object = NEW.object AND attrib <> NEW.attrib)"
    )
    # an attribute row added to an existing object is an edit from "absent", unless its value
    # is NULL or '' (Rhom: nil and "" are the same value, so not a change)
    added = f"{others} AND {_changed('NULL', 'NEW.value')}"
    insert = (
        f"CREATE TRIGGER rhom_log_{sid}_ins AFTER INSERT ON object_values "
        f"WHEN NEW.source_id = {sid} AND {_LOGGING} BEGIN"
        # the first attribute row of an object is its create; later ones are edits
        f"{_log_create(sid, 'NEW.object', when=f'NOT {others}')}"
        f"{_log_edit(sid, 'NEW.object', 'NEW.attrib', 'NEW.value', typ, when=added)}\nEND"
    )
    update = (
        f"CREATE TRIGGER rhom_log_{sid}_upd AFTER UPDATE OF value ON object_values "
        f"WHEN NEW.source_id = {sid} AND {_LOGGING} AND {_changed('OLD.value', 'NEW.value')} BEGIN"
        f"{_log_edit(sid, 'NEW.object', 'NEW.attrib', 'NEW.value', typ)}\nEND"
    )
    create_pending = _pending(sid, "OLD.object", "update_type = 'create'")
    delete = (
        f"CREATE TRIGGER rhom_log_{sid}_del AFTER DELETE ON object_values "
        f"WHEN OLD.source_id = {sid} AND {_LOGGING} BEGIN"
        f"""
    DELETE FROM changed_values WHERE source_id = {sid} AND object = OLD.object
       AND attrib = OLD.attrib AND update_type IN ('update', 'delete') AND sent = 0;
    INSERT INTO changed_values ({_COLUMNS})
    SELECT {sid}, OLD.attrib, OLD.object, OLD.value, {old_typ}, 'delete', 0
     WHERE NOT EXISTS ({create_pending});
    DELETE FROM changed_values WHERE source_id = {sid} AND object = OLD.object
       AND update_type = 'create' AND sent = 0
       AND NOT EXISTS (SELECT 1 FROM object_values WHERE source_id = {sid} AND object = OLD.object);
END"""
    )
    return [insert, update, delete]


def _blob_type_case(attrib: str, blob_attribs: Sequence[str]) -> str:
    if not blob_attribs:
        return "NULL"
    names = ", ".join(literal(a) for a in blob_attribs)
    return f"CASE WHEN {attrib} IN ({names}) THEN {literal(BLOB_ATTRIB_TYPE)} END"


def fixed_schema_blob_triggers(table: str, source_id: int, blob_columns: Sequence[str]) -> list[str]:
    """Triggers that put replaced or deleted blob paths of a fixed-schema table in the trash."""
    sid, t, ddl = int(source_id), quote(table), []
    for i, name in enumerate(blob_columns):
        col = quote(name)
        ddl.append(
            f"CREATE TRIGGER rhom_blob_{sid}_upd_{i} AFTER UPDATE OF {col} ON {t} "
            f"WHEN OLD.{col} IS NOT NULL AND OLD.{col} IS NOT NEW.{col} BEGIN "
            f"INSERT INTO _rhom_blob_trash (path) VALUES (OLD.{col}); END"
        )
        ddl.append(
            f"CREATE TRIGGER rhom_blob_{sid}_del_{i} AFTER DELETE ON {t} "
            f"WHEN OLD.{col} IS NOT NULL BEGIN "
            f"INSERT INTO _rhom_blob_trash (path) VALUES (OLD.{col}); END"
        )
    return ddl


def property_bag_blob_triggers(source_id: int, blob_attribs: Sequence[str]) -> list[str]:
    """Triggers that put replaced or deleted blob paths of a bag source in the trash."""
    if not blob_attribs:
        return []
    sid = int(source_id)
    names = ", ".join(literal(a) for a in blob_attribs)
    return [
        f"CREATE TRIGGER rhom_blob_{sid}_upd AFTER UPDATE OF value ON object_values "
        f"WHEN OLD.source_id = {sid} AND OLD.attrib IN ({names}) AND OLD.value IS NOT NULL "
        f"AND OLD.value IS NOT NEW.value BEGIN "
        f"INSERT INTO _rhom_blob_trash (path) VALUES (OLD.value); END",
        f"CREATE TRIGGER rhom_blob_{sid}_del AFTER DELETE ON object_values "
        f"WHEN OLD.source_id = {sid} AND OLD.attrib IN ({names}) AND OLD.value IS NOT NULL BEGIN "
        f"INSERT INTO _rhom_blob_trash (path) VALUES (OLD.value); END",
    ]


def entries(database: Database, *, source_id: int | None = None, object_id: str | None = None) -> list[ChangeLogEntry]:
    """The rows of ``changed_values`` in *database*, oldest first, optionally filtered."""
    sql = f"SELECT id, {_COLUMNS} FROM changed_values WHERE 1"
    params: list[Any] = []
    if source_id is not None:
        sql += " AND source_id = ?"
        params.append(source_id)
    if object_id is not None:
        sql += " AND object = ?"
        params.append(object_id)
    return [ChangeLogEntry(**row) for row in database.execute_sql(sql + " ORDER BY id", params)]
