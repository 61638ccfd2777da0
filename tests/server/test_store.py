"""The Store interface, one contract for every store (rhom.server.store): each test runs
on a store of every family of URL schemes the registry lists (conftest STORE_FAMILIES)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from rhom.exceptions import ConfigurationError
from rhom.server import Store, open_store
from rhom.server.store import SCHEMES, register_store
from rhom.server.testing import check_key_value

from .conftest import STORE_FAMILIES


def test_the_key_value_half_keeps_the_contract(store: Store) -> None:
    """rhom.server.testing.check_key_value: reads, writes, prefixes, counters, locks."""
    check_key_value(store)


def test_incr_forgets_a_counter_after_its_ttl(store: Store) -> None:
    assert store.incr("n:brief", ttl=1) == 1
    time.sleep(1.1)  # the window of n:brief is over (SQLite stamps exact times, Redis whole seconds)
    assert store.incr("n:brief", ttl=1) == 1, "a counter past its ttl starts over"
    store.flush()
    assert store.get("n:brief") is None


def test_close_then_reuse_reopens(store: Store) -> None:
    store.set("k", b"v")
    store.close()
    assert store.get("k") == b"v" or store.get("k") is None  # memory SQLite starts over


def test_unknown_store_url() -> None:
    with pytest.raises(ConfigurationError, match="redis\\+cluster://"):
        open_store("mongodb://nowhere")


def test_every_registered_scheme_runs_the_contract_suite() -> None:
    """The store fixture covers each scheme of the registry: a store added to it without a
    contract run fails here."""
    covered = {scheme for schemes in STORE_FAMILIES.values() for scheme in schemes}
    assert set(SCHEMES) == covered


def test_a_registered_scheme_opens_its_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rhom.server._sqlite_store import SqliteStore

    monkeypatch.setattr("rhom.server.store.SCHEMES", dict(SCHEMES))
    opened: list[tuple[str, str]] = []

    def opener(url: str, *, prefix: str) -> Store:
        opened.append((url, prefix))
        return SqliteStore(str(tmp_path / "mine.db"))

    register_store("mine", opener)
    store = open_store("mine://somewhere", redis_prefix="app:")
    store.close()
    assert opened == [("mine://somewhere", "app:")] and isinstance(store, SqliteStore)
    for taken in ("sqlite", "redis+cluster", "Bad", "no/slash"):
        with pytest.raises(ConfigurationError):
            register_store(taken, opener)


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
