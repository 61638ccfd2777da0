"""Stats series: what the server did, per time bucket, kept in the store.

Off unless the ``stats`` setting (or the console) is on, as in RhoConnect. Each process
adds up its requests in memory, per bucket of ``stats_resolution`` seconds, and writes its
buckets to the store every few seconds, under its own key: processes never contend, and a
reader sums the processes of a bucket. Buckets older than ``stats_record_size``
resolutions are dropped.

Metrics, named as RhoConnect names them where it has one:

- ``http:<METHOD>:<path>``: requests and the seconds they took (``count,sum`` per bucket).
  The path is the route's, with the source name filled in and other parameters left as
  ``{name}`` (``http:GET:/app/v1/Product``, ``http:GET:/rc/v1/clients/{client_id}``).
- ``errors:<source>``: adapter errors of a source (refresh, create, update, delete).
- ``latency``: a histogram of every request's duration (counts per :data:`BOUNDS`), from
  which the console draws percentiles.

It also notes when each client last called (``last_sync``), written with the buckets.
"""

from __future__ import annotations

import bisect
import fnmatch
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from rhom.server import _keys as keys
from rhom.server.store import Store

__all__ = ["BOUNDS", "LATENCY", "Point", "Stats", "percentile"]

#: Upper bounds (seconds) of the latency histogram's buckets; the last bucket is open.
BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
LATENCY = "latency"
_FLUSH_EVERY = 2.0  # seconds between two writes of one process's buckets
_PRUNE_EVERY = 600.0


@dataclass(frozen=True)
class Point:
    """One bucket of a metric, summed over the server's processes.

    ``values`` holds ``(count, sum)`` for a timing or counter (a counter's sum is its
    count), or the histogram's counts for :data:`LATENCY`.
    """

    start: int
    values: tuple[float, ...]


class Stats:
    """The stats of one server process (thread-safe)."""

    def __init__(self, store: Store, *, resolution: int = 60, record_size: int = 1440) -> None:
        if resolution <= 0 or record_size <= 0:
            raise ValueError("stats: resolution and record_size must be > 0")
        self.store = store
        self.resolution = resolution
        self.record_size = record_size
        self._process = f"{os.getpid()}-{secrets.token_hex(3)}"
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, int], list[float]] = {}  # written at the next flush
        self._dirty: set[tuple[str, int]] = set()
        self._seen: dict[str, float] = {}
        self._flushed = 0.0
        self._pruned = time.time()

    # -- recording --------------------------------------------------------------------
    def _bucket(self, now: float) -> int:
        return int(now // self.resolution) * self.resolution

    def _add(self, metric: str, start: int, values: Iterable[float]) -> None:
        key = (metric, start)
        current = self._buckets.get(key)
        if current is None:
            self._buckets[key] = list(values)
        else:
            for i, value in enumerate(values):
                current[i] += value
        self._dirty.add(key)

    def timing(self, metric: str, seconds: float, now: float | None = None) -> None:
        """Count one request of ``metric`` that took ``seconds``."""
        start = self._bucket(time.time() if now is None else now)
        histogram = [0.0] * (len(BOUNDS) + 1)
        histogram[bisect.bisect_left(BOUNDS, seconds)] = 1
        with self._lock:
            self._add(metric, start, (1, seconds))
            self._add(LATENCY, start, histogram)

    def add(self, metric: str, count: int = 1, now: float | None = None) -> None:
        """Add ``count`` to the counter ``metric``."""
        if count:
            with self._lock:
                self._add(metric, self._bucket(time.time() if now is None else now), (count, count))

    def seen(self, client_id: str, now: float | None = None) -> None:
        """Note that ``client_id`` called the server (its ``last_sync``)."""
        with self._lock:
            self._seen[client_id] = time.time() if now is None else now

    # -- writing ----------------------------------------------------------------------
    def due(self, now: float | None = None) -> bool:
        """Whether this process has buckets to write and has not written for a while."""
        return bool(self._dirty or self._seen) and (time.time() if now is None else now) - self._flushed >= _FLUSH_EVERY

    def flush(self) -> None:
        """Write this process's changed buckets and last-sync times to the store."""
        now = time.time()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            seen, self._seen = self._seen, {}
            items: dict[str, bytes | None] = {
                keys.stat_bucket(metric, start, self._process): ",".join(
                    map(repr, self._buckets[(metric, start)])
                ).encode()
                for metric, start in dirty
            }
            current = self._bucket(now)
            for key in [k for k in self._buckets if k[1] < current]:
                if key not in dirty:
                    del self._buckets[key]  # written, and no request can add to it any more
            self._flushed = now
        # the name again each time: cheap, and back at once after a system reset
        items.update({keys.stat_name(metric): b"1" for metric, _ in dirty})
        items.update({keys.last_seen(cid): repr(when).encode() for cid, when in seen.items()})
        if items:
            self.store.set_many(items)
        if now - self._pruned >= _PRUNE_EVERY:
            self._pruned = now
            self.prune(now)

    def prune(self, now: float | None = None) -> None:
        """Drop the buckets older than ``record_size`` resolutions."""
        oldest = self._bucket(time.time() if now is None else now) - self.record_size * self.resolution
        for metric in self.names():
            prefix = keys.stat_buckets(metric)
            old = [k for k in self.store.keys(prefix) if int(k[len(prefix) :].split(":")[0]) < oldest]
            if old:
                self.store.set_many(dict.fromkeys(old))

    # -- reading ----------------------------------------------------------------------
    def names(self, pattern: str = "*") -> list[str]:
        """The metric names matching the glob ``pattern``, sorted."""
        prefix = keys.stat_names()
        found = (urllib.parse.unquote(k[len(prefix) :]) for k in self.store.keys(prefix))
        return sorted(name for name in found if fnmatch.fnmatchcase(name, pattern))

    def series(self, metric: str, since: float = 0.0) -> list[Point]:
        """The buckets of ``metric`` starting at or after ``since``, oldest first, summed
        over every process (``[]`` for a metric never recorded)."""
        prefix = keys.stat_buckets(metric)
        found = sorted(k for k in self.store.keys(prefix) if int(k[len(prefix) :].split(":")[0]) >= since)
        sums: dict[int, list[float]] = {}
        for key, raw in zip(found, self.store.get_many(found), strict=True):
            if raw is None:
                continue
            start = int(key[len(prefix) :].split(":")[0])
            values = [float(v) for v in raw.decode().split(",")]
            total = sums.setdefault(start, [0.0] * len(values))
            for i, value in enumerate(values[: len(total)]):
                total[i] += value
        return [Point(start, tuple(values)) for start, values in sorted(sums.items())]

    def last_sync(self, client_ids: Iterable[str]) -> dict[str, float]:
        """When each of ``client_ids`` last called (clients never seen are left out)."""
        wanted = list(client_ids)
        raws = self.store.get_many([keys.last_seen(cid) for cid in wanted])
        return {cid: float(raw) for cid, raw in zip(wanted, raws, strict=True) if raw is not None}


def percentile(histogram: tuple[float, ...], fraction: float) -> float | None:
    """The upper bound of the histogram bucket holding the ``fraction`` quantile
    (``None`` for an empty histogram; the open last bucket reads as twice the last bound)."""
    total = sum(histogram)
    if total <= 0:
        return None
    rank, running = fraction * total, 0.0
    for i, count in enumerate(histogram):
        running += count
        if running >= rank:
            return BOUNDS[i] if i < len(BOUNDS) else BOUNDS[-1] * 2
    return BOUNDS[-1] * 2
