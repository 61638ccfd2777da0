"""Live clients hear of captured changes within a second (:func:`watch_changes`).

A thread of the server process looks at the databases of the app's :class:`SqlAdapter`
sources every ``interval`` seconds while live streams are open on the process, and
publishes a ``changed`` event for each source whose table changed, to the streams of
the users whose rows changed (rhom.server.live), as ``rhom.server.backend`` does for
pushed changes. The live clients then sync that source, whose refresh reads what changed.

* **SQLite**: the newest ``seq`` of ``rhom_changes`` (in ``sqlite_sequence``); when it moved,
  the users of the new rows. Where the last announced ``seq`` stands is kept in the
  server's store, so that several server processes announce each change once.
* **MariaDB**: as SQLite, but the newest ``seq`` up to which every change has committed
  (``MariaDBCapture``: what an open transaction numbered is not passed), so that a
  change that commits after a later one is announced all the same.
* **PostgreSQL**: ``LISTEN rhom_changes``. A statement trigger notifies at commit, one
  notification per table and transaction; a look is a read of the connection's socket,
  and for each notification one indexed query of the users that transaction changed.
  The store drops a notification another process announced already.

While no live stream is open on the process, the watcher does nothing (and holds no
PostgreSQL connection). When the first one opens, it starts listening and announces
every captured source once to every live client, which covers what changed while it
was not listening: the clients' syncs read it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from rhom.server import _keys as keys
from rhom.server import live
from rhom.server._state import State
from rhom.server.sql._capture import CHANGES, CHANNEL, MariaDBCapture, PostgresCapture, SqliteCapture
from rhom.server.sql.adapter import SqlAdapter

__all__ = ["ChangeWatcher", "watch_changes"]

logger = logging.getLogger("rhom.server.sql")

Changed = tuple[str, str | None]  # (table key in rhom_changes, partition value)


class _Feed:
    """What changed in one database since the last look."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.schemas: dict[str, str | None] = {}  # the watched tables' keys, and their schemas
        self.key = hashlib.sha1(engine.url.render_as_string(hide_password=True).encode()).hexdigest()[:16]

    def resume(self, state: State) -> None:
        """Start looking (a stream opened): later looks report what changes after this."""

    def pause(self) -> None:
        """Stop looking and let go of what looking holds (no stream is open)."""

    def poll(self, state: State) -> list[Changed]:
        raise NotImplementedError


