"""Walk through the backend plugin: ``python -m examples.sql_orders [--data FOLDER]``.

A shop writes its orders through the SQLAlchemy ORM. A Publisher pushes each commit into
rhom.server over HTTP; alice's device keeps the live channel open and shows the shop's
commit without syncing by hand; then the device creates an order, which reaches the
shop's table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

import rhom
from rhom.server import Settings
from rhom.server.sql import Publisher
from rhom.server.testing import run_in_thread

from .shop import Base, OrderRow, make_server


class Order(rhom.Model, sync=True):
    """The device's model of the source ``Order``."""

    item = rhom.CharField()
    quantity = rhom.IntegerField()


def show(title: str) -> None:
    print(title)
    for order in Order.find_all(order="item"):
        print(f"  {order.item:<8} {order.quantity:>4}")


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="Keep the files here (default: a temp folder).")
    args = parser.parse_args(argv)
    folder = args.data or Path(tempfile.mkdtemp(prefix="rhom-orders-"))
    folder.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{folder}/shop.sqlite"
    engine = sa.create_engine(database_url)
    Base.metadata.create_all(engine)
    Session = sessionmaker(engine)
    with Session() as session:  # orders the shop had before it published anything
        session.add_all([OrderRow(customer="alice", item="Bolts", quantity=100),
                         OrderRow(customer="bob", item="Gears", quantity=7)])  # fmt: skip
        session.commit()

    settings = Settings.for_tests(store=f"sqlite:///{folder}/server.sqlite")
    app = make_server(database_url, settings=settings)
    rhom.setup(folder / "device", models=[Order])
    with run_in_thread(app) as url:
        publisher = Publisher(url, api_token=settings.api_token)
        publisher.source(OrderRow, "Order", partition_by="customer").watch(Session)
        print(f"queued {publisher.push_all(OrderRow)} orders written before; left: {publisher.flush()}")

        with rhom.SyncClient(url, threaded_mode=False, poll_interval=0, live=True) as client:
            client.login("alice", "")
            print(f"sync: {client.do_sync().status}")
            show("alice's device:")
            wait_for(lambda: client.live_connected, "the live channel")

            with Session() as session:  # the shop's code, as it always was
                bolts = session.scalars(sa.select(OrderRow).where(OrderRow.item == "Bolts")).one()
                bolts.quantity = 80
                session.add(OrderRow(customer="alice", item="Nuts", quantity=500))
                session.commit()  # the rows and their outbox entries, one transaction
            wait_for(lambda: {o.item: o.quantity for o in Order.find_all()} == {"Bolts": 80, "Nuts": 500},
                     "the commit on the device")  # fmt: skip
            show("after the shop's commit (pushed, and announced on the live channel):")

            Order.create(item="Washers", quantity=50)
            print(f"sync: {client.do_sync().status}")
        with Session() as session:
            print("the shop's table:")
            for row in session.scalars(sa.select(OrderRow).order_by(OrderRow.id)):
                print(f"  {row.id:>3}  {row.customer:<6} {row.item:<8} {row.quantity:>4}")
        publisher.close()
    engine.dispose()
    rhom.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
