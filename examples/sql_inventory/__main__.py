"""Walk through SqlAdapter: ``python -m examples.sql_inventory [--data FOLDER]``.

An inventory program owns a SQLite database; rhom.server syncs its ``items`` table to a
device of user alice. The program changes the table with plain SQL, the device syncs
and sees it; the device edits offline, syncs, and the program sees that.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path

import rhom
from rhom.server import Settings
from rhom.server.testing import run_in_thread

from .inventory import make_app


class Item(rhom.Model, sync=True):
    name = rhom.CharField()
    quantity = rhom.IntegerField()
    price = rhom.FloatField()
    checked_on = rhom.DateField()


def show(title: str) -> None:
    print(title)
    for item in Item.find_all(order="name"):
        print(f"  {item.object:>3}  {item.name:<8} {item.quantity:>3}  {item.checked_on or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="Keep the files here (default: a temp folder).")
    args = parser.parse_args(argv)
    folder = args.data or Path(tempfile.mkdtemp(prefix="rhom-sql-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "inventory.sqlite"
    program = sqlite3.connect(database)  # the inventory program: plain SQL, its own connection
    app = make_app(database, settings=Settings.for_tests(store=f"sqlite:///{folder}/server.sqlite"))
    program.executemany(
        "INSERT INTO items (owner, name, quantity, price, checked_on) VALUES (?, ?, ?, ?, ?)",
        [
            ("alice", "Bolts", 120, 0.1, "2024-05-01"),
            ("alice", "Nuts", 80, 0.05, None),
            ("bob", "Gears", 7, 12.5, None),
        ],
    )
    program.commit()
    rhom.setup(folder / "device", models=[Item])
    with run_in_thread(app) as url, rhom.SyncClient(url, threaded_mode=False, poll_interval=0) as client:
        client.login("alice", "")
        print(f"sync: {client.do_sync().status}")
        show("alice's device holds her rows:")

        program.execute("UPDATE items SET quantity = quantity - 20, checked_on = '2024-06-02' WHERE name = 'Bolts'")
        program.execute("DELETE FROM items WHERE name = 'Nuts'")
        program.commit()
        print(f"sync: {client.do_sync().status}")
        show("after the inventory program changed the table:")

        Item.create(name="Washers", quantity=500, price=0.02)
        Item.find_first(conditions={"name": "Bolts"}).update_attributes(quantity=90)
        print(f"sync: {client.do_sync().status}")
        rows = program.execute("SELECT id, owner, name, quantity FROM items ORDER BY id").fetchall()
        print("the table, after the device synced:")
        for row in rows:
            print(f"  {row[0]:>3}  {row[1]:<6} {row[2]:<8} {row[3]:>3}")
    program.close()
    rhom.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
