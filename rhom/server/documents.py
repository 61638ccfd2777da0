"""Master and client documents, page building and token acknowledgement (protocol.md §4).

Per (user partition, source) the server keeps a master document (MD): the data set the
adapter's ``query`` last returned, refreshed when ``poll_interval`` has elapsed. Per
(client, source) it keeps a client document (CD): what it believes the client holds. A
page is the attribute-level difference MD − CD, at most ``p_size`` changed and
``p_size`` deleted objects; the CD takes the page's versions at once (§4.5 step 4).

Acknowledgement (§4.4): a page with data gets a token and is stored until the client
echoes that token. Any other token makes the stored page come back. Unlike the real
server, a request *without* a token also gets the stored page back (the real server
skips it for good); see docs/protocol-decisions.md.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rhom.server._state import (
    PAGE,
    SYNCED,
    Doc,
    JsonObject,
    State,
    changed_ids,
    loads,
    partition_key,
    q,
)
from rhom.server.adapters import SourceAdapter, calling_as

__all__ = ["Caller", "Page", "normalize", "query_page", "refresh_master"]

RESERVED = ("id", "attrib_type")
ERROR_KEYS = ("create-error", "update-error", "delete-error", "update-rollback")
_EPOCH_2009 = 1230768000.0
_token_lock = threading.Lock()
_last_token = 0


@dataclass(frozen=True)
class Caller:
    """Who a request runs for: the state, the session user, the client, the base URL."""

    state: State
    user: str
    client_id: str
    base_url: str

    def pkey(self, adapter: SourceAdapter) -> str:
        return partition_key(adapter.partition, self.user)

    def client_lock(self) -> str:
        return "c:" + q(self.client_id)


@dataclass
class Page:
    """One query page: six elements, the last one the command object (§4.2)."""

    token: str
    count: int
    total_count: int
    commands: JsonObject = field(default_factory=dict)

    def body(self) -> list[JsonObject]:
        return [
            {"version": 3},
            {"token": self.token},
            {"count": self.count},
            {"progress_count": 0},
            {"total_count": self.total_count},
            self.commands,
        ]

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


def normalize(objects: Mapping[str, Mapping[str, Any]]) -> Doc:
    """Wire form of adapter data: string ids and values, ``None`` → ``""``, no reserved names."""
    doc: Doc = {}
    for oid, obj in objects.items():
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


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def schema_sha1(adapter: SourceAdapter) -> str | None:
    if not adapter.schema:
        return None
    return sha1(str(adapter.schema.get("version", "")))


def _due(meta: JsonObject, poll_interval: int, now: float) -> bool:
    refreshed = meta.get("refreshed")
    if refreshed is None:
        return True
    return poll_interval >= 0 and now - float(refreshed) >= poll_interval


def refresh_master(
    caller: Caller,
    adapter: SourceAdapter,
    params: Any = None,
    *,
    force: bool = False,
    known: tuple[JsonObject, Doc] | None = None,
) -> tuple[JsonObject, Doc]:
    """Return the MD, first replaced by the adapter's data if its poll interval elapsed.

    ``login``, ``query`` and ``logoff`` failures become the source's error document,
    sent as ``source-error`` on every page until a refresh succeeds (§5.8).

    :param known: the master state and MD the caller has just read.
    """
    state, pkey = caller.state, caller.pkey(adapter)
    meta, old = known or state.master(pkey, adapter.name)
    if not force and not _due(meta, adapter.poll_interval, time.time()):
        return meta, old  # the common case needs no lock
    with state.store.lock(f"m:{pkey}:{q(adapter.name)}"):
        meta, old = state.master(pkey, adapter.name)
        now = time.time()
        if not force and not _due(meta, adapter.poll_interval, now):
            return meta, old  # another request refreshed it meanwhile
        meta = dict(meta, refreshed=now)
        doc, error, metadata = _run_query(caller, adapter, params)
        meta["error"] = error
        if metadata is not None:
            meta["metadata"], meta["metadata_sha1"] = metadata, sha1(metadata)
        changed = None if doc is None else changed_ids(old, doc)
        if not changed and "doc" in meta:
            doc = None  # unchanged data: only the refresh time is written
        items = state.master_items(pkey, adapter.name, meta, doc, changed)
        state.store.set_many(items)
    written: JsonObject = loads(items[f"m:{pkey}:{q(adapter.name)}:s"])
    return written, old if doc is None else doc


def _run_query(caller: Caller, adapter: SourceAdapter, params: Any) -> tuple[Doc | None, JsonObject | None, str | None]:
    step, doc, error, metadata = "login", None, None, None
    with calling_as(caller.user, caller.base_url, caller.state.store):
        try:
            adapter.login()
            step = "query"
            metadata = adapter.metadata()
            doc = normalize(adapter.query(params if isinstance(params, dict) else None))
            step = "logoff"
            adapter.logoff()
        except Exception as exc:  # any adapter failure is reported, never raised
            error = {f"{step}-error": {"message": str(exc)}}
    return doc, error, metadata


def query_page(caller: Caller, adapter: SourceAdapter, token: str, p_size: int, params: Any = None) -> Page:
    """Answer one query request (§4.4): acknowledge, refresh, build or resend a page."""
    if adapter.pass_through:
        return _pass_through_page(caller, adapter, params)
    state = caller.state
    with state.store.lock(caller.client_lock()):
        cs, cd, meta, md = state.client_and_master(caller.client_id, adapter.name, caller.pkey(adapter))
        before = dict(cs)
        stored = cs.get("token")
        if stored and token != stored:
            return _resend(caller, adapter, cs, meta)
        if stored:
            for key in ("token", "page_count", "page_total"):
                cs.pop(key, None)
            cs[PAGE] = None
        meta, md = refresh_master(caller, adapter, params, known=(meta, md))
        schema_page = _schema_check(caller, adapter, cs)
        if schema_page is not None:
            return schema_page
        page, new_cd, changed = _build(cs, cd, md, meta, p_size)
        if new_cd is not None or cs != before:  # a poll that changes nothing writes nothing
            items = state.client_source_items(caller.client_id, adapter.name, cs, new_cd, changed)
            state.store.set_many(items)
        return page


def _resend(caller: Caller, adapter: SourceAdapter, cs: JsonObject, meta: JsonObject) -> Page:
    """The stored page again, same token, with pending links and errors folded in."""
    commands = caller.state.stored_page(caller.client_id, adapter.name)
    if _take_pending(cs, commands):
        cs[PAGE] = commands
        state = caller.state
        state.store.set_many(state.client_source_items(caller.client_id, adapter.name, cs, None))
    out = dict(commands)
    if meta.get("error"):
        out["source-error"] = meta["error"]
    return Page(str(cs["token"]), int(cs.get("page_count", 0)), int(cs.get("page_total", 0)), out)


def _take_pending(cs: JsonObject, commands: JsonObject) -> bool:
    """Move pending links, deletes and errors of ``cs`` into ``commands``."""
    moved = False
    links = cs.pop("links", None)
    if links:
        commands["links"] = {**commands.get("links", {}), **links}
        moved = True
    for key, pending in (cs.pop("errors", None) or {}).items():
        if pending:
            commands[key] = {**commands.get(key, {}), **pending}
            moved = True
    return moved


def _schema_check(caller: Caller, adapter: SourceAdapter, cs: JsonObject) -> Page | None:
    """The schema-changed page when the source's schema version moved (§4.5 step 7)."""
    current = schema_sha1(adapter)
    if current is None or cs.get("schema_sha1") == current:
        return None
    known = cs.get("schema_sha1")
    cs["schema_sha1"] = current
    if known is None:
        return None
    state, token = caller.state, new_token()
    commands = {"schema-changed": "true"}
    cs.update({"token": token, PAGE: commands, "page_count": 0, "page_total": 0})
    items = state.client_source_items(caller.client_id, adapter.name, cs, None)
    items["b:" + partition_key("user", caller.user)] = None
    items["b:app"] = None
    state.store.set_many(items)
    return Page(token, 0, 0, dict(commands))


