"""Query pages (protocol.md §4): refresh, acknowledgement, page building, resend.

Per (partition, source) the server keeps a change log (``rhom.server._log``): each object
once, ordered by the sequence number of its latest change. Per (client, source) it keeps
a cursor, the last sequence number a page covered. A page is the next ``p_size`` objects
of the log after the cursor, each sent as the attribute-level difference between the
version the client holds and the current one (§4.5): a read of what it sends, whatever
the size of the source.

Acknowledgement (§4.4): a page with data gets a token and is stored until the client
echoes that token; the cursor moves when the page is built (as the real server's client
document does). Any other token makes the stored page come back. Unlike the real server,
a request *without* a token also gets the stored page back (the real server skips it for
good); see docs/protocol-decisions.md.

A client whose cursor fell below the log's compaction floor (offline longer than
``Settings.log_retention``) can no longer be brought up to date from the log: the server
forgets it, and its next request answers ``Unknown client``, which makes the client
start over with a new client id while keeping its local changes (docs/server.md).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from rhom.server import _keys as keys
from rhom.server._log import Held, log_name, sync_log, unchanged, write_changes
from rhom.server._logging import adapter_failed, logger
from rhom.server._state import ClientSourceState, Doc, JsonObject, State, dumps, partition_key
from rhom.server.adapters import SourceAdapter, calling_as
from rhom.server.store import LogEntry

__all__ = ["Caller", "Page", "RawJson", "StaleClient", "encode_commands", "normalize", "query_page", "refresh_master"]

RESERVED = ("id", "attrib_type")
ERROR_KEYS = ("create-error", "update-error", "delete-error", "update-rollback")
_EPOCH_2009 = 1230768000.0
_token_lock = threading.Lock()
_last_token = 0


class StaleClient(Exception):
    """The client's cursor is older than the log's retention: it was forgotten."""


@dataclass(frozen=True)
class Caller:
    """Who a request runs for: the state, the session user, the client, the base URL."""

    state: State
    user: str
    client_id: str
    base_url: str

    def pkey(self, adapter: SourceAdapter) -> str:
        return partition_key(adapter.partition, self.user)

    def log(self, adapter: SourceAdapter) -> str:
        """The name of ``adapter``'s change log for this caller's partition."""
        return log_name(self.pkey(adapter), adapter.name)


class RawJson(str):
    """An object already encoded as JSON (a version read from the change log): a page
    splices it in as it is instead of decoding and encoding it again."""

    __slots__ = ()


def _dump(value: Any) -> str:
    return dumps(value).decode()


def encode_commands(commands: Mapping[str, Any]) -> str:
    """The command object as JSON, with :class:`RawJson` values spliced in verbatim."""
    inserts = commands.get("insert")
    if inserts:  # one orjson call, each stored version spliced in as a fragment
        fragments = {k: orjson.Fragment(v) if type(v) is RawJson else v for k, v in inserts.items()}
        try:
            return orjson.dumps({**commands, "insert": fragments}).decode()
        except TypeError:  # a text orjson refuses (a lone surrogate): piece by piece below
            pass
    parts = []
    for key, value in commands.items():
        if key == "insert" and any(isinstance(v, RawJson) for v in value.values()):
            inner = ",".join(_dump(k) + ":" + (v if isinstance(v, RawJson) else _dump(v)) for k, v in value.items())
            parts.append('"insert":{' + inner + "}")
        else:
            parts.append(_dump(key) + ":" + _dump(value))
    return "{" + ",".join(parts) + "}"


@dataclass
class Page:
    """One query page: six elements, the last one the command object (§4.2).

    :param encoded: the command object already encoded (:func:`encode_commands`).
    """

    token: str
    count: int
    total_count: int
    commands: JsonObject = field(default_factory=dict)
    encoded: str | None = None

    def json(self) -> bytes:
        """The page as sent: ``[{"version":3},{"token":...},...,{commands}]``."""
        commands = self.encoded if self.encoded is not None else encode_commands(self.commands)
        head = (
            f'[{{"version":3}},{{"token":{_dump(self.token)}}},{{"count":{self.count}}},'
            f'{{"progress_count":0}},{{"total_count":{self.total_count}}},'
        )
        return (head + commands + "]").encode()

    def headers(self) -> dict[str, str]:
        headers = {"X-Rhoconnect-PAGE-OBJECT-COUNT": str(self.count)}
        if self.token:
            headers["X-Rhoconnect-PAGE-TOKEN"] = self.token
        return headers


def new_token() -> str:
    """Microseconds since 2009-01-01, strictly increasing in this process (§4.2)."""
    global _last_token
    with _token_lock:
        _last_token = max(_last_token + 1, int((time.time() - _EPOCH_2009) * 1_000_000))
        return str(_last_token)


_V = TypeVar("_V")


def normalize(objects: Mapping[str, Mapping[str, Any]] | Iterable[tuple[Any, Mapping[str, Any]]]) -> Doc:
    """Wire form of adapter data: string ids and values, ``None`` → ``""``, no reserved names.

    :param objects: ``{id: {attr: value}}``, or an iterable of ``(id, attrs)`` pairs.
    """
    doc: Doc = {}
    pairs = objects.items() if isinstance(objects, Mapping) else objects
    for oid, obj in pairs:
        attrs = dict(obj)
        for name, value in attrs.items():  # the common case: all strings already
            if type(value) is not str or type(name) is not str:
                attrs = {str(a): "" if v is None else str(v) for a, v in attrs.items()}
                break
        if "id" in attrs:
            del attrs["id"]
        if "attrib_type" in attrs:
            del attrs["attrib_type"]
        doc[oid if type(oid) is str else str(oid)] = attrs
    return doc


def fitting(state: State, source: str, objects: dict[str, _V]) -> dict[str, _V]:
    """``objects`` without those whose id is longer than ``max_object_id_length``.

    A client could not push a change to such an object back (the server refuses its
    push), and one refused push holds every later change of that source: the server
    never pages them. Logged once per source and app, with the limit to raise.
    """
    limit = state.max_object_id_length
    if not limit or not objects or max(map(len, objects)) <= limit:  # C speed: the hot path
        return objects
    long = [oid for oid in objects if len(oid) > limit]
    if source not in state.long_id_sources:
        state.long_id_sources.add(source)
        logger.warning(
            "%s: %d object(s) with an id over %d characters are not synced (first: %r...); "
            "raise max_object_id_length to sync them",
            source, len(long), limit, long[0][:40],
        )  # fmt: skip
    return {oid: value for oid, value in objects.items() if len(oid) <= limit}


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def schema_sha1(adapter: SourceAdapter) -> str | None:
    if not adapter.schema:
        return None
    return sha1(str(adapter.schema.get("version", "")))


def _due(meta: JsonObject, poll_interval: int, now: float) -> bool:
    if poll_interval < 0:
        return False  # fed by pushes and rhom.server.backend only
    refreshed = meta.get("refreshed")
    return refreshed is None or now - float(refreshed) >= poll_interval


def refresh_master(
    caller: Caller,
    adapter: SourceAdapter,
    params: Any = None,
    *,
    force: bool = False,
    known: JsonObject | None = None,
) -> JsonObject:
    """Return the master state, after running the adapter's query if its poll interval elapsed.

    The query's result replaces the log's objects in one pass (only changed objects are
    written). ``login``, ``query`` and ``logoff`` failures become the source's error,
    sent as ``source-error`` on every page until a refresh succeeds (§5.8).

    :param known: the master state the caller has just read.
    """
    state, log = caller.state, caller.log(adapter)
    meta = known if known is not None else state.master(log)
    if not force and not _due(meta, adapter.poll_interval, time.time()):
        return meta  # the common case needs no lock
    with state.master_lock(log):
        meta = state.master(log)
        now = time.time()
        if not force and not _due(meta, adapter.poll_interval, now):
            return meta  # another request refreshed it meanwhile
        meta = dict(meta, refreshed=now)
        result = _run_query(caller, adapter, params, meta.get("changes_cursor"))
        meta["error"] = result.error
        if result.error:
            state.count("errors:" + adapter.name)
        if result.metadata is not None:
            meta["metadata"], meta["metadata_sha1"] = result.metadata, sha1(result.metadata)
        if result.doc is not None:
            doc = fitting(state, adapter.name, result.doc)
            sync_log(state, log, doc, now)
        elif result.changes is not None:
            changes = fitting(state, adapter.name, result.changes)
            write_changes(state, log, changes, now)
        if result.cursor is not None:  # from changes(), complete or not
            meta["changes_cursor"] = result.cursor
        state.compact(log, now)
        state.store.set_many(state.master_item(log, meta))
    return meta


@dataclass
class _Refresh:
    """What one refresh got from the adapter: the whole data set (``query``) or the
    changes since the stored cursor (``changes``), or an error."""

    doc: Doc | None = None
    changes: dict[str, dict[str, str] | None] | None = None
    cursor: str | None = None
    error: JsonObject | None = None
    metadata: str | None = None


def _run_query(caller: Caller, adapter: SourceAdapter, params: Any, cursor: str | None = None) -> _Refresh:
    step, out = "login", _Refresh()
    with calling_as(caller.user, caller.base_url, caller.state.store, caller.pkey(adapter)):
        try:
            adapter.login()
            step = "query"
            out.metadata = adapter.metadata()
            incremental = adapter.changes(cursor)
            if incremental is None:
                found = adapter.query(params if isinstance(params, dict) else None)
                if adapter.pass_through or not unchanged(caller.state, caller.log(adapter), found):
                    out.doc = normalize(found)
            else:
                changed, new_cursor, *complete = incremental
                live = normalize((oid, attrs) for oid, attrs in changed.items() if attrs is not None)
                if complete and complete[0]:  # the whole data set: replace the log's, as after query
                    out.doc = live
                else:
                    out.changes = {str(oid): live.get(str(oid)) for oid in changed}
                out.cursor = str(new_cursor)
            step = "logoff"
            adapter.logoff()
        except Exception as exc:  # any adapter failure is reported, never raised
            adapter_failed(adapter.name, step, exc, user=caller.user, client=caller.client_id)
            out.error = {f"{step}-error": {"message": str(exc)}}  # data got before logoff stays
    return out


def query_page(caller: Caller, adapter: SourceAdapter, token: str, p_size: int, params: Any = None) -> Page:
    """Answer one query request (§4.4): acknowledge, refresh, build or resend a page.

    :raises StaleClient: the client's cursor is older than the log's retention; the
        client has been forgotten.
    """
    if adapter.pass_through:
        return _pass_through_page(caller, adapter, params)
    state, log = caller.state, caller.log(adapter)
    with state.client_lock(caller.client_id):
        cs, meta = state.client_and_master(caller.client_id, adapter.name, log)
        before = cs.copy()
        stored = cs.token
        if stored and token != stored:
            return _resend(caller, adapter, cs, meta)
        if stored:
            cs.acknowledge()
        meta = refresh_master(caller, adapter, params, known=meta)
        schema_page = _schema_check(caller, adapter, cs)
        if schema_page is not None:
            return schema_page
        page = _build(caller, log, cs, meta, p_size)
        if cs != before:  # a poll that changes nothing writes nothing
            state.store.set_many(state.client_state_items(caller.client_id, adapter.name, cs))
        return page


def _resend(caller: Caller, adapter: SourceAdapter, cs: ClientSourceState, meta: JsonObject) -> Page:
    """The stored page again, same token, with pending links and errors folded in."""
    commands = caller.state.stored_page(caller.client_id, adapter.name)
    if _take_pending(cs, commands):
        cs.page_to_store = commands
        state = caller.state
        state.store.set_many(state.client_state_items(caller.client_id, adapter.name, cs))
    out = dict(commands)
    if meta.get("error"):
        out["source-error"] = meta["error"]
    return Page(cs.token, cs.page_count, cs.page_total, out)


def _take_pending(cs: ClientSourceState, commands: JsonObject) -> bool:
    """Move pending links and errors of ``cs`` into ``commands``."""
    moved = False
    links, cs.links = cs.links, {}
    if links:
        commands["links"] = {**commands.get("links", {}), **links}
        moved = True
    errors, cs.errors = cs.errors, {}
    for key, pending in errors.items():
        if pending:
            commands[key] = {**commands.get(key, {}), **pending}
            moved = True
    return moved


def _schema_check(caller: Caller, adapter: SourceAdapter, cs: ClientSourceState) -> Page | None:
    """The schema-changed page when the source's schema version moved (§4.5 step 7)."""
    current = schema_sha1(adapter)
    if current is None or cs.schema_sha1 == current:
        return None
    known = cs.schema_sha1
    cs.schema_sha1 = current
    if known is None:
        return None
    state, token = caller.state, new_token()
    commands: JsonObject = {"schema-changed": "true"}
    cs.hold_page(token, 0, 0, commands)
    items = state.client_state_items(caller.client_id, adapter.name, cs)
    items[keys.bulk(partition_key("user", caller.user))] = None  # bulk files of the old schema
    items[keys.bulk(partition_key("app", caller.user))] = None
    state.store.set_many(items)
    return Page(token, 0, 0, dict(commands))


