"""The embedded store: one SQLite file (or memory), one connection, one process."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from rhom.server._slots import waiting
from rhom.server.store import LogChange, LogEntry, LogInfo, Store, iter_chunks, prefix_upper_bound

__all__ = ["SqliteStore"]

_STRIPES = 1024
# kv: the key-value part. log_meta: one row per change log, its integer id (short keys
# below), newest sequence number, live count and compaction floor. log_entry: one row
# per version (v NULL: a deletion; sup/sup_at: the entry that replaced it, and when).
# log_cur: each object's latest entry and its digest ('' once deleted).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_entry (
    log INTEGER NOT NULL, seq INTEGER NOT NULL, oid TEXT NOT NULL, prev INTEGER NOT NULL,
    v TEXT, at REAL NOT NULL, sup INTEGER, sup_at REAL, PRIMARY KEY (log, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_entry_replaced ON log_entry (log, sup_at) WHERE sup_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_entry_deleted ON log_entry (log, at) WHERE v IS NULL AND sup IS NULL;
CREATE TABLE IF NOT EXISTS log_cur (
    log INTEGER NOT NULL, oid TEXT NOT NULL, seq INTEGER NOT NULL, h TEXT NOT NULL,
    PRIMARY KEY (log, oid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_meta (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    last INTEGER NOT NULL, count INTEGER NOT NULL, floor INTEGER NOT NULL);
"""
_LOG_TABLES = ("log_entry", "log_cur", "log_meta")


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
        self._log_ids: dict[str, int] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
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
        with self._transaction() as conn:
            if upserts:
                conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", upserts)
            if deletes:
                conn.executemany("DELETE FROM kv WHERE k = ?", deletes)

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

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db_lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._log_ids.clear()  # a log made in this transaction is gone again
                raise
            conn.execute("COMMIT")

    # -- change logs ------------------------------------------------------------------
    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        if not changes:
            return []
        with self._transaction() as conn:
            info = self._info(conn, log)
            last, count = info.last, info.count
            lid = self._log_id(conn, log, create=True)
            assert lid is not None
            sql = "SELECT oid, seq, h FROM log_cur WHERE log = ? AND oid IN ({marks})"
            # a log never written has no current entries: nothing to look up
            rows = self._select_in(sql, lid, (oid for oid, _, _ in changes)) if last else []
            current: dict[str, tuple[int, str]] = {oid: (seq, h) for oid, seq, h in rows}
            seqs: list[int] = []
            entries: list[tuple[object, ...]] = []
            replaced: list[tuple[object, ...]] = []
            latest: dict[str, tuple[int, str]] = {}
            for oid, digest, value in changes:
                prev, old_digest = current.get(oid, (0, ""))
                live = old_digest != ""
                if (value is None and not live) or (value is not None and old_digest == digest):
                    seqs.append(prev)
                    continue
                last += 1
                entries.append((lid, last, oid, prev, value, now))
                if prev:
                    replaced.append((last, now, lid, prev))
                count += (value is not None) - live
                current[oid] = latest[oid] = (last, "" if value is None else digest)
                seqs.append(last)
            if entries:
                conn.executemany(
                    "INSERT INTO log_entry (log, seq, oid, prev, v, at) VALUES (?, ?, ?, ?, ?, ?)", entries
                )
                conn.executemany("UPDATE log_entry SET sup = ?, sup_at = ? WHERE log = ? AND seq = ?", replaced)
                conn.executemany(
                    "INSERT OR REPLACE INTO log_cur (log, oid, seq, h) VALUES (?, ?, ?, ?)",
                    [(lid, oid, seq, h) for oid, (seq, h) in latest.items()],
                )
                conn.execute("UPDATE log_meta SET last = ?, count = ? WHERE id = ?", (last, count, lid))
        return seqs

    def log_read(self, log: str, after: int, limit: int) -> list[LogEntry]:
        with self._db_lock:
            conn = self._connection()
            lid = self._log_id(conn, log)
            rows = conn.execute(
                "SELECT seq, oid, v, prev FROM log_entry WHERE log = ? AND seq > ? ORDER BY seq LIMIT ?",
                (lid, after, limit),
            )
            return [LogEntry(*row) for row in rows]

    def _log_id(self, conn: sqlite3.Connection, log: str, *, create: bool = False) -> int | None:
        """The integer id of ``log`` (made with ``create``; else ``None`` when unknown)."""
        found = self._log_ids.get(log)
        if found is not None:
            return found
        row = conn.execute("SELECT id FROM log_meta WHERE name = ?", (log,)).fetchone()
        if row is None:
            if not create:
                return None
            cursor = conn.execute("INSERT INTO log_meta (name, last, count, floor) VALUES (?, 0, 0, 0)", (log,))
            row = (cursor.lastrowid,)
        self._log_ids[log] = int(row[0])
        return int(row[0])

    def _select_in(self, sql: str, log: str | int, keys: Iterable[object]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (with ``{marks}`` for the key list) for ``keys``, 500 at a time."""
        rows: list[tuple[Any, ...]] = []
        with self._db_lock:
            conn = self._connection()
            lid = log if isinstance(log, int) else self._log_id(conn, log)
            if lid is None:
                return rows
            for chunk in iter_chunks(list(keys), 500):
                rows.extend(conn.execute(sql.format(marks=",".join("?" * len(chunk))), [lid, *chunk]))
        return rows

    def log_entries(self, log: str, seqs: Iterable[int]) -> dict[int, LogEntry]:
        sql = "SELECT seq, oid, v, prev FROM log_entry WHERE log = ? AND seq IN ({marks})"
        return {row[0]: LogEntry(*row) for row in self._select_in(sql, log, seqs)}

    def log_current(self, log: str, oids: Iterable[str]) -> dict[str, LogEntry]:
        sql = (
            "SELECT e.seq, e.oid, e.v, e.prev FROM log_cur c JOIN log_entry e ON e.log = c.log AND e.seq = c.seq "
            "WHERE c.log = ? AND c.oid IN ({marks})"
        )
        return {row[1]: LogEntry(*row) for row in self._select_in(sql, log, oids)}

    def log_digests(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        sql = "SELECT oid, h FROM log_cur WHERE log = ? AND oid IN ({marks}) AND h != ''"
        return dict(self._select_in(sql, log, oids))

    def log_ids(self, log: str) -> Iterator[str]:
        after = ""
        while True:
            with self._db_lock:
                conn = self._connection()
                rows = conn.execute(
                    "SELECT oid FROM log_cur WHERE log = ? AND oid > ? AND h != '' ORDER BY oid LIMIT 5000",
                    (self._log_id(conn, log), after),
                ).fetchall()
            if not rows:
                return
            yield from (row[0] for row in rows)
            after = rows[-1][0]

    def log_info(self, log: str) -> LogInfo:
        with self._db_lock:
            return self._info(self._connection(), log)

    @staticmethod
    def _info(conn: sqlite3.Connection, log: str) -> LogInfo:
        row = conn.execute("SELECT last, count, floor FROM log_meta WHERE name = ?", (log,)).fetchone()
        return LogInfo() if row is None else LogInfo(*row)

    def log_compact(self, log: str, before: float) -> int:
        with self._transaction() as conn:
            info = self._info(conn, log)
            lid = self._log_id(conn, log)
            replaced = "FROM log_entry WHERE log = ? AND sup_at IS NOT NULL AND sup_at <= ?"
            deleted = "FROM log_entry WHERE log = ? AND v IS NULL AND sup IS NULL AND at <= ?"
            (top_replaced,) = conn.execute(f"SELECT MAX(sup) {replaced}", (lid, before)).fetchone()
            (top_deleted,) = conn.execute(f"SELECT MAX(seq) {deleted}", (lid, before)).fetchone()
            if top_replaced is None and top_deleted is None:
                return info.floor
            conn.execute(f"DELETE {replaced}", (lid, before))
            conn.execute(f"DELETE FROM log_cur WHERE log = ? AND seq IN (SELECT seq {deleted})", (lid, lid, before))
            conn.execute(f"DELETE {deleted}", (lid, before))
            floor = max(info.floor, top_replaced or 0, top_deleted or 0)
            conn.execute("UPDATE log_meta SET floor = ? WHERE id = ?", (floor, lid))
            return floor

    def log_drop(self, prefix: str) -> None:
        bounds = (prefix, prefix_upper_bound(prefix))
        with self._transaction() as conn:
            ids = "SELECT id FROM log_meta WHERE name >= ? AND name < ?"
            for table in ("log_entry", "log_cur"):
                conn.execute(f"DELETE FROM {table} WHERE log IN ({ids})", bounds)
            conn.execute("DELETE FROM log_meta WHERE name >= ? AND name < ?", bounds)
            self._log_ids.clear()

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
        with self._transaction() as conn:
            for table in ("kv", *_LOG_TABLES):
                conn.execute(f"DELETE FROM {table}")
            self._log_ids.clear()

    def close(self) -> None:
        with self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._log_ids.clear()


@contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    if not lock.acquire(blocking=False):
        with waiting():  # another request holds it: let others run meanwhile
            acquired = lock.acquire(timeout=60)
        if not acquired:
            raise TimeoutError("rhom.server: lock wait exceeded 60 s")
    try:
        yield
    finally:
        lock.release()
