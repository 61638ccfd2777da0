"""SyncSource: one model seen by the sync engine -- its state and its data, as text.

The engine speaks in strings (every value on the wire is one); a SyncSource turns them
into the model's storage and back, for both layouts. Every method runs on the caller's
connection and inside the caller's transaction: the engine decides where those are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .. import _sql
from ..database import Database
from ..fields import _text

Objects = Mapping[str, Mapping[str, str]]

#: Suffix the server puts on blob attribute names in pages (protocol.md §8.1).
BLOB_SUFFIX = "-rhoblob"


def write_transaction(db: Database) -> Any:
    """A transaction of *db* that takes the write lock when it begins (``BEGIN IMMEDIATE``).

    The engine's transactions read before they write. A deferred transaction that has read
    cannot take the write lock once another connection -- the application writing while
    the sync thread works -- has committed since: SQLite answers "database is locked" at
    once (SQLITE_BUSY_SNAPSHOT), without waiting. Taking the lock first makes it wait for
    the other writer (``busy_timeout``) instead. Nested in a transaction, it is a savepoint.
    """
    return db.peewee.atomic("IMMEDIATE")


_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


class SyncSource:
    """The sync view of one model class."""

    def __init__(self, model: Any) -> None:
        opts = model._rhom
        self.model = model
        self.name: str = opts.source_name
        self.id: int = opts.require_source_id()
        self.partition: str = opts.partition
        self.db: Database = opts.database
        self.fixed: bool = opts.fixed_schema
        self.priority: int = opts.sync_priority
        self.sync_type: str = opts.run_sync_type
        self.belongs_to: dict[str, tuple[str, ...]] = dict(opts.belongs_to)
        self.blob_attribs: dict[str, bool] = dict(opts.blob_attribs)
        #: source properties (setSourceProperty): full_update, pass_through, freezed
        self.properties: dict[str, str] = {}
        self._declared = set(opts.fields)
        self._freezed = opts.freezed
        self._full_update = opts.full_update
        self._pass_through = opts.pass_through
        if self.fixed:
            self.table = _sql.quote(model._meta.table_name)
            self._fields = {f.name: f for f in model._meta.sorted_fields if f.name != "object"}
            # text needs no conversion for text columns: skip the call on the pull's hot path
            self._convert = {n: None if f.field_type in ("VARCHAR", "TEXT") else self._to_column
                             for n, f in self._fields.items()}  # fmt: skip

    def __repr__(self) -> str:
        return f"<SyncSource {self.name} #{self.id}>"

    # -- options -------------------------------------------------------------------------

    def _flag(self, name: str, default: bool) -> bool:
        value = self.properties.get(name)
        return default if value is None else value.strip().lower() in _TRUE

    @property
    def full_update(self) -> bool:
        return self._flag("full_update", self._full_update)

    @property
    def pass_through(self) -> bool:
        return self._flag("pass_through", self._pass_through)

    def accepts(self, attrib: str) -> bool:
        """Whether a server attribute is stored: a frozen source keeps its declared
        attributes and drops the others.

        The ``freezed`` source property, when set, overrides ``Meta.freezed``: a flag
        (``true``/``1``/``yes``, ``false``/``0``/``no``) freezes the source to its
        declared attributes or opens it; any other value is the comma list of the
        attribute names accepted (rhom-api §6.4). A fixed-schema source stores its
        columns only, whatever the property says.
        """
        allowed = self._allowed()
        if allowed is None:
            return _sql._ATTRIBUTE.match(attrib) is not None
        return attrib in allowed and (not self.fixed or attrib in self._declared)

    def _allowed(self) -> set[str] | frozenset[str] | None:
        """The attribute names a frozen source accepts; ``None`` when it is open."""
        value = (self.properties.get("freezed") or "").strip()
        if value.lower() in _TRUE or (not value and (self._freezed or self.fixed)):
            return self._declared
        if value.lower() in _FALSE or not value:
            return self._declared if self.fixed else None
        return frozenset(a.strip() for a in value.split(",") if a.strip())

    # -- sources row ----------------------------------------------------------------------

    def token(self) -> int:
        row = self.db.execute_sql("SELECT token FROM sources WHERE source_id = ?", (self.id,))
        return int(row[0]["token"] or 0) if row else 0

    def set_token(self, token: int) -> None:
        self.db.execute_sql("UPDATE sources SET token = ? WHERE source_id = ?", (token, self.id))

    def set_metadata(self, metadata: str) -> None:
        self.db.execute_sql("UPDATE sources SET metadata = ? WHERE source_id = ?", (metadata, self.id))

    def record_run(self, *, success: bool, inserted: int, deleted: int, duration_ms: int, now: int) -> None:
        sql = ("UPDATE sources SET last_inserted_size = ?, last_deleted_size = ?, "
               "last_sync_duration = ?, last_sync_success = ?")  # fmt: skip
        params: list[Any] = [inserted, deleted, duration_ms, int(success)]
        if success:
            sql += ", last_updated = ?"
            params.append(now)
        self.db.execute_sql(sql + " WHERE source_id = ?", [*params, self.id])

    # -- reading local data as text -------------------------------------------------------

    def read_objects(self, object_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """``{object_id: {attr: text}}`` of the non-NULL attributes of existing objects."""
        ids = list(object_ids)
        if not ids:
            return {}
        conn = self.db.connection()
        out: dict[str, dict[str, str]] = {}
        if self.fixed:
            cols = list(self._fields)
            select = ", ".join(_sql.quote(c) for c in cols)
            sql = f"SELECT object, {select} FROM {self.table} WHERE object IN (SELECT value FROM json_each(?))"
            for row in conn.execute(sql, (json.dumps(ids),)):
                out[row[0]] = {c: _text(v) for c, v in zip(cols, row[1:], strict=True) if v is not None}
            return out
        sql = ("SELECT object, attrib, value FROM object_values WHERE +source_id = ? "
               "AND object IN (SELECT value FROM json_each(?)) AND value IS NOT NULL ORDER BY rowid")  # fmt: skip
        for oid, attrib, value in conn.execute(sql, (self.id, json.dumps(ids))):
            out.setdefault(oid, {})[attrib] = value
        return out

    def existing(self, object_ids: Iterable[str]) -> set[str]:
        ids = json.dumps(list(object_ids))
        conn = self.db.connection()
        if self.fixed:
            rows = conn.execute(
                f"SELECT object FROM {self.table} WHERE object IN (SELECT value FROM json_each(?))", (ids,)
            )
        else:
            rows = conn.execute(
                "SELECT DISTINCT object FROM object_values WHERE +source_id = ? "
                "AND object IN (SELECT value FROM json_each(?))", (self.id, ids))  # fmt: skip
        return {r[0] for r in rows}

    def blob_values(self, object_ids: Iterable[str], attrib: str) -> dict[str, str | None]:
        objects = self.read_objects(object_ids)
        return {oid: attrs.get(attrib) for oid, attrs in objects.items()}

    # -- writing server data (the caller holds a no_changelog transaction) -------------------

    def upsert(self, objects: Objects) -> int:
        """Insert or update objects; return how many existed before (fixed schema; 0 for bags)."""
        conn = self.db.connection()
        if not self.fixed:
            values = [(self.id, a, oid, v) for oid, attrs in objects.items() for a, v in attrs.items()]
            conn.executemany(
                "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(object, attrib, source_id) DO UPDATE SET value = excluded.value", values)  # fmt: skip
            return 0
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        plans: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {}
        fields, convert = self._fields, self._convert
        for oid, attrs in objects.items():
            keys = tuple(attrs)
            plan = plans.get(keys)
            if plan is None:
                cols = tuple(a for a in keys if a in fields)
                plan = plans[keys] = (cols, cols == keys and all(convert[c] is None for c in cols))
            cols, as_is = plan
            if as_is:
                row: tuple[Any, ...] = (oid, *attrs.values())
            else:
                row = (oid, *(attrs[c] if convert[c] is None else self._to_column(c, attrs[c]) for c in cols))
            rows = groups.get(cols)
            if rows is None:
                rows = groups[cols] = []
            rows.append(row)
        existed = 0
        for cols, rows in groups.items():
            names = ", ".join(("object", *(_sql.quote(c) for c in cols)))
            marks = ", ".join("?" * (len(cols) + 1))
            # New objects first: a plain insert is the cheapest write, and its row count says
            # how many objects were already here; only those need the update pass.
            added = conn.executemany(f"INSERT OR IGNORE INTO {self.table} ({names}) VALUES ({marks})", rows).rowcount
            if added < len(rows):
                existed += len(rows) - added
                if cols:
                    update = ", ".join(f"{_sql.quote(c)} = excluded.{_sql.quote(c)}" for c in cols)
                    conn.executemany(
                        f"INSERT INTO {self.table} ({names}) VALUES ({marks}) "
                        f"ON CONFLICT(object) DO UPDATE SET {update}",
                        rows,
                    )
        return existed

    def _to_column(self, column: str, text: str) -> Any:
        field = self._fields[column]
        if text == "" and field.field_type in ("INTEGER", "FLOAT"):
            return None
        try:
            return field.db_value(text)
        except ValueError:
            return text  # keep what the server sent rather than lose it

    def delete_attributes(self, objects: Objects) -> None:
        """Remove the listed attributes; a fixed-schema row left all NULL is deleted."""
        conn = self.db.connection()
        if not self.fixed:
            conn.executemany(
                "DELETE FROM object_values WHERE object = ? AND attrib = ? AND source_id = ?",
                [(oid, a, self.id) for oid, attrs in objects.items() for a in attrs],
            )
            return
        all_null = " AND ".join(f"{_sql.quote(c)} IS NULL" for c in self._fields) or "1"
        for oid, attrs in objects.items():
            cols = [c for c in attrs if c in self._fields]
            if cols:
                sets = ", ".join(f"{_sql.quote(c)} = NULL" for c in cols)
                conn.execute(f"UPDATE {self.table} SET {sets} WHERE object = ?", (oid,))
            if len(cols) == len(attrs) or not cols:
                conn.execute(f"DELETE FROM {self.table} WHERE object = ? AND {all_null}", (oid,))

    def delete_objects(self, object_ids: Iterable[str]) -> None:
        ids = json.dumps(list(object_ids))
        conn = self.db.connection()
        if self.fixed:
            conn.execute(f"DELETE FROM {self.table} WHERE object IN (SELECT value FROM json_each(?))", (ids,))
        else:
            conn.execute(
                "DELETE FROM object_values WHERE +source_id = ? AND object IN (SELECT value FROM json_each(?))",
                (self.id, ids),
            )

    def delete_all(self) -> None:
        conn = self.db.connection()
        if self.fixed:
            conn.execute(f"DELETE FROM {self.table}")
        else:
            conn.execute("DELETE FROM object_values WHERE source_id = ?", (self.id,))

    def rename(self, temp: str, real: str) -> None:
        """Give an object its server id (a create-link), in data and changelog."""
        conn = self.db.connection()
        if self.fixed:
            conn.execute(f"UPDATE OR REPLACE {self.table} SET object = ? WHERE object = ?", (real, temp))
        else:
            conn.execute(
                "UPDATE OR REPLACE object_values SET object = ? WHERE object = ? AND source_id = ?",
                (real, temp, self.id),
            )
        conn.execute(
            "UPDATE changed_values SET object = ?, sent = CASE WHEN update_type = 'create' "
            "THEN 3 ELSE sent END WHERE object = ? AND source_id = ?",
            (real, temp, self.id),
        )

    def rewrite_reference(self, attrib: str, temp: str, real: str) -> None:
        """Point a belongs_to attribute from an owner's temporary id to its server id."""
        conn = self.db.connection()
        if self.fixed:
            if attrib in self._fields:
                col = _sql.quote(attrib)
                conn.execute(f"UPDATE {self.table} SET {col} = ? WHERE {col} = ?", (real, temp))
        else:
            conn.execute(
                "UPDATE object_values SET value = ? WHERE source_id = ? AND attrib = ? AND value = ?",
                (real, self.id, attrib, temp),
            )
        conn.execute(
            "UPDATE changed_values SET value = ? WHERE source_id = ? AND attrib = ? AND value = ?",
            (real, self.id, attrib, temp),
        )

    def write_values(self, objects: Objects) -> None:
        """Write values as a local edit would, but unlogged (rollbacks, downloaded blobs)."""
        self.upsert(objects)
