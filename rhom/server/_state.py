"""Typed access to the server's state: its records, JSON coding, the lock order, the log
cache.

The names of keys and locks are built in rhom.server._keys, which draws the layout. The
state of one client source is a :class:`ClientSourceState`, read and written only here
(:meth:`State.client_state`, :meth:`State.client_state_items`); the modules that page,
push, search and hand out bulk data change its fields.

The objects themselves live in the store's change log ``{p}:{s}`` (``Store.log_*``).
Small logs are also kept parsed per process, under their newest sequence number, so a
refresh of a 1 000-object source compares in memory.
"""

from __future__ import annotations

import enum
import json
import secrets
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from rhom.server import _keys as keys
from rhom.server._http import Session
from rhom.server.stats import Stats
from rhom.server.store import Store

Doc = dict[str, dict[str, str]]
JsonObject = dict[str, Any]


q = keys.q
partition_key = keys.partition


class LockOrderError(RuntimeError):
    """A lock taken against the server's order: a client's lock (``c:``) before a
    source's (``m:``), and never two of one kind at once (stores may share one lock
    between names of one kind, so that would deadlock)."""


_held = threading.local()  # the kinds of the locks this thread holds through State


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8 (orjson; the stdlib escapes what is not UTF-8, a lone surrogate)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def loads(raw: bytes | None, default: Any = None) -> Any:
    return default if raw is None else orjson.loads(raw)


def is_current(user: JsonObject | None, session: Session) -> bool:
    """Whether ``session`` is one of ``user``'s current sessions (same stamp).

    A user stored before stamps existed, and cookies issued then, have none: they match
    until the user's next login gives it one.
    """
    return user is not None and user.get("sessions") == session.stamp


