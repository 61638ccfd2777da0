"""The shared store: Redis, for several server processes behind a load balancer.

Keys are the server's keys under ``prefix``; ``set_many`` is one ``MULTI`` transaction;
locks are redis-py locks. The change logs are rhom.server._redis_log's, shared with the
Redis Cluster store: Lua scripts run here with ``EVALSHA``.

Connection failures and timeouts become :class:`StoreUnavailableError` (answered 503): a
Redis that restarts, or a Sentinel failover, makes requests fail for a moment, which
clients retry, instead of 500s.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar

import redis

from rhom.server._redis_log import RedisLog, glob_escape
from rhom.server._slots import waiting
from rhom.server.store import Store, StoreUnavailableError, iter_chunks, redact

__all__ = ["RedisStore"]

_LOCK_TIMEOUT = 60.0  # a crashed holder frees the lock after this many seconds

P = ParamSpec("P")
R = TypeVar("R")

#: What a Redis client raises when the server is out of reach (not when it refuses a command).
UNREACHABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


def _reachable(method: Callable[P, R]) -> Callable[P, R]:
    """Raise :class:`StoreUnavailableError` instead of a Redis connection failure."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except UNREACHABLE as exc:
            store = args[0]
            url = redact(getattr(store, "url", "?"))
            raise StoreUnavailableError(f"rhom.server: Redis at {url} unreachable: {exc}") from exc

    return run


class RedisStore(RedisLog, Store):
    """Server state in Redis strings under ``prefix``; locks are Redis locks.

    :param url: a redis-py URL (``redis://127.0.0.1:6379/0``).
    :param prefix: prepended to every key, so several apps can share one Redis.
    """

    def __init__(self, url: str, *, prefix: str = "rhom:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: redis.Redis | None = None
        self._guard = threading.Lock()
        self._scripts: dict[str, Any] = {}

    def _redis(self) -> redis.Redis:
        with self._guard:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self.url, health_check_interval=30, connection_class=_yielding(self.url)
                )
            return self._client

    @_reachable
    def get(self, key: str) -> bytes | None:
        value = self._redis().get(self.prefix + key)
        return None if value is None else _as_bytes(value)

    @_reachable
    def get_many(self, keys: Iterable[str]) -> list[bytes | None]:
        wanted = [self.prefix + key for key in keys]
        if not wanted:
            return []
        return [None if v is None else _as_bytes(v) for v in self._redis().mget(wanted)]

    @_reachable
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

    @_reachable
    def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        name = self.prefix + key
        with self._redis().pipeline(transaction=True) as pipe:
            if ttl is not None:  # the window starts with the first increment
                pipe.set(name, 0, ex=max(1, math.ceil(ttl)), nx=True)
            pipe.incrby(name, amount)
            return int(pipe.execute()[-1])

    def _scan(self, prefix: str) -> Iterator[str]:
        pattern = glob_escape(self.prefix + prefix) + "*"
        cut = len(self.prefix)
        for key in self._redis().scan_iter(match=pattern, count=1000):
            yield key.decode()[cut:]

    @_reachable
    def keys(self, prefix: str) -> list[str]:
        return sorted(self._scan(prefix))

    @_reachable
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
        try:
            if not lock.acquire(blocking=False):
                with waiting():  # another request holds it: let others run meanwhile
                    acquired = lock.acquire()
                if not acquired:
                    raise TimeoutError("rhom.server: lock wait exceeded 60 s")
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"rhom.server: Redis at {redact(self.url)} unreachable: {exc}") from exc
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:  # expired while held: nothing left to free
                pass
            except UNREACHABLE:  # Redis went away: the lock expires there, if it comes back
                pass

    # -- the change logs' primitives (rhom.server._redis_log) -------------------------
    @_reachable
    def _eval(self, source: str, keys: list[str], args: list[Any], *, write: bool) -> Any:
        """A registered Lua script (EVALSHA; loaded again if Redis lost it)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._redis().register_script(source)
        return script(keys=keys, args=args)

    @_reachable
    def _hmget(self, key: str, fields: list[str]) -> list[Any]:
        return list(self._redis().hmget(key, fields))

    def _hscan(self, key: str) -> Iterator[tuple[Any, Any]]:
        try:
            yield from self._redis().hscan_iter(key, count=1000)
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"rhom.server: Redis at {redact(self.url)} unreachable: {exc}") from exc

    @_reachable
    def _delete_logs(self, pattern: str) -> None:
        found = list(self._redis().scan_iter(match=pattern, count=1000))
        for chunk in iter_chunks(found, 500):
            self._redis().delete(*chunk)

    def flush(self) -> None:
        self.delete_prefix("")

    def close(self) -> None:
        with self._guard:
            self._scripts.clear()
            if self._client is not None:
                self._client.close()
                self._client.connection_pool.disconnect()
                self._client = None


class _Yielding:
    """A connection that gives the request's CPU slot up while it waits for Redis's
    answer (rhom.server._slots): another request runs meanwhile."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with waiting():
            return super().read_response(*args, **kwargs)  # type: ignore[misc]


def _yielding(url: str) -> type[redis.connection.AbstractConnection]:
    """The connection class ``url`` calls for, made :class:`_Yielding`."""
    scheme = url.split(":", 1)[0]
    base = {"rediss": redis.SSLConnection, "unix": redis.UnixDomainSocketConnection}.get(scheme, redis.Connection)
    return yielding_class(base)


def yielding_class(base: type[redis.connection.AbstractConnection]) -> type[redis.connection.AbstractConnection]:
    """``base`` made :class:`_Yielding` (one class per base)."""
    return _YIELDING.setdefault(base, type("Yielding" + base.__name__, (_Yielding, base), {}))


_YIELDING: dict[type, type] = {}


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
