"""Where rhom.server keeps its state: one small key-value interface, two implementations.

Everything the server remembers (users, clients, master and client documents, pending
pages, bulk files, blobs) is a byte string under a key. The interface is deliberately
small so that both stores stay obviously equivalent and one test suite covers both:

* :class:`SqliteStore` (``sqlite:///file.db`` or ``sqlite://``): the embedded default,
  zero set-up, for one server process;
* :class:`RedisStore` (``redis://host:port/db``): for several server processes behind a
  load balancer.

Beside the key-value part, a store keeps **change logs** (one per partition and source,
see docs/server.md "The change log"): an append-only sequence of object versions, each
under an increasing sequence number, plus each object's latest entry. A page is an
indexed range read of the log after a client's cursor, so it costs what it sends,
whatever the size of the source. Compaction drops the entries that newer ones replaced
(and deletions) once they are older than the retention window.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

from rhom.exceptions import ConfigurationError

__all__ = ["LogEntry", "LogInfo", "Store", "open_store"]

T = TypeVar("T")


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


#: One change for :meth:`Store.log_write`: object id, digest of the value, and the value
#: (canonical JSON) or ``None`` to delete.
LogChange = tuple[str, str, str | None]


class Store(abc.ABC):
    """The storage interface of rhom.server. Keys are ``str``, values ``bytes``."""

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
        """Write all items at once; a ``None`` value deletes the key."""

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
        with self.lock("n:" + key):
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
        """A mutual-exclusion lock called ``name`` (held for seconds at most).

        Names of one kind (the text before the first ``:``) may share a lock: never hold
        two locks of one kind at once.
        """

    # -- change logs ------------------------------------------------------------------
    @abc.abstractmethod
    def log_write(self, log: str, changes: Sequence[LogChange], now: float) -> list[int]:
        """Append ``changes`` to ``log`` at once; return each object's latest sequence number.

        A change whose digest equals the live object's (or a delete of an object that is
        not live) appends nothing and returns the object's latest number (0 when it has
        none). Any other change appends an entry stamped ``now``, which marks the
        object's previous entry as replaced at ``now``.
        """

    @abc.abstractmethod
    def log_read(self, log: str, after: int, limit: int) -> list[LogEntry]:
        """At most ``limit`` entries with a sequence number above ``after``, in order."""

    def log_scan(self, log: str, after: int, limit: int) -> tuple[LogInfo, list[LogEntry]]:
        """The log's counters and ``log_read(log, after, limit)``, as of one moment.

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
        """The log's counters (all zero for a log never written)."""

    @abc.abstractmethod
    def log_compact(self, log: str, before: float) -> int:
        """Drop entries replaced at or before ``before``, and deletions made by then.

        The floor becomes the newest sequence number whose entry was dropped, or the
        newest that replaced a dropped entry; return it.
        """

    @abc.abstractmethod
    def log_drop(self, prefix: str) -> None:
        """Delete every log whose name starts with ``prefix``."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Delete everything (admin ``system/reset``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store reopens them if used again."""


def open_store(url: str, *, redis_prefix: str = "rhom:") -> Store:
    """Create the store a ``store`` setting names.

    :param url: ``sqlite:///path``, ``sqlite://`` (memory) or ``redis://...``.
    :raises ConfigurationError: an unknown scheme.
    """
    if url.startswith("sqlite://"):
        from rhom.server._sqlite_store import SqliteStore

        path = url[len("sqlite://") :]
        return SqliteStore(path[1:] if path.startswith("/") else ":memory:")
    if url.startswith(("redis://", "rediss://", "unix://")):
        from rhom.server._redis_store import RedisStore

        return RedisStore(url, prefix=redis_prefix)
    raise ConfigurationError(f"rhom.server store {url!r}: expected sqlite:// or redis:// URL")


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix + "\U0010ffff"


def new_objects_only(changes: Sequence[LogChange], minimum: int) -> bool:
    """Whether ``changes`` are at least ``minimum`` distinct objects, none deleted: what a
    store may keep as runs when none of them is known to the log yet."""
    if len(changes) < minimum:
        return False
    return len({oid for oid, _, _ in changes}) == len(changes) and all(value is not None for _, _, value in changes)


def iter_chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """Split ``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
