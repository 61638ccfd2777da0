"""The change log against a reference model, under random writes, reads and compactions.

The reference (:class:`ReferenceLog`) is the ``Store.log_*`` contract written as plainly as
possible, one dict entry per version. Every test drives a real store and the reference
with one random sequence of operations and compares every answer.

Both stores keep a write of many new objects as runs, and the SQLite store keeps the
latest entry of each object of a small log in memory (``rhom.server._sqlite_store``,
``_redis_store``). With their limits shrunk to a few objects, random sequences cross
every boundary: runs turned back into entries, a memory index grown into ``log_cur``,
indexes evicted and rebuilt, the store closed and reopened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from rhom.server import Store
from rhom.server import _redis_store as redis_store
from rhom.server import _sqlite_store as sqlite_store
from rhom.server._log import encode, log_changes
from rhom.server.store import LogChange, LogEntry, LogInfo, open_store

LOGS = ("u/alice:Product", "u/bob:Product")


@dataclass
class Version:
    oid: str
    value: str | None
    prev: int
    at: float
    sup: int | None = None
    sup_at: float | None = None


class ReferenceLog:
    """One change log as the ``Store`` contract describes it."""

    def __init__(self) -> None:
        self.entries: dict[int, Version] = {}
        self.cur: dict[str, tuple[int, str]] = {}
        self.last = self.count = self.floor = 0

    def write(self, changes: list[LogChange], now: float) -> list[int]:
        seqs = []
        for oid, digest, value in changes:
            prev, old = self.cur.get(oid, (0, ""))
            live = old != ""
            if (value is None and not live) or (value is not None and old == digest):
                seqs.append(prev)
                continue
            self.last += 1
            self.entries[self.last] = Version(oid, value, prev, now)
            if prev in self.entries:
                self.entries[prev].sup, self.entries[prev].sup_at = self.last, now
            self.count += (value is not None) - live
            self.cur[oid] = (self.last, "" if value is None else digest)
            seqs.append(self.last)
        return seqs

    def entry(self, seq: int) -> LogEntry:
        version = self.entries[seq]
        return LogEntry(seq, version.oid, version.value, version.prev)

    def read(self, after: int, limit: int) -> list[LogEntry]:
        return [self.entry(seq) for seq in sorted(self.entries) if seq > after][:limit]

    def compact(self, before: float) -> int:
        replaced = [s for s, v in self.entries.items() if v.sup_at is not None and v.sup_at <= before]
        deleted = [s for s, v in self.entries.items() if v.value is None and v.sup is None and v.at <= before]
        if not replaced and not deleted:
            return self.floor
        tops = [self.entries[s].sup or 0 for s in replaced] + deleted
        for seq in deleted:
            oid = self.entries[seq].oid
            if self.cur.get(oid, (0, ""))[0] == seq:
                del self.cur[oid]
        for seq in replaced + deleted:
            del self.entries[seq]
        self.floor = max(self.floor, *tops)
        return self.floor


def _value(rng: random.Random) -> dict[str, str]:
    return {"n": str(rng.randrange(3)), **({"x": "y"} if rng.random() < 0.3 else {})}


def _changes(rng: random.Random, ref: ReferenceLog, fresh: list[int]) -> list[tuple[str, dict[str, str] | None]]:
    kind = rng.random()
    if kind < 0.3:  # a batch of objects new to the log: runs in the SQLite store
        size = rng.randrange(1, 12)
        fresh[0] += size
        return [(f"n{fresh[0] - k}", _value(rng)) for k in range(size)]
    known = sorted(ref.cur) or ["a"]
    out: list[tuple[str, dict[str, str] | None]] = []
    for _ in range(rng.randrange(1, 8)):
        oid = rng.choice(known) if rng.random() < 0.8 else f"o{rng.randrange(40)}"
        out.append((oid, None if rng.random() < 0.25 else _value(rng)))
    return out


def _check(store: Store, log: str, ref: ReferenceLog, rng: random.Random) -> None:
    assert store.log_info(log) == LogInfo(ref.last, ref.count, ref.floor)
    after, limit = rng.randrange(ref.last + 2), rng.randrange(1, 30)
    assert store.log_read(log, after, limit) == ref.read(after, limit), f"read after {after}, limit {limit}"
    info = LogInfo(ref.last, ref.count, ref.floor)
    assert store.log_scan(log, after, limit) == (info, ref.read(after, limit)), "counters and entries at once"
    seqs = rng.sample(range(1, ref.last + 3), min(ref.last + 2, 8))
    assert store.log_entries(log, seqs) == {s: ref.entry(s) for s in seqs if s in ref.entries}
    oids = rng.sample(sorted(ref.cur) + ["nobody"], min(len(ref.cur) + 1, 6))
    current = {oid: ref.entry(ref.cur[oid][0]) for oid in oids if oid in ref.cur}
    assert store.log_current(log, oids) == current
    assert store.log_digests(log, oids) == {o: ref.cur[o][1] for o in oids if o in ref.cur and ref.cur[o][1]}
    assert sorted(store.log_ids(log)) == sorted(o for o, (_, h) in ref.cur.items() if h)


def run_random(store: Store, seed: int, steps: int = 150) -> None:
    rng = random.Random(seed)
    refs = {log: ReferenceLog() for log in LOGS}
    fresh, now = [0], 0.0
    for _ in range(steps):
        log = rng.choice(LOGS)
        ref = refs[log]
        now += rng.choice((0.0, 1.0, 5.0))
        action = rng.random()
        if action < 0.7:
            changes = log_changes(_changes(rng, ref, fresh))
            assert store.log_write(log, changes, now) == ref.write(changes, now), f"write {changes}"
        elif action < 0.85:
            before = now - rng.choice((0.0, 3.0, 20.0))
            assert store.log_compact(log, before) == ref.compact(before), f"compact before {before}"
        elif action < 0.9:
            store.close()  # reopened by the next call: memory indexes are rebuilt from the file
        _check(store, log, ref, rng)
        if isinstance(store, sqlite_store.SqliteStore):
            _check_memory_bound(store)


def _check_memory_bound(store: sqlite_store.SqliteStore) -> None:
    """The memory indexes count what they hold, and hold no more than allowed."""
    memory = store._memory
    sizes = [(len(index) + 1, size) for _, index, size in memory._items.values()]
    assert all(actual == counted for actual, counted in sizes), "an index grew without being counted"
    assert memory.held == sum(actual for actual, _ in sizes)
    assert memory.held <= sqlite_store.MEMORY_INDEX_TOTAL or len(sizes) == 1


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_the_reference(store: Store, seed: int) -> None:
    run_random(store, seed)


@pytest.fixture
def tiny_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 2 to 4 objects; SQLite memory indexes of at most 25 objects, 30 in all."""
    for module in (sqlite_store, redis_store):
        monkeypatch.setattr(module, "RUN_MIN", 2)
        monkeypatch.setattr(module, "RUN_SIZE", 4)
    monkeypatch.setattr(sqlite_store, "MEMORY_INDEX_MAX", 25)
    monkeypatch.setattr(sqlite_store, "MEMORY_INDEX_TOTAL", 30)


