"""Typed access to the server's state: key layout, JSON coding, document caching.

Key layout (``{u}`` a quoted user name, ``{c}`` a quoted client id, ``{p}`` a partition
key ``u/<user>`` or ``app``, ``{s}`` a source name)::

    u:{u}            user record               uc:{u}:{c}       the user's client ids
    c:{c}            client record (user, device fields)
    cx:{c}:{s}:s     client/source state: page token, pending links and errors
    cx:{c}:{s}:p     the unacknowledged page   cx:{c}:{s}:k   temporary ids already created
    cx:{c}:{s}:d     client document (CD), plus deltas cx:{c}:{s}:d.1, d.2 ...
    m:{p}:{s}:s      master document state: version, refresh time, source error, metadata
    m:{p}:{s}:d      master document (MD), plus deltas; mc:{p}:{s} its bulk snapshot
    b:{p}            bulk data record           bf:{path}       bulk file bytes
    blob:{name}      uploaded blob

Documents are JSON objects ``{id: {attr: value}}``. Parsed documents are cached per
process under a version stamp that changes on every write, so a page request reads a
1 000-object document only when another process changed it.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from rhom.server.store import Store

Doc = dict[str, dict[str, str]]
_MAX_PARTS = 16
PAGE = "_page"  # a state key that client_source_items writes under its own key
SYNCED = "synced"  # the MD version the CD was last found equal to (no diff needed)
JsonObject = dict[str, Any]


@functools.lru_cache(maxsize=65536)
def q(part: str) -> str:
    """Quote one key part so that ``:`` and ``/`` never appear inside it."""
    return urllib.parse.quote(part, safe="")


def partition_key(partition: str, user: str) -> str:
    return "app" if partition == "app" else "u/" + q(user)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(raw: bytes | None, default: Any = None) -> Any:
    return default if raw is None else json.loads(raw)


def new_version() -> str:
    return secrets.token_hex(8)


class DocCache:
    """An LRU of parsed documents keyed by (store key, version stamp).

    Bounded by the number of objects it holds, not of documents: one master document
    of 100 000 objects weighs as much as a hundred small client documents.
    """

    def __init__(self, max_objects: int = 1_000_000) -> None:
        self._max = max_objects
        self._held = 0
        self._items: OrderedDict[str, tuple[str, Doc]] = OrderedDict()
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

    def put(self, key: str, version: str, doc: Doc) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= len(old[1]) + 1
            self._items[key] = (version, doc)
            self._held += len(doc) + 1
            while self._held > self._max and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._held -= len(dropped) + 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0


class State:
    """The server's view of its store. Documents returned here must not be mutated."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = DocCache()

    # -- users and clients ---------------------------------------------------------
    def user_exists(self, user: str) -> bool:
        return self.store.get("u:" + q(user)) is not None

    def add_user(self, user: str) -> None:
        self.store.set("u:" + q(user), dumps({"login": user}))  # the same record every time

    def users(self) -> list[str]:
        return [urllib.parse.unquote(k[2:]) for k in self.store.keys("u:")]

    def delete_user(self, user: str) -> None:
        for cid in self.client_ids(user):
            self.delete_client(cid)
        self.store.delete_prefix("m:u/" + q(user) + ":")
        self.store.delete_prefix("mc:u/" + q(user) + ":")
        self.store.delete_prefix(f"bf:/data/application/{q(user)}/")
        self.store.set_many({"u:" + q(user): None, "b:u/" + q(user): None})

    def user_and_client(self, user: str, cid: str | None) -> tuple[bool, JsonObject | None]:
        """Whether ``user`` exists, and the record of client ``cid``, in one read."""
        keys = ["u:" + q(user)] + ([] if not cid else ["c:" + q(cid)])
        raws = self.store.get_many(keys)
        record: JsonObject | None = loads(raws[1]) if len(raws) > 1 else None
        return raws[0] is not None, record

    def client(self, cid: str) -> JsonObject | None:
        value: JsonObject | None = loads(self.store.get("c:" + q(cid)))
        return value

    def save_client(self, cid: str, record: JsonObject) -> None:
        user = str(record["user"])
        self.store.set_many({"c:" + q(cid): dumps(record), f"uc:{q(user)}:{q(cid)}": b"1"})

    def client_ids(self, user: str) -> list[str]:
        prefix = f"uc:{q(user)}:"
        return [urllib.parse.unquote(k[len(prefix) :]) for k in self.store.keys(prefix)]

    def delete_client(self, cid: str) -> None:
        record = self.client(cid)
        self.reset_client(cid)
        items: dict[str, bytes | None] = {"c:" + q(cid): None}
        if record is not None:
            items[f"uc:{q(str(record['user']))}:{q(cid)}"] = None
        self.store.set_many(items)

    def reset_client(self, cid: str, sources: list[str] | None = None) -> None:
        """Forget what the server believes ``cid`` holds (all sources or the named ones)."""
        if sources is None:
            self.store.delete_prefix(f"cx:{q(cid)}:")
            return
        for source in sources:
            self.store.delete_prefix(f"cx:{q(cid)}:{q(source)}:")

    # -- documents -----------------------------------------------------------------
    # A document is a base blob ``<base>d`` plus up to _MAX_PARTS delta blobs
    # ``<base>d.1``...: a page changes a few hundred objects of a document that may hold
    # thousands, so appending the change costs what the change costs, not what the
    # document costs. ``info`` (``{"v": version, "n": parts}``) lives in the state blob
    # that is always read and written with the document.
    def _read_doc(self, base: str, info: JsonObject) -> Doc:
        version = info.get("v")
        if version is None:
            return {}  # never written: nothing to read
        cached = self.cache.get(base, version)
        if cached is not None:
            return cached
        parts = int(info.get("n", 0))
        raws = self.store.get_many([base + "d", *(f"{base}d.{i}" for i in range(1, parts + 1))])
        doc: Doc = loads(raws[0], {})
        for raw in raws[1:]:
            delta: JsonObject = loads(raw, {})
            doc.update(delta.get("set", {}))
            for oid in delta.get("del", []):
                doc.pop(oid, None)
        self.cache.put(base, version, doc)
        return doc

    def _write_doc(
        self, items: dict[str, bytes | None], base: str, info: JsonObject, doc: Doc, changed: Iterable[str] | None
    ) -> JsonObject:
        parts = int(info.get("n", 0))
        ids = None if changed is None else set(changed)
        if ids is not None and parts < _MAX_PARTS and len(ids) < len(doc):
            delta = {"set": {i: doc[i] for i in ids if i in doc}, "del": [i for i in ids if i not in doc]}
            items[f"{base}d.{parts + 1}"] = dumps(delta)
            new_info: JsonObject = {"v": new_version(), "n": parts + 1}
        else:
            items[base + "d"] = dumps(doc)
            for index in range(1, parts + 1):
                items[f"{base}d.{index}"] = None
            new_info = {"v": new_version(), "n": 0}
        self.cache.put(base, new_info["v"], doc)
        return new_info

    # -- client documents ------------------------------------------------------------
    def client_source(self, cid: str, source: str) -> tuple[JsonObject, Doc]:
        """Read the client/source state and the client document (CD)."""
        base = f"cx:{q(cid)}:{q(source)}:"
        state: JsonObject = loads(self.store.get(base + "s"), {})
        return state, self._read_doc(base, state.get("cd", {}))

    def client_source_items(
        self, cid: str, source: str, state: JsonObject, doc: Doc | None, changed: Iterable[str] | None = None
    ) -> dict[str, bytes | None]:
        """Store items writing the state and, when given, the new CD.

        :param changed: ids whose CD entry changed; ``None`` rewrites the whole CD.
        """
        base = f"cx:{q(cid)}:{q(source)}:"
        items: dict[str, bytes | None] = {}
        if doc is not None:
            state["cd"] = self._write_doc(items, base, state.get("cd", {}), doc, changed)
            state.pop(SYNCED, None)
        if PAGE in state:  # the stored page has its own key: only a resend reads it
            page = state.pop(PAGE)
            items[base + "p"] = None if page is None else dumps(page)
        items[base + "s"] = dumps(state)
        return items

    def created_ids(self, cid: str, source: str) -> dict[str, str]:
        """Temporary id → server id of the creates ``cid`` pushed to ``source``."""
        created: dict[str, str] = loads(self.store.get(f"cx:{q(cid)}:{q(source)}:k"), {})
        return created

    def created_ids_item(self, cid: str, source: str, created: dict[str, str]) -> dict[str, bytes | None]:
        """The store item that writes :meth:`created_ids` (kept apart: only pushes read it)."""
        return {f"cx:{q(cid)}:{q(source)}:k": dumps(created)}

    def stored_page(self, cid: str, source: str) -> JsonObject:
        """The unacknowledged page of ``cid`` for ``source`` (its command object)."""
        page: JsonObject = loads(self.store.get(f"cx:{q(cid)}:{q(source)}:p"), {})
        return page

    def client_and_master(self, cid: str, source: str, pkey: str) -> tuple[JsonObject, Doc, JsonObject, Doc]:
        """The client/source state, the CD, the master state and the MD, in one read."""
        raw_state, raw_meta = self.store.get_many([f"cx:{q(cid)}:{q(source)}:s", f"m:{pkey}:{q(source)}:s"])
        state: JsonObject = loads(raw_state, {})
        meta: JsonObject = loads(raw_meta, {})
        cd = self._read_doc(f"cx:{q(cid)}:{q(source)}:", state.get("cd", {}))
        return state, cd, meta, self._read_doc(f"m:{pkey}:{q(source)}:", meta.get("doc", {}))

    # -- master documents --------------------------------------------------------------
    def master(self, pkey: str, source: str) -> tuple[JsonObject, Doc]:
        """Read the master document's state and the master document (MD)."""
        base = f"m:{pkey}:{q(source)}:"
        meta: JsonObject = loads(self.store.get(base + "s"), {})
        return meta, self._read_doc(base, meta.get("doc", {}))

    def master_items(
        self, pkey: str, source: str, meta: JsonObject, doc: Doc | None, changed: Iterable[str] | None = None
    ) -> dict[str, bytes | None]:
        """Store items writing the master state and, when given, the new MD."""
        base = f"m:{pkey}:{q(source)}:"
        meta = dict(meta)
        items: dict[str, bytes | None] = {}
        if doc is not None:
            meta["doc"] = self._write_doc(items, base, meta.get("doc", {}), doc, changed)
            meta["count"] = len(doc)
        items[base + "s"] = dumps(meta)
        return items


def changed_ids(old: Doc, new: Doc) -> list[str]:
    """Ids whose object differs between two documents (added, changed or removed)."""
    if not old:
        return list(new)
    ids = [oid for oid, obj in new.items() if old.get(oid) != obj]
    ids.extend(oid for oid in old if oid not in new)
    return ids
