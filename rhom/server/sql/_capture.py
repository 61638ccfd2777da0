"""Change capture: triggers that write every change of a table into ``rhom_changes``.

One change table per database (in the table's schema on PostgreSQL) records, for every
row inserted, updated or deleted by any program, the table, the row's id and its
partition value (the owner), under an increasing sequence number. An update that moves a
row to another owner, or changes its id, records the old id and owner as well, so the
old owner's devices hear of it as a deletion. ``rhom_capture`` lists the tables under
capture, each with a random token: a cursor carries the token, so a cursor taken before
an uninstall (when changes went unrecorded) is never trusted after a new install.

Reading what changed since a cursor (:meth:`Capture.changed_ids`) costs the changes, not
the table. Where a cursor may stand depends on the database:

* SQLite runs one writer at a time, so sequence numbers are handed out in commit order:
  the cursor is the newest sequence number read.
* PostgreSQL commits transactions in any order, so a sequence number is no cursor (a
  transaction that took number 10 may commit after one that took 11 was read). Each
  change row keeps its transaction id (``xid8``); the cursor is the ``xmin`` of the
  reading snapshot, the oldest transaction still running, and the next read takes every
  change of a transaction at or above it. A change is then read at the first refresh
  whose snapshot sees it, sometimes twice, never not at all (re-reading an unchanged row
  writes nothing into the server's log).
* MariaDB commits in any order too, and has no transaction ids to read. Every writing
  transaction holds a lock on its table's row of ``rhom_writers`` (shared, so writers
  never wait for each other) from its first captured change until it commits. A reader
  tries that row's lock without waiting (``FOR UPDATE SKIP LOCKED``): when it gets it,
  no transaction that wrote the table is still open, and every change numbered up to
  the newest is final; when a writer holds it, the reader goes only as far as the
  numbers run without a gap (a gap may be a change not yet committed). The reader lets
  go of the lock at once, in a transaction of its own, so writers wait a moment at most.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from rhom.exceptions import ConfigurationError

CHANGES = "rhom_changes"
CAPTURE = "rhom_capture"
READERS = "rhom_readers"
#: MariaDB: one row per captured table, held (shared) by each transaction writing it.
WRITERS = "rhom_writers"
#: PostgreSQL's notification channel of captured changes.
CHANNEL = "rhom_changes"


@dataclass(frozen=True)
class Target:
    """A table under capture: its name, schema, id column and partition column."""

    table: str
    id_column: str
    partition_by: str | None = None
    db_schema: str | None = None

    @property
    def key(self) -> str:
        """The table's name in ``rhom_changes.tbl``."""
        return f"{self.db_schema}.{self.table}" if self.db_schema else self.table


def _literal(text: str) -> str:
    """A SQL string literal of a configured name (table and column names, never a user value)."""
    return "'" + text.replace("'", "''") + "'"