class _SqliteFeed(_Feed):
    """SQLite: ``MAX(seq)`` of ``rhom_changes``, and a shared position in the store."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.seen = 0  # the newest seq this process knows was announced
        self.name = keys.sql_feed(self.key)  # the store key of the newest announced seq

    def _top(self, conn: sa.Connection) -> int | None:
        try:
            return int(SqliteCapture(conn.dialect).position(conn, None))
        except sa.exc.OperationalError:
            return None  # no triggers installed (yet)

    def _connect(self) -> sa.Connection:
        return self.engine.connect()

    def resume(self, state: State) -> None:
        # what changed before is covered by the first announcement, to every live client
        with self._connect() as conn:
            top = self._top(conn) or 0
        with state.sql_feed_lock(self.key):
            state.store.set(self.name, str(top).encode())
        self.seen = top

    def poll(self, state: State) -> list[Changed]:
        with self._connect() as conn:
            top = self._top(conn)
            if top is None or top == self.seen:
                return []
            with state.sql_feed_lock(self.key):
                raw = state.store.get(self.name)
                start = 0 if raw is None else int(raw)
                if start != top:  # forward; or back: the change table was made again
                    state.store.set(self.name, str(top).encode())
            self.seen = top
            if start >= top:
                return []  # another process announced them (or the table was made again)
            sql = f"SELECT DISTINCT tbl, part FROM {CHANGES} WHERE seq > :start AND seq <= :top"
            return [(str(t), p) for t, p in conn.execute(sa.text(sql), {"start": start, "top": top})]


class _MariaDBFeed(_SqliteFeed):
    """MariaDB: as SQLite, up to the newest ``seq`` every change before has committed."""

    def _connect(self) -> sa.Connection:
        # each read sees what committed before it: the changes up to a settled position
        return self.engine.connect().execution_options(isolation_level="READ COMMITTED")

    def _top(self, conn: sa.Connection) -> int | None:
        try:
            newest = int(conn.execute(sa.text(f"SELECT COALESCE(MAX(seq), 0) FROM {CHANGES}")).scalar_one())
        except sa.exc.ProgrammingError:
            return None  # no triggers installed (yet)
        since = self.seen if self.seen <= newest else 0  # (or the change table was made again)
        if newest == since:
            return since  # nothing committed since: no lock to try
        return int(MariaDBCapture(conn.dialect).position(conn, None, since))


class _PostgresFeed(_Feed):
    """PostgreSQL: ``LISTEN`` on a connection of its own, read without waiting; for each
    table and transaction notified, the users it changed, from ``rhom_changes``."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.capture = PostgresCapture(engine.dialect)
        self.raw: Any = None  # the driver's connection (psycopg 3 or psycopg2), listening

    def resume(self, state: State) -> None:
        if self.raw is not None:
            return
        pooled = self.engine.raw_connection()
        driver: Any = pooled.driver_connection
        pooled.detach()  # LISTEN belongs to this connection: never back into the pool
        try:
            driver.rollback()  # a pool's ping may have begun a transaction: autocommit needs none
            if callable(getattr(driver, "notifies", None)):  # psycopg 3
                driver.autocommit = True
            else:  # psycopg2
                driver.set_session(autocommit=True)
            with driver.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            driver.close()
            raise
        self.raw = driver

    def pause(self) -> None:
        driver, self.raw = self.raw, None
        if driver is not None:
            try:
                driver.close()
            except Exception:  # a connection already broken
                pass

    def poll(self, state: State) -> list[Changed]:
        self.resume(state)
        fresh: list[tuple[str, str]] = []
        for payload in self._payloads():
            try:
                table, xid = json.loads(payload)
            except (ValueError, TypeError):
                continue
            digest = hashlib.sha1(payload.encode()).hexdigest()[:24]
            if table in self.schemas and state.store.incr(keys.sql_notice(digest), ttl=60) == 1:  # first to hear it
                fresh.append((str(table), str(xid)))
        if not fresh:
            return []
        found: list[Changed] = []
        with self.engine.connect() as conn:
            for table, xid in fresh:
                changes = self.capture.qualified(CHANGES, self.schemas[table])
                sql = f"SELECT DISTINCT part FROM {changes} WHERE tbl = :t AND xid = CAST(:x AS xid8)"
                found += [(table, part) for (part,) in conn.execute(sa.text(sql), {"t": table, "x": xid})]
        return found

    def _payloads(self) -> Iterable[str]:
        driver = self.raw
        if callable(getattr(driver, "notifies", None)):  # psycopg 3
            return [n.payload for n in driver.notifies(timeout=0)]
        driver.poll()  # psycopg2
        notes, driver.notifies[:] = list(driver.notifies), []
        return [n.payload for n in notes]


def _feed(engine: sa.Engine) -> _Feed | None:
    if engine.dialect.name == "sqlite":
        return _SqliteFeed(engine)
    if engine.dialect.name == "postgresql":
        return _PostgresFeed(engine)
    if engine.dialect.name in ("mysql", "mariadb"):
        return _MariaDBFeed(engine)
    return None  # no change capture: nothing to watch


