"""The embedded store: one SQLite file (or memory), one connection, one process."""

from __future__ import annotations

import bisect
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson

from rhom.server import _runs
from rhom.server._slots import waiting
from rhom.server.store import LogChange, LogEntry, LogInfo, Store, iter_chunks, prefix_upper_bound

__all__ = ["SqliteStore"]

logger = logging.getLogger("rhom.server")

_STRIPES = 1024
# kv: the key-value part. log_meta: one row per change log, its integer id (short keys
# below), newest sequence number, live count and compaction floor. log_entry: one row
# per version (v NULL: a deletion; h: its digest; sup/sup_at: the entry that replaced it,
# and when). log_run: a run of objects new to the log, written by one write, as one row
# (rhom.server._runs). log_cur: each object's latest entry and its digest ('' once deleted), for
# logs too large to index in memory (see MEMORY_INDEX_MAX). kv_expiry: when counters
# written by incr(ttl=...) are forgotten. kv is a rowid table with an index on its keys:
# its values can be large (a client's state), and in a WITHOUT ROWID table every key
# lookup that compares with a large row reads all of that row's overflow pages (a 3 MB
# client state made each lookup of 500 other keys take 0.7 s).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv_expiry (k TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry_at ON kv_expiry (expires);
CREATE TABLE IF NOT EXISTS log_entry (
    log INTEGER NOT NULL, seq INTEGER NOT NULL, oid TEXT NOT NULL, prev INTEGER NOT NULL,
    v TEXT, at REAL NOT NULL, sup INTEGER, sup_at REAL, h TEXT, PRIMARY KEY (log, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_entry_replaced ON log_entry (log, sup_at) WHERE sup_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_entry_deleted ON log_entry (log, at) WHERE v IS NULL AND sup IS NULL;
CREATE TABLE IF NOT EXISTS log_run (
    log INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, at REAL NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (log, first)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_cur (
    log INTEGER NOT NULL, oid TEXT NOT NULL, seq INTEGER NOT NULL, h TEXT NOT NULL,
    PRIMARY KEY (log, oid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_meta (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    last INTEGER NOT NULL, count INTEGER NOT NULL, floor INTEGER NOT NULL);
"""
_LOG_TABLES = ("log_entry", "log_run", "log_cur", "log_meta")

# A write of many objects all new to the log is stored as runs (rhom.server._runs), one
# row per RUN_SIZE objects: a new partition's first refresh writes a few rows instead of
# one per object. The first later change to one of them turns its run into rows (so that
# compaction keeps working row by row).
#: Logs of at most this many objects (live or deleted) keep each object's latest entry
#: in this process's memory, rebuilt from the tables when needed, instead of log_cur.
MEMORY_INDEX_MAX = 50_000
#: All memory indexes together hold at most this many objects (least recently used go).
MEMORY_INDEX_TOTAL = 200_000

#: Each object's latest entry: oid -> (seq, digest; '' once deleted).
Index = dict[str, tuple[int, str]]


class _MemoryIndexes:
    """An LRU of the memory indexes of small logs, each valid at one ``last`` number."""

    def __init__(self, total: int) -> None:
        self._total = total
        self.held = 0
        # lid -> (last, index, the size counted for it: the index may grow in place since)
        self._items: OrderedDict[int, tuple[int, Index, int]] = OrderedDict()

    def get(self, lid: int, last: int) -> Index | None:
        hit = self._items.get(lid)
        if hit is None or hit[0] != last:
            return None  # unknown, or written by someone else since: rebuild
        self._items.move_to_end(lid)
        return hit[1]

    def put(self, lid: int, last: int, index: Index) -> None:
        self.drop(lid)
        self._items[lid] = (last, index, len(index) + 1)
        self.held += len(index) + 1
        while self.held > self._total and len(self._items) > 1:
            _, (_, _, size) = self._items.popitem(last=False)
            self.held -= size

    def drop(self, lid: int) -> None:
        old = self._items.pop(lid, None)
        if old is not None:
            self.held -= old[2]

    def clear(self) -> None:
        self._items.clear()
        self.held = 0


def _rebuild_kv_with_rowid(conn: sqlite3.Connection) -> None:
    """Turn the ``kv`` table of a file written by an earlier version (WITHOUT ROWID) into
    the rowid table of ``_SCHEMA``, keeping its rows, in one transaction."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'kv'").fetchone()
    if row is None or "WITHOUT ROWID" not in row[0].upper():
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE kv RENAME TO kv_without_rowid")
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
        conn.execute("INSERT INTO kv (k, v) SELECT k, v FROM kv_without_rowid")
        conn.execute("DROP TABLE kv_without_rowid")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    logger.info("rhom.server: the store's kv table was rebuilt as a rowid table")


class SqliteStore(Store):
    """Server state in a SQLite table ``kv(k, v)``.

    One connection serves every thread, behind a lock: SQLite writes one transaction at a
    time anyway, and each call here is a few index lookups. Named locks are process-local,
    so one file must not be shared by several server processes (use :class:`RedisStore`).

    :param path: database file, or ``":memory:"``.
    """

    cpu_slots = 1  # its work is this process's own CPU: one request at a time runs best

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._db_lock = threading.RLock()
        self._locks: dict[str, list[threading.Lock]] = {}
        self._locks_guard = threading.Lock()
        self._log_ids: dict[str, int] = {}
        self._memory = _MemoryIndexes(MEMORY_INDEX_TOTAL)
        self._sql_indexed: set[int] = set()  # logs whose index is log_cur
        self._checkpointer: _Checkpointer | None = None
        self._next_expiry = 0.0  # when incr next forgets expired counters

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
                self._checkpointer = _Checkpointer(self.path)
            conn.execute("PRAGMA busy_timeout=10000")
            _rebuild_kv_with_rowid(conn)
            conn.executescript(_SCHEMA)
            if "h" not in {row[1] for row in conn.execute("PRAGMA table_info(log_entry)")}:
                conn.execute("ALTER TABLE log_entry ADD COLUMN h TEXT")  # a file written before runs
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

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        now = time.time()
        with self._transaction() as conn:
            if now >= self._next_expiry:  # forget the counters of windows gone by
                self._next_expiry = now + 1.0
                gone = "SELECT k FROM kv_expiry WHERE expires <= ?"
                conn.execute(f"DELETE FROM kv WHERE k IN ({gone})", (now,))
                conn.execute("DELETE FROM kv_expiry WHERE expires <= ?", (now,))
            row = conn.execute("SELECT v, expires FROM kv LEFT JOIN kv_expiry USING (k) WHERE k = ?", (key,)).fetchone()
            current = 0 if row is None or (row[1] is not None and row[1] <= now) else int(bytes(row[0]))
            value = current + amount
            conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, str(value).encode()))
            if ttl is not None and (current == 0 or row[1] is None):  # the window starts now
                conn.execute("INSERT OR REPLACE INTO kv_expiry (k, expires) VALUES (?, ?)", (key, now + ttl))
        return value

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
                conn.execute("COMMIT")
            except BaseException:
                self._forget()  # what this process noted during the transaction may be undone
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _forget(self) -> None:
        """Drop what this process remembers of the logs (ids and memory indexes)."""
        self._log_ids.clear()
        self._memory.clear()
        self._sql_indexed.clear()

    # -- change logs ------------------------------------------------------------------
    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        if not changes:
            return []
        with self._db_lock:  # held until the memory index follows the commit
            with self._transaction() as conn:
                info = self._info(conn, log)
                lid = self._log_id(conn, log, create=True)
                assert lid is not None
                index = self._index(conn, lid, info.last)
                if index is not None:
                    base = index
                elif info.last:
                    sql = "SELECT oid, seq, h FROM log_cur WHERE log = ? AND oid IN ({marks})"
                    base = {oid: (seq, h) for oid, seq, h in self._select_in(sql, lid, (c[0] for c in changes))}
                else:
                    base = {}  # a log never written has no current entries: nothing to look up
                if _all_new(changes, base):  # a new partition's first refresh, typically
                    first = info.last + 1
                    seqs = list(range(first, first + len(changes)))
                    latest = {oid: (seq, h) for (oid, h, _), seq in zip(changes, seqs, strict=True)}
                    self._write_runs(conn, lid, first, changes, now)
                    last, count = seqs[-1], info.count + len(changes)
                else:
                    seqs, latest, last, count = self._write_rows(conn, lid, info, changes, base, now)
                if not latest:
                    return seqs
                grown = len(latest) if not index else sum(oid not in index for oid in latest)
                if index is not None and len(index) + grown > MEMORY_INDEX_MAX:
                    self._write_cur(conn, lid, {**index, **latest})  # grown too large for memory
                    index = None
                elif index is None:
                    self._write_cur(conn, lid, latest)
                conn.execute("UPDATE log_meta SET last = ?, count = ? WHERE id = ?", (last, count, lid))
            if index is not None:  # committed: the memory index follows
                index.update(latest)
                self._memory.put(lid, last, index)
        return seqs

    def _write_rows(
        self, conn: sqlite3.Connection, lid: int, info: LogInfo, changes: Sequence[LogChange], base: Index, now: float
    ) -> tuple[list[int], Index, int, int]:
        """Append ``changes`` one row each; return the numbers, latest entries, last and count."""
        last, count = info.last, info.count
        seqs: list[int] = []
        entries: list[tuple[Any, ...]] = []
        replaced: list[tuple[Any, ...]] = []
        latest: Index = {}
        for oid, digest, value in changes:
            prev, old_digest = latest.get(oid) or base.get(oid, (0, ""))
            live = old_digest != ""
            if (value is None and not live) or (value is not None and old_digest == digest):
                seqs.append(prev)
                continue
            last += 1
            entries.append((lid, last, oid, prev, value, now, "" if value is None else digest))
            if prev:
                replaced.append((last, now, lid, prev))
            count += (value is not None) - live
            latest[oid] = (last, "" if value is None else digest)
            seqs.append(last)
        if replaced:
            self._unrun(conn, lid, [r[3] for r in replaced])
        if entries:
            sql = "INSERT INTO log_entry (log, seq, oid, prev, v, at, h) VALUES (?, ?, ?, ?, ?, ?, ?)"
            conn.executemany(sql, entries)
            conn.executemany("UPDATE log_entry SET sup = ?, sup_at = ? WHERE log = ? AND seq = ?", replaced)
        return seqs, latest, last, count

    @staticmethod
    def _write_runs(conn: sqlite3.Connection, lid: int, first: int, changes: Sequence[LogChange], now: float) -> None:
        """Store objects new to the log, numbered from ``first``, as runs of ``RUN_SIZE``."""
        size = _runs.RUN_SIZE
        assert size <= _runs.RUN_SPAN_MAX
        rows = []
        for start in range(0, len(changes), size):
            part = changes[start : start + size]  # [oid, digest, value] each, as stored
            rows.append((lid, first + start, first + start + len(part) - 1, now, orjson.dumps(part).decode()))
        conn.executemany("INSERT INTO log_run (log, first, last, at, data) VALUES (?, ?, ?, ?, ?)", rows)

    def _write_cur(self, conn: sqlite3.Connection, lid: int, latest: Index) -> None:
        rows = [(lid, oid, seq, h) for oid, (seq, h) in latest.items()]
        conn.executemany("INSERT OR REPLACE INTO log_cur (log, oid, seq, h) VALUES (?, ?, ?, ?)", rows)
        self._memory.drop(lid)
        self._sql_indexed.add(lid)

    def _index(self, conn: sqlite3.Connection, lid: int, last: int) -> Index | None:
        """The memory index of log ``lid`` as of ``last`` (``None``: the log uses log_cur)."""
        if lid in self._sql_indexed:
            return None
        index = self._memory.get(lid, last)
        if index is not None:
            return index
        if not last:
            return {}
        if conn.execute("SELECT 1 FROM log_cur WHERE log = ? LIMIT 1", (lid,)).fetchone():
            self._sql_indexed.add(lid)
            return None
        # Rebuilt from the tables: a run's objects and unreplaced rows are latest entries.
        index = {}
        rows = conn.execute("SELECT oid, seq, h FROM log_entry WHERE log = ? AND sup IS NULL", (lid,))
        for oid, seq, h in rows:
            index[oid] = (seq, h or "")
        for first, data in conn.execute("SELECT first, data FROM log_run WHERE log = ?", (lid,)):
            for offset, (oid, h, _) in enumerate(orjson.loads(data)):
                if first + offset > index.get(oid, (0, ""))[0]:
                    index[oid] = (first + offset, h)
        self._memory.put(lid, last, index)
        return index

    def _runs(self, conn: sqlite3.Connection, lid: int, seqs: Iterable[int]) -> dict[int, tuple[float, list[Any]]]:
        """The runs holding any of ``seqs``: first number -> (time, [[oid, digest, value]])."""
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        spans = conn.execute(
            "SELECT first, last FROM log_run WHERE log = ? AND first > ? AND first <= ?",
            (lid, wanted[0] - _runs.RUN_SPAN_MAX, wanted[-1]),
        ).fetchall()
        runs: dict[int, tuple[float, list[Any]]] = {}
        for first, last in spans:
            at = bisect.bisect_left(wanted, first)
            if at < len(wanted) and wanted[at] <= last:
                row = conn.execute("SELECT at, data FROM log_run WHERE log = ? AND first = ?", (lid, first)).fetchone()
                runs[first] = (row[0], orjson.loads(row[1]))
        return runs

    def _unrun(self, conn: sqlite3.Connection, lid: int, seqs: Iterable[int]) -> None:
        """Turn the runs holding any of ``seqs`` into rows, before those entries are replaced."""
        for first, (at, members) in self._runs(conn, lid, seqs).items():
            rows = [(lid, first + k, oid, 0, v, at, h) for k, (oid, h, v) in enumerate(members)]
            conn.executemany("INSERT INTO log_entry (log, seq, oid, prev, v, at, h) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("DELETE FROM log_run WHERE log = ? AND first = ?", (lid, first))

    def log_read(self, log: str, after: int, limit: int) -> list[LogEntry]:
        if limit <= 0:
            return []
        with self._db_lock:
            conn = self._connection()
            lid = self._log_id(conn, log)
            if lid is None:
                return []
            rows = conn.execute(
                "SELECT seq, oid, v, prev FROM log_entry WHERE log = ? AND seq > ? ORDER BY seq LIMIT ?",
                (lid, after, limit),
            )
            entries = [LogEntry(*row) for row in rows]
            bound = entries[-1].seq if len(entries) >= limit else None  # runs beyond it are not needed
            from_runs: list[LogEntry] = []
            runs = conn.execute(
                "SELECT first, last, data FROM log_run WHERE log = ? AND first > ? ORDER BY first",
                (lid, after - _runs.RUN_SPAN_MAX),
            )
            for first, last, data in runs:
                if len(from_runs) >= limit or (bound is not None and first > bound):
                    break
                if last <= after:
                    continue
                skip = max(0, after + 1 - first)
                members = orjson.loads(data)[skip : skip + limit - len(from_runs)]
                from_runs += [LogEntry(first + skip + k, oid, value, 0) for k, (oid, _, value) in enumerate(members)]
        if not from_runs:
            return entries
        return sorted(entries + from_runs, key=lambda e: e.seq)[:limit]

    def log_scan(self, log: str, after: int, limit: int) -> tuple[LogInfo, list[LogEntry]]:
        with self._db_lock:  # one connection, writes under this lock: one moment
            return self._info(self._connection(), log), self.log_read(log, after, limit)

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
        with self._db_lock:
            lid = self._log_id(self._connection(), log)
            return {} if lid is None else self._entries(lid, seqs)

    def _entries(self, lid: int, seqs: Iterable[int]) -> dict[int, LogEntry]:
        wanted = set(seqs)
        sql = "SELECT seq, oid, v, prev FROM log_entry WHERE log = ? AND seq IN ({marks})"
        found = {row[0]: LogEntry(*row) for row in self._select_in(sql, lid, wanted)}
        missing = wanted.difference(found)
        for first, (_, members) in self._runs(self._connection(), lid, missing).items():
            for offset, (oid, _, value) in enumerate(members):
                if first + offset in missing:
                    found[first + offset] = LogEntry(first + offset, oid, value, 0)
        return found

    def log_current(self, log: str, oids: Iterable[str]) -> dict[str, LogEntry]:
        with self._db_lock:
            lid, latest = self._latest(log, oids)
            if lid is None or not latest:
                return {}
            entries = self._entries(lid, (seq for seq, _ in latest.values()))
        return {oid: entries[seq] for oid, (seq, _) in latest.items() if seq in entries}

    def _latest(self, log: str, oids: Iterable[str]) -> tuple[int | None, Index]:
        """The log's id, and the latest entry number and digest of the named objects it holds."""
        conn = self._connection()
        lid = self._log_id(conn, log)
        if lid is None:
            return None, {}
        index = self._index(conn, lid, self._info(conn, log).last)
        if index is not None:
            return lid, {oid: index[oid] for oid in oids if oid in index}
        sql = "SELECT oid, seq, h FROM log_cur WHERE log = ? AND oid IN ({marks})"
        return lid, {oid: (seq, h) for oid, seq, h in self._select_in(sql, lid, oids)}

    def log_digests(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        with self._db_lock:
            return {oid: h for oid, (_, h) in self._latest(log, oids)[1].items() if h}

    def log_ids(self, log: str) -> Iterator[str]:
        with self._db_lock:
            conn = self._connection()
            lid = self._log_id(conn, log)
            index = None if lid is None else self._index(conn, lid, self._info(conn, log).last)
            if index is not None:
                live = [oid for oid, (_, h) in index.items() if h]
        if lid is None:
            return
        if index is not None:
            yield from live
            return
        after = ""
        while True:
            with self._db_lock:
                conn = self._connection()
                if self._log_id(conn, log) != lid:
                    return  # dropped meanwhile
                rows = conn.execute(
                    "SELECT oid FROM log_cur WHERE log = ? AND oid > ? AND h != '' ORDER BY oid LIMIT 5000",
                    (lid, after),
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
        # Runs hold latest entries only (a replaced one was turned into rows first), so
        # compaction works on rows alone.
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
            if lid is not None:
                self._memory.drop(lid)  # compacted deletions are forgotten: rebuild it
            return floor

    def log_drop(self, prefix: str) -> None:
        bounds = (prefix, prefix_upper_bound(prefix))
        with self._transaction() as conn:
            ids = "SELECT id FROM log_meta WHERE name >= ? AND name < ?"
            for table in ("log_entry", "log_run", "log_cur"):
                conn.execute(f"DELETE FROM {table} WHERE log IN ({ids})", bounds)
            conn.execute("DELETE FROM log_meta WHERE name >= ? AND name < ?", bounds)
            self._forget()

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
            for table in ("kv", "kv_expiry", *_LOG_TABLES):
                conn.execute(f"DELETE FROM {table}")
            self._forget()

    def close(self) -> None:
        with self._db_lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._forget()


class _Checkpointer:
    """Copies the write-ahead log back into the database file from a thread of its own
    (SQLite's C code, which runs without the GIL), so that no request pays for it inside
    its commit, as SQLite's automatic checkpoint every 1,000 pages would have it do."""

    def __init__(self, path: str, every: float = 0.5) -> None:
        self._path, self._every = path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rhom-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            while not self._stop.wait(self._every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or I/O: the next round tries again
                    logger.warning("rhom.server: SQLite checkpoint failed", exc_info=True)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _all_new(changes: Sequence[LogChange], base: Index) -> bool:
    """Whether ``changes`` are enough objects for runs, each new to the log and live."""
    return _runs.new_objects_only(changes) and base.keys().isdisjoint(oid for oid, _, _ in changes)


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
