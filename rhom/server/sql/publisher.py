"""The backend plugin: what an application commits through the SQLAlchemy ORM, pushed into
rhom.server (RhoConnect's rhoconnect-rb, for Python).

::

    from rhom.server.sql import Publisher

    publisher = Publisher(app)                          # a rhom.server app in this process
    # publisher = Publisher("https://sync.example.com", api_token=TOKEN)   # or over HTTP
    publisher.source(Product, partition_by="owner")     # Product rows: source "Product"
    publisher.watch(SessionLocal)                       # a sessionmaker, Session, scoped_session or Engine

How a commit travels:

1. During each flush, mapper events (``after_insert``, ``after_update``,
   ``before_delete``) note every row of a published class the flush writes. Mapper
   events see every row, cascaded and orphan deletes included, which the session's
   ``new``/``dirty``/``deleted`` collections in ``after_flush`` do not.
2. At the end of the flush (``after_flush``) the notes go into ``rhom_outbox``, on the
   flush's own connection: in the application's transaction, so that they commit or roll
   back (savepoints included) with the rows. The commit touches no network.
3. After the commit (``after_commit``) a sender thread wakes, reads the outbox, reads
   the rows it names as they are now (through :meth:`SqlAdapter.rows`, so a pushed row is
   exactly what a :class:`SqlAdapter` on the same table reads), pushes them, and deletes
   the entries it delivered. A server that cannot be reached, or refuses, leaves them in
   the outbox; the sender tries again with growing pauses (up to ``max_backoff``
   seconds), and a later process with a publisher of the same ``name`` delivers them.

Writes that bypass the unit of work (Core statements, ORM bulk ``update()``/``delete()``,
other programs) are not seen: for those, :func:`~rhom.server.sql.install_triggers`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa
import sqlalchemy.orm as orm

from rhom.exceptions import ConfigurationError
from rhom.server.sql._deliver import Batch, Delivery, DeliveryError, InProcess, OverHttp
from rhom.server.sql._outbox import Entry, Outbox, Turn
from rhom.server.sql._values import to_wire
from rhom.server.sql.adapter import SqlAdapter

if TYPE_CHECKING:
    import httpx

__all__ = ["Publisher"]

logger = logging.getLogger("rhom.server.sql")

# session.info keys: the publishers that watch a session (and the engines they watch
# it on, None: any), and each publisher's notes of the flush under way
_WATCHED = "rhom.publishers"
_NOTES = "rhom.outbox_notes"
_WROTE = "rhom.outbox_written"

Note = tuple[str, str, str | None]  # (source, pk, part) as the outbox keeps them


class _Busy(Exception):
    """Another sender holds the turn to deliver this outbox."""


@dataclass
class _Source:
    """A published mapped class: its table, id and partition columns, and their attributes."""

    name: str
    mapper: orm.Mapper[Any]
    table: sa.Table
    id_column: str
    id_key: str
    partition_by: str | None
    part_key: str | None
    partition_user: Callable[[str], str] | None
    columns: Sequence[str] | None
    exclude: Sequence[str]
    blob_urls: Mapping[str, Callable[[str], str]] = field(default_factory=dict)  # column: its URL
    adapters: dict[sa.Engine, SqlAdapter] = field(default_factory=dict)

    def wire(self, attrs: dict[str, str]) -> dict[str, str]:
        """A row's attributes as pushed: each blob column as ``<column>-rhoblob``, its
        download URL, as a SqlAdapter with ``blob_columns`` sends it."""
        for column, url in self.blob_urls.items():
            if column in attrs:
                name = attrs.pop(column)
                attrs[column + "-rhoblob"] = url(name) if name else ""
        return attrs

    def wire_name(self, column: str) -> str:
        return column + "-rhoblob" if column in self.blob_urls else column

    def user(self, part: str | None) -> str | None:
        """The user a partition value (as text) belongs to; ``None`` for an ``app`` source."""
        if self.partition_by is None or part is None:
            return None
        return self.partition_user(part) if self.partition_user is not None else part

    def adapter(self, engine: sa.Engine) -> SqlAdapter:
        """The SqlAdapter that reads this source's rows: one mapping of columns to the wire."""
        found = self.adapters.get(engine)
        if found is None:
            found = self.adapters[engine] = SqlAdapter(
                self.name, engine, table=self.table.name, db_schema=self.table.schema,
                partition_by=self.partition_by, id_column=self.id_column,
                columns=self.columns, exclude=self.exclude,
            )  # fmt: skip
        return found