def diff(held: Mapping[str, str] | None, current: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """The page entries that turn ``held`` into ``current`` (§4.5 step 3): the pairs to
    insert and the pairs to delete, each empty when there are none."""
    if held is None:
        return ({} if current is None else dict(current)), {}
    if current is None:
        return {}, dict(held)
    added = {a: v for a, v in current.items() if held.get(a) != v}
    removed = {a: v for a, v in held.items() if current.get(a) != v}
    return added, removed


def _changes(caller: Caller, log: str, cs: ClientSourceState, p_size: int) -> tuple[dict[str, Any], Doc, int]:
    """Inserts and deletes of the next page, and the log's live object count.

    Reads the log after the client's cursor until ``p_size`` objects differ from what
    the client holds (its own pushes are skipped) or the log ends; moves the cursor.
    """
    store = caller.state.store
    held = Held(cs)
    cursor = held.cursor
    info, scanned = store.log_scan(log, cursor, p_size)  # the counters and the first entries, at once
    if held.is_stale(info.floor):
        caller.state.delete_client(caller.client_id)
        raise StaleClient(caller.client_id)
    last: dict[str, LogEntry] = {}  # each object's newest entry read for this page
    before: Doc = {}  # the versions the client holds of them
    inserts: dict[str, Any] = {}
    deletes: Doc = {}
    entries: list[LogEntry] | None = scanned
    limit, reads = p_size, 1
    while cursor < info.last:
        if entries is None:
            limit = max(1, p_size - _sending(held, last))
            entries, reads = store.log_read(log, cursor, limit), reads + 1
        if len(entries) < limit:  # read to the end: compacted numbers below it count as read
            cursor = info.last
        if not entries:
            break
        firsts = []
        for entry in entries:
            if entry.oid not in last:
                firsts.append(entry)
            last[entry.oid] = entry
        before.update(held.before(store, log, firsts))
        cursor = max(cursor, entries[-1].seq)
        entries = None
        if _sending(held, last) < p_size and cursor < info.last:
            continue  # room left: read on before working out the differences
        inserts, deletes = _differences(held, before, last)
        if inserts or deletes:
            break
        held.advance(cs, cursor)  # nothing for the client up to here: read on from there
        last, before = {}, {}
    if last and not inserts and not deletes:
        inserts, deletes = _differences(held, before, last)
    if cursor != held.cursor or not held.has_paged:
        if held.has_paged and (reads > 1 or held.looked_up) and held.is_stale(store.log_info(log).floor):
            # compacted after the first read: an entry looked up or read later may be gone
            caller.state.delete_client(caller.client_id)
            raise StaleClient(caller.client_id)
        held.advance(cs, cursor)
    return inserts, deletes, info.count


def _sending(held: Held, last: Mapping[str, LogEntry]) -> int:
    """How many of the objects read the page will carry (at most)."""
    return sum(1 for entry in last.values() if not held.skips(entry))


def _differences(held: Held, before: Doc, last: Mapping[str, LogEntry]) -> tuple[dict[str, Any], Doc]:
    """Inserts (whole new objects as :class:`RawJson`) and deletes for the objects read."""
    inserts: dict[str, Any] = {}
    deletes: Doc = {}
    for oid, entry in last.items():
        if held.skips(entry):
            continue
        had = before.get(oid)
        if had is None:
            if entry.value is not None:  # new to the client: the stored JSON as it is
                inserts[oid] = RawJson(entry.value)
            continue
        added, removed = diff(had, None if entry.value is None else orjson.loads(entry.value))
        if added:
            inserts[oid] = added
        if removed:
            deletes[oid] = removed
    return inserts, deletes


def _build(caller: Caller, log: str, cs: ClientSourceState, meta: JsonObject, p_size: int) -> Page:
    inserts, deletes, total = _changes(caller, log, cs, p_size)
    pending_deletes, cs.deletes = cs.deletes, {}
    deletes.update(pending_deletes)
    commands: JsonObject = {}
    if inserts:
        commands["insert"] = inserts
    if deletes:
        commands["delete"] = deletes
    _take_pending(cs, commands)
    if meta.get("metadata_sha1") and meta.get("metadata_sha1") != cs.metadata_sha1:
        commands["metadata"] = meta["metadata"]
        cs.metadata_sha1 = meta["metadata_sha1"]
    count = len(inserts) + len(deletes)
    token = ""
    encoded = encode_commands(commands)
    if inserts or deletes or "links" in commands:
        token = new_token()
        cs.hold_page(token, count, total, encoded)
    if meta.get("error"):
        commands["source-error"] = meta["error"]
        return Page(token, count, total, commands)  # encoded again when sent: the error is not stored
    return Page(token, count, total, commands, encoded)


def _pass_through_page(caller: Caller, adapter: SourceAdapter, params: Any) -> Page:
    """Pass-through (§4.7): the whole adapter result, nothing stored."""
    result = _run_query(caller, adapter, params)
    doc, error = result.doc, result.error
    commands: JsonObject = {"insert": doc} if doc else {}
    if error:
        commands["source-error"] = error
    size = len(doc or {})
    return Page(new_token() if doc else "", size, size, commands)
