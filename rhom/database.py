"""rhom.Database: one SQLite file per partition, wrapped for Rhom's database calls.

A :class:`Database` wraps a peewee :class:`~peewee.SqliteDatabase` (``db.peewee``), so peewee
queries, ``atomic()`` blocks and rhom's own writes share one connection per thread and
compose (inner blocks become savepoints). The table helpers mirror Rhodes' database adapter;
table and column names are checked identifiers and every value is a bound parameter.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import peewee

from . import _sql
from .exceptions import ConfigurationError

__all__ = ["PARTITIONS", "Database"]

#: The partitions in the order their source id ranges start (rhom-api §1.5).
PARTITIONS = ("user", "app", "local")

#: WAL keeps readers and the sync thread's writer apart; synchronous=NORMAL is durable
#: against a killed process (a power cut may lose the last commits, never corrupt).
PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "normal"),
    ("foreign_keys", 0),
    ("busy_timeout", 10000),
    ("recursive_triggers", 1),
)

_partition_proxies: dict[str, peewee.DatabaseProxy] = {p: peewee.DatabaseProxy() for p in PARTITIONS}


def partition_proxy(partition: str) -> peewee.DatabaseProxy:
    """The peewee proxy models of *partition* are bound to until :func:`rhom.setup` runs."""
    try:
        return _partition_proxies[partition]
    except KeyError:
        raise ConfigurationError(f"unknown partition {partition!r}; expected one of {', '.join(PARTITIONS)}") from None


class Database:
    """One partition's SQLite file.

    :param path: the database file.
    :param partition: ``"user"``, ``"app"`` or ``"local"``.
    """

    def __init__(self, path: str | Path, partition: str) -> None:
        if partition not in PARTITIONS:
            raise ConfigurationError(f"unknown partition {partition!r}")
        self.path = Path(path)
        self.partition = partition
        # BEGIN IMMEDIATE: a transaction takes the write lock when it starts. Rhom's writes
        # read before they write; a deferred transaction that read cannot get the lock once
        # another connection (the sync thread, another process) committed meanwhile, and
        # SQLite then fails at once instead of waiting for busy_timeout.
        self.peewee = peewee.SqliteDatabase(str(self.path), pragmas=PRAGMAS, timeout=10, lock_type="IMMEDIATE")
        self._lock = threading.RLock()
        self._blocks = threading.local()  # this thread's begin() blocks

    def __repr__(self) -> str:
        return f"<rhom.Database {self.partition} {self.path}>"

    # -- connections and transactions -------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's sqlite3 connection (opened on first use)."""
        conn: sqlite3.Connection = self.peewee.connection()  # type: ignore[no-untyped-call]
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        if not self.peewee.is_closed():
            self.peewee.close()

    def atomic(self) -> Any:
        """A transaction (a savepoint when nested); commits on success, rolls back on error."""
        return self.peewee.atomic()

    def in_transaction(self) -> bool:
        return bool(self.peewee.in_transaction())

    # begin/commit/rollback (Rhodes' start_transaction...) open an atomic() block by hand, so
    # that rhom's own writes inside nest as savepoints and blob sweeps wait for the commit; a
    # bare BEGIN made every property-bag write fail ("cannot start a transaction within a
    # transaction").

    def _open_blocks(self) -> list[Any]:
        blocks: list[Any] = self._blocks.__dict__.setdefault("stack", [])
        return blocks

    def begin(self) -> None:
        """Start a transaction (a savepoint when nested); end it with commit() or rollback()."""
        block = self.peewee.atomic()
        block.__enter__()
        self._open_blocks().append(block)

    def commit(self) -> None:
        """Commit the transaction begin() started (or peewee's current one)."""
        blocks = self._open_blocks()
        if blocks:
            blocks.pop().__exit__(None, None, None)
        else:
            self.peewee.commit()

    def rollback(self) -> None:
        """Roll back the transaction begin() started (or peewee's current one)."""
        blocks = self._open_blocks()
        if blocks:
            blocks.pop().__exit__(RuntimeError, RuntimeError("rollback"), None)
        else:
            self.peewee.rollback()

    @contextlib.contextmanager
    def lock(self) -> Iterator[Database]:
        """Hold this partition's lock, shared with the sync engine, for a multi-step read."""
        with self._lock:
            yield self

    # -- SQL ----------------------------------------------------------------------------

    def execute_sql(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement with bound *params*; return the rows as dicts."""
        cursor = self.peewee.execute_sql(sql, tuple(params))  # type: ignore[no-untyped-call]
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute_script(self, sql: str) -> None:
        """Run several statements without parameters (Rhodes' ``execute_batch_sql``)."""
        self.connection().executescript(sql)

    # -- table helpers (Rhodes' adapter calls) -------------------------------------------

    def table_exist(self, table: str) -> bool:
        rows = self.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return bool(rows)

    def table_names(self) -> list[str]:
        rows = self.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [r["name"] for r in rows]

    def select_from_table(
        self,
        table: str,
        columns: str | Sequence[str] = "*",
        conditions: Mapping[str, Any] | None = None,
        *,
        distinct: bool = False,
        order_by: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``SELECT`` *columns* from *table* where every condition column equals its value."""
        if columns == "*":
            cols = "*"
        else:
            names = [columns] if isinstance(columns, str) else list(columns)
            cols = ", ".join(_col(c) for c in names)
        where, params = _where(conditions)
        sql = f"SELECT {'DISTINCT ' if distinct else ''}{cols} FROM {_table(table)}{where}"
        if order_by:
            names = [order_by] if isinstance(order_by, str) else list(order_by)
            sql += " ORDER BY " + ", ".join(_col(c) for c in names)
        return self.execute_sql(sql, params)

    def insert_into_table(self, table: str, values: Mapping[str, Any]) -> None:
        cols = ", ".join(_col(c) for c in values)
        marks = ", ".join("?" for _ in values)
        self.execute_sql(f"INSERT INTO {_table(table)} ({cols}) VALUES ({marks})", list(values.values()))

    def update_into_table(
        self, table: str, values: Mapping[str, Any], conditions: Mapping[str, Any] | None = None
    ) -> None:
        sets = ", ".join(f"{_col(c)} = ?" for c in values)
        where, params = _where(conditions)
        self.execute_sql(f"UPDATE {_table(table)} SET {sets}{where}", [*values.values(), *params])

    def delete_from_table(self, table: str, conditions: Mapping[str, Any] | None = None) -> None:
        where, params = _where(conditions)
        self.execute_sql(f"DELETE FROM {_table(table)}{where}", params)

    def delete_all_from_table(self, table: str) -> None:
        self.execute_sql(f"DELETE FROM {_table(table)}")

    def delete_table(self, table: str) -> None:
        """Drop *table* if it exists."""
        self.execute_sql(f"DROP TABLE IF EXISTS {_table(table)}")

    destroy_table = delete_all_from_table

    def destroy_tables(self, *, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> None:
        """Empty the *include* tables (default: all), skipping *exclude*, in one transaction."""
        names = list(include) if include is not None else self.table_names()
        skip = set(exclude or ())
        with self.atomic():
            for name in names:
                if name not in skip and self.table_exist(name):
                    self.delete_all_from_table(name)


def _table(name: str) -> str:
    return _sql.quote(_sql.check_identifier(name, what="table name"))


def _col(name: str) -> str:
    return _sql.quote(_sql.check_identifier(name, what="column name"))


def _where(conditions: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    if not conditions:
        return "", []
    parts, params = [], []
    for column, value in conditions.items():
        if value is None:
            parts.append(f"{_col(column)} IS NULL")
        else:
            parts.append(f"{_col(column)} = ?")
            params.append(value)
    return " WHERE " + " AND ".join(parts), params
