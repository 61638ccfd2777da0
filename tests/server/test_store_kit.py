"""The Store contract kit (rhom.server.testing): one call checks a store, and it finds a
store that breaks a rule."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from rhom.server._sqlite_store import SqliteStore
from rhom.server.store import LogChange
from rhom.server.testing import check_key_value, check_log, check_store


def test_one_call_checks_a_whole_store(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "state.db"))
    check_store(store, seeds=range(2), steps=80)
    assert store.keys("") == [] and store.log_info("u/alice:Product").last == 0, "left empty"


class AppendsUnchanged(SqliteStore):
    """Breaks rule 3 of the change log: an unchanged object appends an entry (its digest
    made different)."""

    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        return super().log_write(log, [(oid, digest + "x" * (now > 0), value) for oid, digest, value in changes], now)


class SharedLock(SqliteStore):
    """Breaks rule 6 of the key-value half: its lock excludes no one."""

    def lock(self, name: str) -> AbstractContextManager[None]:
        @contextlib.contextmanager
        def held() -> Iterator[None]:
            yield

        return held()


def test_the_kit_finds_a_log_that_appends_unchanged_objects(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"log_\w+\("):
        check_log(AppendsUnchanged(str(tmp_path / "state.db")), seed=1, steps=60)


def test_the_kit_finds_a_lock_that_excludes_no_one() -> None:
    with pytest.raises(AssertionError, match=r"lock\('c:one'\)"):
        check_key_value(SharedLock(":memory:"))
