"""Where rhom.server keeps its state: the Store contract, in two halves, and its registry.

Everything the server remembers (users, clients, master and client documents, pending
pages, bulk files, blobs) is a byte string under a key: the :class:`KeyValueStore`
half, with the locks that several server processes share. Beside it, a store keeps
**change logs** (one per partition and source, see docs/server.md "The change log"): the
:class:`ChangeLog` half. A :class:`Store` is both. The rules each half keeps are written
once, in the docstrings of these classes; ``rhom.server.testing.check_store(store)``
checks them against a reference model, and every built-in store passes it:

* ``SqliteStore`` (``sqlite:///file.db`` or ``sqlite://``): the embedded default,
  zero set-up, for one server process;
* ``RedisStore`` (``redis://host:port/db``, ``rediss://``, ``unix://``): several server
  processes on one Redis;
* ``RedisClusterStore`` (``redis+cluster://host:port[,host:port...]``): several server
  processes on a Redis Cluster, its keys sharded over the masters, each master's
  replica taking over when it dies.

:func:`open_store` opens the store a URL names, by its scheme, from :data:`SCHEMES`;
:func:`register_store` adds a scheme of your own.
"""

from __future__ import annotations

import abc
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

from rhom.exceptions import ConfigurationError, RhomError
from rhom.server import _keys

__all__ = [
    "SCHEMES",
    "ChangeLog",
    "KeyValueStore",
    "LogChange",
    "LogEntry",
    "LogInfo",
    "Store",
    "StoreUnavailableError",
    "open_store",
    "register_store",
]

T = TypeVar("T")


class StoreUnavailableError(RhomError):
    """The store cannot answer now (its server is down, or a Redis Cluster master is being
    replaced by its replica); the request may succeed when retried. rhom.server answers
    such a request 503 with ``Retry-After``, which clients retry.

    .. versionadded:: 0.2
    """


@dataclass(frozen=True)
class LogEntry:
    """One entry of a change log: a version of one object.

    :param seq: the entry's sequence number (increasing within one log).
    :param oid: the object id.
    :param value: the object's attributes as canonical JSON, or ``None``: deleted.
    :param prev: the sequence number of the object's previous entry (0: none).
    """

    seq: int
    oid: str
    value: str | None
    prev: int


@dataclass(frozen=True)
class LogInfo:
    """The counters of one change log.

    :param last: the newest sequence number (0: nothing written yet).
    :param count: how many objects are live (not deleted).
    :param floor: entries at or below it may have been compacted away: a client whose
        cursor is below it can no longer be brought up to date from the log.
    """

    last: int = 0
    count: int = 0
    floor: int = 0


#: One change for :meth:`ChangeLog.log_write`: object id, digest of the value, and the value
#: (canonical JSON) or ``None`` to delete.
LogChange = tuple[str, str, str | None]


class KeyValueStore(abc.ABC):
    """Byte strings under keys, and named locks: the half of a :class:`Store` that keeps
    users, clients, their states, pages, bulk files and blobs.

    The rules every implementation keeps:

    1. **Keys** are ``str``, built by the server as ``kind:owner[:rest]``: the text before
       the first ``:`` names the kind (``c`` a client, ``cx`` a client's source state,
       ``u`` a user, ``m`` a master state ...), the next part the owner (a client id, a
       user, a partition), every part quoted (``rhom.server._keys.q``) so that it holds
       neither ``:`` nor ``/`` nor ``{`` nor ``}``; rhom.server._keys builds every name
       and lists the kinds. Values are ``bytes``.
    2. **Reads see every write made before them**, by any process sharing the store: a
       value read back is the last one written (or ``None``, once deleted).
    3. :meth:`set_many` **writes all its items at once**: no reader sees some of them
       without the others. A store that cannot (one whose keys are spread over several
       servers) writes the keys of each owner at once, owner after owner in the order the
       items name them, which is what the server relies on: the keys of one client go
       together, and a file is written before the record that names it.
    4. :meth:`incr` adds atomically, whatever the number of processes; with ``ttl`` the
       store may forget the counter once that window is over.
    5. :meth:`keys` answers sorted; both it and :meth:`delete_prefix` see every key that
       starts with the prefix, literally (glob characters are plain text).
    6. :meth:`lock` **excludes every other holder of that name** in every process sharing
       the store, for as long as the ``with`` block runs, up to a minute (a holder that
       died frees it then). Names of one kind (the text before the first ``:``) may share
       a lock, so the server never holds two locks of one kind at once, and takes them
       in one order, ``c:`` (a client) before ``m:`` (a master document): sharing a lock
       can then delay a request but never deadlock. The server's ``State`` takes every
       lock and checks that order (``LockOrderError``); a store need not.
    7. A store that cannot reach its data raises :class:`StoreUnavailableError`, never
       something else, and only once retrying within the call would not help.
    """

    #: The ``cpu_slots`` that suit this store when the setting is left unset: a store
    #: reached over the network keeps requests waiting for answers, during which they
    #: give their slot up, so a second slot keeps the CPU busy meanwhile.
    cpu_slots: int = 2

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None:
        """Return the value of ``key``, or ``None``."""

    @abc.abstractmethod
    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        """Return the values of ``keys`` in order (``None`` for missing ones)."""

    @abc.abstractmethod
    def set_many(self, items: Mapping[str, bytes | None]) -> None:
        """Write all items at once (rule 3); a ``None`` value deletes the key."""

    def set(self, key: str, value: bytes | None) -> None:
        """Write (or, with ``None``, delete) one key."""
        self.set_many({key: value})

    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount`` to the integer counter under ``key``; return its new value.

        A counter reads back through :meth:`get` as its decimal digits (missing: 0).
        With ``ttl`` the counter counts the events of a time window (failed logins): the
        store may forget it once ``ttl`` seconds have passed since its first increment,
        so that the counters of windows gone by do not pile up. The built-in stores do
        (Redis with an expiry, SQLite with a table of expiry times); callers name each
        window in its key rather than count on when it is forgotten. This default, for
        a custom store, adds under :meth:`lock` (as safe across processes as that lock)
        and keeps every counter.

        .. versionadded:: 0.1
        """
        with self.lock(_keys.counter_lock(key)):
            value = int(self.get(key) or b"0") + amount
            self.set(key, str(value).encode())
        return value

    @abc.abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Return every key that starts with ``prefix``, sorted."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key that starts with ``prefix``; return how many."""

    @abc.abstractmethod
    def lock(self, name: str) -> AbstractContextManager[None]:
        """A mutual-exclusion lock called ``name`` (rule 6: held for a minute at most; never
        two of one kind at once; ``c:`` before ``m:``)."""


