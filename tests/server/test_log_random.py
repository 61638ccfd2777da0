"""The change log against the reference model, under random writes, reads and compactions.

The model and the random suite are public (``rhom.server.testing.ReferenceLog``,
``check_log``): every test here drives a real store and the reference with one random
sequence of operations and compares every answer.

Every built-in store keeps a write of many new objects as runs (rhom.server._runs), and
the SQLite store keeps the latest entry of each object of a small log in memory. With
their limits shrunk to a few objects, random sequences cross every boundary: runs turned
back into entries, a memory index grown into ``log_cur``, indexes evicted and rebuilt,
the store closed and reopened.
"""

from __future__ import annotations

import random

import pytest

from rhom.server import Store, _runs
from rhom.server import _sqlite_store as sqlite_store
from rhom.server._contract import LOGS, compare_log
from rhom.server._log import encode, log_changes
from rhom.server.store import open_store
from rhom.server.testing import ReferenceLog, check_log


def _check_memory_bound(store: Store) -> None:
    """The memory indexes count what they hold, and hold no more than allowed."""
    if not isinstance(store, sqlite_store.SqliteStore):
        return
    memory = store._memory
    sizes = [(len(index) + 1, size) for _, index, size in memory._items.values()]
    assert all(actual == counted for actual, counted in sizes), "an index grew without being counted"
    assert memory.held == sum(actual for actual, _ in sizes)
    assert memory.held <= sqlite_store.MEMORY_INDEX_TOTAL or len(sizes) == 1


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_the_reference(store: Store, seed: int) -> None:
    check_log(store, seed=seed, after_step=_check_memory_bound)


@pytest.fixture
def tiny_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 2 to 4 objects; SQLite memory indexes of at most 25 objects, 30 in all."""
    monkeypatch.setattr(_runs, "RUN_MIN", 2)
    monkeypatch.setattr(_runs, "RUN_SIZE", 4)
    monkeypatch.setattr(sqlite_store, "MEMORY_INDEX_MAX", 25)
    monkeypatch.setattr(sqlite_store, "MEMORY_INDEX_TOTAL", 30)


@pytest.mark.parametrize("seed", range(30))
def test_runs_and_memory_indexes_match_the_reference(tiny_limits: None, store: Store, seed: int) -> None:
    check_log(store, seed=seed, steps=250, after_step=_check_memory_bound)


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
        compare_log(store, LOGS[0], ref, rng)
        assert store.log_write(LOGS[0], [("a", ha2, a2)], 30.0) == [3], "unchanged: found through log_cur"
        fresh = log_changes([(f"n{k}", {"k": str(k)}) for k in range(40)])
        assert store.log_write(LOGS[0], fresh, 30.0) == ref.write(fresh, 30.0)
        assert store.log_compact(LOGS[0], 25.0) == ref.compact(25.0) == 3
        for _ in range(5):
            compare_log(store, LOGS[0], ref, rng)
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
