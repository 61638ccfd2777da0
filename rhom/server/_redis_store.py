"""The shared store: Redis, for several server processes behind a load balancer."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

import redis

from rhom.server.store import Store, iter_chunks

__all__ = ["RedisStore"]

_LOCK_TIMEOUT = 60.0  # a crashed holder frees the lock after this many seconds


class RedisStore(Store):
    """Server state in Redis strings under ``prefix``; locks are Redis locks.

    :param url: a redis-py URL (``redis://127.0.0.1:6379/0``).
    :param prefix: prepended to every key, so several apps can share one Redis.
    """

    def __init__(self, url: str, *, prefix: str = "rhom:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: redis.Redis | None = None
        self._guard = threading.Lock()

    def _redis(self) -> redis.Redis:
        with self._guard:
            if self._client is None:
                self._client = redis.Redis.from_url(self.url, health_check_interval=30)
            return self._client

    def get(self, key: str) -> bytes | None:
        value = self._redis().get(self.prefix + key)
        return None if value is None else _as_bytes(value)

    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        wanted = [self.prefix + key for key in keys]
        if not wanted:
            return []
        return [None if v is None else _as_bytes(v) for v in self._redis().mget(wanted)]

    def set_many(self, items: Mapping[str, bytes | None]) -> None:
        if not items:
            return
        with self._redis().pipeline(transaction=True) as pipe:
            upserts = {self.prefix + k: v for k, v in items.items() if v is not None}
            deletes = [self.prefix + k for k, v in items.items() if v is None]
            if upserts:
                pipe.mset(upserts)
            if deletes:
                pipe.delete(*deletes)
            pipe.execute()

    def _scan(self, prefix: str) -> Iterator[str]:
        pattern = _glob_escape(self.prefix + prefix) + "*"
        cut = len(self.prefix)
        for key in self._redis().scan_iter(match=pattern, count=1000):
            yield key.decode()[cut:]

    def keys(self, prefix: str) -> list[str]:
        return sorted(self._scan(prefix))

    def delete_prefix(self, prefix: str) -> int:
        found = [self.prefix + key for key in self._scan(prefix)]
        deleted = 0
        for chunk in iter_chunks(found, 500):
            deleted += int(self._redis().delete(*chunk))
        return deleted

    def lock(self, name: str) -> AbstractContextManager[None]:
        return self._held(name)

    @contextmanager
    def _held(self, name: str) -> Iterator[None]:
        lock = self._redis().lock(
            self.prefix + "lock:" + name,
            timeout=_LOCK_TIMEOUT,
            sleep=0.005,
            blocking_timeout=_LOCK_TIMEOUT,
        )
        if not lock.acquire():
            raise TimeoutError("rhom.server: lock wait exceeded 60 s")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:  # expired while held: nothing left to free
                pass

    def flush(self) -> None:
        self.delete_prefix("")

    def close(self) -> None:
        with self._guard:
            if self._client is not None:
                self._client.close()
                self._client.connection_pool.disconnect()
                self._client = None


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
