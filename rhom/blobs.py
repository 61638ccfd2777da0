"""Blob files: the folder ``<data_dir>/blobs`` and the values that point into it.

A blob attribute stores a file name relative to the blob folder. Assigning bytes, a path or
a binary file object to a :class:`~rhom.BlobField` copies the data in when the record is
saved; :func:`store` does the same by hand. Files of replaced or deleted values are listed
by triggers in ``_rhom_blob_trash`` in the same transaction as the write, and :func:`sweep`
deletes them after the commit, so a rolled-back transaction never loses a file and a crash
between commit and sweep is mended at the next :func:`rhom.setup`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _runtime
from .exceptions import BlobError, ValidationError

if TYPE_CHECKING:
    from .database import Database

__all__ = ["blob_dir", "path", "store", "sweep"]

log = logging.getLogger("rhom.blobs")


def blob_dir() -> Path:
    """The blob folder of the current :func:`rhom.setup`."""
    return _runtime.current().blob_dir


def store(
    data: Any, *, extension: str | None = None, where: str = "rhom.blobs.store", max_size: int | None = None
) -> str:
    """Copy *data* into the blob folder and return the value to assign to a blob attribute.

    :param data: ``bytes``, a path (``str`` or :class:`os.PathLike`) or a binary file object.
    :param extension: the file extension (``".jpg"``); by default the source file's.
    :param max_size: refuse a file larger than this many bytes (nothing is copied).
    :raises BlobError: the source file is missing or unreadable.
    :raises ValidationError: the file is larger than *max_size*.
    """
    folder = blob_dir()
    ext = extension
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload: bytes | None = bytes(data)
        source = None
    elif hasattr(data, "read"):
        payload = data.read()
        if not isinstance(payload, bytes):
            raise BlobError(f"{where}: file object must be opened in binary mode")
        source = None
    elif isinstance(data, (str, os.PathLike)):
        payload, source = None, Path(data)
        if not source.is_file():
            raise BlobError(f"{where}: no such file {str(source)!r}")
        if ext is None:
            ext = source.suffix
    else:
        raise BlobError(f"{where}: expected bytes, a path or a binary file, got {type(data).__name__}")
    if max_size is not None:
        size = len(payload or b"") if source is None else source.stat().st_size
        if size > max_size:
            raise ValidationError(f"{where}: a file of {size} bytes is over the limit of {max_size} bytes")
    name = uuid.uuid4().hex + _clean_extension(ext)
    tmp = folder / (name + ".part")
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
        else:
            tmp.write_bytes(payload or b"")
        os.replace(tmp, folder / name)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BlobError(f"{where}: cannot copy into the blob folder: {exc}") from exc
    return name


def _clean_extension(ext: str | None) -> str:
    if not ext:
        return ".bin"
    ext = ext if ext.startswith(".") else "." + ext
    return ext if ext[1:].isalnum() and len(ext) <= 16 else ".bin"


def path(value: str) -> Path:
    """The absolute path of a stored blob value; refuses values that leave the blob folder."""
    folder = blob_dir().resolve()
    candidate = (folder / value).resolve()
    if folder not in candidate.parents:
        raise BlobError(f"blob value {value!r} does not name a file in the blob folder")
    return candidate


def is_stored(value: str) -> bool:
    """True if *value* names an existing file in the blob folder."""
    try:
        return path(value).is_file()
    except BlobError:
        return False


def import_value(value: Any, *, where: str, max_size: int | None = None) -> Any:
    """Turn what was assigned to a blob attribute into a stored value (copying files in).

    :param max_size: the largest new file accepted, in bytes (files already stored pass).
    """
    if value is None or (isinstance(value, str) and (value == "" or "://" in value)):
        return value
    # an absolute path into the blob folder is stored relative (below): taking it as is would
    # store a value unequal to the old one, and the sweep would delete the file it names
    if isinstance(value, str) and not os.path.isabs(value) and is_stored(value):
        return value
    if isinstance(value, (str, os.PathLike)):
        p = Path(value)
        if p.is_absolute() and blob_dir().resolve() in p.resolve().parents:
            return str(p.resolve().relative_to(blob_dir().resolve()))
        if not p.is_file():
            raise BlobError(f"{where}: no such file {str(value)!r}")
    return store(value, where=where, max_size=max_size)


def sweep(database: Database, keep: Collection[str] = ()) -> int:
    """Delete the files queued in *database*'s blob trash; return how many went.

    Only files inside the blob folder are ever deleted; none that a record names, none
    that a create or update row of the changelog names (a change not yet settled: its
    push needs the file, and may need it again), and none named in *keep* (stored values of records about to be
    written again). The last two stay in the trash, for a later sweep to look at again.
    """
    if database.in_transaction():
        return 0
    rows = database.execute_sql("SELECT rowid, path FROM _rhom_blob_trash")
    if not rows:
        return 0
    removed = 0
    queries = _runtime.current().blob_queries.get(database.partition, [])
    kept: list[int] = []
    changes = {
        r["value"]
        for r in database.execute_sql(
            "SELECT value FROM changed_values WHERE attrib_type = 'blob.file' AND update_type <> 'delete'"
        )
    }  # a delete sends no file
    for row in rows:
        if row["path"] in keep or row["path"] in changes:
            kept.append(row["rowid"])  # still a candidate: a later sweep looks again
            continue
        if any(database.execute_sql(sql, (*lead, row["path"])) for sql, lead in queries):
            continue  # another record still points at this file
        try:
            target = path(row["path"])
        except BlobError:
            continue  # a URL or foreign path: never ours to delete
        try:
            target.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:  # keep going; the row is dropped, the file stays
            log.warning("could not delete blob file %s: %s", target, exc)
    last = max(r["rowid"] for r in rows)
    database.execute_sql(
        "DELETE FROM _rhom_blob_trash WHERE rowid <= ? AND rowid NOT IN (SELECT value FROM json_each(?))",
        (last, json.dumps(kept)),
    )
    return removed
