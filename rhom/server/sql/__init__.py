"""rhom.server.sql: sync a table of the SQL database you already have (``rhom[sql]``).

::

    from rhom.server import create_app
    from rhom.server.sql import SqlAdapter

    products = SqlAdapter("Product", "postgresql://app@db/shop", table="products", partition_by="owner")
    products.install_triggers()   # once: changes made by any program reach devices cheaply
    app = create_app([products])

Built on SQLAlchemy Core (PostgreSQL, SQLite, MySQL/MariaDB alike). Change capture by
triggers covers PostgreSQL, SQLite and MariaDB; other tables are read again at each refresh.
:class:`Publisher`, the backend plugin, pushes what an application commits through the
SQLAlchemy ORM into rhom.server instead. See docs/sql.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import sqlalchemy as sa
except ImportError as _exc:  # without the extra: say what to install
    raise ImportError(
        f"rhom.server.sql needs the sql extra, which is not installed ({_exc}): pip install 'rhom[sql]'",
        name=_exc.name,
        path=_exc.path,
    ) from _exc

from rhom.exceptions import ConfigurationError
from rhom.server.sql._capture import Target, capture_for
from rhom.server.sql._live import ChangeWatcher, watch_changes
from rhom.server.sql.adapter import IDLE, SqlAdapter, SqlError, create_engine, database_message
from rhom.server.sql.publisher import Publisher

__all__ = [
    "ChangeWatcher",
    "Publisher",
    "SqlAdapter",
    "SqlError",
    "Target",
    "create_engine",
    "install_triggers",
    "prune_changes",
    "uninstall_triggers",
    "watch_changes",
]


@contextmanager
def _engine(url: str | sa.URL | sa.Engine) -> Iterator[sa.Engine]:
    """The engine given, or one made for ``url`` and closed after the block."""
    if isinstance(url, sa.Engine):
        yield url
        return
    try:
        engine = create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigurationError(f"not a database URL SQLAlchemy can open: {exc}") from None
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _database_errors(engine: sa.Engine) -> Iterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise SqlError(database_message(exc, engine.url)) from exc
    except sa.exc.NoSuchTableError as exc:
        raise ConfigurationError(f"no table {str(exc)!r} in the database") from exc


def _target(engine: sa.Engine, table: str | Target, partition_by: str | None, id_column: str | None,
            db_schema: str | None) -> Target:  # fmt: skip
    if isinstance(table, Target):
        return table
    if id_column is None:
        with engine.connect() as conn:
            keys = sa.inspect(conn).get_pk_constraint(table, schema=db_schema)["constrained_columns"]
        if len(keys) != 1:
            raise ConfigurationError(f"table {table!r} has {len(keys)} primary key columns: name the id with id_column")
        id_column = keys[0]
    return Target(table, id_column, partition_by, db_schema)


def install_triggers(
    url: str | sa.URL | sa.Engine,
    table: str | Target,
    *,
    partition_by: str | None = None,
    id_column: str | None = None,
    db_schema: str | None = None,
) -> bool:
    """Capture every change of ``table``: triggers write each inserted, updated or
    deleted row's id and owner into ``rhom_changes``, which :class:`SqlAdapter` reads.

    Idempotent: installing again replaces the triggers and keeps what devices have read
    (a changed ``partition_by`` starts over: each user's next refresh reads their rows
    once). PostgreSQL and SQLite, in one transaction; MariaDB 10.6 and later, whose
    DDL commits step by step (each trigger is replaced in one step, never missing).

    :param partition_by: the table's user column, as given to the adapter.
    :param id_column: the object id column (default: the primary key).
    :returns: ``True`` when capture was not installed as asked before.
    :raises ConfigurationError: a database without change capture (MySQL, MariaDB
        before 10.6: their tables are read by re-query), or a table without a
        single-column key.
    :raises SqlError: the database refused (its message: no such table, no permission).
    """
    with _engine(url) as engine:
        capture = capture_for(engine.dialect)
        if capture is None:
            raise ConfigurationError(f"no change capture for {engine.dialect.name}: its tables are read by re-query")
        with _database_errors(engine):
            target = _target(engine, table, partition_by, id_column, db_schema)
            with engine.begin() as conn:
                return capture.install(conn, target)


def uninstall_triggers(url: str | sa.URL | sa.Engine, table: str | Target, *, db_schema: str | None = None) -> bool:
    """Remove ``table``'s triggers and recorded changes; with the last table, the change
    tables (and PostgreSQL's trigger function) go too, leaving the database as before.
    The adapter then reads the table by re-query. Idempotent.

    :returns: ``True`` when capture was installed.
    :raises SqlError: the database refused (its message).
    """
    with _engine(url) as engine:
        capture = capture_for(engine.dialect)
        if capture is None:
            return False
        target = table if isinstance(table, Target) else Target(table, "", None, db_schema)
        with _database_errors(engine), engine.begin() as conn:
            return capture.uninstall(conn, target)


def prune_changes(
    url: str | sa.URL | sa.Engine, table: str | None = None, *, idle: float = IDLE, db_schema: str | None = None
) -> int:
    """Delete the captured changes that every reader has passed: of ``table``, or of
    every table under capture. Return how many.

    A reader is one user's refresh of one table, on any server process: each notes in
    ``rhom_readers`` the cursor its read started from. Changes before the lowest cursor
    of the readers seen within ``idle`` seconds go, and the table's watermark rises to
    that cursor in the same transaction. A reader whose cursor is below the watermark
    (idle for longer, or unknown) reads its rows in full once, so pruning is safe with
    any number of server processes, at any time. :class:`SqlAdapter` prunes its table
    by itself every ``prune_interval`` seconds.

    :param idle: seconds after which a reader holds no changes back (default: 7 days).
    :raises SqlError: the database refused (its message).
    """
    with _engine(url) as engine:
        capture = capture_for(engine.dialect)
        if capture is None:
            return 0
        with _database_errors(engine), engine.begin() as conn:
            keys = capture.registered(conn, db_schema)
            if table is not None:
                keys = [k for k in keys if k == (f"{db_schema}.{table}" if db_schema else table)]
            prefix = f"{db_schema}." if db_schema else ""
            now, deleted = time.time(), 0
            for key in keys:
                target = Target(key[len(prefix) :], "", None, db_schema)
                capture.claim_pruning(conn, target, 0.0, now)
                deleted += capture.prune(conn, target, idle, now)
            return deleted