class ChangeLog(abc.ABC):
    """Change logs: the half of a :class:`Store` that keeps the objects of each partition
    and source as an append-only sequence of versions (docs/server.md "The change log").

    A log is named by a string (``u/<user>:<source>`` or ``app:<source>``) and springs
    into being with its first write. The rules every implementation keeps, which
    ``rhom.server.testing.ReferenceLog`` spells out as code:

    1. **Numbers.** Each appended entry takes the next sequence number of its log, from 1
       up. A number is never handed out twice, even by a store that can lose
       acknowledged writes (a replica that takes over from a master that died): such a
       store skips past every number it may have handed out, and answers, for a cursor
       among the numbers it lost, a floor above that cursor (rule 6), so that the client
       that saw them starts over instead of missing what comes next.
    2. **A write is atomic**: all of its changes or none, each number taken in the same
       step that writes its entry, so a reader never sees a number without its entry.
    3. **Only changes are appended.** A change whose digest equals the live object's, or
       the delete of an object that is not live, appends nothing and answers the object's
       latest number (0 when it has none). Any other change appends an entry stamped with
       the write's time, whose ``prev`` is the object's previous entry (0: none); a
       deletion is an entry without a value. One write may change one object several
       times, in order.
    4. **The counters**: ``last`` is the newest number, ``count`` the live objects,
       ``floor`` as compaction (rule 7) and rule 1 leave it; all zero for a log never
       written.
    5. **Reads** answer entries in number order: those the log still holds, after a
       cursor, up to a limit. Each object's latest entry stays until compaction drops a
       deletion.
    6. :meth:`log_scan` answers the counters and the first entries **as of one moment**
       (a compaction cannot fall between them), with a floor above ``after`` when
       ``after`` lies among numbers the store lost (rule 1).
    7. **Compaction** before a time drops the entries replaced at or before it and the
       deletions made by then (forgetting those objects); the floor becomes the largest
       of the previous floor, the numbers of the dropped deletions and the numbers of the
       entries that replaced the dropped ones. Numbers go on from ``last``.
    """

    @abc.abstractmethod
    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        """Append ``changes`` to ``log`` at once (rules 2, 3); return each change's number:
        the entry appended, or the object's latest number when nothing was appended."""

    @abc.abstractmethod
    def log_read(self, log: str, after: int, limit: int) -> list[LogEntry]:
        """At most ``limit`` entries with a sequence number above ``after``, in order."""

    def log_scan(self, log: str, after: int, limit: int) -> tuple[LogInfo, list[LogEntry]]:
        """The log's counters and ``log_read(log, after, limit)``, as of one moment (rule 6).

        A page reads both at once, so that a compaction cannot fall between them. This
        default reads the counters, the entries, then the floor again, and answers the
        later floor (a compaction in between shows as a higher one); a store that can
        read both in one step should.
        """
        info = self.log_info(log)
        entries = self.log_read(log, after, limit)
        return LogInfo(info.last, info.count, self.log_info(log).floor), entries

    @abc.abstractmethod
    def log_entries(self, log: str, seqs: Iterable[int]) -> dict[int, LogEntry]:
        """The entries with the given sequence numbers that the log still holds."""

    @abc.abstractmethod
    def log_current(self, log: str, oids: Iterable[str]) -> dict[str, LogEntry]:
        """The latest entries of the named objects (live or deleted) the log holds."""

    @abc.abstractmethod
    def log_digests(self, log: str, oids: Iterable[str]) -> dict[str, str]:
        """The digests of the named objects that are live."""

    @abc.abstractmethod
    def log_ids(self, log: str) -> Iterator[str]:
        """Every live object id, in no set order (read in chunks, not all at once)."""

    @abc.abstractmethod
    def log_info(self, log: str) -> LogInfo:
        """The log's counters (rule 4)."""

    @abc.abstractmethod
    def log_compact(self, log: str, before: float) -> int:
        """Drop entries replaced at or before ``before``, and deletions made by then
        (rule 7); return the new floor."""

    @abc.abstractmethod
    def log_drop(self, prefix: str) -> None:
        """Delete every log whose name starts with ``prefix``."""


