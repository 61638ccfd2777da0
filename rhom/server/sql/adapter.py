"""SqlAdapter: a source over a table of an existing SQL database (SQLAlchemy Core).

The table's columns are the attributes, its primary key the object id; ``partition_by``
names the column that holds the user. Every statement is built by SQLAlchemy Core with
bound parameters: no SQL is ever assembled from a pushed value. Database errors become
the protocol's error entries with the database's own message (and no credentials).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from rhom.exceptions import ConfigurationError
from rhom.server.adapters import SourceAdapter
from rhom.server.sql._capture import Capture, Target, capture_for
from rhom.server.sql._values import as_read, from_wire, is_binary, rhoconnect_type, to_wire

if TYPE_CHECKING:
    from rhom.server.sql._live import ChangeWatcher

__all__ = ["SqlAdapter", "SqlError", "create_engine"]

Changes = Mapping[str, Mapping[str, Any] | None]
_CHUNK = 500  # ids per ``IN (...)``: well under every database's limit of bound parameters
#: Seconds between two notes of one reader's position in ``rhom_readers`` (per process):
#: a note that lags is safe, it only keeps changes a little longer.
NOTE_EVERY = 60.0
#: Seconds after which a reader that has not read holds no changes back (the default).
IDLE = 7 * 86400.0

logger = logging.getLogger("rhom.server.sql")


class SqlError(Exception):
    """A database error in an adapter hook, with the database's message (the client gets it
    as a create-, update-, delete- or query-error); ``__cause__`` is SQLAlchemy's error."""


def create_engine(url: str | sa.URL, **options: Any) -> sa.Engine:
    """An engine for ``url`` as SqlAdapter makes it: a bare ``postgresql://`` uses psycopg 3
    and a bare ``mariadb://`` or ``mysql://`` PyMySQL (what ``rhom[sql]`` installs) when
    psycopg2 or mysqlclient is absent; parameters are kept out of
    error messages and logs (``hide_parameters``); pooled connections are checked before use.
    """
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql" and find_spec("psycopg2") is None and find_spec("psycopg") is not None:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("mysql", "mariadb") and find_spec("MySQLdb") is None and find_spec("pymysql"):
        parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
    options.setdefault("hide_parameters", True)
    options.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **options)


@dataclass(frozen=True)
class _Shape:
    """What the source reads and writes, as reflected from the database."""

    table: sa.Table | None  # the table written to (None: a read-only select)
    base: sa.Select[Any]  # every attribute column and the id
    id: sa.ColumnElement[Any]
    id_name: str
    owner: sa.ColumnElement[Any] | None
    attributes: tuple[str, ...]
    writable: Mapping[str, sa.Column[Any]]
    signature: str  # changes when a column is added, dropped or retyped


