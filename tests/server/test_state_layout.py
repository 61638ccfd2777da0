"""The server's key names, built in one module (rhom.server._keys), its lock order,
enforced by State (a client's lock before a source's; one of each kind at a time), and
the client source state, loaded and saved by State alone (ClientSourceState)."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from rhom.server import MemoryAdapter, Settings, backend, create_app
from rhom.server import _keys as keys
from rhom.server._call import server_of
from rhom.server._sqlite_store import SqliteStore
from rhom.server._state import UNCHANGED, ClientSourceState, LockOrderError, SearchState, State


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


def test_every_other_key_name_is_pinned_too() -> None:
    """Bulk files, blobs, stats, live events, login counters: names stores already hold."""
    assert keys.bulk(keys.partition("user", "al ice")) == "b:u/al%20ice" and keys.bulk_lock("app") == "b:app"
    url = keys.bulk_url("al/ice", 1700000000)
    assert url == "/data/application/al%2Fice/al%2Fice_1700000000.data"
    assert keys.bulk_url(None, 17) == "/data/application/application_17.data"
    assert keys.bulk_file(url) == "bf:" + url and keys.bulk_piece(url, 3) == f"bf:{url}#3"
    assert keys.bulk_file(url).startswith(keys.bulk_files("al/ice")), "delete_user finds the user's files"
    assert keys.blob("u/bob", "img-1.png") == "blob:u/bob:img-1.png" and keys.blob_quota("u/bob") == "bq:u/bob"
    assert keys.blob("app", "x").startswith(keys.blobs("app"))
    assert keys.stat_bucket("http:GET:/a b", 60, "12-ab") == "st:http%3AGET%3A%2Fa%20b:000000000060:12-ab"
    assert keys.stat_bucket("m", 60, "p").startswith(keys.stat_buckets("m"))
    assert (keys.stat_name("latency"), keys.stat_names(), keys.last_seen("c 1")) == ("stn:latency", "stn:", "ls:c%201")
    assert (keys.events("u/bob"), keys.event_counter()) == ("ev:u/bob", "ev:*")
    assert keys.login_failures(9, "pair", "app", "bob@1.2.3.4") == "lf:9:pair:app:bob@1.2.3.4"
    assert (keys.events_lock("app"), keys.event_counter_lock()) == ("e:app", "e:*")
    assert keys.counter_lock("bq:app") == "n:bq:app"
    assert (keys.sql_feed("ab12"), keys.sql_feed_lock("ab12"), keys.sql_notice("cd")) == ("sqlw:ab12",) * 2 + (
        "sqln:cd",
    )
    assert keys.masters("app") == "m:app:" and keys.logs("u/bob") == "u/bob:"


def test_key_names_are_built_only_in_the_keys_module() -> None:
    """No module of rhom.server spells a key kind of the layout, or takes a lock but
    through State (so the order check sees every one; a store's own ``incr`` aside)."""
    root = Path(keys.__file__).parent
    spelled = re.compile(r"""["'](u|uc|c|cx|ls|m|b|bf|blob|bq|st|stn|ev|lf|e|n|sqlw|sqln):""")
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name in ("_keys.py", "_contract.py"):  # the layout; the store kit's sample keys
            continue
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        if spelled.search(text) or (
            path.name not in ("_state.py", "store.py") and re.search(r"keys\.\w+_lock\(|store\.lock\(", text)
        ):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


# -- the client source state: one typed owner ----------------------------------------

#: A client source state as earlier versions stored it (a dict written key by key).
OLD_SHAPE: dict[str, Any] = {
    "cursor": 41,
    "ahead": {"7": 44, "9": 45},
    "token": "561234567890",
    "page_count": 2,
    "page_total": 1000,
    "links": {"t1": {"l": "7"}},
    "deletes": {"t2": {"name": "x"}},
    "errors": {
        "update-error": {"3": {"price": "x"}, "3-error": {"message": "bad price"}},
        "update-rollback": {"3": {"price": "5"}},
    },
    "schema_sha1": "ab12",
    "metadata_sha1": "cd34",
    "search": {"token": "77", "result": {"5": {"name": "y"}}, "page": {"5": {"name": "y"}}},
}


def _stored(state: State, cid: str = "c1", source: str = "Product") -> Any:
    raw = state.store.get(keys.client_state(cid, source))
    return None if raw is None else json.loads(raw)


def test_a_state_stored_by_an_earlier_version_loads_and_saves_unchanged() -> None:
    state = State(SqliteStore(":memory:"))
    state.store.set(keys.client_state("c1", "Product"), json.dumps(OLD_SHAPE).encode())
    cs = state.client_state("c1", "Product")
    assert (cs.cursor, cs.ahead, cs.token) == (41, {"7": 44, "9": 45}, "561234567890")
    assert (cs.page_count, cs.page_total) == (2, 1000)
    assert cs.links == {"t1": {"l": "7"}} and cs.deletes == {"t2": {"name": "x"}}
    assert cs.errors["update-error"]["3-error"] == {"message": "bad price"}
    assert (cs.schema_sha1, cs.metadata_sha1) == ("ab12", "cd34")
    assert cs.search == SearchState("77", {"5": {"name": "y"}}, {"5": {"name": "y"}})
    assert cs.has_paged and cs.unknown == {}
    copied = cs.copy()
    assert all(getattr(copied, f.name) is getattr(cs, f.name) for f in dataclasses.fields(cs)), "every field"
    items = state.client_state_items("c1", "Product", cs)
    assert list(items) == [keys.client_state("c1", "Product")], "the stored page is left alone"
    state.store.set_many(items)
    assert _stored(state) == OLD_SHAPE


def test_a_minimal_or_missing_state_and_unknown_keys() -> None:
    state = State(SqliteStore(":memory:"))
    fresh = state.client_state("c1", "Product")
    assert fresh == ClientSourceState() and not fresh.has_paged and fresh.cursor is None
    state.store.set_many(state.client_state_items("c1", "Product", fresh))
    assert _stored(state) == {}, "defaults are left out, as the dict left its keys out"
    later = {"cursor": 0, "ahead": {}, "errors": {}, "search": {}, "a_later_key": [1, 2]}
    state.store.set(keys.client_state("c1", "Product"), json.dumps(later).encode())
    cs = state.client_state("c1", "Product")
    assert cs.has_paged and cs.cursor == 0 and cs.search is None and cs.unknown == {"a_later_key": [1, 2]}
    state.store.set_many(state.client_state_items("c1", "Product", cs))
    assert _stored(state) == {"cursor": 0, "a_later_key": [1, 2]}, "empty containers mean nothing; unknown keys stay"


def test_the_page_is_stored_under_its_own_key_and_acknowledged() -> None:
    state = State(SqliteStore(":memory:"))
    cs = state.client_state("c1", "Product")
    cs.cursor = 5
    cs.hold_page("99", 1, 10, '{"insert":{"1":{"a":"b"}}}')
    state.store.set_many(state.client_state_items("c1", "Product", cs))
    assert cs.page_to_store is UNCHANGED, "written once"
    assert state.stored_page("c1", "Product") == {"insert": {"1": {"a": "b"}}}
    assert _stored(state) == {"cursor": 5, "token": "99", "page_count": 1, "page_total": 10}
    cs = state.client_state("c1", "Product")
    before = cs.copy()
    assert cs == before
    cs.acknowledge()
    assert cs != before
    state.store.set_many(state.client_state_items("c1", "Product", cs))
    assert state.stored_page("c1", "Product") == {} and _stored(state) == {"cursor": 5}


def test_backend_writes_take_the_source_lock_through_state() -> None:
    """A backend write inside a source's lock is refused, not left to deadlock."""
    app = create_app([MemoryAdapter("Notice", partition="app", poll_interval=-1)], settings=Settings.for_tests())
    state = server_of(app).state
    with state.master_lock(keys.log("app", "Notice")):
        with pytest.raises(LockOrderError, match="one of its kind"):
            backend.push_objects(app, "Notice", {"1": {"title": "hi"}})
    assert backend.push_objects(app, "Notice", {"1": {"title": "hi"}}) == 1
    state.store.close()