class Capture:
    """The change table, registry and triggers of one database kind."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.q = dialect.identifier_preparer.quote

    def qualified(self, name: str, db_schema: str | None) -> str:
        return f"{self.q(db_schema)}.{self.q(name)}" if db_schema else self.q(name)

    # -- reading --------------------------------------------------------------------------

    def token(self, conn: sa.Connection, target: Target) -> str | None:
        """The capture token of ``target``, or ``None`` when its triggers are not installed."""
        raise NotImplementedError

    def position(self, conn: sa.Connection, target: Target | None, since: int = 0) -> str:
        """Where a cursor taken now stands (in the same transaction as the reads after it):
        every change of ``target`` (``None``: of every table) up to it can be read now.

        :param since: a position known to be safe (the reader's cursor, or the watermark
            of pruned changes), below which nothing is looked at.
        """
        raise NotImplementedError

    def changed_ids(self, conn: sa.Connection, target: Target, part: str | None, since: str, upto: str) -> list[str]:
        """Ids of the rows of ``target`` (of partition ``part``; all when ``None``)
        changed after cursor ``since``, up to position ``upto``."""
        raise NotImplementedError

    def pruned(self, conn: sa.Connection, target: Target) -> int:
        """The position before which ``target``'s changes may have been pruned: a cursor
        below it can no longer be read from (its reader reads its rows in full)."""
        sql = f"SELECT pruned FROM {self.qualified(CAPTURE, target.db_schema)} WHERE tbl = :t"
        return int(conn.execute(sa.text(sql), {"t": target.key}).scalar() or 0)

    # -- pruning --------------------------------------------------------------------------
    #
    # A reader (one user's refresh of one table) notes in rhom_readers the position its
    # read started from: its cursor, which the server has stored. Pruning deletes the
    # changes before the lowest position of the readers seen within ``idle`` seconds (all
    # of them when there is none: a first read reads in full anyway) and raises the
    # table's watermark ``pruned`` to it, in one transaction. A cursor below the watermark
    # (a reader idle for longer, one whose note was lost, another server's) is never
    # trusted: that reader reads its rows in full once. So pruning is safe however many
    # server processes read and prune, and whatever they noted.

    def note_reader(self, conn: sa.Connection, target: Target, part: str | None, position: int, now: float) -> None:
        """Record that the reader of ``target``'s partition ``part`` stands at ``position``."""
        sql = (
            f"INSERT INTO {self.qualified(READERS, target.db_schema)} (tbl, part, position, seen) "
            "VALUES (:t, :p, :position, :now) ON CONFLICT (tbl, part) "
            "DO UPDATE SET position = excluded.position, seen = excluded.seen"
        )
        conn.execute(sa.text(sql), {"t": target.key, "p": part or "", "position": position, "now": now})

    def claim_pruning(self, conn: sa.Connection, target: Target, interval: float, now: float) -> bool:
        """Whether this process prunes ``target`` now: the first to ask in each ``interval``."""
        sql = (
            f"UPDATE {self.qualified(CAPTURE, target.db_schema)} SET pruned_at = :now "
            "WHERE tbl = :t AND pruned_at <= :since"
        )
        return bool(conn.execute(sa.text(sql), {"t": target.key, "now": now, "since": now - interval}).rowcount)

    def prune(self, conn: sa.Connection, target: Target, idle: float, now: float) -> int:
        """Delete the changes of ``target`` every reader seen within ``idle`` seconds has
        passed; return how many."""
        readers = self.qualified(READERS, target.db_schema)
        params = {"t": target.key, "since": now - idle}
        floor = conn.execute(
            sa.text(f"SELECT MIN(position) FROM {readers} WHERE tbl = :t AND seen >= :since"), params
        ).scalar()
        limit = int(self.position(conn, target, self.pruned(conn, target)))
        if floor is not None:
            limit = min(limit, int(floor))
        deleted = self._delete_before(conn, target, limit)
        registry = self.qualified(CAPTURE, target.db_schema)
        conn.execute(
            sa.text(f"UPDATE {registry} SET pruned = :limit WHERE tbl = :t AND pruned < :limit"),
            {"t": target.key, "limit": limit},
        )
        conn.execute(sa.text(f"DELETE FROM {readers} WHERE tbl = :t AND seen < :since"), params)
        return deleted

    def _delete_before(self, conn: sa.Connection, target: Target, limit: int) -> int:
        """Delete the changes a reader at position ``limit`` has passed."""
        raise NotImplementedError

    def registered(self, conn: sa.Connection, db_schema: str | None) -> list[str]:
        """The keys of the tables under capture."""
        raise NotImplementedError

    # -- installing -----------------------------------------------------------------------

    def install(self, conn: sa.Connection, target: Target) -> bool:
        """Install the triggers of ``target``; ``False`` when they were there already."""
        raise NotImplementedError

    def uninstall(self, conn: sa.Connection, target: Target) -> bool:
        """Remove the triggers of ``target``, and the change tables with the last one."""
        raise NotImplementedError

    def _columns(self, conn: sa.Connection, db_schema: str | None, kinds: tuple[str, str]) -> None:
        """Add the pruning columns to a registry made before they existed."""
        registry = self.qualified(CAPTURE, db_schema)
        have = {c["name"] for c in sa.inspect(conn).get_columns(CAPTURE, schema=db_schema)}
        for name, kind in zip(("pruned", "pruned_at"), kinds, strict=True):
            if name not in have:
                conn.execute(sa.text(f"ALTER TABLE {registry} ADD COLUMN {name} {kind} NOT NULL DEFAULT 0"))

    def _registry(self, conn: sa.Connection, target: Target) -> sa.Row[Any] | None:
        sql = f"SELECT token, id_column, partition_by FROM {self.qualified(CAPTURE, target.db_schema)} WHERE tbl = :t"
        return conn.execute(sa.text(sql), {"t": target.key}).first()

    def _register(self, conn: sa.Connection, target: Target, keep: bool) -> bool:
        """Record ``target`` in the registry; a new token unless ``keep`` and the same
        configuration is registered. ``True`` when the token is new."""
        known = self._registry(conn, target)
        same = known is not None and (known.id_column, known.partition_by) == (target.id_column, target.partition_by)
        if keep and same:
            return False
        registry = self.qualified(CAPTURE, target.db_schema)
        conn.execute(sa.text(f"DELETE FROM {registry} WHERE tbl = :t"), {"t": target.key})
        conn.execute(
            sa.text(f"INSERT INTO {registry} (tbl, token, id_column, partition_by) VALUES (:t, :token, :i, :p)"),
            {"t": target.key, "token": secrets.token_hex(8), "i": target.id_column, "p": target.partition_by},
        )
        return True

    def _unregister(self, conn: sa.Connection, target: Target) -> int:
        """Forget ``target``'s registry entry, changes and readers; how many tables stay captured."""
        for name in (CAPTURE, CHANGES, READERS):
            table = self.qualified(name, target.db_schema)
            conn.execute(sa.text(f"DELETE FROM {table} WHERE tbl = :t"), {"t": target.key})
        count = f"SELECT COUNT(*) FROM {self.qualified(CAPTURE, target.db_schema)}"
        return int(conn.execute(sa.text(count)).scalar_one())


