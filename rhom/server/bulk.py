"""Bulk data (protocol.md §7): a whole partition as a SQLite file in the client schema.

The first request for a partition starts a build in a background thread and answers
``{"result":"wait"}``; the client polls until ``{"result":"url","url":...}``. A build
refreshes every requested source, reads its change log to the end (the sequence number
it reached is the file's snapshot point) and writes the file of §7.6 into the store, so
any server process sharing the store can hand it out. Handing it out sets the client's
cursors to the snapshot points, so the next query pages only later changes (§7.5).
Files are served as ``<url>`` (SQLite), ``<url>.rzip`` (ZIP) and ``<url>.gzip``, only to
the session of the file's user (a deliberate difference: the real server serves them to
anyone, protocol.md §14 #16).
"""

from __future__ import annotations

import gzip
import io
import logging
import threading
import time
import urllib.parse
import zipfile
from email.utils import formatdate
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from rhom.server import _http
from rhom.server._bulk_file import write_bulk_file
from rhom.server._call import Call, Server, server_of
from rhom.server._log import Held, log_name, read_all
from rhom.server._state import PAGE, Doc, JsonObject, State, dumps, loads, partition_key, q
from rhom.server.adapters import SourceAdapter
from rhom.server.pages import Caller, refresh_master, schema_sha1

__all__ = ["bulk_data", "download", "wait_for_builds"]

logger = logging.getLogger("rhom.server")

_STALE_BUILD = 600.0  # a build not finished after this long is started again
_UNCLAIMED = 300.0  # a built file no client has fetched yet is handed out for this long
_builds: set[threading.Thread] = set()
_builds_lock = threading.Lock()


def wait_for_builds(timeout: float = 30.0) -> None:
    """Join running build threads (called at shutdown, before the store closes)."""
    with _builds_lock:
        threads = list(_builds)
    for thread in threads:
        thread.join(timeout)


def _requested(call: Call, kind: str) -> list[SourceAdapter]:
    partition_sources = [a for a in call.server.adapters.values() if a.partition == kind]
    partition_sources.sort(key=lambda a: a.priority)
    names: Any = call.params.values.get("sources")
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    if not isinstance(names, list):
        return partition_sources
    wanted = {str(n) for n in names}
    return [a for a in partition_sources if a.name in wanted]


def bulk_data(call: Call) -> Response:
    """``POST /rc/v1/app/bulk_data``: ``wait``, ``url`` or ``nop`` for one partition."""
    assert call.user is not None
    kind = "app" if call.params.text("partition", "user") == "app" else "user"
    requested = _requested(call, kind)
    if not requested:
        return _http.json_reply({"result": "nop"})
    state, pkey = call.state, partition_key(kind, call.user)
    names = [a.name for a in requested]
    with state.store.lock("b:" + pkey):
        record: JsonObject | None = loads(state.store.get("b:" + pkey))
        if _stale(state, record, names):
            _start_build(call, kind, pkey, names, record)
            return _http.json_reply({"result": "wait"})
        assert record is not None
        if record.get("state") != "complete":
            return _http.json_reply({"result": "wait"})
        if not record.get("handed"):
            state.store.set("b:" + pkey, dumps({**record, "handed": True}))
    if any(record["errors"].get(n) for n in names):
        state.store.set_many({"bf:" + record["url"]: None, "b:" + pkey: None})
        return _http.json_reply({"result": "url", "url": ""})
    _hand_out(call, record, requested)
    return _http.json_reply({"result": "url", "url": record["url"]})


def _stale(state: State, record: JsonObject | None, names: list[str]) -> bool:
    if record is None or not set(names) <= set(record.get("sources", [])):
        return True
    now = time.time()
    if record.get("state") == "complete":
        if state.store.get("bf:" + record["url"]) is None:
            return True
        fresh_until = float(record["expires"])
        if not record.get("handed"):
            # a file nobody has fetched yet was built for a client that is polling for it:
            # a poll interval shorter than the client's wait between polls must not make
            # every poll start a new build (the client would get "wait" forever)
            fresh_until = max(fresh_until, float(record["built"]) + _UNCLAIMED)
        return fresh_until < now
    return record.get("state") == "failed" or now - float(record["started"]) > _STALE_BUILD


