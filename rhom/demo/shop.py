"""The shop's backend database (plain sqlite3) and the rhom.server adapters over it.

The adapters are what an application team writes to put its backend behind rhom sync:
``query`` returns the full data set, ``create``/``update``/``delete`` apply a client's
changes, and a raised exception becomes a create/update/delete error on the client.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rhom.server import SourceAdapter

SCHEMA = """
CREATE TABLE IF NOT EXISTS product (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, brand TEXT, price REAL, quantity INTEGER);
CREATE TABLE IF NOT EXISTS customer (
    id INTEGER PRIMARY KEY, first TEXT, last TEXT, city TEXT);
CREATE TABLE IF NOT EXISTS created_key (
    key TEXT PRIMARY KEY, tbl TEXT NOT NULL, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS change_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, id INTEGER NOT NULL);
"""

SEED_PRODUCTS = [
    ("iPhone", "Apple", 799.0, 10), ("Galaxy", "Samsung", 699.0, 7), ("Pixel", "Google", 599.0, 4),
    ("Lumia", "Nokia", 199.0, 1), ("Xperia", "Sony", 449.0, 3),
]  # fmt: skip
SEED_CUSTOMERS = [("Jane", "Doe", "Lisbon"), ("John", "Smith", "Leeds"), ("Ana", "Silva", "Porto")]


class Backend:
    """The shop's own database: survives restarts of the sync server.

    The file is made (schema and seed data) when it is first used, not when the backend
    is: importing an app module that builds one (``examples.store.server``) writes nothing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._made = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            with self._made:
                if not self._ready:
                    self._create()
                    self._ready = True
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _create(self) -> None:
        with sqlite3.connect(self.path, timeout=10) as conn:
            conn.executescript(SCHEMA)
            if not conn.execute("SELECT 1 FROM product LIMIT 1").fetchone():
                conn.executemany(
                    "INSERT INTO product (name, brand, price, quantity) VALUES (?, ?, ?, ?)", SEED_PRODUCTS
                )
                conn.executemany("INSERT INTO customer (first, last, city) VALUES (?, ?, ?)", SEED_CUSTOMERS)
        conn.close()

    def rows(self, table: str) -> dict[str, dict[str, str]]:
        with self._lock, self._connect() as conn:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()  # table names are ours
        conn.close()
        return {str(r["id"]): _attrs(r) for r in rows}

    def changed_rows(self, table: str, since: int | None) -> tuple[dict[str, dict[str, str] | None], int]:
        """Rows of ``table`` changed after journal entry ``since`` (``None`` for deleted
        ones; every row when ``since`` is ``None``), and the newest journal entry."""
        with self._lock, self._connect() as conn:
            (newest,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM change_journal").fetchone()
            if since is None:
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                changed: dict[str, dict[str, str] | None] = {str(r["id"]): _attrs(r) for r in rows}
            else:
                ids = [r[0] for r in conn.execute(
                    "SELECT DISTINCT id FROM change_journal WHERE tbl = ? AND seq > ? AND seq <= ?",
                    (table, since, newest))]  # fmt: skip
                changed = dict.fromkeys(map(str, ids))
                marks = ",".join("?" * len(ids))
                for r in conn.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", ids).fetchall():
                    changed[str(r["id"])] = _attrs(r)
        conn.close()
        return changed, int(newest)

    def insert(self, table: str, columns: tuple[str, ...], attrs: Mapping[str, str], key: str | None = None) -> str:
        """Insert a row; with an idempotency ``key`` seen before, update that row instead.

        The key is stored in the same transaction as the row, so a create retried after
        any failure (the sync server killed, a reply lost) makes one row.
        """
        values = {c: attrs[c] for c in columns if c in attrs}
        with self._lock, self._connect() as conn:  # one transaction: row, key and journal
            known = None if key is None else conn.execute("SELECT id FROM created_key WHERE key = ?", (key,)).fetchone()
            if known is not None:
                row_id = int(known[0])
                if values:  # made before: take the client's current version
                    sets = ", ".join(f"{c} = ?" for c in values)
                    conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id])
            else:
                cur = conn.execute(
                    f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                    list(values.values()),
                )
                row_id = int(cur.lastrowid or 0)
                if key is not None:
                    conn.execute("INSERT INTO created_key (key, tbl, id) VALUES (?, ?, ?)", (key, table, row_id))
            conn.execute("INSERT INTO change_journal (tbl, id) VALUES (?, ?)", (table, row_id))
        conn.close()
        return str(row_id)

    def update(self, table: str, columns: tuple[str, ...], attrs: Mapping[str, str]) -> None:
        values = {c: attrs[c] for c in columns if c in attrs}
        if values:
            with self._lock, self._connect() as conn:
                sets = ", ".join(f"{c} = ?" for c in values)
                conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), attrs["id"]])
                conn.execute("INSERT INTO change_journal (tbl, id) VALUES (?, ?)", (table, attrs["id"]))
            conn.close()

    def delete(self, table: str, object_id: str) -> None:
        with self._lock, self._connect() as conn:
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
            conn.execute("INSERT INTO change_journal (tbl, id) VALUES (?, ?)", (table, object_id))
        conn.close()