class SqliteCapture(Capture):
    """SQLite: three triggers per table, sequence numbers as cursors."""

    def _names(self, target: Target) -> list[str]:
        return [f"rhom_{target.table}_{op}" for op in ("insert", "update", "delete")]

    def _has_table(self, conn: sa.Connection, name: str) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"
        return conn.execute(sa.text(sql), {"n": name}).first() is not None

    def _triggers_present(self, conn: sa.Connection, target: Target) -> bool:
        names = self._names(target)
        sql = sa.text("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names AND tbl_name = :t")
        sql = sql.bindparams(sa.bindparam("names", expanding=True))
        return int(conn.execute(sql, {"names": names, "t": target.table}).scalar_one()) == len(names)

    def token(self, conn: sa.Connection, target: Target) -> str | None:
        if not self._has_table(conn, CAPTURE) or not self._triggers_present(conn, target):
            return None
        row = self._registry(conn, target)
        return None if row is None else str(row.token)

    def position(self, conn: sa.Connection, target: Target | None, since: int = 0) -> str:
        # the newest seq ever handed out (AUTOINCREMENT keeps it in sqlite_sequence): not
        # MAX(seq), which falls back when pruning deletes the newest rows
        sql = f"SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{CHANGES}'), 0)"
        return str(conn.execute(sa.text(sql)).scalar_one())

    def changed_ids(self, conn: sa.Connection, target: Target, part: str | None, since: str, upto: str) -> list[str]:
        sql = f"SELECT DISTINCT pk FROM {CHANGES} WHERE tbl = :t AND seq > :since AND seq <= :upto"
        params: dict[str, Any] = {"t": target.key, "since": int(since), "upto": int(upto)}
        if part is not None:
            sql += " AND part = :part"
            params["part"] = part
        return [str(pk) for (pk,) in conn.execute(sa.text(sql), params)]

    def _delete_before(self, conn: sa.Connection, target: Target, limit: int) -> int:
        sql = f"DELETE FROM {CHANGES} WHERE tbl = :t AND seq <= :limit"  # a reader at seq N read up to N
        return int(conn.execute(sa.text(sql), {"t": target.key, "limit": limit}).rowcount)

    def registered(self, conn: sa.Connection, db_schema: str | None) -> list[str]:
        if not self._has_table(conn, CAPTURE):
            return []
        return [str(t) for (t,) in conn.execute(sa.text(f"SELECT tbl FROM {CAPTURE}"))]

    def install(self, conn: sa.Connection, target: Target) -> bool:
        if target.db_schema:
            raise ConfigurationError("SQLite change capture covers tables of the main database only")
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {CHANGES} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tbl TEXT NOT NULL, pk TEXT NOT NULL, part TEXT)"))  # fmt: skip
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {CHANGES}_part ON {CHANGES} (tbl, part, seq)"))
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {CHANGES}_tbl ON {CHANGES} (tbl, seq)"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {CAPTURE} (tbl TEXT PRIMARY KEY, token TEXT NOT NULL, "
            "id_column TEXT NOT NULL, partition_by TEXT, pruned INTEGER NOT NULL DEFAULT 0, "
            "pruned_at REAL NOT NULL DEFAULT 0)"))  # fmt: skip
        self._columns(conn, None, ("INTEGER", "REAL"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {READERS} (tbl TEXT NOT NULL, part TEXT NOT NULL, "
            "position INTEGER NOT NULL, seen REAL NOT NULL, PRIMARY KEY (tbl, part))"))  # fmt: skip
        present = self._triggers_present(conn, target)
        new = self._register(conn, target, keep=present)
        table, key, pk = self.q(target.table), _literal(target.key), self.q(target.id_column)
        part = self.q(target.partition_by) if target.partition_by else None
        new_part, old_part = (f"NEW.{part}", f"OLD.{part}") if part else ("NULL", "NULL")
        moved = f"OLD.{pk} IS NOT NEW.{pk}" + (f" OR OLD.{part} IS NOT NEW.{part}" if part else "")
        record = f"INSERT INTO {CHANGES} (tbl, pk, part)"
        bodies = {
            "insert": f"{record} VALUES ({key}, NEW.{pk}, {new_part});",
            "update": f"{record} SELECT {key}, OLD.{pk}, {old_part} WHERE {moved}; "
            f"{record} VALUES ({key}, NEW.{pk}, {new_part});",
            "delete": f"{record} VALUES ({key}, OLD.{pk}, {old_part});",
        }
        for name, (op, body) in zip(self._names(target), bodies.items(), strict=True):
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.q(name)}"))
            create = f"CREATE TRIGGER {self.q(name)} AFTER {op.upper()} ON {table} FOR EACH ROW BEGIN {body} END"
            conn.execute(sa.text(create))
        return new or not present

    def uninstall(self, conn: sa.Connection, target: Target) -> bool:
        present = self._has_table(conn, CAPTURE) and self._registry(conn, target) is not None
        for name in self._names(target):
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.q(name)}"))
        if self._has_table(conn, CAPTURE) and self._unregister(conn, target) == 0:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {CAPTURE}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGES}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {READERS}"))
        return present


