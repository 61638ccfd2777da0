"""The Redis Cluster store: where its keys live, its URL, and a master that dies under it.

The contract suites (test_store, test_log, test_log_random) run on it through the
``store`` fixture; these are the cluster's own matters.
"""

from __future__ import annotations

import secrets
import threading

import pytest
import redis
from redis.crc import key_slot

from rhom.exceptions import ConfigurationError
from rhom.server import StoreUnavailableError, open_store
from rhom.server._log import log_changes
from rhom.server._redis_cluster_store import RedisClusterStore
from rhom.server.testing import redis_cluster

LOG = "u/alice:Product"


def _master(store: RedisClusterStore, slot: int) -> str:
    return str(store._cluster().nodes_manager.slots_cache[slot][0].name)


@pytest.mark.redis_cluster
def test_the_keys_of_one_client_share_a_slot_and_logs_spread_over_the_masters(redis_cluster_url: str) -> None:
    store = RedisClusterStore(redis_cluster_url, prefix=f"t{secrets.token_hex(4)}:")
    try:
        client = ["c:abc", "cx:abc:Product:s", "cx:abc:Product:p", "cx:abc:Product:k:t1", "ls:abc"]
        assert len({key_slot(store._key(key).encode()) for key in client}) == 1, "one slot: set_many is one script"
        lock = store.prefix + "lock:" + store._key("c:abc")[len(store.prefix) :]
        assert key_slot(lock.encode()) == key_slot(store._key("c:abc").encode()), "the client's lock beside it"
        logs = [store._log_keys(f"u/user{i}:Product") for i in range(30)]
        assert all(len({key_slot(k.encode()) for k in keys}) == 1 for keys in logs), "a log's keys share a slot"
        masters = {_master(store, key_slot(keys[0].encode())) for keys in logs}
        assert len(masters) == 3, "30 partitions spread over the 3 masters"
        store.set_many({"c:abc": b"1", "cx:abc:Product:s": b"2", "u:bob": b"3"})
        assert store.get_many(["u:bob", "c:abc", "cx:abc:Product:s"]) == [b"3", b"1", b"2"]
        assert store.keys("cx:abc:") == ["cx:abc:Product:s"], "a complete owner: one node scanned"
    finally:
        store.flush()
        store.close()


