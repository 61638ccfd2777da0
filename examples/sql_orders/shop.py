"""The shop's own code (its ORM model) and the rhom.server that syncs its orders.

The shop writes through the SQLAlchemy ORM; a :class:`~rhom.server.sql.Publisher`
pushes what it commits into rhom.server, here over HTTP with the API token as a shop
whose server runs elsewhere would. The server's source is a SqlAdapter on the same
table that never re-reads it (``poll_interval=-1``): its data comes from the pushes, and
what devices create goes into the table through it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rhom.server import create_app
from rhom.server.sql import SqlAdapter


class Base(DeclarativeBase):
    pass


class OrderRow(Base):
    """An order, as the shop's code maps it."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str]
    item: Mapped[str]
    quantity: Mapped[int]
    note: Mapped[str | None]


def make_server(database_url: str, **options: Any) -> Any:
    """rhom.server over the shop's ``orders`` table, one data set per customer."""
    orders = SqlAdapter("Order", database_url, table="orders", partition_by="customer", poll_interval=-1)
    return create_app([orders], **options)