class PostgresCapture(Capture):
    """PostgreSQL: one row trigger per table calling a shared function, and one statement
    trigger that notifies listeners (:func:`~rhom.server.sql.watch_changes`); transaction
    ids as cursors."""

    TRIGGER = "rhom_capture"
    NOTIFY = "rhom_notify"

    def _schema(self, conn: sa.Connection, target: Target) -> str:
        return target.db_schema or str(conn.execute(sa.text("SELECT current_schema()")).scalar_one())

    def _exists(self, conn: sa.Connection, qualified: str) -> bool:
        return conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": qualified}).scalar_one() is True

    def _trigger_present(self, conn: sa.Connection, target: Target) -> bool:
        sql = "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :n AND tgenabled <> 'D'"
        table = self.qualified(target.table, target.db_schema)
        return conn.execute(sa.text(sql), {"t": table, "n": self.TRIGGER}).first() is not None

    def token(self, conn: sa.Connection, target: Target) -> str | None:
        if not self._exists(conn, self.qualified(CAPTURE, target.db_schema)):
            return None
        if not self._trigger_present(conn, target):
            return None
        row = self._registry(conn, target)
        return None if row is None else str(row.token)

    def position(self, conn: sa.Connection, target: Target | None, since: int = 0) -> str:
        sql = "SELECT CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text)"
        return str(conn.execute(sa.text(sql)).scalar_one())

    def changed_ids(self, conn: sa.Connection, target: Target, part: str | None, since: str, upto: str) -> list[str]:
        # ``upto`` is this snapshot's xmin: what the snapshot does not see is read next time
        sql = (
            f"SELECT DISTINCT pk FROM {self.qualified(CHANGES, target.db_schema)} "
            "WHERE tbl = :t AND xid >= CAST(:since AS xid8)"
        )
        params: dict[str, Any] = {"t": target.key, "since": since}
        if part is not None:
            sql += " AND part = :part"
            params["part"] = part
        return [str(pk) for (pk,) in conn.execute(sa.text(sql), params)]

    def _delete_before(self, conn: sa.Connection, target: Target, limit: int) -> int:
        # a reader at xid N reads every change of transaction N and later ones
        sql = f"DELETE FROM {self.qualified(CHANGES, target.db_schema)} WHERE tbl = :t AND xid < CAST(:limit AS xid8)"
        return int(conn.execute(sa.text(sql), {"t": target.key, "limit": str(limit)}).rowcount)

    def registered(self, conn: sa.Connection, db_schema: str | None) -> list[str]:
        registry = self.qualified(CAPTURE, db_schema)
        if not self._exists(conn, registry):
            return []
        return [str(t) for (t,) in conn.execute(sa.text(f"SELECT tbl FROM {registry}"))]

    def install(self, conn: sa.Connection, target: Target) -> bool:
        schema = self.q(self._schema(conn, target))
        changes, registry = f"{schema}.{CHANGES}", f"{schema}.{CAPTURE}"
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {changes} (seq bigserial PRIMARY KEY, xid xid8 NOT NULL "
            "DEFAULT pg_current_xact_id(), tbl text NOT NULL, pk text NOT NULL, part text)"))  # fmt: skip
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {CHANGES}_part ON {changes} (tbl, part, xid)"))
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {CHANGES}_tbl ON {changes} (tbl, xid)"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {registry} (tbl text PRIMARY KEY, token text NOT NULL, "
            "id_column text NOT NULL, partition_by text, pruned bigint NOT NULL DEFAULT 0, "
            "pruned_at double precision NOT NULL DEFAULT 0)"))  # fmt: skip
        self._columns(conn, self._schema(conn, target), ("bigint", "double precision"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {schema}.{READERS} (tbl text NOT NULL, part text NOT NULL, "
            "position bigint NOT NULL, seen double precision NOT NULL, PRIMARY KEY (tbl, part))"))  # fmt: skip
        conn.execute(sa.text(_PG_FUNCTION.format(schema=schema, changes=changes)))
        conn.execute(sa.text(_PG_NOTIFY.format(schema=schema, channel=CHANNEL)))
        present = self._trigger_present(conn, target)
        new = self._register(conn, target, keep=present)
        table = self.qualified(target.table, target.db_schema)
        args = ", ".join(_literal(a) for a in (target.key, target.id_column, target.partition_by or ""))
        conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.TRIGGER} ON {table}"))
        conn.execute(sa.text(
            f"CREATE TRIGGER {self.TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}.rhom_capture({args})"))  # fmt: skip
        conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.NOTIFY} ON {table}"))
        conn.execute(sa.text(
            f"CREATE TRIGGER {self.NOTIFY} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rhom_notify({_literal(target.key)})"))  # fmt: skip
        return new or not present

    def uninstall(self, conn: sa.Connection, target: Target) -> bool:
        schema = self.q(self._schema(conn, target))
        table = self.qualified(target.table, target.db_schema)
        if self._exists(conn, table):
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.TRIGGER} ON {table}"))
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.NOTIFY} ON {table}"))
        if not self._exists(conn, f"{schema}.{CAPTURE}"):
            return False
        present = self._registry(conn, target) is not None
        if self._unregister(conn, target) == 0:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {schema}.{CAPTURE}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {schema}.{CHANGES}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {schema}.{READERS}"))
            conn.execute(sa.text(f"DROP FUNCTION IF EXISTS {schema}.rhom_capture()"))
            conn.execute(sa.text(f"DROP FUNCTION IF EXISTS {schema}.rhom_notify()"))
        return present


