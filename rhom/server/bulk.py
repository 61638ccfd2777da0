"""Bulk data (protocol.md §7): a whole partition as a SQLite file in the client schema.

The first request for a partition starts a build in a background thread and answers
``{"result":"wait"}``; the client polls until ``{"result":"url","url":...}``. A build
refreshes every requested source, reads its change log to the end (the sequence number
it reached is the file's snapshot point) and writes the file of §7.6 into the store, in
pieces of ``FILE_PIECE`` bytes, so any server process sharing the store can hand it out.
Building and serving hold a batch of objects or one piece at a time: memory stays flat
whatever the size of the partition. Handing it out sets the client's
cursors to the snapshot points, so the next query pages only later changes (§7.5).
Files are served as ``<url>`` (SQLite), ``<url>.rzip`` (ZIP) and ``<url>.gzip``, only to
the session of the file's user (a deliberate difference: the real server serves them to
anyone, protocol.md §14 #16).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rhom.server import _http
from rhom.server import _keys as keys
from rhom.server._bulk_file import Version, build_bulk_file
from rhom.server._call import Call, Server, server_of
from rhom.server._log import Held, log_name, read_chunks
from rhom.server._state import JsonObject, State, dumps, loads, partition_key
from rhom.server.adapters import SourceAdapter
from rhom.server.pages import Caller, refresh_master, schema_sha1
from rhom.server.store import Store

__all__ = ["bulk_data", "download", "wait_for_builds"]

logger = logging.getLogger("rhom.server")

_STALE_BUILD = 600.0  # a build not finished after this long is started again
_UNCLAIMED = 300.0  # a built file no client has fetched yet is handed out for this long
_builds: set[threading.Thread] = set()
_builds_lock = threading.Lock()
#: A bulk file is stored as pieces of this many bytes, ``bf:<url>#<n>``, under a header
#: ``bf:<url>`` = ``_PIECES`` + JSON ``{"size": ..., "pieces": ...}`` (rhom.server._keys).
FILE_PIECE = 1 << 20
_PIECES = b"rhom-pieces:"


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
    with state.bulk_lock(pkey):
        record: JsonObject | None = loads(state.store.get(keys.bulk(pkey)))
        if _stale(state, record, names):
            _start_build(call, kind, pkey, names, record)
            return _http.json_reply({"result": "wait"})
        assert record is not None
        if record.get("state") != "complete":
            return _http.json_reply({"result": "wait"})
        if not record.get("handed"):
            state.store.set(keys.bulk(pkey), dumps({**record, "handed": True}))
    if any(record["errors"].get(n) for n in names):
        _drop_file(state, record["url"])
        state.store.set(keys.bulk(pkey), None)
        return _http.json_reply({"result": "url", "url": ""})
    _hand_out(call, record, requested)
    return _http.json_reply({"result": "url", "url": record["url"]})


def _stale(state: State, record: JsonObject | None, names: list[str]) -> bool:
    if record is None or not set(names) <= set(record.get("sources", [])):
        return True
    now = time.time()
    if record.get("state") == "complete":
        if state.store.get(keys.bulk_file(record["url"])) is None:
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
    if old is not None and old.get("url"):
        _drop_file(call.state, old["url"])
    call.state.store.set(keys.bulk(pkey), dumps(record))
    assert call.user is not None
    caller = Caller(call.state, call.user, "", str(call.request.base_url).rstrip("/"))
    thread = threading.Thread(target=_build, args=(call.server, caller, kind, pkey, names), daemon=True)
    with _builds_lock:
        _builds.add(thread)
    thread.start()


def _drop_file(state: State, url: str) -> None:
    """Delete a bulk file: its header and its pieces (``bf:<url>#<n>``)."""
    header = state.store.get(keys.bulk_file(url))
    count = int(loads(header[len(_PIECES) :])["pieces"]) if header and header.startswith(_PIECES) else 0
    state.store.set_many({keys.bulk_file(url): None, **{keys.bulk_piece(url, n): None for n in range(count)}})


def _versions(store: Store, log: str, seqs: dict[str, int], name: str) -> Iterator[list[Version]]:
    """The log's versions, a chunk at a time; ``seqs[name]`` follows the last one read."""
    seqs[name] = 0
    for entries in read_chunks(store, log):
        seqs[name] = entries[-1].seq
        yield [(entry.oid, entry.value) for entry in entries]


def _store_file(state: State, url: str, path: str) -> bytes:
    """Write the file at ``path`` as pieces under ``url``; return the header to store."""
    pieces = 0
    with open(path, "rb") as file:
        while piece := file.read(FILE_PIECE):
            state.store.set(keys.bulk_piece(url, pieces), piece)
            pieces += 1
    return _PIECES + dumps({"size": os.path.getsize(path), "pieces": pieces})


def _build(server: Server, caller: Caller, kind: str, pkey: str, names: list[str]) -> None:
    state = server.state
    handle, path = tempfile.mkstemp(prefix="rhom-bulk-", suffix=".data")
    os.close(handle)  # an empty file: SQLite takes it as a new database
    try:
        sources = sorted((a for a in server.adapters.values() if a.partition == kind), key=lambda a: a.priority)
        versions: dict[str, Iterable[list[Version]]] = {}
        metas: dict[str, JsonObject] = {}
        seqs: dict[str, int] = {}
        for adapter in sources:
            if adapter.name in names:
                metas[adapter.name] = refresh_master(caller, adapter)
                versions[adapter.name] = _versions(state.store, log_name(pkey, adapter.name), seqs, adapter.name)
        build_bulk_file(path, sources, versions, metas)  # reads each log to its end
        built = int(time.time())
        url = keys.bulk_url(None if kind == "app" else caller.user, built)
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
        header = _store_file(state, url, path)
        state.store.set_many({keys.bulk_file(url): header, keys.bulk(pkey): dumps(record)})
    except Exception:  # the next request sees "failed" and starts over
        logger.exception("rhom.server: bulk data build failed")
        state.store.set(keys.bulk(pkey), dumps({"state": "failed", "sources": names}))
    finally:
        os.unlink(path)
        with _builds_lock:
            _builds.discard(threading.current_thread())


def _hand_out(call: Call, record: JsonObject, requested: list[SourceAdapter]) -> None:
    """Move the client's cursors to the points the file was built at (§7.3 step 4)."""
    assert call.client_id is not None
    state = call.state
    items: dict[str, bytes | None] = {}
    seqs: dict[str, int] = record.get("seqs", {})
    with state.client_lock(call.client_id):
        for adapter in requested:
            if adapter.sync_type == "bulk_sync_only":
                continue
            cs = state.client_state(call.client_id, adapter.name)
            cs.acknowledge()  # the file replaces any page outstanding
            cs.cursor, cs.ahead = 0, {}  # held as of the snapshot, nothing ahead of it
            Held(cs).advance(cs, int(seqs.get(adapter.name, 0)))
            sha = schema_sha1(adapter)
            if sha is not None:
                cs.schema_sha1 = sha
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
    session = server.sessions.session_of(cookie) if cookie else None
    user = await run_in_threadpool(server.state.session_user, session) if session else None
    if user is None:
        return _http.text(401, _http.NOT_AUTHENTICATED, _http.TEXT)
    segments = base.split("/")
    if len(segments) == 5 and urllib.parse.unquote(segments[3]) != user:
        return _http.text(404, "<h1>Not Found</h1>")
    header = await run_in_threadpool(server.state.store.get, keys.bulk_file(base))
    if header is None:
        return _http.text(404, "<h1>Not Found</h1>")
    name = segments[-1]
    size, pieces = _pieces(server.state, base, header)
    body: Iterator[bytes] = pieces
    if variant == ".rzip":
        body = _zipped(name, size, pieces)
    elif variant == ".gzip":
        body = _gzipped(pieces)
    response = StreamingResponse(body, status_code=200)
    response.headers["content-type"] = "application/octet-stream" if not variant else "text/plain"
    if not variant:
        response.headers["content-length"] = str(size)
    built = name.rsplit("_", 1)[-1].split(".", 1)[0]
    if built.isdigit():
        response.headers["last-modified"] = formatdate(int(built), usegmt=True)
    return response


def _pieces(state: State, url: str, header: bytes) -> tuple[int, Iterator[bytes]]:
    """The file's size and its bytes, a piece at a time (read as they are sent)."""
    if not header.startswith(_PIECES):  # stored whole, by an earlier version
        return len(header), iter([header])
    layout = loads(header[len(_PIECES) :])

    def read() -> Iterator[bytes]:
        for n in range(int(layout["pieces"])):
            piece = state.store.get(keys.bulk_piece(url, n))
            if piece is None:  # rebuilt meanwhile: end the response short, never with other data
                raise RuntimeError(f"rhom.server: bulk file {url} went away while it was sent")
            yield piece

    return int(layout["size"]), read()


def _gzipped(pieces: Iterable[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip stream
    for piece in pieces:
        if out := packer.compress(piece):
            yield out
    yield packer.flush()


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken as they come (a ZIP written on the fly)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _zipped(name: str, size: int, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """A ZIP archive of one file, written as the pieces come (sizes after the data)."""
    sink = _Sink()
    entry = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.file_size = size  # lets zipfile choose ZIP64 only for files that need it
    with zipfile.ZipFile(sink, "w") as archive, archive.open(entry, "w") as member:
        for piece in pieces:
            member.write(piece)
            if out := sink.take():
                yield out
    yield sink.take()
