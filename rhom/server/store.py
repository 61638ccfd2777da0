"""Where rhom.server keeps its state: one small key-value interface, two implementations.

Everything the server remembers (users, clients, master and client documents, pending
pages, bulk files, blobs) is a byte string under a key. The interface is deliberately
small so that both stores stay obviously equivalent and one test suite covers both:

* :class:`SqliteStore` (``sqlite:///file.db`` or ``sqlite://``): the embedded default,
  zero set-up, for one server process;
* :class:`RedisStore` (``redis://host:port/db``): for several server processes behind a
  load balancer.

``set_many`` is atomic (one SQLite transaction, one Redis ``MULTI``), which is how the
server keeps a page, its token and the client document consistent. ``lock`` serialises
work on one client or one master document; the SQLite lock only spans one process.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager

from rhom.exceptions import ConfigurationError

__all__ = ["Store", "open_store"]


class Store(abc.ABC):
    """The storage interface of rhom.server. Keys are ``str``, values ``bytes``."""

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


def iter_chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """Split ``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