def _attrs(row: sqlite3.Row) -> dict[str, str]:
    return {k: _text(row[k]) for k in row.keys() if k != "id" and row[k] is not None}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.2f}"
    return str(value)


class _TableAdapter(SourceAdapter):
    table = ""
    columns: tuple[str, ...] = ()
    poll_interval = 0  # ask the backend on every sync: the demo shows changes at once

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend

    def query(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        return self.backend.rows(self.table)

    def changes(self, cursor: str | None) -> tuple[dict[str, dict[str, str] | None], str]:
        """What changed since ``cursor`` (a journal entry number), from the backend's
        change journal: each refresh reads what changed, not the whole table."""
        changed, newest = self.backend.changed_rows(self.table, None if cursor is None else int(cursor))
        return changed, str(newest)

    def search(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        wanted = {k: str(v).lower() for k, v in (params or {}).items()}
        return {
            oid: obj for oid, obj in self.backend.rows(self.table).items()
            if all(v in obj.get(k, "").lower() for k, v in wanted.items())
        }  # fmt: skip

    def create(self, attrs: Mapping[str, str]) -> str:
        self.validate(attrs)
        return self.backend.insert(self.table, self.columns, attrs, key=self.idempotency_key)

    def update(self, attrs: Mapping[str, str]) -> None:
        self.validate(attrs)
        self.backend.update(self.table, self.columns, attrs)

    def delete(self, attrs: Mapping[str, str]) -> None:
        self.backend.delete(self.table, attrs["id"])

    def validate(self, attrs: Mapping[str, str]) -> None:
        """Raise to refuse a change; the client receives the message as a server error."""


class ProductAdapter(_TableAdapter):
    name = "Product"
    table = "product"
    columns = ("name", "brand", "price", "quantity")

    def validate(self, attrs: Mapping[str, str]) -> None:
        if "price" in attrs and float(attrs["price"] or 0) < 0:
            raise ValueError(f"price must not be negative, got {attrs['price']}")


class CustomerAdapter(_TableAdapter):
    name = "Customer"
    table = "customer"
    columns = ("first", "last", "city")

    def validate(self, attrs: Mapping[str, str]) -> None:
        if "first" in attrs and not attrs["first"].strip():
            raise ValueError("a customer needs a first name")


def make_app(backend_path: str | Path, settings: Any = None) -> Any:
    """The shop's rhom.server ASGI app over the backend database at *backend_path*."""
    from rhom.server import create_app

    backend = Backend(backend_path)
    return create_app([ProductAdapter(backend), CustomerAdapter(backend)], settings=settings)