def _start_build(call: Call, kind: str, pkey: str, names: list[str], old: JsonObject | None) -> None:
    record = {"state": "building", "sources": names, "started": time.time()}
    items: dict[str, bytes | None] = {"b:" + pkey: dumps(record)}
    if old is not None and old.get("url"):
        items["bf:" + old["url"]] = None
    call.state.store.set_many(items)
    assert call.user is not None
    caller = Caller(call.state, call.user, "", str(call.request.base_url).rstrip("/"))
    thread = threading.Thread(target=_build, args=(call.server, caller, kind, pkey, names), daemon=True)
    with _builds_lock:
        _builds.add(thread)
    thread.start()


def _build(server: Server, caller: Caller, kind: str, pkey: str, names: list[str]) -> None:
    state = server.state
    try:
        sources = sorted((a for a in server.adapters.values() if a.partition == kind), key=lambda a: a.priority)
        docs: dict[str, Doc] = {}
        metas: dict[str, JsonObject] = {}
        seqs: dict[str, int] = {}
        for adapter in sources:
            if adapter.name in names:
                metas[adapter.name] = refresh_master(caller, adapter)
                docs[adapter.name], seqs[adapter.name] = read_all(state.store, log_name(pkey, adapter.name))
        data = write_bulk_file(sources, docs, metas)
        built = int(time.time())
        if kind == "app":
            url = f"/data/application/application_{built}.data"
        else:
            user = q(caller.user)
            url = f"/data/application/{user}/{user}_{built}.data"
        errors = {n: metas[n].get("error") for n in names if metas[n].get("error")}
        record = {
            "state": "complete",
            "sources": names,
            "url": url,
            "built": built,
            "expires": built + server.settings.bulk_sync_poll_interval,
            "errors": errors,
            "seqs": seqs,
        }
        state.store.set_many({"bf:" + url: data, "b:" + pkey: dumps(record)})
    except Exception:  # the next request sees "failed" and starts over
        logger.exception("rhom.server: bulk data build failed")
        state.store.set("b:" + pkey, dumps({"state": "failed", "sources": names}))
    finally:
        with _builds_lock:
            _builds.discard(threading.current_thread())


def _hand_out(call: Call, record: JsonObject, requested: list[SourceAdapter]) -> None:
    """Move the client's cursors to the points the file was built at (§7.3 step 4)."""
    assert call.client_id is not None
    state = call.state
    items: dict[str, bytes | None] = {}
    seqs: dict[str, int] = record.get("seqs", {})
    with state.store.lock("c:" + q(call.client_id)):
        for adapter in requested:
            if adapter.sync_type == "bulk_sync_only":
                continue
            cs = state.client_state(call.client_id, adapter.name)
            for key in ("token", "page_count", "page_total", "ahead"):
                cs.pop(key, None)
            cs[PAGE] = None
            cs["cursor"] = 0  # held as of the snapshot, nothing ahead of it
            Held(cs).advance(cs, int(seqs.get(adapter.name, 0)))
            sha = schema_sha1(adapter)
            if sha is not None:
                cs["schema_sha1"] = sha
            items.update(state.client_state_items(call.client_id, adapter.name, cs))
        state.store.set_many(items)


async def download(request: Request) -> Response:
    """``GET /data/...``: a bulk file as SQLite, ``.rzip`` or ``.gzip`` (§7.4)."""
    server = server_of(request)
    raw_path = request.scope.get("raw_path")  # the url as issued: user names stay quoted
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    base, variant = path, ""
    for suffix in (".rzip", ".gzip"):
        if path.endswith(suffix):
            base, variant = path[: -len(suffix)], suffix
    cookie = request.cookies.get(_http.COOKIE_NAME)
    user = server.sessions.login_of(cookie) if cookie else None
    if user is None:
        return _http.text(401, _http.NOT_AUTHENTICATED, _http.TEXT)
    segments = base.split("/")
    if len(segments) == 5 and urllib.parse.unquote(segments[3]) != user:
        return _http.text(404, "<h1>Not Found</h1>")
    data = await run_in_threadpool(server.state.store.get, "bf:" + base)
    if data is None:
        return _http.text(404, "<h1>Not Found</h1>")
    name = segments[-1]
    body, ctype = data, "application/octet-stream"
    if variant == ".rzip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, data)
        body, ctype = buffer.getvalue(), "text/plain"
    elif variant == ".gzip":
        body, ctype = gzip.compress(data), "text/plain"
    response = Response(body, status_code=200)
    response.headers["content-type"] = ctype
    built = name.rsplit("_", 1)[-1].split(".", 1)[0]
    if built.isdigit():
        response.headers["last-modified"] = formatdate(int(built), usegmt=True)
    return response
