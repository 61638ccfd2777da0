"""The embedded store: one SQLite file (or memory), one connection, one process."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from rhom.server.store import Store, iter_chunks, prefix_upper_bound

__all__ = ["SqliteStore"]

_STRIPES = 1024
_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"


class SqliteStore(Store):
    """Server state in a SQLite table ``kv(k, v)``.

    One connection serves every thread, behind a lock: SQLite writes one transaction at a
    time anyway, and each call here is a few index lookups. Named locks are process-local,
    so one file must not be shared by several server processes (use :class:`RedisStore`).

    :param path: database file, or ``":memory:"``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._db_lock = threading.RLock()
        self._locks: dict[str, list[threading.Lock]] = {}
        self._locks_guard = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def get(self, key: str) -> bytes | None:
        with self._db_lock:
            row = self._connection().execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        wanted = list(keys)
        found: dict[str, bytes] = {}
        with self._db_lock:
            conn = self._connection()
            for chunk in iter_chunks(wanted, 500):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT k, v FROM kv WHERE k IN ({marks})"
                found.update((k, bytes(v)) for k, v in conn.execute(sql, chunk))
        return [found.get(key) for key in wanted]

    def set_many(self, items: Mapping[str, bytes | None]) -> None:
        upserts = [(k, v) for k, v in items.items() if v is not None]
        deletes = [(k,) for k, v in items.items() if v is None]
        with self._db_lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if upserts:
                    conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", upserts)
                if deletes:
                    conn.executemany("DELETE FROM kv WHERE k = ?", deletes)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def keys(self, prefix: str) -> list[str]:
        with self._db_lock:
            rows = self._connection().execute(
                "SELECT k FROM kv WHERE k >= ? AND k < ? ORDER BY k",
                (prefix, prefix_upper_bound(prefix)),
            )
            return [row[0] for row in rows]

    def delete_prefix(self, prefix: str) -> int:
        with self._db_lock:
            cursor = self._connection().execute(
                "DELETE FROM kv WHERE k >= ? AND k < ?", (prefix, prefix_upper_bound(prefix))
            )
            return cursor.rowcount

    def lock(self, name: str) -> AbstractContextManager[None]:
        # A fixed set of locks per kind of name ("c:" clients, "m:" master documents...),
        # so that memory does not grow with every client ever seen. The server never holds
        # two locks of one kind at once and always takes "c:" before "m:", so sharing a
        # lock between two names can delay a request but never deadlock.
        kind = name.split(":", 1)[0]
        with self._locks_guard:
            pool = self._locks.get(kind)
            if pool is None:
                pool = self._locks[kind] = [threading.Lock() for _ in range(_STRIPES)]
        return _held(pool[hash(name) % _STRIPES])

    def flush(self) -> None:
        with self._db_lock:
            self._connection().execute("DELETE FROM kv")

    def close(self) -> None:
        with self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    if not lock.acquire(timeout=60):
        raise TimeoutError("rhom.server: lock wait exceeded 60 s")
    try:
        yield
    finally:
        lock.release()