@pytest.mark.parametrize("seed", range(30))
def test_runs_and_memory_indexes_match_the_reference(tiny_limits: None, store: Store, seed: int) -> None:
    run_random(store, seed, steps=250)


#: The tables of a SQLite store written before runs (no log_run, no digest per entry).
_OLD_SCHEMA = """
CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE log_entry (
    log INTEGER NOT NULL, seq INTEGER NOT NULL, oid TEXT NOT NULL, prev INTEGER NOT NULL,
    v TEXT, at REAL NOT NULL, sup INTEGER, sup_at REAL, PRIMARY KEY (log, seq)) WITHOUT ROWID;
CREATE INDEX log_entry_replaced ON log_entry (log, sup_at) WHERE sup_at IS NOT NULL;
CREATE INDEX log_entry_deleted ON log_entry (log, at) WHERE v IS NULL AND sup IS NULL;
CREATE TABLE log_cur (
    log INTEGER NOT NULL, oid TEXT NOT NULL, seq INTEGER NOT NULL, h TEXT NOT NULL,
    PRIMARY KEY (log, oid)) WITHOUT ROWID;
CREATE TABLE log_meta (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    last INTEGER NOT NULL, count INTEGER NOT NULL, floor INTEGER NOT NULL);
"""


def test_a_store_file_of_the_previous_layout_keeps_working(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    (a1, ha1), (b1, hb1), (a2, ha2) = (encode({"n": "1"}), encode({"n": "b"}), encode({"n": "2"}))
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
        conn.execute("INSERT INTO log_meta VALUES (1, ?, 3, 2, 0)", (LOGS[0],))
        conn.executemany(
            "INSERT INTO log_entry VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "a", 0, a1, 10.0, 3, 20.0), (2, "b", 0, b1, 10.0, None, None), (3, "a", 1, a2, 20.0, None, None)],
        )
        conn.executemany("INSERT INTO log_cur VALUES (1, ?, ?, ?)", [("a", 3, ha2), ("b", 2, hb1)])
    ref = ReferenceLog()
    ref.write([("a", ha1, a1), ("b", hb1, b1)], 10.0)
    ref.write([("a", ha2, a2)], 20.0)
    store = open_store(f"sqlite:///{path}")
    try:
        rng = random.Random(0)
        _check(store, LOGS[0], ref, rng)
        assert store.log_write(LOGS[0], [("a", ha2, a2)], 30.0) == [3], "unchanged: found through log_cur"
        fresh = log_changes([(f"n{k}", {"k": str(k)}) for k in range(40)])
        assert store.log_write(LOGS[0], fresh, 30.0) == ref.write(fresh, 30.0)
        assert store.log_compact(LOGS[0], 25.0) == ref.compact(25.0) == 3
        for _ in range(5):
            _check(store, LOGS[0], ref, rng)
    finally:
        store.close()


def test_the_parsed_log_cache_counts_a_log_that_grew_in_place() -> None:
    from rhom.server._state import DocCache

    cache = DocCache(10)
    small: dict[str, dict[str, str]] = {"a": {}}
    cache.put("one", "1", small)
    small.update({str(k): {} for k in range(8)})  # as write_objects does before putting it back
    cache.put("one", "9", small)
    cache.put("two", "1", {"b": {}, "c": {}})
    assert cache.peek("one") is None, "10 objects + 2 is over the limit: the older log goes"
    assert cache.peek("two") == ("1", {"b": {}, "c": {}})


def test_the_write_ahead_log_is_copied_back_by_a_thread_of_its_own(tmp_path) -> None:
    """Requests never pay for a checkpoint in their commit: a background thread does it."""
    import time

    path = tmp_path / "server.db"
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, sqlite_store.SqliteStore)
    try:
        store.log_write(LOGS[0], log_changes([(f"o{k}", {"n": "x" * 100}) for k in range(3000)]), 1.0)
        empty = path.stat().st_size
        for _ in range(200):  # the writes are in the WAL; the thread copies them into the file
            if path.stat().st_size > empty + 200_000:
                break
            time.sleep(0.05)
        assert path.stat().st_size > empty + 200_000, "checkpointed while the store stays open"
        assert store._checkpointer is not None
        thread = store._checkpointer._thread
    finally:
        store.close()
    assert not thread.is_alive(), "closing the store stops its thread"
