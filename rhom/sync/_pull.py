"""Pull: apply one server page to the local data, atomically with its token.

Everything a page carries -- metadata, links, deletes, inserts, the new token and the
purge of settled changelog rows -- is written in ONE transaction (protocol.md §4.6). A
crash before the commit leaves the previous token stored, so the next request does not
acknowledge the page and the server sends it again; a crash after it has applied the page
exactly once. Blob files are downloaded before the transaction opens (network I/O never
holds the database), and removed again if the page does not commit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import blobs
from ..changelog import no_changelog
from ..exceptions import ServerError
from . import _unanswered, protocol
from ._push import IN_DOUBT, RESEND
from .source import BLOB_SUFFIX, SyncSource, write_transaction

Download = Callable[[str], str]  # blob URL -> stored blob value

log = logging.getLogger("rhom.sync")


@dataclasses.dataclass
class Applied:
    """What a committed page changed (for notifications and statistics)."""

    inserted: list[str] = dataclasses.field(default_factory=list)  # every object the page changed
    existed: int = 0  # how many of them were already here (updates)
    deleted: list[str] = dataclasses.field(default_factory=list)  # objects the page removed
    linked: dict[str, str] = dataclasses.field(default_factory=dict)
    #: blob downloads the server refused for good (4xx): those attributes were skipped
    blob_errors: list[ServerError] = dataclasses.field(default_factory=list)


def _split_blobs(source: SyncSource, insert: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, dict[str, str]], bool]:
    """Incoming objects with the ``-rhoblob`` suffix stripped and frozen models filtered,
    and whether any name had the suffix.

    The hot path of a pull: names are looked up once per page, and objects whose names
    all pass unchanged are used as they came (copied only if a blob attribute is dropped).
    """
    local_of: dict[str, str | None] = {}
    plain: dict[tuple[str, ...], bool] = {}
    objects: dict[str, dict[str, str]] = {}
    for oid, attrs in insert.items():
        keys = tuple(attrs)
        unchanged = plain.get(keys)
        if unchanged is None:
            for name in keys:
                if name not in local_of:
                    local = name[: -len(BLOB_SUFFIX)] if name.endswith(BLOB_SUFFIX) else name
                    local_of[name] = local if source.accepts(local) else None
            unchanged = plain[keys] = all(local_of[n] == n for n in keys)
        if unchanged:
            objects[oid] = attrs  # type: ignore[assignment]
        else:
            objects[oid] = {local_of[n]: v for n, v in attrs.items() if local_of[n] is not None}  # type: ignore[misc]
    return objects, any(name.endswith(BLOB_SUFFIX) for name in local_of)


BlobWork = tuple[list[tuple[str, str, str]], set[tuple[str, str]]]  # downloads, local values kept


def _blob_work(source: SyncSource, objects: dict[str, dict[str, str]], page: protocol.Page) -> BlobWork:
    """The blob values to download ``(object, attrib, url)``, and the ``(object, attrib)``
    whose local value stays, as Rhodes' ``SyncSource::processBlob`` decides for each blob
    attribute of an insert (its name has the ``-rhoblob`` suffix, or the model declares it
    a blob):

    * ``overwrite`` (``BlobField(overwrite=True)``, Rhom's ``:blob, :overwrite``): always
      downloaded, a new local file, even for an object this client just pushed;
    * otherwise downloaded only when the object has no value for it here: none yet, an
      empty one, one the same page deletes (Rhodes applies a page's deletes before its
      inserts), or -- beyond Rhodes, which checks only for emptiness -- a value naming no
      file in the blob folder; else the local value stays.

    rhom.server pages the blob a client pushed first under its plain name (``photo``,
    the server's stored name) and later as a URL (``photo-rhoblob``): a page deleting
    ``photo`` and inserting ``photo-rhoblob`` gives the same file its URL, which replaces
    nothing (RhoConnect sends only the insert). A delete under the suffixed name, or a
    delete and an insert under the plain name, is a replaced file.

    A value that is not a URL cannot be downloaded: the local value stays (Rhodes tries,
    fails the download, skips the attribute and marks the source's sync failed). A created
    object is looked up under its temporary id: the page's links rename it only when the
    page commits.
    """
    candidates = []
    for oid, attrs in page.insert.items():
        for name, value in attrs.items():
            suffixed = name.endswith(BLOB_SUFFIX)
            local = name[: -len(BLOB_SUFFIX)] if suffixed else name
            if (suffixed or local in source.blob_attribs) and local in objects.get(oid, {}):
                candidates.append((oid, local, value, suffixed))
    if not candidates:
        return [], set()
    temp_of = {server: temp for temp, server in page.links.items()}
    current = source.read_objects({temp_of.get(oid, oid) for oid, _, _, _ in candidates})
    work, kept = [], set()
    for oid, attrib, value, suffixed in candidates:
        deleted = page.delete.get(oid, {})
        replaced = attrib + BLOB_SUFFIX in deleted or (attrib in deleted and not suffixed)
        local_value = None if replaced else current.get(temp_of.get(oid, oid), {}).get(attrib)
        missing = not local_value or not blobs.is_stored(local_value)
        if "://" in value and (source.blob_attribs.get(attrib, False) or missing):
            work.append((oid, attrib, value))
            continue
        if "://" not in value:
            log.warning("%s %s: the server sent %r for blob attribute %s, not a URL: not downloaded",
                        source.name, oid, value, attrib)  # fmt: skip
        objects[oid] = {a: v for a, v in objects[oid].items() if a != attrib}
        kept.add((oid, attrib))
    return work, kept


def _without_blob_suffix(
    delete: Mapping[str, Mapping[str, str]], kept: set[tuple[str, str]]
) -> Mapping[str, Mapping[str, str]]:
    """A page's deletes under the local attribute names (``photo-rhoblob`` deletes
    ``photo``: Rhodes' ``CAttrValue`` strips the suffix from every command's names),
    without the blob values that stay (*kept*)."""
    if not kept and not any(name.endswith(BLOB_SUFFIX) for attrs in delete.values() for name in attrs):
        return delete
    out = {}
    for oid, attrs in delete.items():
        local = {(n[: -len(BLOB_SUFFIX)] if n.endswith(BLOB_SUFFIX) else n): v for n, v in attrs.items()}
        local = {a: v for a, v in local.items() if (oid, a) not in kept}
        if local:
            out[oid] = local
    return out


def apply_page(
    source: SyncSource,
    page: protocol.Page,
    *,
    dependents: list[tuple[SyncSource, str]],
    download: Download | None,
    search: bool = False,
) -> Applied:
    """Apply *page* to *source* and store its token; all or nothing.

    :param search: a search page: its token belongs to the search, not to the source.
    """
    objects, suffixed = _split_blobs(source, page.insert)
    blobs_here = download is not None and (suffixed or bool(source.blob_attribs))
    downloads, kept = _blob_work(source, objects, page) if blobs_here else ([], set())
    delete = _without_blob_suffix(page.delete, kept)
    fetched: list[str] = []
    refused: list[tuple[str, str, str, ServerError]] = []
    try:
        for oid, attrib, url in downloads:
            try:
                value = download(url)  # type: ignore[misc]
            except ServerError as exc:
                if not _gone(exc):
                    raise  # a 5xx: fail the page, the next run gets it again
                # The file is gone for good: skip the attribute and apply the rest of the
                # page (protocol.md §8.2 step 4). Failing the page would stop the source at
                # this page on every run, so no later object would ever arrive. The URL is
                # kept (rhom errors lists it) and tried again at the next run.
                objects[oid] = {a: v for a, v in objects[oid].items() if a != attrib}
                refused.append((oid, attrib, url, _blob_refused(source, oid, attrib, url, exc)))
                continue
            fetched.append(value)
            objects[oid][attrib] = value
        applied = _commit(source, page, objects, dependents, search, delete, refused)
        applied.blob_errors = [exc for _, _, _, exc in refused]
    except BaseException:
        for value in fetched:
            try:
                blobs.path(value).unlink(missing_ok=True)
            except Exception:
                pass
        raise
    if source.blob_attribs:  # the files of blob values the page replaced or deleted
        blobs.sweep(source.db)  # (not those a change still to push names)
    return applied


def _blob_refused(source: SyncSource, oid: str, attrib: str, url: str, exc: ServerError) -> ServerError:
    """The refusal as the app and ``rhom sync`` see it: the object, the attribute and the URL."""
    body = exc.details if isinstance(exc.details, str) and exc.details.strip() else "(empty body)"
    body = " ".join(body.split())[:200]
    message = (f"{source.name} {oid}: {attrib} not downloaded: {url} answered HTTP {exc.status_code} ({body}); "
               "tried again at the next sync")  # fmt: skip
    return ServerError(message, source=source.name, status_code=exc.status_code)


def _gone(exc: ServerError) -> bool:
    """A 4xx answer to a blob download (not 401, 408, 429: those may pass)."""
    return exc.status_code is not None and 400 <= exc.status_code < 500 and exc.status_code not in (401, 408, 429)


def _commit(source: SyncSource, page: protocol.Page, objects: dict[str, dict[str, str]],
            dependents: list[tuple[SyncSource, str]], search: bool, delete: Mapping[str, Mapping[str, str]],
            refused: Sequence[tuple[str, str, str, ServerError]] = ()) -> Applied:  # fmt: skip
    applied = Applied()
    db, sid = source.db, source.id
    other_dbs = {dep.db for dep, _ in dependents if dep.db is not db}
    with write_transaction(db), no_changelog(db):
        conn = db.connection()
        if page.schema_changed:
            source.set_token(page.token_value)
            return applied
        if source.pass_through:
            source.delete_all()
        if page.metadata is not None:
            source.set_metadata(page.metadata)
        # held deletes are rare: this probe reads the partial index changelog.py keeps of
        # queued deletes, whatever the size of the changelog
        deletes_queued = conn.execute(
            "SELECT 1 FROM changed_values WHERE source_id = ? AND update_type = 'delete' AND sent = 0 LIMIT 1", (sid,)
        ).fetchone()
        doomed: list[str] = []
        if page.links:
            for dep_db in other_dbs:  # committed first: re-applying a link is harmless
                with write_transaction(dep_db), no_changelog(dep_db):
                    _rewrite_dependents(page.links, [d for d in dependents if d[0].db is dep_db])
            _rewrite_dependents(page.links, [d for d in dependents if d[0].db is db])
            deleted_here = _deleted_here(conn, source, page.links) if deletes_queued else set()
            for temp, real in page.links.items():
                source.rename(temp, real)
            applied.linked = dict(page.links)
            if deleted_here:
                # Deleted here while their creates were in doubt; a page may have brought
                # the server's record meanwhile, under its own id. The delete (now under
                # that id) wins and goes out with the next push.
                doomed = [page.links[temp] for temp in deleted_here]
                doomed = sorted(source.existing(doomed))  # brought back by a page: it goes now
                source.delete_objects(doomed)
        _keep_errors(conn, source, page, search, refused)
        if page.create_errors:
            # in-doubt creates the server refused: settled like any refused create
            conn.execute(
                "UPDATE changed_values SET sent = 2 WHERE source_id = ? AND sent IN (?, ?) "
                "AND object IN (SELECT value FROM json_each(?))",
                (sid, IN_DOUBT, RESEND, json.dumps(list(page.create_errors))),
            )
        changed: list[str] = []  # objects that lost attributes but are still here
        kept: set[str] = set()  # objects whose attributes the page replaces
        if delete:
            present = source.existing(delete)
            gone = {oid: attrs for oid, attrs in delete.items() if oid in present}
            source.delete_attributes(gone)
            _settle_pending_creates(conn, sid, page.delete)
            # A changed attribute comes as a delete of the old value and an insert of the
            # new one: such an object was updated, not deleted.
            remaining = source.existing(gone) if gone else set()
            applied.deleted = [oid for oid in gone if oid not in remaining and oid not in objects]
            changed = [oid for oid in gone if oid not in objects and oid in remaining]
            kept = {oid for oid in gone if oid in objects}
        applied.deleted += [oid for oid in doomed if oid not in applied.deleted]
        if objects and deletes_queued:
            # an object deleted here whose delete is held (its create awaits its link)
            # is not brought back by a page before that delete is pushed
            held = _deleted_here(conn, source, objects)
            objects = {oid: attrs for oid, attrs in objects.items() if oid not in held}
        if objects:
            _mark_conflicts(conn, sid, objects)
            if kept or not source.fixed:
                applied.existed = len(source.existing(objects) | kept)
                source.upsert(objects)
            else:  # the common page: inserts only; the insert itself tells what was new
                applied.existed = source.upsert(objects)
            applied.inserted = list(objects)
        if changed:
            applied.inserted.extend(changed)
            applied.existed += len(changed)
        if search:
            return applied
        token = 0 if source.pass_through else page.token_value
        if token == 0:
            conn.execute("DELETE FROM changed_values WHERE source_id = ? AND sent IN (3, 4)", (sid,))
        source.set_token(token)
    return applied


def _keep_errors(conn: Any, source: SyncSource, page: protocol.Page, search: bool,
                 refused: Sequence[tuple[str, str, str, ServerError]]) -> None:  # fmt: skip
    """The page's errors, kept until answered in the page's own transaction (_unanswered)."""
    sid = source.id
    if page.links:  # a create the server made after all: nothing left to answer
        _unanswered.forget(conn, sid, page.links, kinds=("create-error",))
    if page.has_server_errors:
        _unanswered.record(conn, sid, page.server_errors(), messages=not search)
    if (page.insert or page.delete) and _unanswered.has_blob_errors(conn, sid):  # rare: keep pulls cheap
        touched = {oid: list(attrs) for oid, attrs in page.insert.items()}
        for oid, attrs in page.delete.items():
            touched.setdefault(oid, []).extend(attrs)
        _unanswered.forget_blobs(conn, sid, touched)
    for oid, attrib, url, exc in refused:
        _unanswered.record_blob(conn, sid, oid, attrib, url, str(exc))


def _rewrite_dependents(links: Mapping[str, str], dependents: list[tuple[SyncSource, str]]) -> None:
    for dep, attrib in dependents:
        for temp, real in links.items():
            dep.rewrite_reference(attrib, temp, real)


def _deleted_here(conn: Any, source: SyncSource, object_ids: Any) -> set[str]:
    """The objects among *object_ids* destroyed here: gone, with a delete queued (not
    pushed yet)."""
    ids = list(object_ids)
    rows = conn.execute(
        "SELECT DISTINCT object FROM changed_values WHERE source_id = ? AND update_type = 'delete' AND sent = 0 "
        "AND object IN (SELECT value FROM json_each(?))",
        (source.id, json.dumps(ids)),
    )
    queued = {r[0] for r in rows}
    return queued - source.existing(queued) if queued else queued


def _settle_pending_creates(conn: Any, sid: int, deleted: Mapping[str, Any]) -> None:
    conn.execute(
        "UPDATE changed_values SET sent = 3 WHERE source_id = ? AND update_type = 'create' AND sent > 1 "
        "AND sent NOT IN (?, ?) AND object IN (SELECT value FROM json_each(?))",
        (sid, IN_DOUBT, RESEND, json.dumps(list(deleted))),
    )


def _mark_conflicts(conn: Any, sid: int, objects: Mapping[str, Mapping[str, str]]) -> None:
    """Server values over still unconfirmed created attributes: mark them (sent=4)."""
    if not conn.execute(
        "SELECT 1 FROM changed_values WHERE source_id = ? AND update_type = 'create' AND sent = 2 LIMIT 1",
        (sid,),
    ).fetchone():
        return
    conn.executemany(
        "UPDATE changed_values SET sent = 4 WHERE source_id = ? AND object = ? AND attrib = ? "
        "AND update_type = 'create' AND sent = 2 AND value IS NOT ?",
        [(sid, oid, a, v) for oid, attrs in objects.items() for a, v in attrs.items()],
    )


def blob_file_name(url: str) -> str:
    """The extension a downloaded blob gets: ``extension=`` parameter, URL suffix, ``.bin``."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    ext = parse_qs(parts.query).get("extension", [""])[0]
    if not ext:
        ext = Path(parts.path).suffix
    return ext or ".bin"
