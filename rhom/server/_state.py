"""Typed access to the server's state: key layout, JSON coding, document caching.

Key layout (``{u}`` a quoted user name, ``{c}`` a quoted client id, ``{p}`` a partition
key ``u/<user>`` or ``app``, ``{s}`` a source name)::

    u:{u}            user record               uc:{u}:{c}       the user's client ids
    c:{c}            client record (user, device fields)
    cx:{c}:{s}:s     client/source state: page token, stored page, pending links/errors
    cx:{c}:{s}:d     client document (CD)       cx:{c}:{s}:v    its version stamp
    m:{p}:{s}:s      master document state: version, refresh time, source error, metadata
    m:{p}:{s}:d      master document (MD)       mc:{p}:{s}      bulk snapshot of the MD
    b:{p}            bulk data record           bf:{path}       bulk file bytes
    blob:{name}      uploaded blob

Documents are JSON objects ``{id: {attr: value}}``. Parsed documents are cached per
process under a version stamp that changes on every write, so a page request reads a
1 000-object document only when another process changed it.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections import OrderedDict
from typing import Any

from rhom.server.store import Store

Doc = dict[str, dict[str, str]]
JsonObject = dict[str, Any]


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
    """A small LRU of parsed documents keyed by (store key, version stamp)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
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
            self._items[key] = (version, doc)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class State:
    """The server's view of its store. Documents returned here must not be mutated."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = DocCache()

    # -- users and clients ---------------------------------------------------------
    def user_exists(self, user: str) -> bool:
        return self.store.get("u:" + q(user)) is not None

    def add_user(self, user: str) -> None:
        if not self.user_exists(user):
            self.store.set("u:" + q(user), dumps({"login": user}))

    def users(self) -> list[str]:
        return [urllib.parse.unquote(k[2:]) for k in self.store.keys("u:")]

    def delete_user(self, user: str) -> None:
        for cid in self.client_ids(user):
            self.delete_client(cid)
        self.store.delete_prefix("m:u/" + q(user) + ":")
        self.store.delete_prefix("mc:u/" + q(user) + ":")
        self.store.set_many({"u:" + q(user): None, "b:u/" + q(user): None})

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

    # -- client documents ------------------------------------------------------------
    def client_source(self, cid: str, source: str) -> tuple[JsonObject, Doc]:
        """Read the client/source state and the client document."""
        base = f"cx:{q(cid)}:{q(source)}:"
        raw_state, raw_version = self.store.get_many([base + "s", base + "v"])
        state: JsonObject = loads(raw_state, {})
        version = None if raw_version is None else raw_version.decode()
        doc = self.cache.get(base + "d", version)
        if doc is None:
            doc = loads(self.store.get(base + "d"), {})
            if version is not None:
                self.cache.put(base + "d", version, doc)
        return state, doc

    def client_source_items(self, cid: str, source: str, state: JsonObject, doc: Doc | None) -> dict[str, bytes | None]:
        """Store items that write the state (and, when given, a new client document)."""
        base = f"cx:{q(cid)}:{q(source)}:"
        items: dict[str, bytes | None] = {base + "s": dumps(state)}
        if doc is not None:
            version = new_version()
            items[base + "d"] = dumps(doc)
            items[base + "v"] = version.encode()
            self.cache.put(base + "d", version, doc)
        return items

    # -- master documents --------------------------------------------------------------
    def master(self, pkey: str, source: str) -> tuple[JsonObject, Doc]:
        """Read the master document's state and the document itself."""
        base = f"m:{pkey}:{q(source)}:"
        meta: JsonObject = loads(self.store.get(base + "s"), {})
        doc = self.cache.get(base + "d", meta.get("v"))
        if doc is None:
            doc = loads(self.store.get(base + "d"), {})
            if "v" in meta:
                self.cache.put(base + "d", meta["v"], doc)
        return meta, doc

    def master_items(self, pkey: str, source: str, meta: JsonObject, doc: Doc | None) -> dict[str, bytes | None]:
        """Store items writing the master state (and, when given, a new document)."""
        base = f"m:{pkey}:{q(source)}:"
        meta = dict(meta)
        items: dict[str, bytes | None] = {}
        if doc is not None:
            meta["v"] = new_version()
            meta["count"] = len(doc)
            items[base + "d"] = dumps(doc)
            self.cache.put(base + "d", meta["v"], doc)
        items[base + "s"] = dumps(meta)
        return items