# TG_ARGV: the table's key in rhom_changes, its id column, its partition column ('' for none)
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.rhom_capture() RETURNS trigger LANGUAGE plpgsql AS $rhom$
DECLARE
    old_row jsonb; new_row jsonb; old_part text; new_part text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
        IF TG_ARGV[2] <> '' THEN old_part := old_row ->> TG_ARGV[2]; END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
        IF TG_ARGV[2] <> '' THEN new_part := new_row ->> TG_ARGV[2]; END IF;
        INSERT INTO {changes} (tbl, pk, part) VALUES (TG_ARGV[0], new_row ->> TG_ARGV[1], new_part);
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND ((old_row ->> TG_ARGV[1]) IS DISTINCT FROM (new_row ->> TG_ARGV[1])
            OR old_part IS DISTINCT FROM new_part)) THEN
        INSERT INTO {changes} (tbl, pk, part) VALUES (TG_ARGV[0], old_row ->> TG_ARGV[1], old_part);
    END IF;
    RETURN NULL;
END
$rhom$
"""


# TG_ARGV[0]: the table's key in rhom_changes. Once per statement, not per row (a NOTIFY per
# row costs a large statement two thirds more): PostgreSQL delivers [table, transaction]
# at commit, once per distinct payload and transaction, and the listener reads the
# users that transaction changed from rhom_changes (index (tbl, xid)).
_PG_NOTIFY = """
CREATE OR REPLACE FUNCTION {schema}.rhom_notify() RETURNS trigger LANGUAGE plpgsql AS $rhom$
BEGIN
    PERFORM pg_notify('{channel}', json_build_array(TG_ARGV[0], pg_current_xact_id()::text)::text);
    RETURN NULL;