class Store(KeyValueStore, ChangeLog):
    """The storage interface of rhom.server: a :class:`KeyValueStore` and a
    :class:`ChangeLog` in one, opened by :func:`open_store` or given to ``create_app``.

    Check your own with ``rhom.server.testing.check_store(store)``.
    """

    @abc.abstractmethod
    def flush(self) -> None:
        """Delete everything: keys and logs (admin ``system/reset``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store reopens them if used again."""


#: ``opener(url, prefix=...)``: the store a URL of its scheme names. ``prefix`` is the
#: ``redis_prefix`` setting, for stores that several apps may share.
Opener = Callable[..., Store]


def _open_sqlite(url: str, *, prefix: str) -> Store:
    from rhom.server._sqlite_store import SqliteStore

    path = url.split("://", 1)[1]
    return SqliteStore(path[1:] if path.startswith("/") else ":memory:")


def _open_redis(url: str, *, prefix: str) -> Store:
    from rhom.server._redis_store import RedisStore

    return RedisStore(url, prefix=prefix)


def _open_redis_cluster(url: str, *, prefix: str) -> Store:
    from rhom.server._redis_cluster_store import RedisClusterStore

    return RedisClusterStore(url, prefix=prefix)


#: The registry of store URL schemes: scheme -> opener. :func:`open_store` reads it,
#: :func:`register_store` adds to it, and rhom's tests run the contract suite on a store
#: of every scheme it lists.
SCHEMES: dict[str, Opener] = {
    "sqlite": _open_sqlite,
    "redis": _open_redis,
    "rediss": _open_redis,
    "unix": _open_redis,
    "redis+cluster": _open_redis_cluster,
    "rediss+cluster": _open_redis_cluster,
}


def register_store(scheme: str, opener: Opener) -> None:
    """Let ``store`` settings and :func:`open_store` name a store of your own by URL.

    ::

        register_store("mystore", lambda url, *, prefix: MyStore(url, prefix=prefix))
        create_app(adapters, settings=Settings(store="mystore://somewhere"))

    :param scheme: the URL scheme (the text before ``://``), lower case.
    :param opener: ``opener(url, prefix=...)`` returning the :class:`Store`; ``prefix`` is
        the ``redis_prefix`` setting.
    :raises ConfigurationError: a scheme rhom already uses, or one that is no URL scheme.

    .. versionadded:: 0.2
    """
    if scheme in SCHEMES:
        raise ConfigurationError(f"rhom.server: store scheme {scheme!r} is taken")
    if not scheme or scheme.lower() != scheme or not all(ch.isalnum() or ch in "+-." for ch in scheme):
        raise ConfigurationError(f"rhom.server: {scheme!r} is no URL scheme (lower case letters, digits, + - .)")
    SCHEMES[scheme] = opener


def open_store(url: str, *, redis_prefix: str = "rhom:") -> Store:
    """Create the store a ``store`` setting names, by the URL's scheme (:data:`SCHEMES`).

    :param url: ``sqlite:///path``, ``sqlite://`` (memory), ``redis://...``,
        ``redis+cluster://host:port[,host:port...]`` or a scheme of :func:`register_store`.
    :param redis_prefix: prepended to every key of a Redis or Redis Cluster store.
    :raises ConfigurationError: an unknown scheme, or a URL its store refuses.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    opener = SCHEMES.get(scheme)
    if opener is None:
        known = ", ".join(f"{name}://" for name in SCHEMES)
        raise ConfigurationError(f"rhom.server store {redact(url)!r}: expected a URL of one of {known}")
    return opener(url, prefix=redis_prefix)


def redact(url: str) -> str:
    """``url`` without the password it may carry, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"


def iter_chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """Split ``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
