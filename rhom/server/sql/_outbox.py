"""The outbox of the backend plugin: what an application committed, waiting to be pushed.

``rhom_outbox (seq, publisher, source, pk, part)`` lives in the application's own
database and is written in the same transaction as the rows it names, so that a change
is recorded if and only if it commits: a rolled-back transaction (or savepoint) takes
its outbox rows with it, and a crash after the commit loses nothing. The publisher's
sender reads the outbox, pushes the rows it names as they are *now*, and deletes the
entries it delivered.

Several processes of one application share the outbox. One sender at a time may push
for a publisher name: two senders reading the same row at different moments could
deliver an older version after a newer one. ``rhom_outbox_lease`` holds that turn: a
sender takes it for :data:`LEASE` seconds and renews it between batches; one that dies
gives it up when the lease runs out.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

OUTBOX = "rhom_outbox"
LEASE_TABLE = "rhom_outbox_lease"
#: Seconds a sender holds its turn without renewing it.
LEASE = 30.0


@dataclass(frozen=True)
class Entry:
    """One outbox row: the row ``pk`` of ``source`` changed; ``part`` is its partition
    value as text when it was written (``None``: an ``app`` source, or not known)."""

    seq: int
    source: str
    pk: str
    part: str | None


class Outbox:
    """The outbox and lease tables of one database schema."""

    def __init__(self, db_schema: str | None = None) -> None:
        self.metadata = sa.MetaData()
        self.table = sa.Table(
            OUTBOX,
            self.metadata,
            sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("publisher", sa.String(255), nullable=False),
            sa.Column("source", sa.String(255), nullable=False),
            sa.Column("pk", sa.Text, nullable=False),
            sa.Column("part", sa.Text),
            sa.Index(f"{OUTBOX}_publisher", "publisher", "seq"),
            schema=db_schema,
        )
        self.lease = sa.Table(
            LEASE_TABLE,
            self.metadata,
            sa.Column("publisher", sa.String(255), primary_key=True),
            sa.Column("holder", sa.String(64), nullable=False),
            sa.Column("until", sa.Double, nullable=False),  # FLOAT would be 4 bytes on MariaDB
            schema=db_schema,
        )

    def create(self, conn: sa.Connection) -> None:
        """Create the tables unless they exist (in the caller's transaction)."""
        self.metadata.create_all(conn, checkfirst=True)

    def add(self, conn: sa.Connection, publisher: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Record ``(source, pk, part)`` rows, in the caller's transaction."""
        values = [{"publisher": publisher, "source": s, "pk": pk, "part": part} for s, pk, part in rows]
        if values:
            conn.execute(sa.insert(self.table), values)

    def read(self, conn: sa.Connection, publisher: str, limit: int) -> list[Entry]:
        t = self.table
        query = sa.select(t.c.seq, t.c.source, t.c.pk, t.c.part).where(t.c.publisher == publisher)
        return [Entry(*row) for row in conn.execute(query.order_by(t.c.seq).limit(limit))]

    def remove(self, conn: sa.Connection, seqs: Sequence[int]) -> None:
        """Delete delivered entries, by number: an entry numbered lower that committed
        after the read (PostgreSQL hands out numbers before commit) stays."""
        for start in range(0, len(seqs), 500):
            conn.execute(sa.delete(self.table).where(self.table.c.seq.in_(seqs[start : start + 500])))

    def count(self, conn: sa.Connection, publisher: str) -> int:
        query = sa.select(sa.func.count()).select_from(self.table).where(self.table.c.publisher == publisher)
        return int(conn.execute(query).scalar_one())


class Turn:
    """A sender's turn to push for one publisher name, held in ``rhom_outbox_lease``."""

    def __init__(self, outbox: Outbox, publisher: str) -> None:
        self.outbox, self.publisher = outbox, publisher
        self.holder = uuid.uuid4().hex  # this sender, in this process

    def take(self, engine: sa.Engine) -> bool:
        """Take (or renew) the turn; ``False`` while another sender holds it."""
        lease, now = self.outbox.lease, time.time()
        mine_or_free = sa.or_(lease.c.holder == self.holder, lease.c.until < now)
        with engine.begin() as conn:
            taken = conn.execute(
                sa.update(lease)
                .where(lease.c.publisher == self.publisher, mine_or_free)
                .values(holder=self.holder, until=now + LEASE)
            )
            if taken.rowcount:
                return True
            exists = conn.execute(sa.select(lease.c.holder).where(lease.c.publisher == self.publisher)).first()
        if exists is not None:
            return False
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(lease).values(publisher=self.publisher, holder=self.holder, until=now + LEASE))
        except sa.exc.IntegrityError:
            return False  # another sender made the row first: its turn
        return True

    def give_up(self, engine: sa.Engine) -> None:
        lease = self.outbox.lease
        with engine.begin() as conn:
            conn.execute(
                sa.update(lease)
                .where(lease.c.publisher == self.publisher, lease.c.holder == self.holder)
                .values(until=0.0)
            )