def diff(md: Doc, cd: Doc, p_size: int) -> tuple[Doc, Doc, Doc, list[str]]:
    """Inserts, deletes, the new CD and the ids it changes, for at most ``p_size``
    changed and ``p_size`` deleted objects."""
    inserts: Doc = {}
    deletes: Doc = {}
    changed: list[str] = []
    known = cd.get
    for oid, obj in md.items():
        old = known(oid)
        if old is obj or old == obj:  # CD entries are usually the MD's own objects
            continue
        changed.append(oid)
        if old is None:
            inserts[oid] = obj
        else:
            added = {a: v for a, v in obj.items() if old.get(a) != v}
            removed = {a: v for a, v in old.items() if obj.get(a) != v}
            if added:
                inserts[oid] = added
            if removed:
                deletes[oid] = removed
        if len(changed) >= p_size:
            break
    gone = sorted(cd.keys() - md.keys())[:p_size] if cd else []
    for oid in gone:
        deletes[oid] = cd[oid]
    if not changed and not gone:
        return inserts, deletes, cd, []
    new_cd = dict(cd)
    for oid in changed:
        new_cd[oid] = md[oid]
    for oid in gone:
        del new_cd[oid]
    return inserts, deletes, new_cd, changed + gone


def _build(cs: JsonObject, cd: Doc, md: Doc, meta: JsonObject, p_size: int) -> tuple[Page, Doc | None, list[str]]:
    md_version = meta.get("doc", {}).get("v")
    inserts: Doc = {}
    deletes: Doc = {}
    new_cd, changed = cd, list[str]()
    if md_version is None or cs.get(SYNCED) != md_version:  # else nothing moved since
        inserts, deletes, new_cd, changed = diff(md, cd, p_size)
    pending_deletes = cs.pop("deletes", None) or {}
    deletes.update(pending_deletes)
    commands: JsonObject = {}
    if inserts:
        commands["insert"] = inserts
    if deletes:
        commands["delete"] = deletes
    _take_pending(cs, commands)
    if meta.get("metadata_sha1") and meta.get("metadata_sha1") != cs.get("metadata_sha1"):
        commands["metadata"] = meta["metadata"]
        cs["metadata_sha1"] = meta["metadata_sha1"]
    count, total = len(inserts) + len(deletes), len(md)
    token = ""
    if inserts or deletes or "links" in commands:
        token = new_token()
        cs.update({"token": token, PAGE: dict(commands), "page_count": count, "page_total": total})
    elif not changed and md_version is not None:
        cs[SYNCED] = md_version
    if meta.get("error"):
        commands["source-error"] = meta["error"]
    return Page(token, count, total, commands), (new_cd if changed else None), changed


def _pass_through_page(caller: Caller, adapter: SourceAdapter, params: Any) -> Page:
    """Pass-through (§4.7): the whole adapter result, nothing stored."""
    doc, error, _ = _run_query(caller, adapter, params)
    commands: JsonObject = {"insert": doc} if doc else {}
    if error:
        commands["source-error"] = error
    size = len(doc or {})
    return Page(new_token() if doc else "", size, size, commands)


def dumps_page(page: Page) -> bytes:
    return json.dumps(page.body(), separators=(",", ":"), ensure_ascii=False).encode()
