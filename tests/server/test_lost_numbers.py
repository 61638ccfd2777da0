"""Rule 1 of the change log on Redis: a node that takes over a log (a replica promoted, a
server restarted from its files) may lack the last writes; their numbers are never handed
out again, and a client that saw them starts over (rhom.server._redis_log, _SETTLE)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from rhom.server import Store, open_store
from rhom.server._log import log_changes
from rhom.server._redis_cluster_store import RedisClusterStore
from rhom.server._redis_log import _GAP, RedisLog
from rhom.server._redis_store import RedisStore

LOG = "u/alice:Product"


@pytest.fixture(
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis_cluster)]
)
def redis_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    store = open_store(url, redis_prefix=f"t{secrets.token_hex(4)}:")
    yield store
    store.flush()
    store.close()


def _another_node_answers(store: Store) -> None:
    """What a failover looks like to the log: its hash names a node that is not this one."""
    assert isinstance(store, RedisLog)
    meta = store._log_keys(LOG)[6]
    if isinstance(store, RedisClusterStore):
        store._write(key_slot(meta.encode()), ("HSET", meta, "node", "a-node-that-died"))
    else:
        assert isinstance(store, RedisStore)
        store._redis().hset(meta, "node", "a-node-that-died")


def put(store: Store, *oids: str, value: str = "1") -> list[int]:
    return store.log_write(LOG, log_changes([(oid, {"n": value}) for oid in oids]), 100.0)


def test_numbers_a_lost_node_may_have_handed_out_are_skipped(redis_store: Store) -> None:
    assert put(redis_store, "a", "b", "c") == [1, 2, 3]
    _another_node_answers(redis_store)  # and suppose it had written 4 and 5, now lost
    assert put(redis_store, "d") == [3 + _GAP + 1], "the next number lies past the gap"
    assert put(redis_store, "a", value="2") == [3 + _GAP + 2]
    assert redis_store.log_info(LOG).last == 3 + _GAP + 2


def test_a_cursor_in_the_gap_reads_a_floor_above_it_and_one_below_reads_on(redis_store: Store) -> None:
    put(redis_store, "a", "b", "c")
    _another_node_answers(redis_store)
    info, entries = redis_store.log_scan(LOG, 5, 10)  # a client that saw the lost 4 and 5
    assert info.floor > 5, "it is stale: it starts over"
    assert info.last == 3 + _GAP and entries == []
    info, entries = redis_store.log_scan(LOG, 2, 10)  # a client that saw only what is left
    assert info.floor == 0 and [e.seq for e in entries] == [3]
    put(redis_store, "d")
    info, entries = redis_store.log_scan(LOG, 3, 10)
    assert info.floor == 0 and [(e.seq, e.oid) for e in entries] == [(3 + _GAP + 1, "d")]
    assert redis_store.log_compact(LOG, 1000.0) == 0, "compaction keeps the gap while it matters"
    assert redis_store.log_scan(LOG, 4, 10)[0].floor > 4


def test_the_node_that_wrote_a_log_goes_on_without_gaps(redis_store: Store) -> None:
    assert put(redis_store, "a") == [1]
    assert redis_store.log_scan(LOG, 0, 10)[0] == redis_store.log_info(LOG)
    assert put(redis_store, "b") == [2], "same node: no gap"
