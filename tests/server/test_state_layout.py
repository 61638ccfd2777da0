"""The server's key names, built in one module (rhom.server._keys), and its lock order,
enforced by State (a client's lock before a source's; one of each kind at a time)."""

from __future__ import annotations

import threading

import pytest

from rhom.server import _keys as keys
from rhom.server._sqlite_store import SqliteStore
from rhom.server._state import LockOrderError, State


def test_key_names_are_those_stores_already_hold() -> None:
    """A store written before keeps working: the names did not change."""
    assert keys.user("al ice") == "u:al%20ice"
    assert keys.user_client("al ice", "c/1") == "uc:al%20ice:c%2F1"
    assert keys.client("c/1") == "c:c%2F1"
    assert keys.client_state("c/1", "Pro:duct") == "cx:c%2F1:Pro%3Aduct:s"
    assert keys.stored_page("c1", "P") == "cx:c1:P:p" and keys.created_ids("c1", "P") == "cx:c1:P:k"
    assert keys.link_in_flight("c1", "P", "t:1") == "cx:c1:P:k:t%3A1"
    log = keys.log(keys.partition("user", "al/ice"), "Product")
    assert log == "u/al%2Fice:Product" and keys.master(log) == "m:u/al%2Fice:Product:s"
    assert keys.log(keys.partition("app", "anyone"), "P") == "app:P"
    assert (keys.client_lock("c1"), keys.master_lock("app:P"), keys.user_lock("bob")) == ("c:c1", "m:app:P", "u:bob")


def test_a_client_lock_after_a_source_lock_is_refused() -> None:
    state = State(SqliteStore(":memory:"))
    with state.master_lock("app:Product"):
        with pytest.raises(LockOrderError, match="comes after it"):
            with state.client_lock("c1"):
                pass
    with state.client_lock("c1"), state.master_lock("app:Product"):  # the server's order
        pass


def test_two_locks_of_one_kind_are_refused_and_other_threads_are_free() -> None:
    state = State(SqliteStore(":memory:"))
    other: list[str] = []

    def elsewhere() -> None:
        with state.client_lock("c2"):
            other.append("took c2")

    with state.client_lock("c1"):
        with pytest.raises(LockOrderError, match="one of its kind"):
            with state.client_lock("c2"):
                pass
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(10)
    assert other == ["took c2"], "the order is per thread"
    with state.master_lock("app:A"):
        with pytest.raises(LockOrderError):
            with state.master_lock("app:B"):
                pass
