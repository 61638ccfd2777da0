"""The change log of one (partition, source), as the server uses it.

A log is an append-only sequence of object versions (see ``Store.log_write``). This
module turns adapter data into log writes and answers the one question page building
asks: *which version of an object does this client hold?*

A client source keeps a ``cursor``, the newest sequence number its pages have covered,
and ``ahead``, the objects it holds at a version newer than its cursor (the creates and
deletes it pushed itself): ``{oid: seq}``. Pages deliver every entry up to the cursor in
order, so a client holds of each object

* the version of entry ``ahead[oid]`` when the object is ahead;
* nothing when it never paged (no cursor yet);
* otherwise the object's latest entry at or below the cursor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from rhom.server import _keys as keys
from rhom.server._state import ClientSourceState, Doc, State
from rhom.server.store import LogChange, LogEntry, Store

__all__ = [
    "Held",
    "encode",
    "log_changes",
    "log_name",
    "read_all",
    "read_chunks",
    "read_held",
    "sync_log",
    "write_changes",
    "write_objects",
]

#: Logs of at most this many objects are compared in memory when refreshed.
CACHED_LOG_OBJECTS = 50_000
_CHUNK = 1000

Change = tuple[str, "Mapping[str, str] | None"]


def log_name(pkey: str, source: str) -> str:
    """The log of ``source`` in partition ``pkey`` (``u/<user>`` or ``app``)."""
    return keys.log(pkey, source)


def encode(attrs: Mapping[str, str]) -> tuple[str, str]:
    """Canonical JSON of an object and its digest (equal objects, equal digests)."""
    try:
        raw = orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not UTF-8 (a lone surrogate): the stdlib escapes it
        raw = json.dumps(attrs, sort_keys=True, separators=(",", ":")).encode()
    return raw.decode(), hashlib.blake2b(raw, digest_size=12).hexdigest()


def log_changes(changes: Iterable[Change]) -> list[LogChange]:
    """``(oid, attrs or None)`` pairs as ``Store.log_write`` takes them."""
    rows: list[LogChange] = []
    for oid, attrs in changes:
        if attrs is None:
            rows.append((oid, "", None))
        else:
            text, digest = encode(attrs)
            rows.append((oid, digest, text))
    return rows


def write_objects(state: State, log: str, changes: Sequence[Change], now: float, *, owned: bool = False) -> list[int]:
    """Write ``(oid, attrs or None)`` changes; return each object's sequence number.

    The caller holds the log's ``m:`` lock. The in-process copy of a small log follows
    the write when nobody else wrote in between, and is dropped otherwise.

    :param owned: the attribute dicts are the caller's own copies, which nobody changes
        later (:func:`rhom.server.pages.normalize` makes such): the copy keeps them
        instead of copying them again.
    """
    if not changes:
        return []
    cached = state.cache.peek(log)
    seqs = state.store.log_write(log, log_changes(changes), now)
    if cached is not None:
        version, objects = cached
        appended = {s for s in seqs if s > int(version)}
        if appended and max(appended) != int(version) + len(appended):
            state.cache.drop(log)  # another process wrote to this log meanwhile
        elif appended:
            for oid, attrs in changes:
                if attrs is None:
                    objects.pop(oid, None)
                else:
                    objects[oid] = attrs if owned else dict(attrs)  # type: ignore[assignment]
            state.cache.put(log, str(max(appended)), objects)
    return seqs


def read_all(store: Store, log: str) -> tuple[Doc, int]:
    """The log's live objects, read to its end as a client pages it, and the last number.

    Changes written while it reads come later in the log and are read too, so the
    result is exactly the log's content at the returned sequence number.
    """
    return _replay(store, log, None)


def read_chunks(store: Store, log: str, until: int | None = None) -> Iterator[list[LogEntry]]:
    """The log's entries in order, a chunk at a time, up to sequence number ``until``
    (``None``: to its end, including what is written while it reads)."""
    after = 0
    while until is None or after < until:
        entries = [e for e in store.log_read(log, after, 5000) if until is None or e.seq <= until]
        if not entries:
            return
        yield entries
        after = entries[-1].seq


def _replay(store: Store, log: str, until: int | None) -> tuple[Doc, int]:
    """The live objects after reading the log up to sequence number ``until`` (``None``:
    to its end), and the last number read."""
    objects: Doc = {}
    after = 0
    for entries in read_chunks(store, log, until):
        for entry in entries:
            _apply(objects, entry.oid, entry.value)
        after = entries[-1].seq
    return objects, after


def _apply(objects: Doc, oid: str, value: str | None) -> None:
    if value is None:
        objects.pop(oid, None)
    else:
        objects[oid] = orjson.loads(value)


def _cached_objects(state: State, log: str) -> Doc | None:
    """The live objects of a small log, from the cache or read once; ``None`` if large."""
    info = state.store.log_info(log)
    objects = state.cache.get(log, str(info.last))
    if objects is not None or info.count > CACHED_LOG_OBJECTS:
        return objects
    objects, last = read_all(state.store, log)
    if last <= info.last:  # else written meanwhile: use it once, keep nothing
        state.cache.put(log, str(info.last), objects)
    return objects


def unchanged(state: State, log: str, result: Any) -> bool:
    """Whether an adapter's raw ``query`` result is, as it stands, exactly the log's live
    objects in wire form (string ids and values): the common poll that changed nothing,
    found without normalizing a copy first. ``False`` for a large log (not cached)."""
    if type(result) is not dict:
        return False
    current = _cached_objects(state, log)
    return current is not None and result == current


def sync_log(state: State, log: str, result: Mapping[str, Mapping[str, str]], now: float) -> int:
    """Make the log hold exactly ``result``, in one pass; return how many objects changed.

    A small log is compared with its in-process copy; a large one in chunks, by digest,
    so the server never holds the log itself. The copy keeps the dicts of ``result``
    (as :func:`rhom.server.pages.normalize` made them): nobody may change them after.
    """
    current = _cached_objects(state, log)
    changes: list[Change]
    if current is not None:
        changes = [(oid, attrs) for oid, attrs in result.items() if current.get(oid) != attrs]
        changes.extend((oid, None) for oid in current if oid not in result)
        for chunk in _chunks(changes):
            write_objects(state, log, chunk, now, owned=True)
        return len(changes)
    written = 0
    for chunk in _chunks(list(result.items())):
        digests = state.store.log_digests(log, (oid for oid, _ in chunk))
        changed: list[Change] = [(oid, attrs) for oid, attrs in chunk if digests.get(oid) != encode(attrs)[1]]
        write_objects(state, log, changed, now, owned=True)
        written += len(changed)
    gone: list[Change] = [(oid, None) for oid in state.store.log_ids(log) if oid not in result]
    for chunk in _chunks(gone):
        write_objects(state, log, chunk, now)
    return written + len(gone)


def write_changes(state: State, log: str, changes: Mapping[str, Mapping[str, str] | None], now: float) -> int:
    """Write an adapter's incremental changes (``None`` deletes); return how many.

    The in-process copy keeps the dicts of ``changes`` (made by ``normalize``).
    """
    items: list[Change] = list(changes.items())
    for chunk in _chunks(items):
        write_objects(state, log, chunk, now, owned=True)
    return len(items)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class Held:
    """What one client source holds: its cursor and the objects it holds ahead of it."""

    def __init__(self, cs: ClientSourceState) -> None:
        self.has_paged = cs.cursor is not None
        self.cursor = cs.cursor or 0
        self.ahead: dict[str, int] = dict(cs.ahead)
        self.looked_up = False  # whether older versions were read from the store

    def is_stale(self, floor: int) -> bool:
        """Whether compaction dropped entries this client has not seen yet."""
        if self.has_paged and self.cursor < floor:
            return True
        return any(seq < floor for seq in self.ahead.values())

    def skips(self, entry: LogEntry) -> bool:
        """Whether the client already holds ``entry``'s object at this version or newer."""
        ahead = self.ahead.get(entry.oid)
        return ahead is not None and ahead >= entry.seq

    def before(self, store: Store, log: str, firsts: Iterable[LogEntry]) -> Doc:
        """The version the client holds of each object, given its first entry after the cursor."""
        wanted: dict[str, int] = {}
        for entry in firsts:
            ahead = self.ahead.get(entry.oid)
            if ahead is not None:
                wanted[entry.oid] = ahead
            elif self.has_paged and 0 < entry.prev <= self.cursor:
                wanted[entry.oid] = entry.prev
        self.looked_up = self.looked_up or bool(wanted)
        return _values(store, log, wanted)

    def of(self, store: Store, log: str, oids: Iterable[str]) -> Doc:
        """The version the client holds of any objects (walks back from their latest entry)."""
        wanted: dict[str, int] = {}
        walking: dict[str, LogEntry] = {}
        for oid, entry in store.log_current(log, oids).items():
            if oid in self.ahead:
                wanted[oid] = self.ahead[oid]
            elif self.has_paged:
                walking[oid] = entry
        while walking:
            step: dict[str, int] = {}
            for oid, entry in walking.items():
                if entry.seq <= self.cursor:
                    wanted[oid] = entry.seq
                elif 0 < entry.prev:
                    step[oid] = entry.prev
            found = store.log_entries(log, step.values()) if step else {}
            walking = {oid: found[seq] for oid, seq in step.items() if seq in found}
        return _values(store, log, wanted)

    def advance(self, cs: ClientSourceState, cursor: int) -> None:
        """Record a page that covered the log up to ``cursor``."""
        self.has_paged = True
        self.cursor = cursor
        self.ahead = {oid: seq for oid, seq in self.ahead.items() if seq > cursor}
        cs.cursor = cursor
        cs.ahead = self.ahead

    def mark(self, cs: ClientSourceState, oid: str, seq: int) -> None:
        """Record that the client holds ``oid`` as written at ``seq`` (its own push)."""
        if seq > self.cursor:
            self.ahead[oid] = seq
            cs.ahead = self.ahead


