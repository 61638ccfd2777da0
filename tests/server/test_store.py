"""The Store interface, one contract for both implementations (rhom.server.store)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from rhom.exceptions import ConfigurationError
from rhom.server import Store, open_store


def test_get_set_delete(store: Store) -> None:
    assert store.get("a") is None
    store.set_many({"a": b"1", "b": b"2", "c:d": b"\x00\xff"})
    assert store.get_many(["a", "missing", "c:d"]) == [b"1", None, b"\x00\xff"]
    store.set_many({"a": None, "b": b"3"})
    assert store.get_many(["a", "b"]) == [None, b"3"]
    assert store.get_many([]) == []


def test_prefix_operations(store: Store) -> None:
    store.set_many({"cx:1:a": b"", "cx:1:b": b"", "cx:10:a": b"", "cx:2:a": b"", "u:*?[": b""})
    assert store.keys("cx:1:") == ["cx:1:a", "cx:1:b"]
    assert store.keys("u:*") == ["u:*?["], "glob characters are literal"
    assert store.delete_prefix("cx:1:") == 2
    assert store.keys("cx:") == ["cx:10:a", "cx:2:a"]
    store.flush()
    assert store.keys("") == []


def test_lock_excludes_concurrent_holders(store: Store) -> None:
    counter = {"value": 0, "overlap": 0, "inside": 0}

    def work() -> None:
        for _ in range(20):
            with store.lock("c:one"):
                counter["inside"] += 1
                if counter["inside"] > 1:
                    counter["overlap"] += 1
                counter["value"] += 1
                counter["inside"] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter == {"value": 80, "overlap": 0, "inside": 0}


def test_incr_counts_across_threads_and_forgets_after_its_ttl(store: Store) -> None:
    assert store.incr("n:a") == 1 and store.incr("n:a", 4) == 5 and store.incr("n:a", -2) == 3
    assert store.get("n:a") == b"3", "a counter reads back as its digits"

    def add() -> None:
        for _ in range(50):
            store.incr("n:shared", ttl=60)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("n:shared") == b"200", "no increment lost"
    assert store.incr("n:brief", ttl=1) == 1
    time.sleep(1.1)  # the window of n:brief is over (SQLite stamps exact times, Redis whole seconds)
    assert store.incr("n:brief", ttl=1) == 1, "a counter past its ttl starts over"
    store.flush()
    assert store.get("n:a") is None


def test_close_then_reuse_reopens(store: Store) -> None:
    store.set("k", b"v")
    store.close()
    assert store.get("k") == b"v" or store.get("k") is None  # memory SQLite starts over


def test_unknown_store_url() -> None:
    with pytest.raises(ConfigurationError):
        open_store("mongodb://nowhere")


def test_sqlite_kv_is_a_rowid_table_and_an_older_file_is_rebuilt_keeping_its_rows(tmp_path: Path) -> None:
    """Large values (a client's state) in a WITHOUT ROWID table made every lookup that
    compared with them read their overflow pages: kv keeps its keys in an index instead,
    and a file of an earlier version is rebuilt once, with its rows."""
    from rhom.server._sqlite_store import SqliteStore

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        conn.execute("INSERT INTO kv VALUES ('c:1', ?), ('small', x'01')", (b"x" * 3_000_000,))
    conn.close()
    for path in (old, tmp_path / "new.db"):
        store = SqliteStore(str(path))
        store.set_many({"small": b"\x01", "other": b"2"})
        assert store.get_many(["small", "other", "missing"]) == [b"\x01", b"2", None]
        store.close()
        with sqlite3.connect(path) as check:
            (sql,) = check.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'kv'").fetchone()
            tables = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check.close()
        assert "WITHOUT ROWID" not in sql.upper() and "kv_without_rowid" not in tables
    store = SqliteStore(str(old))
    assert store.get("c:1") == b"x" * 3_000_000, "the rows of the older file are kept"
    store.close()