class Publisher:
    """Pushes the rows of mapped classes into rhom.server when a watched session commits.

    :param server: the rhom.server app (:func:`rhom.server.create_app`) of this process,
        or the base URL of a server elsewhere (``https://sync.example.com``), reached
        through its ``push_objects``, ``fast_delete`` and ``push_deletes`` routes.
    :param api_token: the server's API token (over HTTP; required there).
    :param name: the outbox entries' owner: processes of one application that push to
        the same server share a name; two publishers to two servers need two.
    :param client: over HTTP, an ``httpx.Client`` of your own (a CA bundle, a proxy); the
        default verifies TLS certificates.
    :param timeout: seconds per HTTP request.
    :param background: deliver from a thread of the publisher (default); with ``False``
        only :meth:`flush` delivers.
    :param poll_interval: seconds between looks at the outbox when no commit woke the
        sender (entries another process left, or that failed before).
    :param max_backoff: the longest pause, in seconds, between attempts to reach a server
        that failed.
    :param batch_size: outbox entries read and pushed at a time.
    :param blob_base_url: the server's URL as devices reach it (``https://sync.example.com``),
        for the download URLs of blob columns (:meth:`source`); by default the ``server``
        URL when pushing over HTTP.
    """

    def __init__(
        self,
        server: Any,
        *,
        api_token: str | None = None,
        name: str = "rhom",
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        background: bool = True,
        poll_interval: float = 30.0,
        max_backoff: float = 60.0,
        batch_size: int = 500,
        blob_base_url: str | None = None,
    ) -> None:
        if isinstance(server, str):
            if not api_token:
                raise ConfigurationError("Publisher: pushing over HTTP needs the server's api_token")
            self._delivery: Delivery = OverHttp(server, api_token, client=client, timeout=timeout)
        else:
            self._delivery = InProcess(server)
        self.name = name
        self.background, self.poll_interval, self.max_backoff = background, poll_interval, max_backoff
        self.batch_size = batch_size
        self.blob_base_url = blob_base_url or (server if isinstance(server, str) else None)
        #: the last delivery failure, or ``None`` after a round that delivered everything
        self.last_error: str | None = None
        self._outbox = Outbox()
        self._turn = Turn(self._outbox, name)
        self._sources: dict[type, _Source] = {}
        self._by_name: dict[str, _Source] = {}
        self._engines: dict[sa.Engine, None] = {}  # where outboxes are (insertion-ordered set)
        self._engines_lock = threading.Lock()
        self._installed: set[sa.Engine] = set()  # outboxes made in a transaction of their own
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = []
        self._wake, self._closed = threading.Event(), threading.Event()
        self._sending = threading.Lock()  # one delivery at a time in this process
        self._thread: threading.Thread | None = None

    # -- configuration -----------------------------------------------------------------------

    def source(
        self,
        cls: type,
        name: str | None = None,
        *,
        partition_by: str | None = None,
        partition_user: Callable[[str], str] | None = None,
        id_column: str | None = None,
        columns: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        blob_columns: Sequence[str] | Mapping[str, Callable[[str], str]] = (),
    ) -> Publisher:
        """Publish the rows of mapped class ``cls`` as source ``name`` (default: the class name).

        Columns map to attributes as :class:`SqlAdapter` maps them (the same code).

        :param partition_by: the table column holding the user (as for SqlAdapter);
            without it the rows go to the source's ``app`` partition.
        :param partition_user: turns that column's value, as text, into the user's login
            name (default: the text itself), e.g. ``lambda uid: logins[int(uid)]``.
        :param id_column: the object id column (default: the primary key).
        :param columns: the columns to push (default: all but the id and partition columns).
        :param exclude: columns never to push.
        :param blob_columns: text columns holding blob file names, pushed as downloadable
            blobs (``<column>-rhoblob``, a download URL), as a :class:`SqlAdapter` with
            ``blob_columns`` sends them. A list names columns of files in the server
            store (saved by ``store_blob`` when a device pushed them): their URL is the
            server's blob route under ``blob_base_url``. A mapping gives each column a
            function from the file name to the URL devices download it from, for files
            the application keeps itself (``lambda name: f"https://shop.example.com/media/{name}"``).
        :returns: the publisher, so that calls chain.
        :raises ConfigurationError: not a mapped class of one table, or a column it lacks.
        """
        try:
            mapper: orm.Mapper[Any] = sa.inspect(cls)
        except sa.exc.NoInspectionAvailable:
            raise ConfigurationError(f"Publisher: {cls!r} is not a mapped class") from None
        table = mapper.local_table
        if not isinstance(table, sa.Table):
            raise ConfigurationError(f"Publisher: {cls.__name__} is not mapped to one table")
        if id_column is None:
            keys = list(table.primary_key.columns)
            if len(keys) != 1:
                raise ConfigurationError(f"Publisher: {table.name} has {len(keys)} primary key columns: give id_column")
            id_column = str(keys[0].name)
        spec = _Source(
            name or cls.__name__, mapper, table, id_column, self._key(mapper, table, id_column),
            partition_by, None if partition_by is None else self._key(mapper, table, partition_by),
            partition_user, columns, exclude, self._blob_urls(table, blob_columns),
        )  # fmt: skip
        self._sources[cls], self._by_name[spec.name] = spec, spec
        for event, handler in (
            ("after_insert", self._after_insert),
            ("after_update", self._after_update),
            ("before_delete", self._before_delete),
        ):
            self._listen(cls, event, handler, propagate=True)
        for key in filter(None, (spec.id_key, spec.part_key)):
            # the old value of a row's id or user is needed to take it from that user's
            # devices: load it before a new value replaces it, even when it was expired
            self._listen(getattr(cls, key), "set", _keep_old, active_history=True)
        return self

    def _blob_urls(
        self, table: sa.Table, blob_columns: Sequence[str] | Mapping[str, Callable[[str], str]]
    ) -> dict[str, Callable[[str], str]]:
        for column in blob_columns:
            if column not in table.c:
                raise ConfigurationError(f"Publisher: table {table.name!r} has no column {column!r}")
        if isinstance(blob_columns, Mapping):
            return dict(blob_columns)
        if not blob_columns:
            return {}
        base = self.blob_base_url
        if base is None:
            raise ConfigurationError(
                "Publisher: blob_columns of files in the server store need blob_base_url, "
                "the server's URL as devices reach it (a server in this process has no URL of its own)"
            )
        prefix = base.rstrip("/") + "/rc/v1/blobs/"  # the route SourceAdapter.blob_url names
        return dict.fromkeys(blob_columns, lambda name: prefix + quote(name, safe=""))

    @staticmethod
    def _key(mapper: orm.Mapper[Any], table: sa.Table, column: str) -> str:
        if column not in table.c:
            raise ConfigurationError(f"Publisher: table {table.name!r} has no column {column!r}")
        return str(mapper.get_property_by_column(table.c[column]).key)

    def watch(self, target: Any) -> Publisher:
        """Push what ``target``'s sessions commit: a ``sessionmaker``, ``scoped_session``,
        ``Session``, or an ``Engine`` (every session writing to it). Creates the outbox
        tables in the database the target is bound to, and starts the sender.

        :returns: the publisher, so that calls chain.
        :raises TypeError: none of those.
        """
        if isinstance(target, sa.Engine):
            on: Any = orm.Session  # every session: the mark below keeps those writing to the engine
            engines, only = [target], frozenset([target])
        elif isinstance(target, (orm.sessionmaker, orm.scoped_session, orm.Session)):
            on, engines, only = target, _binds(target), None
        else:
            raise TypeError(
                f"Publisher.watch: expected a sessionmaker, Session, scoped_session or Engine, got {target!r}"
            )
        for engine in engines:
            self._install(engine)

        def mark(session: orm.Session, flush_context: Any, instances: Any) -> None:
            watched = session.info.setdefault(_WATCHED, {})
            engines = watched.get(self, frozenset())
            watched[self] = None if only is None or engines is None else engines | only
            session.info.get(_NOTES, {}).pop(self, None)  # notes of a flush that failed

        self._listen(on, "before_flush", mark)
        self._listen(on, "after_flush", self._after_flush)
        self._listen(on, "after_commit", self._after_commit)
        self._listen(on, "after_soft_rollback", self._after_rollback)
        if self.background and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"rhom-publisher-{self.name}", daemon=True)
            self._thread.start()
        self._wake.set()  # entries an earlier process left
        return self

    def _listen(self, target: Any, event: str, handler: Callable[..., Any], **options: Any) -> None:
        sa.event.listen(target, event, handler, **options)
        self._listeners.append((target, event, handler))

    def _install(self, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            self._outbox.create(conn)
        self._installed.add(engine)
        self._known(engine)

    def _known(self, engine: sa.Engine) -> None:
        with self._engines_lock:
            self._engines[engine] = None

    # -- noting what a flush writes -------------------------------------------------------

    def _spec(self, target: Any) -> _Source | None:
        for klass in type(target).__mro__:
            spec = self._sources.get(klass)
            if spec is not None:
                return spec
        return None

    def _note(self, connection: sa.Connection, target: Any, notes: list[Note]) -> None:
        session = orm.object_session(target)
        watched = {} if session is None else session.info.get(_WATCHED, {})
        if session is None or self not in watched:
            return
        engines = watched[self]
        if engines is not None and connection.engine not in engines:
            return
        flush_notes = session.info.setdefault(_NOTES, {}).setdefault(self, {})
        flush_notes.setdefault(connection, []).extend(notes)

    def _after_insert(self, mapper: Any, connection: sa.Connection, target: Any) -> None:
        spec = self._spec(target)
        if spec is None:
            return
        pk, part = _ids(sa.inspect(target), spec, 0)
        if pk is not None:
            self._note(connection, target, [(spec.name, pk, part)])

    def _after_update(self, mapper: Any, connection: sa.Connection, target: Any) -> None:
        spec = self._spec(target)
        if spec is None:
            return
        state = sa.inspect(target)
        if not any(state.attrs[prop.key].history.has_changes() for prop in state.mapper.column_attrs):
            return  # marked dirty, but no column changed (after_update fires for those too)
        now, before = _ids(state, spec, 0), _ids(state, spec, 1)
        notes = [(spec.name, pk, part) for pk, part in (now,) if pk is not None]
        if before != now and before[0] is not None and (spec.part_key is None or before[1] is not None):
            pk, part = before  # moved to another user, or a new id: gone from the old one's devices
            notes.append((spec.name, str(pk), part))
        self._note(connection, target, notes)

    def _before_delete(self, mapper: Any, connection: sa.Connection, target: Any) -> None:
        spec = self._spec(target)
        if spec is None:
            return
        state = sa.inspect(target)
        pk, part = _ids(state, spec, 1)
        if pk is None or (spec.part_key is not None and part is None):
            pk, part = _stored(connection, state, spec)  # not loaded: ask the row, still there
        if pk is not None:
            self._note(connection, target, [(spec.name, pk, part)])

    def _after_flush(self, session: orm.Session, flush_context: Any) -> None:
        notes = session.info.get(_NOTES, {}).pop(self, None)
        if not notes:
            return
        for connection, rows in notes.items():
            if connection.engine not in self._installed:
                # a bind watch() did not know: make the outbox in this transaction (checked
                # at each flush, since a rollback takes the new table with it)
                self._outbox.create(connection)
                self._known(connection.engine)
            self._outbox.add(connection, self.name, rows)
        session.info.setdefault(_WROTE, set()).add(self)

    def _after_commit(self, session: orm.Session) -> None:
        wrote = session.info.get(_WROTE)
        if wrote and self in wrote:
            wrote.discard(self)
            self._wake.set()

    def _after_rollback(self, session: orm.Session, previous: Any) -> None:
        session.info.get(_NOTES, {}).pop(self, None)
        if previous.parent is None:
            session.info.get(_WROTE, set()).discard(self)

    # -- delivering ------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            if failures:
                pause = min(self.max_backoff, 0.5 * 2 ** min(failures - 1, 16))
                if self._closed.wait(pause):
                    break
            else:
                self._wake.wait(self.poll_interval)
                if self._closed.is_set():
                    break
            self._wake.clear()
            failures = 0 if self._deliver() else failures + 1

    def _deliver(self) -> bool:
        """Deliver what every known outbox holds; ``False`` when something failed."""
        with self._sending:
            with self._engines_lock:
                engines = list(self._engines)
            ok = True
            for engine in engines:
                try:
                    self._drain(engine)
                except _Busy:
                    ok = False  # another process's sender has the turn: look again soon
                except DeliveryError as exc:
                    self.last_error, ok = str(exc), False
                    logger.warning("rhom.server.sql: Publisher %r: %s; trying again later", self.name, exc)
                except Exception as exc:  # the database, or a partition_user: keep the entries, go on
                    self.last_error, ok = f"{type(exc).__name__}: {exc}", False
                    logger.exception("rhom.server.sql: Publisher %r could not deliver", self.name)
            if ok:
                self.last_error = None
            return ok

    def _drain(self, engine: sa.Engine) -> None:
        if not self._turn.take(engine):
            raise _Busy
        try:
            while True:
                with engine.connect() as conn:
                    entries = self._outbox.read(conn, self.name, self.batch_size)
                if not entries:
                    return
                done, failure = self._push(engine, entries)
                with engine.begin() as conn:
                    self._outbox.remove(conn, done)
                if failure is not None:
                    raise failure
        finally:
            self._turn.give_up(engine)

    def _push(self, engine: sa.Engine, entries: list[Entry]) -> tuple[list[int], DeliveryError | None]:
        """Push the rows ``entries`` name; the numbers of those delivered, and the failure."""
        by_source: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_source[entry.source].append(entry)
        done: list[int] = []
        failure: DeliveryError | None = None
        for name, items in by_source.items():
            spec = self._by_name.get(name)
            if spec is None:
                logger.warning("rhom.server.sql: Publisher %r: no source %r any more; %d entries dropped",
                               self.name, name, len(items))  # fmt: skip
            else:
                try:
                    for user, batch in _batches(spec, spec.adapter(engine), items).items():
                        if not self._turn.take(engine):  # renewed before each request
                            raise _Busy
                        self._delivery.send(name, user, batch)
                except DeliveryError as exc:
                    failure = exc
                    continue
            done += [entry.seq for entry in items]
        return done, failure

    # -- the application's calls ----------------------------------------------------------

    def flush(self) -> int:
        """Deliver what the outbox holds, now, in this thread (a script that commits and
        exits calls it last); return how many entries are still waiting (``0``: all
        delivered; otherwise :attr:`last_error` says why)."""
        self._deliver()
        return self.pending()

    def pending(self) -> int:
        """How many outbox entries of this publisher wait to be delivered."""
        with self._engines_lock:
            engines = list(self._engines)
        total = 0
        for engine in engines:
            with engine.connect() as conn:
                total += self._outbox.count(conn, self.name)
        return total

    def push_all(self, cls: type, *, engine: sa.Engine | None = None) -> int:
        """Queue every row of ``cls``'s table for pushing (a first load, or after the
        server lost its data); return how many. The sender pushes them in batches.

        :param engine: the database (default: the one :meth:`watch` found).
        """
        spec = self._sources.get(cls)
        if spec is None:
            raise ConfigurationError(f"Publisher: {cls.__name__} is not a source: call source() first")
        engine = engine or self._only_engine()
        table = spec.table
        part = table.c[spec.partition_by] if spec.partition_by else sa.null()
        total = 0
        self._install(engine)
        with engine.begin() as conn:
            rows = conn.execute(sa.select(table.c[spec.id_column], part)).all()
            for start in range(0, len(rows), self.batch_size):
                notes = [(spec.name, str(to_wire(pk)), to_wire(p)) for pk, p in rows[start : start + self.batch_size]]
                self._outbox.add(conn, self.name, notes)
                total += len(notes)
        self._wake.set()
        return total

    def _only_engine(self) -> sa.Engine:
        with self._engines_lock:
            engines = list(self._engines)
        if len(engines) != 1:
            raise ConfigurationError("Publisher.push_all: name the engine (watch() found none, or several)")
        return engines[0]

    def close(self) -> None:
        """Stop watching and stop the sender (entries not yet delivered stay in the outbox)."""
        for target, event, handler in reversed(self._listeners):
            if sa.event.contains(target, event, handler):
                sa.event.remove(target, event, handler)
        self._listeners.clear()
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._delivery.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _keep_old(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return value


def _binds(target: Any) -> list[sa.Engine]:
    """The engines a sessionmaker, scoped_session or Session is bound to."""
    if isinstance(target, orm.scoped_session):
        target = target.session_factory
    if isinstance(target, orm.sessionmaker):
        binds = [target.kw.get("bind"), *(target.kw.get("binds") or {}).values()]
    else:
        binds = [target.bind]
    engines: list[sa.Engine] = []
    for bind in binds:
        engine = bind.engine if isinstance(bind, sa.Connection) else bind
        if isinstance(engine, sa.Engine) and engine not in engines:
            engines.append(engine)
    return engines


_UNKNOWN: Any = ...  # an attribute the session has not loaded


def _values(state: Any, key: str) -> tuple[Any, Any]:
    """An attribute's value now and before the flush, as far as the session knows them."""
    history = state.attrs[key].history
    if history.unchanged:
        return history.unchanged[0], history.unchanged[0]
    now = history.added[0] if history.added else state.dict.get(key, _UNKNOWN)
    before = history.deleted[0] if history.deleted else _UNKNOWN if history.added else now
    return now, before


def _wire(value: Any) -> str | None:
    return None if value is _UNKNOWN else to_wire(value)


def _ids(state: Any, spec: _Source, when: int) -> tuple[str | None, str | None]:
    """The row's id and partition value as text, now (``when=0``) or before the flush (``1``)."""
    pk = _wire(_values(state, spec.id_key)[when])
    part = None if spec.part_key is None else _wire(_values(state, spec.part_key)[when])
    return pk, part


def _stored(connection: sa.Connection, state: Any, spec: _Source) -> tuple[str | None, str | None]:
    """The id and partition value of ``state``'s row as the database holds them."""
    table, identity = spec.table, state.identity
    if identity is None:
        return None, None
    part = table.c[spec.partition_by] if spec.partition_by else sa.null()
    where = [column == value for column, value in zip(spec.mapper.primary_key, identity, strict=True)]
    row = connection.execute(sa.select(table.c[spec.id_column], part).where(*where)).first()
    return (None, None) if row is None else (to_wire(row[0]), to_wire(row[1]))


def _batches(spec: _Source, adapter: SqlAdapter, entries: list[Entry]) -> dict[str | None, Batch]:
    """What to push for ``entries``, per user: each row as it is now, to its user; a delete
    to the user an entry names when the row is gone or now belongs to someone else."""
    found = {oid: (part, attrs) for oid, part, attrs in adapter.rows(list(dict.fromkeys(e.pk for e in entries)))}
    attributes = adapter.shape().attributes
    batches: dict[str | None, Batch] = defaultdict(Batch)
    for entry in entries:
        row = found.get(entry.pk)
        if row is not None and (spec.partition_by is None or row[0] is not None):
            part, attrs = row
            batch = batches[spec.user(part)]
            batch.objects[entry.pk] = spec.wire(dict(attrs))
            nulls = [spec.wire_name(name) for name in attributes if name not in attrs]
            if nulls:
                batch.nulls[entry.pk] = nulls
        if spec.partition_by is None:
            gone = row is None
        else:
            gone = entry.part is not None and (row is None or row[0] != entry.part)
        if gone:
            deletes = batches[spec.user(entry.part)].deletes
            if entry.pk not in deletes:
                deletes.append(entry.pk)
    return {user: batch for user, batch in batches.items() if batch}