END
$rhom$
"""


class MariaDBCapture(Capture):
    """MariaDB 10.6 and later: three triggers per table, sequence numbers as cursors, a
    cursor moved only as far as every change up to it is final (the module docstring)."""

    OPS = ("insert", "update", "delete")

    def _names(self, target: Target) -> list[str]:
        base = f"rhom_{target.table}"
        if len(base) > 56:  # trigger names hold 64 characters
            base = "rhom_" + hashlib.sha1(target.key.encode()).hexdigest()[:16]
        return [f"{base}_{op}" for op in self.OPS]

    def _has_table(self, conn: sa.Connection, name: str, db_schema: str | None) -> bool:
        sql = (
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(:s, DATABASE()) AND TABLE_NAME = :n"
        )
        return conn.execute(sa.text(sql), {"s": db_schema, "n": name}).first() is not None

    def _triggers_present(self, conn: sa.Connection, target: Target) -> bool:
        sql = sa.text(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = COALESCE(:s, DATABASE()) "
            "AND EVENT_OBJECT_TABLE = :t AND TRIGGER_NAME IN :names"
        ).bindparams(sa.bindparam("names", expanding=True))
        params = {"s": target.db_schema, "t": target.table, "names": self._names(target)}
        return int(conn.execute(sql, params).scalar_one()) == len(self.OPS)

    def token(self, conn: sa.Connection, target: Target) -> str | None:
        if not self._has_table(conn, CAPTURE, target.db_schema) or not self._triggers_present(conn, target):
            return None
        row = self._registry(conn, target)
        return None if row is None else str(row.token)

    def position(self, conn: sa.Connection, target: Target | None, since: int = 0) -> str:
        # in a transaction of its own, which lets go of the writers' lock at once, and
        # sees every change committed before it (the caller's reads after it do too:
        # they run at READ COMMITTED)
        with conn.engine.connect() as own:
            own = own.execution_options(isolation_level="READ COMMITTED")
            with own.begin():
                return str(self._settled(own, target, since))

    def _settled(self, conn: sa.Connection, target: Target | None, since: int) -> int:
        """The newest position at or above ``since`` up to which every change of
        ``target`` (``None``: of every table) has committed or rolled back."""
        db_schema = None if target is None else target.db_schema
        writers, changes = self.qualified(WRITERS, db_schema), self.qualified(CHANGES, db_schema)
        where, params = ("WHERE tbl = :t", {"t": target.key}) if target is not None else ("", {})
        rows = int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {writers} {where}"), params).scalar_one())
        taken = conn.execute(sa.text(f"SELECT tbl FROM {writers} {where} FOR UPDATE SKIP LOCKED"), params).all()
        if len(taken) == rows:  # no transaction that wrote the table(s) is open: all is final
            newest = conn.execute(sa.text(f"SELECT MAX(seq) FROM {changes}")).scalar()
            return max(since, int(newest or 0))
        # a writer is open: its changes may be any gap in the numbers, so go as far as
        # they run without one
        first = conn.execute(sa.text(f"SELECT MIN(seq) FROM {changes} WHERE seq > :s"), {"s": since}).scalar()
        if first is None or int(first) != since + 1:
            return since
        end = conn.execute(
            sa.text(
                f"SELECT MIN(c.seq) FROM {changes} c WHERE c.seq > :s "
                f"AND NOT EXISTS (SELECT 1 FROM {changes} d WHERE d.seq = c.seq + 1)"
            ),
            {"s": since},
        ).scalar()
        return since if end is None else int(end)

    def changed_ids(self, conn: sa.Connection, target: Target, part: str | None, since: str, upto: str) -> list[str]:
        sql = (
            f"SELECT DISTINCT pk FROM {self.qualified(CHANGES, target.db_schema)} "
            "WHERE tbl = :t AND seq > :since AND seq <= :upto"
        )
        params: dict[str, Any] = {"t": target.key, "since": int(since), "upto": int(upto)}
        if part is not None:
            sql += " AND part = :part"
            params["part"] = part
        return [str(pk) for (pk,) in conn.execute(sa.text(sql), params)]

    def note_reader(self, conn: sa.Connection, target: Target, part: str | None, position: int, now: float) -> None:
        sql = (
            f"INSERT INTO {self.qualified(READERS, target.db_schema)} (tbl, part, position, seen) "
            "VALUES (:t, :p, :position, :now) "
            "ON DUPLICATE KEY UPDATE position = VALUES(position), seen = VALUES(seen)"
        )
        conn.execute(sa.text(sql), {"t": target.key, "p": part or "", "position": position, "now": now})

    def _delete_before(self, conn: sa.Connection, target: Target, limit: int) -> int:
        # by primary key: a range DELETE would lock the gap new changes are written into
        changes = self.qualified(CHANGES, target.db_schema)
        sql = f"SELECT seq FROM {changes} WHERE tbl = :t AND seq <= :limit"
        seqs = [int(s) for (s,) in conn.execute(sa.text(sql), {"t": target.key, "limit": limit})]
        delete = sa.text(f"DELETE FROM {changes} WHERE seq IN :seqs").bindparams(sa.bindparam("seqs", expanding=True))
        for start in range(0, len(seqs), 1000):
            conn.execute(delete, {"seqs": seqs[start : start + 1000]})
        return len(seqs)

    def registered(self, conn: sa.Connection, db_schema: str | None) -> list[str]:
        if not self._has_table(conn, CAPTURE, db_schema):
            return []
        return [str(t) for (t,) in conn.execute(sa.text(f"SELECT tbl FROM {self.qualified(CAPTURE, db_schema)}"))]

    def install(self, conn: sa.Connection, target: Target) -> bool:
        # MariaDB commits each CREATE by itself: each step leaves a state a later install repairs
        version = conn.dialect.server_version_info or ()
        if not getattr(conn.dialect, "is_mariadb", False) or tuple(version[:2]) < (10, 6):
            raise ConfigurationError(
                "change capture needs MariaDB 10.6 or later (SKIP LOCKED, CREATE OR REPLACE TRIGGER); "
                "tables of other MySQL servers are read by re-query"
            )
        db = target.db_schema
        changes, registry = self.qualified(CHANGES, db), self.qualified(CAPTURE, db)
        readers, writers = self.qualified(READERS, db), self.qualified(WRITERS, db)
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {changes} (seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "tbl VARCHAR(130) NOT NULL, pk TEXT NOT NULL, part VARCHAR(512) NULL, "
            f"KEY {CHANGES}_part (tbl, part, seq), KEY {CHANGES}_tbl (tbl, seq)) ENGINE=InnoDB"))  # fmt: skip
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {registry} (tbl VARCHAR(130) NOT NULL PRIMARY KEY, "
            "token VARCHAR(32) NOT NULL, id_column VARCHAR(64) NOT NULL, partition_by VARCHAR(64) NULL, "
            "pruned BIGINT NOT NULL DEFAULT 0, pruned_at DOUBLE NOT NULL DEFAULT 0) ENGINE=InnoDB"))  # fmt: skip
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {readers} (tbl VARCHAR(130) NOT NULL, part VARCHAR(512) NOT NULL, "
            "position BIGINT NOT NULL, seen DOUBLE NOT NULL, PRIMARY KEY (tbl, part)) ENGINE=InnoDB"))  # fmt: skip
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {writers} (tbl VARCHAR(130) NOT NULL PRIMARY KEY) ENGINE=InnoDB"))  # fmt: skip
        conn.execute(sa.text(f"INSERT IGNORE INTO {writers} (tbl) VALUES (:t)"), {"t": target.key})
        present = self._triggers_present(conn, target)
        new = self._register(conn, target, keep=present)
        table, key, pk = self.qualified(target.table, db), _literal(target.key), self.q(target.id_column)
        part = self.q(target.partition_by) if target.partition_by else None
        new_part, old_part = (f"NEW.{part}", f"OLD.{part}") if part else ("NULL", "NULL")
        moved = f"NOT (OLD.{pk} <=> NEW.{pk})" + (f" OR NOT (OLD.{part} <=> NEW.{part})" if part else "")
        record = f"INSERT INTO {changes} (tbl, pk, part)"
        # the shared lock first, so that a change is numbered only while its writer holds it
        hold = f"DECLARE rhom_held INT; SELECT 1 INTO rhom_held FROM {writers} WHERE tbl = {key} LOCK IN SHARE MODE;"
        bodies = {
            "insert": f"{record} VALUES ({key}, NEW.{pk}, {new_part});",
            "update": f"IF {moved} THEN {record} VALUES ({key}, OLD.{pk}, {old_part}); END IF; "
            f"{record} VALUES ({key}, NEW.{pk}, {new_part});",
            "delete": f"{record} VALUES ({key}, OLD.{pk}, {old_part});",
        }
        for name, (op, body) in zip(self._names(target), bodies.items(), strict=True):
            # replaced in one step: no moment without a trigger, when a write would go unrecorded
            trigger = self.qualified(name, db)
            conn.execute(sa.text(
                f"CREATE OR REPLACE TRIGGER {trigger} AFTER {op.upper()} ON {table} FOR EACH ROW "
                f"BEGIN {hold} {body} END"))  # fmt: skip
        return new or not present

    def uninstall(self, conn: sa.Connection, target: Target) -> bool:
        db = target.db_schema
        for name in self._names(target):
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {self.qualified(name, db)}"))
        if not self._has_table(conn, CAPTURE, db):
            return False
        present = self._registry(conn, target) is not None
        if self._has_table(conn, WRITERS, db):
            conn.execute(sa.text(f"DELETE FROM {self.qualified(WRITERS, db)} WHERE tbl = :t"), {"t": target.key})
        if self._unregister(conn, target) == 0:
            for name in (CAPTURE, CHANGES, READERS, WRITERS):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.qualified(name, db)}"))
        return present


def capture_for(dialect: sa.Dialect) -> Capture | None:
    """The change capture of a database kind; ``None`` where rhom has none. MySQL and
    MariaDB share a dialect family: :meth:`MariaDBCapture.install` refuses a MySQL
    server, whose tables are then read by re-query."""
    if dialect.name == "sqlite":
        return SqliteCapture(dialect)
    if dialect.name == "postgresql":
        return PostgresCapture(dialect)
    if dialect.name in ("mysql", "mariadb"):
        return MariaDBCapture(dialect)
    return None