@pytest.mark.redis_cluster
def test_get_many_reads_each_master_in_one_round_trip(redis_cluster_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pipeline per master, an MGET per slot in it; slot by slot (each retried) when
    that pipeline fails, as when a slot moved meanwhile."""
    store = RedisClusterStore(redis_cluster_url, prefix=f"t{secrets.token_hex(4)}:")
    try:
        keys = [f"c:client{i}" for i in range(30)] + ["u:nobody"]
        store.set_many({key: key.encode() for key in keys[:-1]})
        masters = {_master(store, key_slot(store._key(key).encode())) for key in keys}
        assert len(masters) == 3
        trips: list[int] = []
        reads: list[int] = []
        real_execute, real_read = redis.client.Pipeline.execute, store._read

        def execute(pipe: redis.client.Pipeline, raise_on_error: bool = True) -> list[object]:
            trips.append(len(pipe.command_stack))
            return real_execute(pipe, raise_on_error)

        def read(slot: int, *command: object) -> object:
            reads.append(slot)
            return real_read(slot, *command)

        monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
        monkeypatch.setattr(store, "_read", read)
        expected = [key.encode() for key in keys[:-1]] + [None]
        assert store.get_many(keys) == expected
        assert len(trips) == 3 and sum(trips) == len({key_slot(store._key(k).encode()) for k in keys}) and not reads

        def broken(pipe: redis.client.Pipeline, raise_on_error: bool = True) -> list[object]:
            raise redis.exceptions.ConnectionError("a master went away")

        monkeypatch.setattr(redis.client.Pipeline, "execute", broken)
        assert store.get_many(keys) == expected, "slot by slot instead"
        assert len(reads) == len({key_slot(store._key(k).encode()) for k in keys})
    finally:
        monkeypatch.undo()
        store.flush()
        store.close()


def test_the_url_names_the_seeds_and_the_options() -> None:
    store = open_store("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001/?wait=0&retry_timeout=5")
    assert isinstance(store, RedisClusterStore)
    assert store._seeds == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert (store.wait, store.wait_timeout, store.retry_timeout) == (0, 1.0, 5.0)
    assert store._options["password"] == "s@cret"
    for bad in (
        "redis+cluster://",
        "redis+cluster://10.0.0.1",
        "redis+cluster://10.0.0.1:7000?waits=1",
        "redis+cluster://10.0.0.1:7000?wait=-1",
    ):
        with pytest.raises(ConfigurationError) as caught:
            open_store(bad)
        assert "cret" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="prefix"):
        open_store("redis+cluster://10.0.0.1:7000", redis_prefix="{app}:")


@pytest.mark.redis_cluster
@pytest.mark.slow
def test_a_master_killed_under_the_store_is_replaced_and_the_store_carries_on() -> None:
    """Writes acknowledged before the kill survive (each waited for the replica); the
    writes in the gap succeed late or raise StoreUnavailableError, nothing else; the same
    store object serves the promoted replica without being reopened."""
    with redis_cluster() as nodes:
        store = RedisClusterStore(nodes.url)
        try:
            written = store.log_write(LOG, log_changes([(str(i), {"n": str(i)}) for i in range(50)]), 1.0)
            store.set_many({"cx:abc:Product:s": b"cursor 50"})
            log_master = _master(store, key_slot(store._log_keys(LOG)[0].encode()))
            nodes.kill(int(log_master.rsplit(":", 1)[1]))
            outcomes = []
            for i in range(200):
                try:
                    store.log_write(LOG, log_changes([("0", {"n": f"v{i}"})]), 2.0)
                    outcomes.append("ok")
                    if outcomes.count("ok") >= 3:
                        break
                except StoreUnavailableError:
                    outcomes.append("503")
            assert outcomes.count("ok") == 3, outcomes
            assert [e.seq for e in store.log_read(LOG, 0, 100)][: len(written)] == written, "nothing acknowledged lost"
            assert store.get("cx:abc:Product:s") == b"cursor 50"
            assert _master(store, key_slot(store._log_keys(LOG)[0].encode())) != log_master, "the replica took over"
            with store.lock("c:abc"):
                store.set("c:abc", b"still here")
            assert store.get("c:abc") == b"still here"
        finally:
            store.close()


def test_requests_waiting_for_the_first_slot_map_give_their_cpu_slot_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request that makes the cluster client asks the seeds (giving its CPU slot up
    around each answer, then taking it back) while it holds the store's guard: another
    request waiting for that guard must not keep the slot the first one needs back."""
    from rhom.server import _redis_cluster_store as module
    from rhom.server._slots import Slots, waiting

    class SlowSeeds:
        def __init__(self, **options: object) -> None:
            with waiting():  # as a connection waiting for a seed's answer
                threading.Event().wait(0.3)

    monkeypatch.setattr(module, "RedisCluster", SlowSeeds)
    store, slots = RedisClusterStore("redis+cluster://127.0.0.1:7000"), Slots(1)
    made: list[object] = []

    def request() -> None:
        with slots.held():
            made.append(store._cluster())

    threads = [threading.Thread(target=request, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
        threading.Event().wait(0.1)
    for thread in threads:
        thread.join(5)
    assert len(made) == 2 and made[0] is made[1], "both requests got the one client, no deadlock"


@pytest.mark.redis_cluster
def test_a_master_refusing_writes_for_want_of_replicas_makes_the_store_unavailable(redis_cluster_url: str) -> None:
    """min-replicas-to-write: a master that lost touch with its replicas refuses writes
    (NOREPLICAS); the store takes that as a master being replaced, not as a bug."""
    store = RedisClusterStore(redis_cluster_url + "?retry_timeout=0.3", prefix=f"t{secrets.token_hex(4)}:")
    slot = key_slot(store._key("c:abc").encode())
    master = store._cluster().get_redis_connection(store._cluster().nodes_manager.slots_cache[slot][0])
    master.config_set("min-replicas-to-write", 5)  # it has one
    try:
        with pytest.raises(StoreUnavailableError, match="NOREPLICAS"):
            store.set("c:abc", b"1")
    finally:
        master.config_set("min-replicas-to-write", 0)
        store.close()
