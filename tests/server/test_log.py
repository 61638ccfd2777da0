"""The change log contract (rhom.server.store ``log_*``), one suite for both stores.

Every test runs on SQLite and on a real redis-server (see conftest ``store_url``).
"""

from __future__ import annotations

from rhom.server import Store
from rhom.server._log import encode, log_changes
from rhom.server.store import LogEntry, LogInfo

LOG = "u/alice:Product"


def put(store: Store, *changes: tuple[str, dict[str, str] | None], now: float = 100.0, log: str = LOG) -> list[int]:
    return store.log_write(log, log_changes(changes), now)


def values(store: Store, after: int = 0) -> list[tuple[int, str, str | None]]:
    return [(e.seq, e.oid, e.value) for e in store.log_read(LOG, after, 100)]


def test_writes_take_increasing_numbers_in_order(store: Store) -> None:
    assert store.log_info(LOG) == LogInfo(0, 0, 0), "a log never written has zero counters"
    assert put(store, ("a", {"n": "1"}), ("b", {"n": "2"})) == [1, 2]
    assert put(store, ("a", {"n": "3"})) == [3], "a change takes the next number"
    assert values(store) == [(1, "a", '{"n":"1"}'), (2, "b", '{"n":"2"}'), (3, "a", '{"n":"3"}')]
    assert values(store, after=2) == [(3, "a", '{"n":"3"}')], "a read starts after the cursor"
    assert [e.seq for e in store.log_read(LOG, 0, 2)] == [1, 2], "a read stops at its limit"
    assert store.log_read(LOG, 0, 0) == [], "a limit of 0 reads nothing"
    assert store.log_scan(LOG, 1, 1) == (LogInfo(3, 2, 0), [LogEntry(2, "b", '{"n":"2"}', 0)])
    assert store.log_scan(LOG, 0, 0) == (LogInfo(3, 2, 0), []), "the counters even without entries"
    assert store.log_info(LOG) == LogInfo(last=3, count=2, floor=0)


def test_entries_chain_to_the_previous_version(store: Store) -> None:
    put(store, ("a", {"n": "1"}), ("b", {"n": "2"}))
    put(store, ("a", {"n": "3"}))
    put(store, ("a", None))
    put(store, ("a", {"n": "5"}))
    assert [(e.seq, e.prev) for e in store.log_read(LOG, 0, 10) if e.oid == "a"] == [(1, 0), (3, 1), (4, 3), (5, 4)]
    assert store.log_current(LOG, ["a", "b", "zz"]) == {
        "a": LogEntry(5, "a", '{"n":"5"}', 4),
        "b": LogEntry(2, "b", '{"n":"2"}', 0),
    }
    assert store.log_entries(LOG, [1, 4, 99]) == {1: LogEntry(1, "a", '{"n":"1"}', 0), 4: LogEntry(4, "a", None, 3)}


def test_unchanged_objects_append_nothing(store: Store) -> None:
    put(store, ("a", {"n": "1", "m": "x"}))
    assert put(store, ("a", {"m": "x", "n": "1"})) == [1], "same content (any key order): latest number"
    assert put(store, ("gone", None)) == [0], "deleting an object the log never held appends nothing"
    assert store.log_info(LOG).last == 1


def test_delete_appends_a_tombstone_and_counts(store: Store) -> None:
    put(store, ("a", {"n": "1"}), ("b", {"n": "2"}))
    assert put(store, ("a", None)) == [3]
    assert values(store, after=2) == [(3, "a", None)], "a deletion is an entry without a value"
    assert store.log_info(LOG).count == 1
    assert put(store, ("a", None)) == [3], "deleting twice appends nothing"
    assert store.log_digests(LOG, ["a", "b"]) == {"b": encode({"n": "2"})[1]}, "digests of live objects only"
    assert put(store, ("a", {"n": "1"})) == [4] and store.log_info(LOG).count == 2, "created again"


def test_compaction_drops_replaced_entries_and_old_deletions(store: Store) -> None:
    put(store, ("a", {"n": "1"}), ("b", {"n": "1"}), ("c", {"n": "1"}), now=10)  # 1, 2, 3
    put(store, ("a", {"n": "2"}), now=20)  # 4: replaces 1 at 20
    put(store, ("b", None), now=30)  # 5: deletes b at 30 (and replaces 2)
    put(store, ("c", {"n": "2"}), now=40)  # 6: replaces 3 at 40
    assert store.log_compact(LOG, before=35) == 5, "floor: the newest number involved"
    assert [e.seq for e in store.log_read(LOG, 0, 10)] == [3, 4, 6], "replaced before 35 and deleted before 35 gone"
    assert store.log_current(LOG, ["b"]) == {}, "a compacted deletion forgets the object"
    assert store.log_info(LOG) == LogInfo(last=6, count=2, floor=5)
    assert store.log_compact(LOG, before=35) == 5, "compacting again changes nothing"
    assert store.log_compact(LOG, before=1000) == 6
    assert [e.seq for e in store.log_read(LOG, 0, 10)] == [4, 6], "the latest entry of a live object stays"
    assert put(store, ("d", {"n": "1"})) == [7], "numbers go on after a compaction"
    assert put(store, ("b", {"n": "9"})) == [8] and store.log_entries(LOG, [8])[8].prev == 0, "b is new again"


def test_ids_list_every_live_object(store: Store) -> None:
    put(store, *[(f"{i:05}", {"n": str(i)}) for i in range(6000)])
    put(store, ("00007", None))
    ids = list(store.log_ids(LOG))
    assert len(ids) == 5999 and len(set(ids)) == 5999 and "00007" not in ids


def test_drop_and_flush_remove_logs(store: Store) -> None:
    put(store, ("a", {"n": "1"}))
    put(store, ("a", {"n": "1"}), log="u/bob:Product")
    put(store, ("a", {"n": "1"}), log="app:Product")
    store.log_drop("u/alice:")
    assert store.log_info(LOG) == LogInfo() and store.log_read(LOG, 0, 10) == []
    assert store.log_current(LOG, ["a"]) == {}
    assert store.log_info("u/bob:Product").count == 1, "other partitions are kept"
    store.flush()
    assert store.log_info("app:Product") == LogInfo()


def test_one_write_may_change_an_object_several_times(store: Store) -> None:
    put(store, ("a", {"n": "1"}))
    assert put(store, ("a", None), ("a", {"n": "2"}), ("b", {"n": "1"}), ("b", None)) == [2, 3, 4, 5]
    assert [(e.seq, e.oid, e.value, e.prev) for e in store.log_read(LOG, 1, 10)] == [
        (2, "a", None, 1),
        (3, "a", '{"n":"2"}', 2),
        (4, "b", '{"n":"1"}', 0),
        (5, "b", None, 4),
    ]
    assert store.log_info(LOG) == LogInfo(last=5, count=1, floor=0)
    assert store.log_compact(LOG, before=1000) == 5, "the deletion of a, replaced since, is no tombstone"
    assert [e.seq for e in store.log_read(LOG, 0, 10)] == [3]
