"""The Store contract as executable checks: a reference model of the change log and the
checks that compare a store with it (published by rhom.server.testing).

The rules checked are those of the docstrings of ``KeyValueStore`` and ``ChangeLog``
(rhom/server/store.py); :class:`ReferenceLog` is the change log written as plainly as
possible, one dict entry per version. Each check raises ``AssertionError`` naming the
call, what it expected and what it got.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rhom.server.store import LogChange, LogEntry, LogInfo, Store

__all__ = ["ReferenceLog", "check_key_value", "check_log", "check_store"]

#: The logs :func:`check_log` writes to.
LOGS = ("u/alice:Product", "u/bob:Product")


def _same(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


@dataclass
class _Version:
    oid: str
    value: str | None
    prev: int
    at: float
    sup: int | None = None  # the entry that replaced it
    sup_at: float | None = None  # when


class ReferenceLog:
    """One change log as the ``ChangeLog`` contract describes it, in memory.

    Its methods take and answer what the store's ``log_*`` methods do for one log:
    ``write`` as ``log_write``, ``read`` as ``log_read``, ``compact`` as ``log_compact``,
    ``entry(seq)`` one entry, and ``info()`` the counters.
    """

    def __init__(self) -> None:
        self.entries: dict[int, _Version] = {}
        #: oid -> (its latest number, its digest; "" once deleted)
        self.cur: dict[str, tuple[int, str]] = {}
        self.last = self.count = self.floor = 0

    def write(self, changes: Iterable[LogChange], now: float) -> list[int]:
        seqs = []
        for oid, digest, value in changes:
            prev, old = self.cur.get(oid, (0, ""))
            live = old != ""
            if (value is None and not live) or (value is not None and old == digest):
                seqs.append(prev)
                continue
            self.last += 1
            self.entries[self.last] = _Version(oid, value, prev, now)
            if prev in self.entries:
                self.entries[prev].sup, self.entries[prev].sup_at = self.last, now
            self.count += (value is not None) - live
            self.cur[oid] = (self.last, "" if value is None else digest)
            seqs.append(self.last)
        return seqs

    def entry(self, seq: int) -> LogEntry:
        version = self.entries[seq]
        return LogEntry(seq, version.oid, version.value, version.prev)

    def read(self, after: int, limit: int) -> list[LogEntry]:
        return [self.entry(seq) for seq in sorted(self.entries) if seq > after][: max(0, limit)]

    def info(self) -> LogInfo:
        return LogInfo(self.last, self.count, self.floor)

    def compact(self, before: float) -> int:
        replaced = [s for s, v in self.entries.items() if v.sup_at is not None and v.sup_at <= before]
        deleted = [s for s, v in self.entries.items() if v.value is None and v.sup is None and v.at <= before]
        if not replaced and not deleted:
            return self.floor
        tops = [self.entries[s].sup or 0 for s in replaced] + deleted
        for seq in deleted:
            oid = self.entries[seq].oid
            if self.cur.get(oid, (0, ""))[0] == seq:
                del self.cur[oid]
        for seq in replaced + deleted:
            del self.entries[seq]
        self.floor = max(self.floor, *tops)
        return self.floor


def _changes_of(pairs: Iterable[tuple[str, dict[str, str] | None]]) -> list[LogChange]:
    """``(oid, attrs or None)`` as ``log_write`` takes them (a digest of sorted items)."""
    out: list[LogChange] = []
    for oid, attrs in pairs:
        if attrs is None:
            out.append((oid, "", None))
        else:
            text = "{" + ",".join(f'"{k}":"{v}"' for k, v in sorted(attrs.items())) + "}"
            out.append((oid, hashlib.blake2b(text.encode(), digest_size=12).hexdigest(), text))
    return out


def _value(rng: random.Random) -> dict[str, str]:
    return {"n": str(rng.randrange(3)), **({"x": "y"} if rng.random() < 0.3 else {})}


def _random_changes(rng: random.Random, ref: ReferenceLog, fresh: list[int]) -> list[LogChange]:
    if rng.random() < 0.3:  # a batch of objects new to the log: runs, in the built-in stores
        size = rng.randrange(1, 12)
        fresh[0] += size
        return _changes_of((f"n{fresh[0] - k}", _value(rng)) for k in range(size))
    known = sorted(ref.cur) or ["a"]
    out: list[tuple[str, dict[str, str] | None]] = []
    for _ in range(rng.randrange(1, 8)):
        oid = rng.choice(known) if rng.random() < 0.8 else f"o{rng.randrange(40)}"
        out.append((oid, None if rng.random() < 0.25 else _value(rng)))
    return _changes_of(out)


def compare_log(store: Store, log: str, ref: ReferenceLog, rng: random.Random) -> None:
    """Ask ``store`` about ``log`` what ``ref`` knows (counters, reads, entries, objects),
    at random cursors and limits."""
    _same(store.log_info(log), ref.info(), f"log_info({log!r})")
    after, limit = rng.randrange(ref.last + 2), rng.randrange(1, 30)
    _same(store.log_read(log, after, limit), ref.read(after, limit), f"log_read({log!r}, {after}, {limit})")
    scan = (ref.info(), ref.read(after, limit))
    _same(store.log_scan(log, after, limit), scan, f"log_scan({log!r}, {after}, {limit})")
    seqs = rng.sample(range(1, ref.last + 3), min(ref.last + 2, 8))
    held = {s: ref.entry(s) for s in seqs if s in ref.entries}
    _same(store.log_entries(log, seqs), held, f"log_entries({log!r}, {seqs})")
    oids = rng.sample(sorted(ref.cur) + ["nobody"], min(len(ref.cur) + 1, 6))
    current = {oid: ref.entry(ref.cur[oid][0]) for oid in oids if oid in ref.cur}
    _same(store.log_current(log, oids), current, f"log_current({log!r}, {oids})")
    digests = {o: ref.cur[o][1] for o in oids if o in ref.cur and ref.cur[o][1]}
    _same(store.log_digests(log, oids), digests, f"log_digests({log!r}, {oids})")
    live = sorted(o for o, (_, h) in ref.cur.items() if h)
    _same(sorted(store.log_ids(log)), live, f"log_ids({log!r})")


def check_log(
    store: Store,
    *,
    seed: int = 0,
    steps: int = 150,
    after_step: Callable[[Store], None] | None = None,
) -> None:
    """Drive ``store`` and a :class:`ReferenceLog` per log with one random sequence of
    writes, compactions and reopenings (``close()``, then use again: the store must keep
    its state, so a store in memory does not qualify), and compare every answer. The
    store is flushed first.

    :param seed: picks the sequence; each seed is another one.
    :param steps: operations in the sequence.
    :param after_step: called with the store after each step (to check its own bounds).
    :raises AssertionError: the first answer that differs from the reference's.
    """
    store.flush()
    rng = random.Random(seed)
    refs = {log: ReferenceLog() for log in LOGS}
    fresh, now = [0], 0.0
    for _ in range(steps):
        log = rng.choice(LOGS)
        ref = refs[log]
        now += rng.choice((0.0, 1.0, 5.0))
        action = rng.random()
        if action < 0.7:
            changes = _random_changes(rng, ref, fresh)
            _same(store.log_write(log, changes, now), ref.write(changes, now), f"log_write({log!r}, {changes})")
        elif action < 0.85:
            before = now - rng.choice((0.0, 3.0, 20.0))
            _same(store.log_compact(log, before), ref.compact(before), f"log_compact({log!r}, {before})")
        elif action < 0.9:
            store.close()  # reopened by the next call
        compare_log(store, log, ref, rng)
        if after_step is not None:
            after_step(store)
    store.log_drop("u/")
    for log in LOGS:
        _same(store.log_info(log), LogInfo(), f"log_info({log!r}) after log_drop('u/')")


def check_key_value(store: Store) -> None:
    """The key-value half: reads see writes, ``set_many`` deletes with ``None``, prefixes
    are literal, counters add up across threads, a lock excludes other holders. The store
    is flushed first and after.

    :raises AssertionError: the first rule broken.
    """
    store.flush()
    _same(store.get("a"), None, "get('a') of an empty store")
    store.set_many({"a": b"1", "b": b"2", "c:d": b"\x00\xff"})
    _same(store.get_many(["a", "missing", "c:d"]), [b"1", None, b"\x00\xff"], "get_many after set_many")
    store.set_many({"a": None, "b": b"3"})
    _same(store.get_many(["a", "b"]), [None, b"3"], "get_many after a delete and an overwrite")
    _same(store.get_many([]), [], "get_many([])")
    store.set("one", b"x")
    _same(store.get("one"), b"x", "get after set")
    store.set_many({"cx:1:a": b"", "cx:1:b": b"", "cx:10:a": b"", "cx:2:a": b"", "u:*?[": b""})
    _same(store.keys("cx:1:"), ["cx:1:a", "cx:1:b"], "keys('cx:1:')")
    _same(store.keys("cx:1"), ["cx:10:a", "cx:1:a", "cx:1:b"], "keys('cx:1')")
    _same(store.keys("u:*"), ["u:*?["], "keys('u:*'): glob characters are literal")
    _same(store.delete_prefix("cx:1:"), 2, "delete_prefix('cx:1:')")
    _same(store.keys("cx:"), ["cx:10:a", "cx:2:a"], "keys('cx:') after delete_prefix")
    _same((store.incr("n:a"), store.incr("n:a", 4), store.incr("n:a", -2)), (1, 5, 3), "incr")
    _same(store.get("n:a"), b"3", "a counter reads back as its digits")
    _threads(lambda: [store.incr("n:shared", ttl=60) for _ in range(25)])
    _same(store.get("n:shared"), b"100", "incr from 4 threads: no increment lost")
    inside, overlaps = [0], [0]

    def work() -> None:
        for _ in range(10):
            with store.lock("c:one"):
                inside[0] += 1
                time.sleep(0.001)  # another holder would come in now
                overlaps[0] += inside[0] > 1
                inside[0] -= 1

    _threads(work)
    _same(overlaps[0], 0, "holders of lock('c:one') at once")
    with store.lock("c:one"), store.lock("m:u/alice:Product"):  # the server's lock order
        pass
    store.flush()
    _same(store.keys(""), [], "keys('') after flush")


def _threads(work: Callable[[], Any], count: int = 4) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def check_store(store: Store, *, seeds: Iterable[int] = range(6), steps: int = 150) -> None:
    """The whole Store contract in one call: :func:`check_key_value`, then :func:`check_log`
    once per seed. Leaves the store empty.

    ::

        from rhom.server.testing import check_store

        def test_my_store_keeps_the_contract(tmp_path):
            check_store(MyStore(tmp_path / "state"))

    :raises AssertionError: the first rule broken, naming the call.
    """
    check_key_value(store)
    for seed in seeds:
        check_log(store, seed=seed, steps=steps)
    store.flush()