def _values(store: Store, log: str, wanted: Mapping[str, int]) -> Doc:
    """The attributes of each object at the entry ``wanted[oid]`` (deleted ones left out)."""
    entries = store.log_entries(log, set(wanted.values())) if wanted else {}
    held: Doc = {}
    for oid, seq in wanted.items():
        entry = entries.get(seq)
        if entry is not None and entry.value is not None:
            held[oid] = orjson.loads(entry.value)
    return held


def read_held(state: State, log: str, cs: ClientSourceState, oids: Iterable[str]) -> Doc:
    """The versions a client holds of the named objects."""
    return Held(cs).of(state.store, log, oids)


def read_client_view(store: Store, log: str, cs: ClientSourceState) -> Doc:
    """What a client holds of ``log`` by the server's record: the log up to the client's
    cursor, with the objects it pushed itself at their own versions. The cursor moves when
    a page is sent, so this counts an outstanding page as held.

    An object replaced after the cursor whose older version compaction has dropped since
    is left out (the client still holds it; the server no longer knows its values).
    """
    held = Held(cs)
    objects, _ = _replay(store, log, held.cursor)
    found = store.log_entries(log, set(held.ahead.values())) if held.ahead else {}
    for oid, seq in held.ahead.items():
        pushed = found.get(seq)
        if pushed is not None:
            _apply(objects, oid, pushed.value)
    return objects