class ChangeWatcher:
    """Announces the captured changes of an app's SqlAdapter sources to its live clients
    (made by :func:`watch_changes`).

    :param app: the app :func:`rhom.server.create_app` made.
    :param interval: seconds between looks while live streams are open.
    :param start: run the watching thread (``False``: only :meth:`poll` looks).
    """

    def __init__(self, app: Any, *, interval: float = 0.5, start: bool = True) -> None:
        from rhom.server._call import server_of

        self.server = server_of(app)
        self.interval = interval
        self._tables: dict[str, list[SqlAdapter]] = defaultdict(list)
        self._feeds: dict[str, _Feed] = {}
        for adapter in self.server.adapters.values():
            if not isinstance(adapter, SqlAdapter) or adapter.table_name is None:
                continue
            feed = _feed(adapter.engine)
            if feed is None:
                continue
            feed = self._feeds.setdefault(feed.key, feed)
            feed.schemas[_key(adapter)] = adapter.db_schema
            self._tables[_key(adapter)].append(adapter)
        self._resumed = False
        self._failing = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if start and self._feeds:
            self._thread = threading.Thread(target=self._run, name="rhom-sql-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            if self._streams_open():
                self.poll()
            elif self._resumed:
                self._pause()

    def _streams_open(self) -> bool:
        try:
            return self.server.hub.connections > 0
        except RuntimeError:  # the event loop changed its streams while this thread counted
            return True

    def poll(self) -> dict[str, list[str] | None]:
        """Look once, now, and announce what changed: ``{source: users}`` (``None``: all
        live clients). The first look after a pause announces every source to everyone."""
        announced: dict[str, list[str] | None] = {}
        try:
            if not self._resumed:
                for feed in self._feeds.values():
                    feed.resume(self.server.state)
                self._resumed = True
                announced = {a.name: None for adapters in self._tables.values() for a in adapters}
            else:
                state = self.server.state
                changed = [c for feed in self._feeds.values() for c in feed.poll(state)]
                announced = self._targets(changed)
            self._announce(announced)
        except Exception as exc:  # the database or the store: look again after a pause
            if not self._failing:
                logger.warning("rhom.server.sql: watching captured changes failed: %s", exc)
            self._failing = True
            self._pause()
            return {}
        self._failing = False
        return announced

    def _targets(self, changed: list[Changed]) -> dict[str, list[str] | None]:
        """The streams to tell of each source: its users' (``None``: every live client)."""
        out: dict[str, list[str] | None] = {}
        for table, part in changed:
            for adapter in self._tables.get(table, ()):
                users = out.setdefault(adapter.name, [])
                if users is None:
                    continue
                if adapter.partition == "app" or adapter.partition_value is not None or part is None:
                    out[adapter.name] = None  # an app source; or a user id rhom cannot name: tell all
                elif part not in users:
                    users.append(part)
        return out

    def _announce(self, announced: dict[str, list[str] | None]) -> None:
        state, hub = self.server.state, self.server.hub
        everyone = [source for source, users in announced.items() if users is None]
        if everyone:  # the app stream reaches every live client
            live.publish(state, [live.APP_STREAM], {"type": "changed", "sources": everyone}, hub)
        for source, users in announced.items():
            if users:
                live.publish(state, [live.user_stream(u) for u in users], {"type": "changed", "sources": [source]}, hub)

    def _pause(self) -> None:
        self._resumed = False
        for feed in self._feeds.values():
            try:
                feed.pause()
            except Exception:
                pass

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop the thread and let go of the database connections it holds."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pause()


def _key(adapter: SqlAdapter) -> str:
    return f"{adapter.db_schema}.{adapter.table_name}" if adapter.db_schema else str(adapter.table_name)


def watch_changes(app: Any, *, interval: float = 0.5) -> ChangeWatcher:
    """Tell ``app``'s live clients within a second when a captured table changes.

    Watches the databases of the app's :class:`SqlAdapter` sources whose triggers are
    installed (a table without them has nothing to watch), while live streams are open
    on this process. A served app starts it by itself (``SqlAdapter.open``, when the app
    starts in each server process); calling it again returns the app's running watcher.

    :returns: the watcher; :meth:`ChangeWatcher.close` stops it.
    """
    running: ChangeWatcher | None = getattr(app.state, "rhom_sql_watcher", None)
    if running is not None and not running.closed:
        return running
    watcher = ChangeWatcher(app, interval=interval)
    app.state.rhom_sql_watcher = watcher
    return watcher
