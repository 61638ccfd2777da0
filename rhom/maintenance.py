"""Database-wide calls (rhom-api §3): local-change checks, resets, export and import."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from . import _runtime, _setup, blobs, changelog
from .database import PARTITIONS, Database
from .exceptions import ConfigurationError, DatabaseImportError, ValidationError

__all__ = [
    "any_model_changed",
    "client_id",
    "database_client_reset",
    "database_export",
    "database_full_reset",
    "database_full_reset_and_logout",
    "database_fullclient_reset_and_logout",
    "database_import",
    "database_local_reset",
    "get_config",
    "have_local_changes",
    "set_config",
]

#: Callables run before a client or full reset (the sync client registers "stop syncing").
before_reset: list[Callable[[], None]] = []


def _databases() -> dict[str, Database]:
    return _runtime.current().databases


def _user_db() -> Database:
    return _runtime.current().database("user")


def get_config(key: str, default: str | None = None) -> str | None:
    """A persisted setting (``bulksync_state``, ``rho_sync_user``, ...) of the user partition."""
    rows = _user_db().execute_sql("SELECT value FROM _rhom_config WHERE key = ?", (key,))
    return rows[0]["value"] if rows else default


def set_config(key: str, value: str | None) -> None:
    """Persist a setting; ``None`` removes it."""
    db = _user_db()
    if value is None:
        db.execute_sql("DELETE FROM _rhom_config WHERE key = ?", (key,))
    else:
        db.execute_sql(
            "INSERT INTO _rhom_config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )


def have_local_changes() -> bool:
    """True while any change waits to be pushed (a changelog row with ``sent <= 1``, or a
    create sent again until the server answers it, ``sent = 6``)."""
    return any(
        db.execute_sql("SELECT 1 FROM changed_values WHERE sent <= 1 OR sent = 6 LIMIT 1")
        for db in _databases().values()
    )


def any_model_changed() -> bool:
    """True if any changelog row exists, in any partition, whatever its state."""
    return any(db.execute_sql("SELECT 1 FROM changed_values LIMIT 1") for db in _databases().values())


def client_id() -> str | None:
    """The sync client id the server gave this device, or None."""
    rows = _user_db().execute_sql("SELECT client_id FROM client_info LIMIT 1")
    return rows[0]["client_id"] if rows and rows[0]["client_id"] else None


def _client_info(values: dict[str, Any]) -> None:
    db = _user_db()
    if db.execute_sql("SELECT 1 FROM client_info LIMIT 1"):
        db.update_into_table("client_info", values)
    else:
        db.insert_into_table("client_info", values)


def _partitions(reset_local_models: bool) -> Iterator[Database]:
    for name in PARTITIONS:
        if name != "local" or reset_local_models:
            yield _databases()[name]


def _destroy_data(db: Database, keep: Iterable[str]) -> None:
    """Empty every table of *db* except *keep*, logging nothing; then sweep the blobs
    (inside a transaction, the caller sweeps once it commits)."""
    skip = set(keep)
    with changelog.no_changelog(db):
        db.execute_sql("UPDATE sources SET token = 0")
        for table in db.table_names():
            if table not in skip:
                db.delete_all_from_table(table)
    blobs.sweep(db)


def _run_before_reset() -> None:
    for hook in list(before_reset):
        hook()


def database_client_reset(reset_local_models: bool = True) -> None:
    """Forget the client id and all synced data, keeping the session (no new login needed).

    The documented reaction to an "unknown client" error, followed by a new sync.
    """
    _client_reset(reset_local_models)


def _client_reset(
    reset_local_models: bool = True, keep: Callable[[], Callable[[Database], None]] | None = None
) -> None:
    """:func:`database_client_reset`; with *keep*, what it reads is put back.

    Every partition is locked for writing (``BEGIN IMMEDIATE``) before anything is read,
    so no write of the app falls between what *keep* reads and the reset. *keep* then
    reads what to put back and returns the function that puts it back into each emptied
    database, in the transaction that empties it. The user partition commits last: its
    forgotten client id marks the reset done. A process killed midway leaves every
    partition either as it was or reset and refilled, and the client id still known, so
    the server's next "unknown client" answer runs the reset again.
    """
    _run_before_reset()
    user = _user_db()
    databases = sorted(_partitions(reset_local_models), key=lambda db: db is not user)
    with contextlib.ExitStack() as locked:  # left in reverse order: the user partition last
        for db in databases:
            locked.enter_context(db.peewee.atomic("IMMEDIATE"))
        restore = keep() if keep is not None else None
        for db in databases:
            if db is user:
                _client_info({"client_id": None, "token": None, "token_sent": 0})
                set_config("bulksync_state", "0")
            _destroy_data(db, changelog.SYSTEM_TABLES)
            if restore is not None:
                restore(db)
    for db in databases:
        blobs.sweep(db)  # the files of records not put back


def database_full_reset(
    models: Iterable[Any] | None = None,
    reset_client_info: bool = False,
    reset_local_models: bool = True,
) -> None:
    """Delete local data and ask the server, at the next sync, to reset this client.

    :param models: only these models (classes or source names); ``None`` means all.
    :param reset_client_info: also forget the client id and session (not with *models*).
    :param reset_local_models: include local (never synced) models.
    """
    if models is not None:
        _reset_models(list(models), reset_client_info, reset_local_models)
        return
    _run_before_reset()
    _client_info({"reset": 1})
    set_config("reset_models", None)  # every source: a pending reset of some is part of it
    set_config("bulksync_state", "0")
    keep = [t for t in changelog.SYSTEM_TABLES if t != "client_info" or not reset_client_info]
    for db in _partitions(reset_local_models):
        _destroy_data(db, keep)
    if reset_client_info:
        set_config("push_pin", None)


def _reset_models(models: list[Any], reset_client_info: bool, reset_local_models: bool) -> None:
    if reset_client_info:
        raise ValidationError("database_full_reset: reset_client_info cannot be combined with models")
    from . import _registry

    resolved = []
    for model in models:
        cls = _registry.get(model) if isinstance(model, str) else model
        if cls is None or not hasattr(cls, "_rhom"):
            raise ConfigurationError(f"database_full_reset: unknown model {model!r}")
        resolved.append(cls)
    _run_before_reset()
    _client_info({"reset": 1})
    set_config("reset_models", ",".join(m._rhom.source_name for m in resolved if m._rhom.is_sync) or None)
    for cls in resolved:
        opts = cls._rhom
        if not opts.is_sync and not reset_local_models:
            continue
        db, sid = opts.database, cls.get_source_id()
        with changelog.no_changelog(db):
            db.execute_sql("UPDATE sources SET token = 0 WHERE source_id = ?", (sid,))
            if opts.fixed_schema:
                db.delete_all_from_table(cls._meta.table_name)
            else:
                db.execute_sql("DELETE FROM object_values WHERE source_id = ?", (sid,))
            db.execute_sql("DELETE FROM changed_values WHERE source_id = ?", (sid,))
        blobs.sweep(db)


def _logout() -> None:
    # CSyncEngine::logout_int: an UPDATE, so a client_info emptied by a reset stays empty
    # (syncengine_spec "should update syncServer URL at runtime" reads no row)
    _user_db().execute_sql("UPDATE client_info SET session = NULL")


def database_full_reset_and_logout() -> None:
    """:func:`database_full_reset`, then log out (the session is dropped)."""
    database_full_reset()
    _logout()


def database_fullclient_reset_and_logout() -> None:
    """:func:`database_full_reset` with ``reset_client_info=True``, then log out."""
    database_full_reset(reset_client_info=True)
    _logout()


def database_local_reset() -> None:
    """Delete the data of local (never synced) models only."""
    _destroy_data(_databases()["local"], changelog.SYSTEM_TABLES)


# -- export / import ---------------------------------------------------------------------


def _blob_values(partition: str) -> set[str]:
    values: set[str] = set()
    db = _databases()[partition]
    for model in _runtime.current().models:
        opts = model._rhom
        if opts.partition != partition or not opts.blob_attribs:
            continue
        for name in opts.blob_attribs:
            if opts.fixed_schema:
                rows = model.select(getattr(model, name)).tuples()
                values.update(r[0] for r in rows if r[0])
            else:
                for r in db.execute_sql(
                    "SELECT value FROM object_values WHERE source_id = ? AND attrib = ? AND value IS NOT NULL",
                    (opts.source_id, name),
                ):
                    values.add(r["value"])
    return {v for v in values if blobs.is_stored(v)}


def database_export(partition: str = "user") -> Path:
    """Write a zip of *partition*'s database and its blob files; return the zip's path.

    The zip holds ``<partition>.sqlite`` (a consistent snapshot) and ``blobs/<name>``.
    """
    runtime = _runtime.current()
    db = runtime.database(partition)
    target = runtime.data_dir / f"{partition}-export.zip"
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / f"{partition}.sqlite"
        with contextlib.closing(sqlite3.connect(snapshot)) as out:
            db.connection().backup(out)
        partial = target.with_suffix(".zip.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(snapshot, f"{partition}.sqlite")
            for value in sorted(_blob_values(partition)):
                zf.write(blobs.path(value), f"blobs/{value}")
        partial.replace(target)
    return target


def _check_archive(zf: zipfile.ZipFile, partition: str) -> list[str]:
    names = zf.namelist()
    if f"{partition}.sqlite" not in names:
        raise DatabaseImportError(f"database_import: the archive has no {partition}.sqlite")
    blob_names = []
    for name in names:
        if name == f"{partition}.sqlite":
            continue
        path = PurePosixPath(name)
        if len(path.parts) != 2 or path.parts[0] != "blobs" or path.name.startswith("."):
            raise DatabaseImportError(f"database_import: unexpected entry {name!r} in the archive")
        blob_names.append(path.name)
    return blob_names


def _check_database(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise DatabaseImportError("database_import: the archived database is corrupt")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise DatabaseImportError(f"database_import: not a SQLite database: {exc}") from exc
    missing = {"sources", "object_values", "changed_values"} - tables
    if missing:
        raise DatabaseImportError(f"database_import: the archived database lacks {sorted(missing)}")


def database_import(partition: str, zip_path: str | Path) -> bool:
    """Replace *partition*'s database and blobs with an export made by :func:`database_export`.

    On any failure the original database is restored and :class:`DatabaseImportError` raised.
    """
    runtime = _runtime.current()
    db = runtime.database(partition)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            zf = zipfile.ZipFile(zip_path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatabaseImportError(f"database_import: cannot read {str(zip_path)!r}: {exc}") from exc
        with zf:
            blob_names = _check_archive(zf, partition)
            incoming = Path(zf.extract(f"{partition}.sqlite", tmp))
            _check_database(incoming)
            original = Path(tmp) / "original.sqlite"
            live = db.connection()
            with contextlib.closing(sqlite3.connect(original)) as out:
                live.backup(out)
            added: list[Path] = []
            try:
                for name in blob_names:
                    target = runtime.blob_dir / name
                    if not target.exists():
                        target.write_bytes(zf.read(f"blobs/{name}"))
                        added.append(target)
                with contextlib.closing(sqlite3.connect(incoming)) as src:
                    src.backup(live)
                _reprepare(db)
            except Exception as exc:
                with contextlib.closing(sqlite3.connect(original)) as src:
                    src.backup(live)
                _reprepare(db)
                for path in added:
                    path.unlink(missing_ok=True)
                raise DatabaseImportError(f"database_import: {exc}; the original was restored") from exc
    return True


def _reprepare(db: Database) -> None:
    runtime = _runtime.current()
    db.execute_script(changelog.SYSTEM_DDL)
    models = [m for m in runtime.models if m._rhom.partition == db.partition]
    _setup.prepare_partition(db, models, runtime.models)