class DocCache:
    """An LRU of parsed logs keyed by (log name, newest sequence number).

    Bounded by the number of objects it holds, not of logs: one log of 100 000 objects
    weighs as much as a hundred small ones.
    """

    def __init__(self, max_objects: int = 1_000_000) -> None:
        self._max = max_objects
        self._held = 0
        # key -> (version, doc, the size counted for it: the doc may grow in place since)
        self._items: OrderedDict[str, tuple[str, Doc, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: str | None) -> Doc | None:
        if version is None:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] != version:
                return None
            self._items.move_to_end(key)
            return hit[1]

    def peek(self, key: str) -> tuple[str, Doc] | None:
        """The held version and objects of ``key``, whatever the version."""
        with self._lock:
            hit = self._items.get(key)
            return None if hit is None else (hit[0], hit[1])

    def drop(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= old[2]

    def put(self, key: str, version: str, doc: Doc) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= old[2]
            self._items[key] = (version, doc, len(doc) + 1)
            self._held += len(doc) + 1
            while self._held > self._max and len(self._items) > 1:
                _, (_, _, size) = self._items.popitem(last=False)
                self._held -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


#: :attr:`ClientSourceState.page_to_store` when the stored page stays as it is.
UNCHANGED = _Unchanged.UNCHANGED


@dataclass(slots=True)
class SearchState:
    """A search in progress for one client source (protocol.md §6)."""

    #: The search's token: the client pages on with it (a new search has a new one).
    token: str
    #: The adapter's whole ``search`` result, ``{id: {attr: value}}``, in wire form.
    result: Doc
    #: The objects of the last page sent, sent again on ``resend``.
    page: Doc = field(default_factory=dict)


@dataclass(slots=True)
class ClientSourceState:
    """What the server keeps of one client and one source (``cx:{c}:{s}:s``).

    Loaded and saved only by :class:`State`, as a JSON object whose keys are the field
    names; a field at its default is left out (so a state stored by an earlier version,
    which left out the same keys, loads as it was). Page building, pushes, searches and
    bulk data change the fields; the next page carries what waits in ``links``,
    ``deletes`` and ``errors`` to the client.
    """

    #: The newest log sequence number the client's pages have covered; ``None``: no page
    #: built yet, so the client holds nothing of the log (rhom.server._log).
    cursor: int | None = None
    #: Objects the client holds at a version newer than ``cursor`` (its own pushes, search
    #: results): object id -> the sequence number of that version.
    ahead: dict[str, int] = field(default_factory=dict)
    #: The unacknowledged page's token ("": none); the page is stored under a key of its
    #: own (``cx:{c}:{s}:p``) and sent again until the client echoes this token.
    token: str = ""
    #: How many objects the unacknowledged page carries (its ``count``).
    page_count: int = 0
    #: The source's live object count when that page was built (its ``total_count``).
    page_total: int = 0
    #: Create links waiting for the next page: temporary id -> ``{"l": server id}``.
    links: Doc = field(default_factory=dict)
    #: Deletes waiting for the next page: creates the adapter answered without an id,
    #: temporary id -> the attributes pushed.
    deletes: Doc = field(default_factory=dict)
    #: Push errors waiting for the next page: ``create-error``, ``update-error``,
    #: ``delete-error`` -> ``{id: attributes pushed, "<id>-error": {"message": ...}}``, and
    #: ``update-rollback`` -> ``{id: the server's version}``.
    errors: dict[str, Doc] = field(default_factory=dict)
    #: The schema version's digest the client last got (rhom.server.pages.schema_sha1).
    schema_sha1: str | None = None
    #: The source metadata's digest the client last got.
    metadata_sha1: str | None = None
    #: The search in progress, if any.
    search: SearchState | None = None
    #: Keys this version does not know (written by a later one): saved back as read.
    unknown: JsonObject = field(default_factory=dict)
    #: Not stored in the state: the page to store under its own key at the next save
    #: (its command object, or that object already encoded as JSON; ``None`` deletes the
    #: stored page); :data:`UNCHANGED` leaves the stored page as it is.
    page_to_store: JsonObject | str | None | _Unchanged = UNCHANGED

    @property
    def has_paged(self) -> bool:
        """Whether a page was ever built for this client source."""
        return self.cursor is not None

    def hold_page(self, token: str, count: int, total: int, commands: JsonObject | str) -> None:
        """Keep a page just built until the client acknowledges ``token``."""
        self.token, self.page_count, self.page_total = token, count, total
        self.page_to_store = commands

    def acknowledge(self) -> None:
        """Forget the unacknowledged page (the client has it, or no longer needs it)."""
        self.token, self.page_count, self.page_total = "", 0, 0
        self.page_to_store = None

    def copy(self) -> ClientSourceState:
        """A shallow copy: compares unequal once a field is given a new value (the page
        path gives new containers, never changes them in place)."""
        return ClientSourceState(
            self.cursor, self.ahead, self.token, self.page_count, self.page_total, self.links, self.deletes,
            self.errors, self.schema_sha1, self.metadata_sha1, self.search, self.unknown, self.page_to_store,
        )  # fmt: skip


#: The stored keys of a :class:`ClientSourceState`; any other is kept in ``unknown``.
_KNOWN = frozenset(
    ("cursor", "ahead", "token", "page_count", "page_total", "links", "deletes", "errors")
    + ("schema_sha1", "metadata_sha1", "search")
)


def _decode_client_state(raw: bytes | None) -> ClientSourceState:
    if raw is None:
        return ClientSourceState()
    data: JsonObject = orjson.loads(raw)
    get = data.get  # a lookup per field, no copies: every page request decodes one
    cursor, token, search = get("cursor"), get("token"), get("search")
    return ClientSourceState(
        None if cursor is None else int(cursor),
        get("ahead") or {},
        str(token) if token else "",
        int(get("page_count") or 0) if token else 0,  # a count without its page means nothing
        int(get("page_total") or 0) if token else 0,
        get("links") or {},
        get("deletes") or {},
        get("errors") or {},
        get("schema_sha1"),
        get("metadata_sha1"),
        SearchState(str(search.get("token", "")), search.get("result") or {}, search.get("page") or {})
        if search  # an empty one is no search
        else None,
        {} if _KNOWN.issuperset(data) else {k: v for k, v in data.items() if k not in _KNOWN},
    )


def _encode_client_state(cs: ClientSourceState) -> bytes:
    data: JsonObject = {}
    if cs.cursor is not None:
        data["cursor"] = cs.cursor
    if cs.ahead:
        data["ahead"] = cs.ahead
    if cs.token:
        data["token"], data["page_count"], data["page_total"] = cs.token, cs.page_count, cs.page_total
    if cs.links:
        data["links"] = cs.links
    if cs.deletes:
        data["deletes"] = cs.deletes
    if cs.errors:
        data["errors"] = cs.errors
    if cs.schema_sha1 is not None:
        data["schema_sha1"] = cs.schema_sha1
    if cs.metadata_sha1 is not None:
        data["metadata_sha1"] = cs.metadata_sha1
    if cs.search is not None:
        search: JsonObject = {"token": cs.search.token, "result": cs.search.result}
        if cs.search.page:
            search["page"] = cs.search.page
        data["search"] = search
    if cs.unknown:
        data = {**cs.unknown, **data}
    return dumps(data)


class State:
    """The server's view of its store. Documents returned here must not be mutated."""

    def __init__(self, store: Store, *, retention: float = 30 * 86400, compact_every: float = 60.0) -> None:
        self.store = store
        self.cache = DocCache(200_000)
        self.retention = retention
        self.compact_every = compact_every
        self._compacted: dict[str, float] = {}
        self.stats: Stats | None = None  # set by create_app when stats are on
        self.blob_quota = 0  # bytes of blobs per partition (the blob_quota setting)
        self.max_object_id_length = 0  # longest object id synced (the setting; 0: no limit)
        self.long_id_sources: set[str] = set()  # sources whose over-long ids were logged

    def count(self, metric: str, n: int = 1) -> None:
        """Add ``n`` to the stats counter ``metric`` (nothing when stats are off)."""
        if self.stats is not None and n:
            self.stats.add(metric, n)

    def compact(self, log: str, now: float) -> None:
        """Compact ``log`` when this process has not done so for ``compact_every`` seconds.

        History and tombstones older than ``retention`` seconds are dropped; clients
        whose cursor is older are then forgotten at their next query (pages.StaleClient).
        A log this process has not seen yet is compacted one interval after it first
        sees it: a new partition's first refresh, which has nothing to drop, pays nothing.
        """
        seen = self._compacted.get(log)
        if seen is None and self.compact_every > 0:
            self._compacted[log] = now
            return
        if seen is not None and now - seen < self.compact_every:
            return
        self._compacted[log] = now
        if len(self._compacted) > 100_000:
            self._compacted.clear()
        self.store.log_compact(log, now - self.retention)

    # -- locks, in their order ------------------------------------------------------
    def client_lock(self, cid: str) -> AbstractContextManager[None]:
        """The lock of client ``cid``'s requests; never taken while a source's is held.

        :raises LockOrderError: this thread holds a client's or a source's lock.
        """
        return self._ordered("c", keys.client_lock(cid), after=("m",))

    def master_lock(self, log: str) -> AbstractContextManager[None]:
        """The lock of ``log``'s refreshes and writes.

        :raises LockOrderError: this thread holds another source's lock.
        """
        return self._ordered("m", keys.master_lock(log), after=())

    def user_lock(self, user: str) -> AbstractContextManager[None]:
        """The lock of ``user``'s record (its session stamp)."""
        return self._ordered("u", keys.user_lock(user), after=())

    def bulk_lock(self, pkey: str) -> AbstractContextManager[None]:
        """The lock of partition ``pkey``'s bulk data record (one build at a time)."""
        return self._ordered("b", keys.bulk_lock(pkey), after=())

    def events_lock(self, stream: str) -> AbstractContextManager[None]:
        """The lock of the live stream ``stream``'s events."""
        return self._ordered("e", keys.events_lock(stream), after=())

    def event_counter_lock(self) -> AbstractContextManager[None]:
        """The lock of the counter of events published on any stream."""
        return self._ordered("e", keys.event_counter_lock(), after=())

    def sql_feed_lock(self, digest: str) -> AbstractContextManager[None]:
        """The lock of a SQL database's change feed position (rhom.server.sql)."""
        return self._ordered("sqlw", keys.sql_feed_lock(digest), after=())

    @contextmanager
    def _ordered(self, kind: str, name: str, *, after: tuple[str, ...]) -> Iterator[None]:
        held: tuple[str, ...] = getattr(_held, "kinds", ())
        if kind in held:
            raise LockOrderError(f"rhom.server: lock {name!r} taken while one of its kind is held")
        if any(k in held for k in after):
            raise LockOrderError(f"rhom.server: lock {name!r} taken after a lock that comes after it ({held})")
        _held.kinds = (*held, kind)
        try:
            with self.store.lock(name):
                yield
        finally:
            _held.kinds = held

    # -- users and clients ---------------------------------------------------------
    def user_exists(self, user: str) -> bool:
        return self.store.get(keys.user(user)) is not None

    def add_user(self, user: str) -> str:
        """Create ``user`` unless it exists; return its session stamp (a login's cookie
        carries it: see :meth:`session_stamp`)."""
        key = keys.user(user)
        record: JsonObject | None = loads(self.store.get(key))
        if record is not None and record.get("sessions"):
            return str(record["sessions"])
        with self.user_lock(user):  # two first logins at once must agree on one stamp
            record = loads(self.store.get(key)) or {"login": user}
            stamp = record.get("sessions")
            if not stamp:  # a new user, or one stored before stamps existed
                record["sessions"] = stamp = secrets.token_hex(16)
                self.store.set(key, dumps(record))
        return str(stamp)

    def revoke_sessions(self, user: str) -> bool:
        """Sign ``user`` out everywhere: a new session stamp, which no cookie carries.

        :returns: whether the user exists.
        """
        key = keys.user(user)
        with self.user_lock(user):
            record: JsonObject | None = loads(self.store.get(key))
            if record is None:
                return False
            record["sessions"] = secrets.token_hex(16)
            self.store.set(key, dumps(record))
        return True

    def users(self) -> list[str]:
        prefix = keys.users()
        return [urllib.parse.unquote(k[len(prefix) :]) for k in self.store.keys(prefix)]

    def delete_user(self, user: str) -> None:
        pkey = keys.partition("user", user)
        for cid in self.client_ids(user):
            self.delete_client(cid)
        self.store.delete_prefix(keys.masters(pkey))
        self.store.log_drop(keys.logs(pkey))
        self.store.delete_prefix(keys.blobs(pkey))
        self.store.set(keys.blob_quota(pkey), None)  # what its blobs counted against the quota
        self.cache.clear()
        self.store.delete_prefix(keys.bulk_files(user))
        self.store.set_many({keys.user(user): None, keys.bulk(pkey): None})

    def user_and_client(self, user: str, cid: str | None) -> tuple[JsonObject | None, JsonObject | None]:
        """The record of ``user`` (``None``: no such user) and of client ``cid``, in one read."""
        wanted = [keys.user(user)] + ([] if not cid else [keys.client(cid)])
        raws = self.store.get_many(wanted)
        record: JsonObject | None = loads(raws[1]) if len(raws) > 1 else None
        return loads(raws[0]), record

    def session_user(self, session: Session | None) -> str | None:
        """The user a verified session names, while that session is still the user's."""
        if session is None:
            return None
        user, _ = self.user_and_client(session.login, None)
        return session.login if is_current(user, session) else None

    def client(self, cid: str) -> JsonObject | None:
        value: JsonObject | None = loads(self.store.get(keys.client(cid)))
        return value

    def save_client(self, cid: str, record: JsonObject) -> None:
        user = str(record["user"])
        self.store.set_many({keys.client(cid): dumps(record), keys.user_client(user, cid): b"1"})

    def client_ids(self, user: str) -> list[str]:
        prefix = keys.user_clients(user)
        return [urllib.parse.unquote(k[len(prefix) :]) for k in self.store.keys(prefix)]

    def delete_client(self, cid: str) -> None:
        record = self.client(cid)
        self.reset_client(cid)
        items: dict[str, bytes | None] = {keys.client(cid): None, keys.last_seen(cid): None}
        if record is not None:
            items[keys.user_client(str(record["user"]), cid)] = None
        self.store.set_many(items)

    def reset_client(self, cid: str, sources: list[str] | None = None) -> None:
        """Forget what the server believes ``cid`` holds (all sources or the named ones)."""
        if sources is None:
            self.store.delete_prefix(keys.client_sources(cid))
            return
        for source in sources:
            self.store.delete_prefix(keys.client_source(cid, source))

    # -- client sources and masters -------------------------------------------------------
    def client_state(self, cid: str, source: str) -> ClientSourceState:
        """The client/source state: cursor, objects ahead, page token, pending results."""
        return _decode_client_state(self.store.get(keys.client_state(cid, source)))

    def client_state_items(self, cid: str, source: str, cs: ClientSourceState) -> dict[str, bytes | None]:
        """Store items writing the client/source state (and its stored page, if
        :attr:`~ClientSourceState.page_to_store` is set, which then goes back to
        :data:`UNCHANGED`)."""
        items: dict[str, bytes | None] = {}
        page = cs.page_to_store
        if page is not UNCHANGED:  # the stored page has its own key: only a resend reads it
            items[keys.stored_page(cid, source)] = (
                None if page is None else page.encode() if isinstance(page, str) else dumps(page)
            )
            cs.page_to_store = UNCHANGED
        items[keys.client_state(cid, source)] = _encode_client_state(cs)
        return items

    def created_ids(self, cid: str, source: str) -> dict[str, str]:
        """Temporary id → server id of the creates ``cid`` pushed to ``source``."""
        created: dict[str, str] = loads(self.store.get(keys.created_ids(cid, source)), {})
        return created

    def created_ids_item(self, cid: str, source: str, created: dict[str, str]) -> dict[str, bytes | None]:
        """The store item that writes :meth:`created_ids` (kept apart: only pushes read it)."""
        return {keys.created_ids(cid, source): dumps(created)}

    def link_in_flight_key(self, cid: str, source: str, temporary_id: str) -> str:
        """Where one create's link is kept from the moment the adapter made it until the
        push ends (a server that dies in between still knows the link)."""
        return keys.link_in_flight(cid, source, temporary_id)

    def links_in_flight(self, cid: str, source: str, temporary_ids: Iterable[str]) -> dict[str, str]:
        """Temporary id → server id of creates a push recorded but did not finish."""
        wanted = list(temporary_ids)
        raws = self.store.get_many([self.link_in_flight_key(cid, source, t) for t in wanted])
        return {t: raw.decode() for t, raw in zip(wanted, raws, strict=True) if raw is not None}

    def stored_page(self, cid: str, source: str) -> JsonObject:
        """The unacknowledged page of ``cid`` for ``source`` (its command object)."""
        page: JsonObject = loads(self.store.get(keys.stored_page(cid, source)), {})
        return page

    def client_and_master(self, cid: str, source: str, log: str) -> tuple[ClientSourceState, JsonObject]:
        """The client/source state and the master state, in one read."""
        raw_state, raw_meta = self.store.get_many([keys.client_state(cid, source), keys.master(log)])
        return _decode_client_state(raw_state), loads(raw_meta, {})

    def master(self, log: str) -> JsonObject:
        """The master state of ``log``: refresh time, source error, metadata."""
        meta: JsonObject = loads(self.store.get(keys.master(log)), {})
        return meta

    def master_item(self, log: str, meta: JsonObject) -> dict[str, bytes | None]:
        """The store item writing the master state of ``log``."""
        return {keys.master(log): dumps(meta)}