class SqlAdapter(SourceAdapter):
    """A source over a table (or a select) of a SQL database.

    :param name: the source name on the wire.
    :param url: a SQLAlchemy database URL (``postgresql://user@host/db``,
        ``sqlite:///file.db``) or an :class:`sqlalchemy.Engine`.
    :param table: the table to read and write (reflected from the database).
    :param select: read through this select instead of the whole table (its columns are
        the attributes); writes go to ``table``, and without ``table`` the source is read-only.
    :param partition_by: the column holding the user: each user reads and writes only the
        rows holding their name, and creates set it. Without it the source is one data set
        shared by all users (an ``app`` partition).
    :param partition_value: turns a user name into the value ``partition_by`` holds
        (default: the name itself).
    :param id_column: the column of object ids (default: the single-column primary key).
    :param columns: the columns to sync (default: every column that has a text form).
    :param exclude: columns never to sync.
    :param blob_columns: text columns holding the names of blob files (``store_blob`` saves
        pushed files in the server store): pages send them as ``<column>-rhoblob`` URLs.
    :param key_column: a unique text column of ``table`` to keep each create's
        idempotency key in; without it the keys go into a side table ``rhom_created``.
    :param db_schema: the database schema of ``table`` (default: the connection's).
    :param publish_schema: publish the columns as a RhoConnect fixed schema whose version
        follows the table's columns, so a changed table sends clients ``schema-changed``.
    :param poll_interval: seconds between refreshes (default ``0``: every sync asks the
        database, which costs what changed when the table's triggers are installed; set
        it higher for tables read by re-query).
    :param search_limit: the most rows a search returns.
    :param prune_interval: seconds between prunings of the table's captured changes,
        which one server process does at a time, in a thread of its own (``0``: never;
        see :func:`~rhom.server.sql.prune_changes`).
    :param prune_idle: seconds after which a user who has not synced holds no captured
        changes back (they read their rows in full when they come back).
    """

    def __init__(
        self,
        name: str,
        url: str | sa.URL | sa.Engine,
        *,
        table: str | None = None,
        select: sa.Select[Any] | None = None,
        partition_by: str | None = None,
        partition_value: Callable[[str], Any] | None = None,
        id_column: str | None = None,
        columns: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        blob_columns: Sequence[str] = (),
        key_column: str | None = None,
        db_schema: str | None = None,
        publish_schema: bool = False,
        poll_interval: int = 0,
        search_limit: int = 1000,
        prune_interval: float = 3600.0,
        prune_idle: float = IDLE,
    ) -> None:
        super().__init__()
        if table is None and select is None:
            raise ConfigurationError(f"SqlAdapter {name!r}: give a table or a select")
        self.name = name
        self.engine = url if isinstance(url, sa.Engine) else create_engine(url)
        self.table_name, self.select, self.db_schema = table, select, db_schema
        self.partition_by, self.partition_value = partition_by, partition_value
        self.partition: Literal["user", "app"] = "user" if partition_by else "app"
        self.id_column, self.columns, self.exclude = id_column, columns, frozenset(exclude)
        self.blob_columns, self.key_column = frozenset(blob_columns), key_column
        self.publish_schema, self.poll_interval, self.search_limit = publish_schema, poll_interval, search_limit
        self._capture: Capture | None = capture_for(self.engine.dialect)
        self._shape: _Shape | None = None
        self._lock = threading.Lock()
        self._created: sa.Table | None = None
        self._created_ready = False  # rhom_created exists (made once per process)
        self.prune_interval, self.prune_idle = prune_interval, prune_idle
        self._noted: dict[str, float] = {}  # when this process last noted each partition's reader
        self._pruning = threading.Lock()  # held by the pruning thread
        self._prune_asked = -prune_interval  # monotonic time this process last asked to prune
        self._watcher: ChangeWatcher | None = None  # started by open()

    def open(self, app: Any) -> None:
        """When the app starts serving: watch the captured tables for its live clients
        (:func:`rhom.server.sql.watch_changes`, one watcher per app and process)."""
        if self._capture is not None:
            from rhom.server.sql._live import watch_changes

            self._watcher = watch_changes(app)

    def close(self) -> None:
        """Stop watching, and close the pooled database connections (an engine passed in
        is closed too); the adapter opens new ones if it is used again."""
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self.engine.dispose()

    # -- what the table looks like ---------------------------------------------------------

    def shape(self, conn: sa.Connection | None = None, *, check: bool = False) -> _Shape:
        """The reflected shape, reflected again when ``check`` finds the columns changed."""
        with self._lock:
            if self._shape is not None and not check:
                return self._shape
            if conn is None:
                with self.engine.connect() as own:
                    return self._reflect(own, check)
            return self._reflect(conn, check)

    def _reflect(self, conn: sa.Connection, check: bool) -> _Shape:
        signature = self._signature(conn)
        if self._shape is not None and self._shape.signature == signature:
            return self._shape
        table = None
        if self.table_name is not None:
            table = sa.Table(self.table_name, sa.MetaData(), autoload_with=conn, schema=self.db_schema)
        self._shape = self._build(table, signature)
        return self._shape

    def _signature(self, conn: sa.Connection) -> str:
        if self.table_name is None:
            return ""  # a select's columns are fixed by its code
        found = sa.inspect(conn).get_columns(self.table_name, schema=self.db_schema)
        text = ";".join(f"{c['name']}:{c['type']!r}" for c in found)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def _build(self, table: sa.Table | None, signature: str) -> _Shape:
        source: Any = self.select.selected_columns if self.select is not None else table.c  # type: ignore[union-attr]
        id_name = self.id_column or _primary_key(table, self.name)
        skipped = {id_name, self.partition_by, self.key_column} | self.exclude
        for needed in (id_name, self.partition_by, *self.blob_columns, *(self.columns or ())):
            if needed is not None and needed not in source:
                raise ConfigurationError(f"SqlAdapter {self.name!r}: no column {needed!r}")
        names = [c for c in (self.columns or [col.key for col in source]) if c not in skipped]
        attributes = tuple(c for c in names if not is_binary(source[c]))
        if self.select is not None:
            base = self.select
        else:  # MySQL's BOOLEAN is a TINYINT(1): read it as the flag it is
            base = sa.select(*[as_read(source[c]) for c in (*attributes, id_name)])
        writable: dict[str, sa.Column[Any]] = {}
        if table is not None:
            writable = {c: table.c[c] for c in attributes if c in table.c}
        owner = source[self.partition_by] if self.partition_by else None
        return _Shape(table, base, source[id_name], id_name, owner, attributes, writable, signature)

    @property
    def schema(self) -> Mapping[str, Any] | None:  # type: ignore[override]  # it follows the table
        """With ``publish_schema``, the table's columns as a RhoConnect fixed schema; its
        ``version`` changes with the columns (clients then get ``schema-changed``)."""
        if not self.publish_schema:
            return None
        shape = self.shape()
        columns = shape.base.selected_columns
        properties = {c: "blob" if c in self.blob_columns else rhoconnect_type(columns[c]) for c in shape.attributes}
        version = hashlib.sha1(repr(sorted(properties.items())).encode()).hexdigest()[:12]
        return {"version": version, "property": properties}

    # -- reading -----------------------------------------------------------------------------

    def query(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        """Every row of the user's partition (``params`` are not used)."""
        with self._errors(), self.engine.connect() as conn:
            shape = self.shape(conn, check=True)
            return dict(self._objects(conn.execute(self._mine(shape, shape.base)), shape))

    def changes(self, cursor: str | None) -> tuple[Changes, str] | tuple[Changes, str, bool] | None:
        """The rows changed since ``cursor``, from the change table the triggers fill
        (``None`` for rows deleted or moved to another user); ``None`` when the table has
        no triggers, so that the server runs :meth:`query` instead.

        A first read, one after the triggers were installed again or the columns changed,
        and one whose changes were pruned read the user's rows in full and say so (the
        third item, ``True``): the server deletes the objects it holds whose rows are gone.
        """
        if self._capture is None or self.table_name is None:
            return None
        with self._errors(), self._reading() as conn:
            target = self.target()
            token = self._capture.token(conn, target)
            if token is None:
                return None
            shape = self.shape(conn, check=True)
            prefix = f"{token}.{shape.signature}:"
            part = self._part(shape)
            pruned = self._capture.pruned(conn, target)
            since = cursor[len(prefix) :] if cursor is not None and cursor.startswith(prefix) else None
            if since is not None and int(since) < pruned:
                since = None  # changes after the cursor were pruned: read the rows again
            position = self._capture.position(conn, target, int(since) if since is not None else pruned)
            if since is None:
                # first read, new triggers, changed columns or a pruned past: everything, once
                rows = dict(self._objects(conn.execute(self._mine(shape, shape.base)), shape))
            else:
                ids = self._capture.changed_ids(conn, target, part, since, position)
                changed: dict[str, Mapping[str, str] | None] = dict.fromkeys(ids)
                changed.update(self._read_ids(conn, shape, ids))
        self._note_reader(target, part, int(position if since is None else since))
        self._prune_when_due(target)
        if since is None:
            return rows, prefix + position, True
        return changed, prefix + position

    def _note_reader(self, target: Target, part: str | None, position: int) -> None:
        """Note where this partition's reader stands (the cursor its read started from,
        which the server has stored), at most every :data:`NOTE_EVERY` seconds."""
        assert self._capture is not None
        now, key = time.time(), part or ""
        if now - self._noted.get(key, 0.0) < NOTE_EVERY:
            return
        self._noted[key] = now
        try:
            with self.engine.begin() as conn:
                self._capture.note_reader(conn, target, part, position, now)
        except sa.exc.SQLAlchemyError as exc:  # pruning then keeps less for it: never wrong
            logger.debug("rhom.server.sql: %s: could not note a reader: %s", self.name, exc)

    def _prune_when_due(self, target: Target) -> None:
        if self.prune_interval <= 0 or time.monotonic() - self._prune_asked < self.prune_interval:
            return
        if not self._pruning.acquire(blocking=False):
            return
        self._prune_asked = time.monotonic()
        thread = threading.Thread(target=self._prune_in_thread, args=(target,), name="rhom-sql-prune", daemon=True)
        thread.start()

    def _prune_in_thread(self, target: Target) -> None:
        try:
            self.prune_changes(interval=self.prune_interval)
        except Exception as exc:  # a sync must never fail for it: try again next interval
            logger.warning("rhom.server.sql: %s: pruning captured changes failed: %s", self.name, exc)
        finally:
            self._pruning.release()

    def prune_changes(self, *, idle: float | None = None, interval: float = 0.0) -> int:
        """Delete the table's captured changes that every reader has passed (see
        :func:`~rhom.server.sql.prune_changes`); return how many.

        :param idle: seconds after which a reader holds no changes back (default: ``prune_idle``).
        :param interval: do nothing if another process pruned the table within this many seconds.
        """
        if self._capture is None or self.table_name is None:
            return 0
        target, now = self.target(), time.time()
        with self._errors(), self.engine.begin() as conn:
            if self._capture.token(conn, target) is None:
                return 0
            if not self._capture.claim_pruning(conn, target, interval, now):
                return 0
            return self._capture.prune(conn, target, self.prune_idle if idle is None else idle, now)

    def search(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        """The user's rows whose columns contain each ``params`` value (ignoring case)."""
        with self._errors(), self.engine.connect() as conn:
            shape = self.shape(conn)
            query = self._mine(shape, shape.base)
            for name, value in (params or {}).items():
                if name not in shape.attributes:
                    raise SqlError(f"{self.name}: no column {name!r} to search")
                column = shape.base.selected_columns[name]
                text = sa.func.lower(sa.cast(column, sa.String))
                query = query.where(text.contains(str(value).lower(), autoescape=True))
            return dict(self._objects(conn.execute(query.limit(self.search_limit)), shape))

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A connection whose reads share one snapshot (PostgreSQL: repeatable read); on
        MariaDB each read sees what committed before it (read committed), so that rows
        read after the change table are at least as new as the changes read."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            elif self.engine.dialect.name in ("mysql", "mariadb"):
                conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                yield conn

    def _read_ids(self, conn: sa.Connection, shape: _Shape, ids: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
        column = shape.table.c[shape.id_name] if shape.table is not None else shape.id
        keys = [from_wire(column, oid, f"{self.name}.id") for oid in ids]
        for start in range(0, len(keys), _CHUNK):
            query = self._mine(shape, shape.base).where(shape.id.in_(keys[start : start + _CHUNK]))
            yield from self._objects(conn.execute(query), shape)

    def _objects(self, rows: sa.CursorResult[Any], shape: _Shape) -> Iterator[tuple[str, dict[str, str]]]:
        for row in rows:
            yield self._object(row._mapping, shape)

    def _object(self, values: sa.RowMapping, shape: _Shape) -> tuple[str, dict[str, str]]:
        """A row as the wire carries it: its id and its attributes (NULLs left out)."""
        blobs = self.blob_columns
        attrs: dict[str, str] = {}
        for name in shape.attributes:
            text = to_wire(values[name])
            if text is None:
                continue
            if name in blobs:
                attrs[name + "-rhoblob"] = self.blob_url(text) if text else ""
            else:
                attrs[name] = text
        return str(to_wire(values[shape.id_name])), attrs

    def rows(self, ids: Sequence[str]) -> list[tuple[str, str | None, dict[str, str]]]:
        """The rows with these ids, whoever they belong to, as the wire carries them:
        ``(id, partition value as text, attributes)`` (``None`` for an ``app`` source).
        Ids with no row are left out. The backend plugin (:class:`Publisher`) reads
        through this, so that a pushed row is exactly what :meth:`query` would read.
        """
        with self._errors(), self.engine.connect() as conn:
            shape = self.shape(conn, check=True)
            column = shape.table.c[shape.id_name] if shape.table is not None else shape.id
            keys = [from_wire(column, oid, f"{self.name}.id") for oid in ids]
            base = shape.base if shape.owner is None else shape.base.add_columns(shape.owner.label("rhom_part"))
            found: list[tuple[str, str | None, dict[str, str]]] = []
            for start in range(0, len(keys), _CHUNK):
                for row in conn.execute(base.where(shape.id.in_(keys[start : start + _CHUNK]))):
                    values = row._mapping
                    oid, attrs = self._object(values, shape)
                    found.append((oid, None if shape.owner is None else to_wire(values["rhom_part"]), attrs))
            return found

    def _mine(self, shape: _Shape, query: Any) -> Any:
        """``query`` limited to the current user's rows."""
        if shape.owner is None:
            return query
        return query.where(shape.owner == self._owner(shape))

    def _owner(self, shape: _Shape) -> Any:
        user = self.current_user
        if self.partition_value is not None:
            return self.partition_value(user)
        assert shape.owner is not None and self.partition_by is not None
        column = shape.table.c[self.partition_by] if shape.table is not None else shape.owner
        return from_wire(column, user, f"{self.name}.{self.partition_by}")

    def _part(self, shape: _Shape) -> str | None:
        """The user's partition value as the triggers record it (``None``: all rows)."""
        return None if shape.owner is None else to_wire(self._owner(shape))

    # -- writing -----------------------------------------------------------------------------

    def create(self, attrs: Mapping[str, str]) -> str:
        """Insert a row (its id comes from the database, or from a pushed id column); a create
        whose :attr:`idempotency_key` made a row before updates that row instead."""
        key = self.idempotency_key
        with self._errors():
            shape = self.shape()
            table = self._writable_table(shape)
            values = self._values(shape, attrs, creating=True)
            if self.partition_by:
                values[self.partition_by] = self._owner(shape)
            if key is not None and self.key_column is None:
                self._ensure_created_table()
            with self.engine.begin() as conn:
                known = None if key is None else self._known(conn, shape, key)
                if known is not None:
                    updated = conn.execute(self._own(shape, table, sa.update(table), known).values(values))
                    if updated.rowcount:
                        return str(to_wire(known))
                if key is not None and self.key_column is not None:
                    values[self.key_column] = key
                new_id = self._insert(conn, table, shape, values)
                if key is not None and self.key_column is None:
                    self._remember(conn, key, new_id)
            return str(to_wire(new_id))

    def _insert(self, conn: sa.Connection, table: sa.Table, shape: _Shape, values: dict[str, Any]) -> Any:
        statement = sa.insert(table).values(values)
        if self.engine.dialect.insert_returning:
            return conn.execute(statement.returning(table.c[shape.id_name])).scalar_one()
        result = conn.execute(statement)  # MySQL: no RETURNING, the driver's last insert id
        if shape.id_name in values:
            return values[shape.id_name]
        return result.inserted_primary_key[0] if result.inserted_primary_key else None

    def update(self, attrs: Mapping[str, str]) -> None:
        """Update the user's row ``attrs["id"]``; a row that is not theirs (or is gone) raises."""
        with self._errors():
            shape = self.shape()
            table = self._writable_table(shape)
            values = self._values(shape, attrs, creating=False)
            if not values:
                return
            oid = self._id(shape, attrs["id"])
            with self.engine.begin() as conn:
                done = conn.execute(self._own(shape, table, sa.update(table), oid).values(values))
                if not done.rowcount:
                    raise SqlError(f"{self.name} {attrs['id']} does not exist")

    def delete(self, attrs: Mapping[str, str]) -> None:
        """Delete the user's row ``attrs["id"]`` (a row already gone is no error)."""
        with self._errors():
            shape = self.shape()
            table = self._writable_table(shape)
            oid = self._id(shape, attrs["id"])
            with self.engine.begin() as conn:
                conn.execute(self._own(shape, table, sa.delete(table), oid))

    def _own(self, shape: _Shape, table: sa.Table, statement: Any, oid: Any) -> Any:
        """``statement`` (an update or delete of ``table``) limited to row ``oid`` of the user."""
        statement = statement.where(table.c[shape.id_name] == oid)
        if self.partition_by is None:
            return statement
        return statement.where(table.c[self.partition_by] == self._owner(shape))

    def _writable_table(self, shape: _Shape) -> sa.Table:
        if shape.table is None:
            raise SqlError(f"{self.name} is read-only (a select without a table)")
        return shape.table

    def _id(self, shape: _Shape, oid: str) -> Any:
        return from_wire(self._writable_table(shape).c[shape.id_name], oid, f"{self.name}.id")

    def _values(self, shape: _Shape, attrs: Mapping[str, str], *, creating: bool) -> dict[str, Any]:
        table = self._writable_table(shape)
        values: dict[str, Any] = {}
        for name, text in attrs.items():
            if name == "id":
                continue
            column = shape.writable.get(name)
            if column is None and creating and name == shape.id_name:
                column = table.c[name]  # a table whose ids the client chooses
            if column is None:
                if name in (self.partition_by, shape.id_name, self.key_column):
                    raise SqlError(f"{self.name}.{name} is set by the server")
                raise SqlError(f"{self.name}: no column {name!r}")
            values[name] = from_wire(column, text, f"{self.name}.{name}")
        return values

    # -- idempotent creates ------------------------------------------------------------------

    def _known(self, conn: sa.Connection, shape: _Shape, key: str) -> Any:
        """The id of the row an earlier attempt of this create made, if any."""
        table = self._writable_table(shape)
        if self.key_column is not None:
            query = sa.select(table.c[shape.id_name]).where(table.c[self.key_column] == key)
            return conn.execute(query).scalar()
        created = self._created_table()
        text = conn.execute(
            sa.select(created.c.pk).where(created.c.tbl == self.target().key, created.c.key == key)
        ).scalar()
        return None if text is None else self._id(shape, text)

    def _remember(self, conn: sa.Connection, key: str, new_id: Any) -> None:
        created, tbl = self._created_table(), self.target().key
        conn.execute(sa.delete(created).where(created.c.tbl == tbl, created.c.key == key))
        conn.execute(sa.insert(created).values(tbl=tbl, key=key, pk=to_wire(new_id)))

    def _created_table(self) -> sa.Table:
        if self._created is None:
            self._created = sa.Table(
                "rhom_created",
                sa.MetaData(),
                sa.Column("tbl", sa.String(255), primary_key=True),
                sa.Column("key", sa.String(255), primary_key=True),
                sa.Column("pk", sa.String(255), nullable=False),
                schema=self.db_schema,
            )
        return self._created

    def _ensure_created_table(self) -> None:
        table = self._created_table()
        if self._created_ready:
            return
        try:
            with self.engine.begin() as conn:
                table.create(conn, checkfirst=True)
        except sa.exc.DBAPIError:
            with self.engine.connect() as conn:  # another process made it meanwhile
                if not sa.inspect(conn).has_table(table.name, schema=self.db_schema):
                    raise
        self._created_ready = True

    # -- change capture ----------------------------------------------------------------------

    def target(self) -> Target:
        """The table, id column and partition column that the triggers record."""
        if self.table_name is None:
            raise ConfigurationError(f"SqlAdapter {self.name!r}: change capture needs a table")
        id_column = self.id_column or self.shape().id_name
        return Target(self.table_name, id_column, self.partition_by, self.db_schema)

    def install_triggers(self) -> bool:
        """Install the table's change capture (see :func:`rhom.server.sql.install_triggers`)."""
        from rhom.server.sql import install_triggers

        return install_triggers(self.engine, self.target())

    def uninstall_triggers(self) -> bool:
        """Remove the table's change capture (see :func:`rhom.server.sql.uninstall_triggers`)."""
        from rhom.server.sql import uninstall_triggers

        return uninstall_triggers(self.engine, self.target())

    # -- errors ------------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors leave as :class:`SqlError` with the database's message."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise SqlError(database_message(exc, self.engine.url)) from exc
        except sa.exc.NoSuchTableError as exc:
            raise SqlError(f"{self.name}: no table {str(exc)!r} in the database") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise SqlError(_scrub(str(exc), self.engine.url)) from exc


def database_message(exc: sa.exc.DBAPIError, url: sa.URL) -> str:
    """The database's own message of ``exc`` (not SQLAlchemy's, which quotes the SQL),
    without the URL's password."""
    return _scrub(str(exc.orig).strip() or type(exc.orig).__name__, url)


def _scrub(message: str, url: sa.URL) -> str:
    password = url.password
    if password:
        message = message.replace(str(password), "***")
    return message


def _primary_key(table: sa.Table | None, name: str) -> str:
    if table is None:
        raise ConfigurationError(f"SqlAdapter {name!r}: a select needs id_column")
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise ConfigurationError(
            f"SqlAdapter {name!r}: table {table.name!r} has {len(keys)} primary key columns; name the id with id_column"
        )
    return str(keys[0].key)
