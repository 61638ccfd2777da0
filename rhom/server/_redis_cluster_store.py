"""The sharded store: a Redis Cluster, its keys spread over the masters, each master's
replica taking over when it dies.

Built on redis-py's ``RedisCluster`` for what it does well: finding the nodes from a few
seed addresses, mapping the 16,384 hash slots to them, and a connection pool per node.
Commands go to the master of their slot over that node's own client, so that a write and
the ``WAIT`` that follows it share one connection (``WAIT`` counts the replicas that
acknowledged the writes of *its* connection; in a ``MULTI`` or a script it does not
block).

**Where keys live.** Redis Cluster hashes only the text between the first ``{`` and the
next ``}`` of a key, when there is some (its hash tags). A server key ``kind:owner:rest``
is stored as ``<prefix>kind:{owner}:rest``, so every key of one client (``c:``, ``cx:``,
``ls:``), one user or one partition shares a slot; a change log's keys share the tag of
the log's name (rhom.server._redis_log), and a lock is one key. Each script and each
``set_many`` group therefore runs on one node, and different clients, users and logs
spread over the masters.

**Failover.** A command that finds its master unreachable, or the cluster reconfiguring
(``MOVED``, ``CLUSTERDOWN``, ``TRYAGAIN``, a replica refusing a write), refreshes the slot
map and tries again for up to ``retry_timeout`` seconds, then raises
:class:`StoreUnavailableError` (the request is answered 503 and the client retries).
Every command is safe to send twice: keys are written whole, a log write of unchanged
objects appends nothing, a lock is taken again by its own token.

**Replicas.** Replication is asynchronous: a master that dies may take its last writes
with it. So each write waits (``WAIT``) until the slot's replica has it, for up to
``wait_timeout`` seconds, when the slot map shows one (a master whose replica took over
has none until a new one joins; the map is read again every 30 seconds). A change log
that still loses writes skips their numbers (rule 1 of ``ChangeLog``). docs/scaling.md
says what is left.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from rhom.exceptions import ConfigurationError
from rhom.server._redis_log import RedisLog, glob_escape
from rhom.server._redis_store import yielding_class
from rhom.server._slots import waiting
from rhom.server.store import Store, StoreUnavailableError, iter_chunks, redact

__all__ = ["RedisClusterStore"]

logger = logging.getLogger("rhom.server")

T = TypeVar("T")

_LOCK_TIMEOUT = 60.0  # a crashed holder frees the lock after this many seconds
_REMAP_EVERY = 30.0  # seconds between two readings of the slot map without an error

#: Errors after which the slot map may have changed: read it again, then retry.
_TRANSIENT: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,  # CLUSTERDOWN, MASTERDOWN
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,  # a master that became a replica
    redis.exceptions.AskError,  # MOVED (a subclass) and ASK
    redis.exceptions.RedisClusterException,  # no node reachable, a slot not covered
)

#: What _on catches: the transient errors, and the refusals it reads (_refusal).
_RETRIED: tuple[type[Exception], ...] = (redis.exceptions.ResponseError, *_TRANSIENT)

#: Refusals of a master that cannot take writes now: too few replicas for its
#: min-replicas-to-write, or a replica still loading its data.
_REFUSALS = ("NOREPLICAS", "LOADING", "MASTERDOWN")

# KEYS[1]: the lock; ARGV: token, milliseconds. Taken, or already ours (a retry whose
# first answer was lost): 1; held by another: 0.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: the keys of one slot; ARGV[1]: how many of them to set, then their values; the
# others are deleted.
_SET_MANY = """
local n = tonumber(ARGV[1])
for i = 1, n do redis.call('SET', KEYS[i], ARGV[i + 1]) end
if #KEYS > n then redis.call('DEL', unpack(KEYS, n + 1)) end
return n
"""
# KEYS[1]: the counter; ARGV: amount, seconds of its window ('' for none).
_INCR = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], 0, 'EX', ARGV[2], 'NX') end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class RedisClusterStore(RedisLog, Store):
    """Server state on a Redis Cluster: ``redis+cluster://host:port[,host:port...]``.

    The hosts are seeds: any reachable one tells the store the others. Query options:
    ``wait`` (replicas each write waits for, default 1; 0: none), ``wait_timeout``
    (seconds, default 1), ``retry_timeout`` (seconds a command keeps trying while a
    master is replaced, default 2). ``rediss+cluster://`` connects with TLS; a user and
    password go before the first host (``redis+cluster://:secret@10.0.0.1:7000,...``).

    :param url: the store URL.
    :param prefix: prepended to every key, so several apps can share one cluster; it may
        not hold ``{`` or ``}``.
    :raises ConfigurationError: a URL without hosts, a bad option or prefix.
    """

    def __init__(self, url: str, *, prefix: str = "rhom:") -> None:
        if "{" in prefix or "}" in prefix:
            raise ConfigurationError(f"rhom.server: redis_prefix {prefix!r} may not hold '{{' or '}}' on a cluster")
        self.url = url
        self.prefix = prefix
        self._seeds, self._options, settings = _parse(url)
        self.wait = int(settings.get("wait", 1))
        self.wait_timeout = float(settings.get("wait_timeout", 1.0))
        self.retry_timeout = float(settings.get("retry_timeout", 2.0))
        self._cluster_client: RedisCluster | None = None
        self._guard = threading.Lock()
        self._remap_guard = threading.Lock()
        self._mapped_at = 0.0
        self._shas: dict[str, str] = {}
        self._warned_at = 0.0

    # -- routing ----------------------------------------------------------------------
    def _cluster(self) -> RedisCluster:
        client = self._cluster_client
        if client is not None:
            return client
        # Making the client asks the seeds for the slot map: answers that give this
        # request's CPU slot up meanwhile (_slots) and take it back, while it holds the
        # guard. So the others wait for the guard without their slots, never holding a
        # slot the maker needs back.
        if not self._guard.acquire(blocking=False):
            with waiting():
                self._guard.acquire()
        try:
            if self._cluster_client is None:
                self._cluster_client = RedisCluster(
                    startup_nodes=[_node(host, port) for host, port in self._seeds],
                    require_full_coverage=False,
                    **self._options,
                )
                self._mapped_at = time.monotonic()
            return self._cluster_client
        finally:
            self._guard.release()

    def _remap(self, *, now: bool = True) -> None:
        """Read the slot map again (at most one thread at a time; the others go on)."""
        if not self._remap_guard.acquire(blocking=False):
            return
        try:
            if not now and time.monotonic() - self._mapped_at < _REMAP_EVERY:
                return
            self._mapped_at = time.monotonic()
            self._cluster().nodes_manager.initialize()
        except _TRANSIENT:  # no seed answers now: the next attempt reads it again
            pass
        finally:
            self._remap_guard.release()

    def _on(self, slot: int, work: Callable[[redis.Redis, int], T]) -> T:
        """``work(client, replicas)`` on the master of ``slot`` (``replicas``: how many the
        slot map shows it), retried while the cluster reconfigures."""
        deadline: float | None = None
        while True:
            if time.monotonic() - self._mapped_at > _REMAP_EVERY:
                self._remap(now=False)
            try:
                cluster = self._cluster()
                nodes = cluster.nodes_manager.slots_cache.get(slot) or []
                if not nodes:
                    raise redis.exceptions.SlotNotCoveredError(f"slot {slot} is not covered")
                return work(cluster.get_redis_connection(nodes[0]), len(nodes) - 1)
            except redis.exceptions.AuthenticationError:
                raise
            except _RETRIED as exc:
                if not isinstance(exc, _TRANSIENT) and not _refusal(exc):
                    raise  # a command refused for what it is (NOSCRIPT, a wrong type): no failover
                deadline = deadline or time.monotonic() + self.retry_timeout
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        f"rhom.server: Redis Cluster {redact(self.url)}: slot {slot} unavailable: {exc}"
                    ) from exc
                self._remap()
                if not isinstance(exc, redis.exceptions.MovedError):  # a failover takes seconds
                    with waiting():
                        time.sleep(0.05)

    def _write(self, slot: int, command: tuple[Any, ...]) -> Any:
        """Run ``command`` on the master of ``slot``, then wait for its replica (``WAIT``)."""

        def run(client: redis.Redis, replicas: int) -> Any:
            wanted = min(self.wait, replicas)
            if not wanted:
                return _command(client, *command)
            with client.pipeline(transaction=False) as pipe:
                _command(pipe, *command)
                _command(pipe, "WAIT", wanted, int(self.wait_timeout * 1000))
                result, acknowledged = pipe.execute()
            if int(acknowledged) < wanted:
                self._replica_late(slot, wanted, int(acknowledged))
            return result

        return self._on(slot, run)

    def _replica_late(self, slot: int, wanted: int, acknowledged: int) -> None:
        """A replica that did not acknowledge in time may be gone: read the map again."""
        self._remap()
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            logger.warning(
                "rhom.server: Redis Cluster slot %d: %d of %d replicas acknowledged a write within %.1f s",
                slot,
                acknowledged,
                wanted,
                self.wait_timeout,
            )

    def _read(self, slot: int, *command: Any) -> Any:
        return self._on(slot, lambda client, _: _command(client, *command))

    # -- keys -------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        """The Redis key of a server key: ``kind:owner:rest`` as ``<prefix>kind:{owner}:rest``."""
        if "{" in key or "}" in key:
            raise ValueError(f"rhom.server: store key {key!r} holds '{{' or '}}'")
        kind, colon, rest = key.partition(":")
        if not colon:
            return f"{self.prefix}{key}{{}}"  # an empty tag: the whole key is hashed
        owner, colon, tail = rest.partition(":")
        return f"{self.prefix}{kind}:{{{owner}}}{colon}{tail}"

    def _server_key(self, raw: bytes | str) -> str:
        text = raw.decode() if isinstance(raw, bytes) else raw
        text = text[len(self.prefix) :]
        start = text.index("{")
        end = text.index("}", start)
        return text[:start] + text[start + 1 : end] + text[end + 1 :]

    def _pattern(self, prefix: str) -> tuple[str, int | None]:
        """The glob that matches the Redis keys of the server keys starting with
        ``prefix``, and the one slot they all live in (``None``: any)."""
        kind, colon, rest = prefix.partition(":")
        if not colon:
            return glob_escape(self.prefix + prefix) + "*", None
        owner, colon, tail = rest.partition(":")
        if not colon:  # the owner is not complete: any slot
            return glob_escape(f"{self.prefix}{kind}:{{{owner}") + "*", None
        physical = f"{self.prefix}{kind}:{{{owner}}}:{tail}"
        return glob_escape(physical) + "*", key_slot(physical.encode())

    def get(self, key: str) -> bytes | None:
        name = self._key(key)
        value = self._read(key_slot(name.encode()), "GET", name)
        return None if value is None else bytes(value)

    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        names = [self._key(key) for key in keys]
        by_slot: dict[int, list[int]] = {}
        for index, name in enumerate(names):
            by_slot.setdefault(key_slot(name.encode()), []).append(index)
        found: list[bytes | None] = [None] * len(names)
        for slots in self._by_master(list(by_slot)):
            reads = [[names[i] for i in by_slot[slot]] for slot in slots]
            for slot, values in zip(slots, self._mget(slots, reads), strict=True):
                for index, value in zip(by_slot[slot], values, strict=True):
                    found[index] = None if value is None else bytes(value)
        return found

    def _by_master(self, slots: list[int]) -> list[list[int]]:
        """``slots`` grouped by the master the slot map names for each (each slot alone
        when there is no map yet)."""
        try:
            cache = self._cluster().nodes_manager.slots_cache
        except _TRANSIENT:  # no seed answers now: the reads retry slot by slot
            return [[slot] for slot in slots]
        groups: dict[str, list[int]] = {}
        for slot in slots:
            nodes = cache.get(slot)
            groups.setdefault(nodes[0].name if nodes else f"?{slot}", []).append(slot)
        return list(groups.values())

    def _mget(self, slots: list[int], reads: list[list[str]]) -> list[Any]:
        """``MGET`` of each ``reads[i]`` (keys of slot ``slots[i]``, all on one master by
        the slot map): pipelined in one round trip, as MGET may not span slots. When
        that fails (a slot moved, its master died), slot by slot, each retried as any
        read is."""
        if len(slots) > 1:
            try:
                cluster = self._cluster()
                nodes = cluster.nodes_manager.slots_cache.get(slots[0]) or []
                if nodes:
                    with cluster.get_redis_connection(nodes[0]).pipeline(transaction=False) as pipe:
                        for names in reads:
                            _command(pipe, "MGET", *names)
                        return list(pipe.execute())
            except redis.exceptions.AuthenticationError:
                raise
            except _RETRIED:
                pass
        return [self._read(slot, "MGET", *names) for slot, names in zip(slots, reads, strict=True)]

    def set_many(self, items: Mapping[str, bytes | None]) -> None:
        groups: dict[int, list[tuple[str, bytes | None]]] = {}
        for key, value in items.items():  # owners in the order the items name them
            name = self._key(key)
            groups.setdefault(key_slot(name.encode()), []).append((name, value))
        for slot, group in groups.items():
            upserts = [(name, value) for name, value in group if value is not None]
            deletes = [name for name, value in group if value is None]
            keys = [name for name, _ in upserts] + deletes
            self._script(slot, _SET_MANY, keys, [len(upserts), *(value for _, value in upserts)], write=True)

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        name = self._key(key)
        window = "" if ttl is None else str(max(1, int(-(-ttl // 1))))
        return int(self._script(key_slot(name.encode()), _INCR, [name], [amount, window], write=True))

    def _scan(self, pattern: str, slot: int | None) -> list[bytes]:
        """The Redis keys matching ``pattern``: on the master of ``slot``, or on every master."""
        if slot is not None:
            return self._on(slot, lambda client, _: list(client.scan_iter(match=pattern, count=1000)))
        found: list[bytes] = []
        for master in self._masters():
            found += self._on(master, lambda client, _: list(client.scan_iter(match=pattern, count=1000)))
        return found

    def _masters(self) -> list[int]:
        """One slot of each master (the commands run on a slot's master, retried as any)."""
        cluster = self._cluster()
        firsts: dict[str, int] = {}
        for slot, nodes in sorted(cluster.nodes_manager.slots_cache.items()):
            if nodes:
                firsts.setdefault(nodes[0].name, slot)
        return list(firsts.values())

    def keys(self, prefix: str) -> list[str]:
        return sorted(self._server_key(raw) for raw in self._scan(*self._pattern(prefix)))

    def delete_prefix(self, prefix: str) -> int:
        return self._delete(self._scan(*self._pattern(prefix)))

    def _delete(self, names: list[bytes]) -> int:
        by_slot: dict[int, list[bytes]] = {}
        for name in names:
            by_slot.setdefault(key_slot(name), []).append(name)
        deleted = 0
        for slot, group in by_slot.items():
            for chunk in iter_chunks(group, 500):
                deleted += int(self._write(slot, ("DEL", *chunk)))
        return deleted

    def lock(self, name: str) -> AbstractContextManager[None]:
        # lock:<kind>:{owner}...: the locks of one client, user or partition share a slot
        return self._held(self.prefix + "lock:" + self._key(name)[len(self.prefix) :])

    @contextmanager
    def _held(self, key: str) -> Iterator[None]:
        slot = key_slot(key.encode())
        token = hashlib.blake2b(f"{threading.get_ident()}:{time.time_ns()}".encode(), digest_size=12).hexdigest()
        args = [token, int(_LOCK_TIMEOUT * 1000)]
        if not self._script(slot, _ACQUIRE, [key], args, write=True):
            deadline = time.monotonic() + _LOCK_TIMEOUT
            with waiting():  # another request holds it: let others run meanwhile
                while not self._script(slot, _ACQUIRE, [key], args, write=True):
                    if time.monotonic() > deadline:
                        raise TimeoutError("rhom.server: lock wait exceeded 60 s")
                    time.sleep(0.005)
        try:
            yield
        finally:
            try:
                self._script(slot, _RELEASE, [key], [token], write=True)
            except StoreUnavailableError:  # its master is being replaced: it expires there
                pass

    # -- scripts and the change logs' primitives (rhom.server._redis_log) -------------
    def _script(self, slot: int, source: str, keys: list[str], args: list[Any], *, write: bool) -> Any:
        """``EVALSHA`` of ``source`` on the master of ``slot`` (loaded there first if
        that node does not know it: a new node, or one restarted)."""
        sha = self._shas.get(source)
        if sha is None:
            sha = self._shas[source] = hashlib.sha1(source.encode()).hexdigest()
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        for _ in range(3):
            try:
                return self._write(slot, command) if write else self._read(slot, *command)
            except redis.exceptions.NoScriptError:
                self._on(slot, lambda client, _: _command(client, "SCRIPT", "LOAD", source))
        raise StoreUnavailableError(f"rhom.server: Redis Cluster {redact(self.url)} keeps losing its scripts")

    def _eval(self, source: str, keys: list[str], args: list[Any], *, write: bool) -> Any:
        return self._script(key_slot(keys[0].encode()), source, keys, args, write=write)

    def _hmget(self, key: str, fields: list[str]) -> list[Any]:
        return list(self._read(key_slot(key.encode()), "HMGET", key, *fields))

    def _hscan(self, key: str) -> Iterator[tuple[Any, Any]]:
        slot, cursor = key_slot(key.encode()), 0
        while True:
            cursor, batch = self._read(slot, "HSCAN", key, cursor, "COUNT", 1000)
            yield from _pairs(batch)
            if int(cursor) == 0:
                return

    def _delete_logs(self, pattern: str) -> None:
        self._delete(self._scan(pattern, None))

    def flush(self) -> None:
        self._delete(self._scan(glob_escape(self.prefix) + "*", None))

    def close(self) -> None:
        with self._guard:
            if self._cluster_client is not None:
                self._cluster_client.close()
                self._cluster_client = None


def _refusal(exc: Exception) -> bool:
    """Whether Redis refused a command for now (:data:`_REFUSALS`), not for what it is. A
    pipeline puts the command before Redis's message: the message is after the last
    "caused error: "."""
    return str(exc).rsplit("caused error: ", 1)[-1].startswith(_REFUSALS)


def _command(client: Any, *args: Any) -> Any:
    """``client.execute_command(*args)`` (redis-py leaves it untyped)."""
    return client.execute_command(*args)


def _node(host: str, port: int) -> ClusterNode:
    made: ClusterNode = ClusterNode(host, port)  # type: ignore[no-untyped-call]
    return made


def _pairs(batch: Any) -> Iterator[tuple[Any, Any]]:
    """HSCAN's field, value, field, value ... as pairs (a dict under RESP3)."""
    if isinstance(batch, dict):
        yield from batch.items()
        return
    for k in range(0, len(batch), 2):
        yield batch[k], batch[k + 1]


def _parse(url: str) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, str]]:
    """The seed nodes, the connection options and the store's own options of ``url``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis+cluster", "rediss+cluster"):
        raise ConfigurationError(f"rhom.server store {redact(url)!r}: expected redis+cluster://host:port,...")
    credentials, _, hosts = parts.netloc.rpartition("@")
    seeds: list[tuple[str, int]] = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"rhom.server store {redact(url)!r}: {item!r} is not host:port")
        seeds.append((host.strip("[]"), int(port)))
    if not seeds:
        raise ConfigurationError(f"rhom.server store {redact(url)!r}: no host:port to start from")
    base = redis.SSLConnection if parts.scheme == "rediss+cluster" else redis.Connection
    options: dict[str, Any] = {"connection_class": yielding_class(base)}
    if parts.scheme == "rediss+cluster":
        options["ssl"] = True
    if credentials:
        user, _, password = credentials.partition(":")
        options["username"] = urllib.parse.unquote(user) or None
        options["password"] = urllib.parse.unquote(password) or None
    settings = dict(urllib.parse.parse_qsl(parts.query))
    unknown = set(settings) - {"wait", "wait_timeout", "retry_timeout"}
    if unknown:
        raise ConfigurationError(f"rhom.server store {redact(url)!r}: unknown options {sorted(unknown)}")
    try:
        seconds = [float(value) for name, value in settings.items() if name != "wait"]
        if int(settings.get("wait", 1)) < 0 or min(seconds, default=0) < 0:
            raise ValueError
    except ValueError:
        raise ConfigurationError(f"rhom.server store {redact(url)!r}: options must be numbers >= 0") from None
    return seeds, options, settings
