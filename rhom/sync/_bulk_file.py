"""Bulk files on the client (protocol.md §7.4, §7.6): download one, unpack it, check it.

The download tries the ``.rzip`` form first and falls back to the bare SQLite file; the
unpacked file must be a sound SQLite database with the tables of protocol.md §10.1
before anything of it is installed (:mod:`rhom.sync._bulk`).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import shutil
import sqlite3
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _sql
from ..exceptions import ProtocolError, ServerError, SyncError
from . import protocol

if TYPE_CHECKING:
    from .engine import SyncRun

log = logging.getLogger("rhom.sync")

_ZIP = b"PK\x03\x04"
_GZIP = b"\x1f\x8b"
_SQLITE = b"SQLite format 3\x00"

#: Tables and columns a bulk file must have (protocol.md §7.6, §10.1).
_REQUIRED = {
    "client_info": (),
    "object_values": ("source_id", "attrib", "object", "value"),
    "changed_values": (),
    "sources": ("source_id", "name"),
}


def _download(sync_run: SyncRun, url: str, folder: Path) -> Path:
    """Fetch the file (``.rzip`` first, §7.4 step 1) and return the path of the SQLite file."""
    raw = folder / "download"
    try:
        sync_run.transport.download(protocol.bulk_file(url), raw)
    except ServerError as exc:
        if exc.status_code is None or not 400 <= exc.status_code < 500:
            raise
        log.info("bulk file %s.rzip refused (%s); downloading %s", url, exc.status_code, url)
        sync_run.transport.download(protocol.bulk_file(url, suffix=""), raw)
    except OSError as exc:
        raise SyncError(f"bulk file {url}: cannot write it next to the databases: {exc}") from exc
    target = folder / "bulk.sqlite"
    try:
        _unpack(raw, target, url)
    except OSError as exc:
        raise SyncError(f"bulk file {url}: cannot unpack it: {exc}") from exc
    finally:
        raw.unlink(missing_ok=True)
    check_file(target, where=f"bulk file {url}")
    return target


def _unpack(raw: Path, target: Path, url: str) -> None:
    """Turn the download into a bare SQLite file, judging it by its first bytes."""
    with raw.open("rb") as file:
        head = file.read(16)
    if head.startswith(_ZIP):
        try:
            with zipfile.ZipFile(raw) as archive:
                entry = _zip_entry(archive, url)
                with archive.open(entry) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise ProtocolError(f"bulk file {url}.rzip: a damaged ZIP archive: {exc}") from exc
    elif head.startswith(_GZIP):
        try:
            with gzip.open(raw, "rb") as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ProtocolError(f"bulk file {url}: a damaged gzip stream: {exc}") from exc
    elif head.startswith(_SQLITE):
        raw.replace(target)
    else:
        raise ProtocolError(f"bulk file {url}: neither ZIP, gzip nor SQLite (starts with {head[:8]!r})")


def _zip_entry(archive: zipfile.ZipFile, url: str) -> zipfile.ZipInfo:
    """The archive's one file (named like the URL's last segment, L.13)."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    if len(files) == 1:
        return files[0]
    wanted = url.rstrip("/").rsplit("/", 1)[-1]
    named = [info for info in files if info.filename.rsplit("/", 1)[-1] == wanted]
    if len(named) == 1:
        return named[0]
    raise ProtocolError(f"bulk file {url}.rzip: expected one file in the archive, found {len(files)}")


def check_file(path: Path, *, where: str = "bulk file") -> None:
    """Check that *path* is a sound SQLite file with the tables of protocol.md §10.1.

    :raises ProtocolError: it is not.
    """
    with path.open("rb") as file:
        if file.read(16) != _SQLITE:
            raise ProtocolError(f"{where}: not a SQLite database")
    try:
        with contextlib.closing(_open_read_only(path)) as conn:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ProtocolError(f"{where}: the SQLite file is corrupt")
            for table, columns in _REQUIRED.items():
                found = {r[1] for r in conn.execute(f"PRAGMA table_info({_sql.quote(table)})")}
                if not found:
                    raise ProtocolError(f"{where}: no table {table!r}")
                missing = [c for c in columns if c not in found]
                if missing:
                    raise ProtocolError(f"{where}: table {table!r} lacks {', '.join(missing)}")
    except sqlite3.DatabaseError as exc:
        raise ProtocolError(f"{where}: unreadable SQLite file: {exc}") from exc


def _open_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
