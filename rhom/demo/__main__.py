"""rhom end to end: a sync server with a SQLite backend, and an offline-first client.

Run it with ``rhom demo`` or ``python -m rhom.demo`` (``bash scripts/demo.sh`` from a checkout). Everything runs on
this machine with the embedded defaults: the server (rhom.server on 127.0.0.1, its state
in a SQLite file) serves the shop of ``rhom.demo.shop``; the client keeps its data in
SQLite files and syncs over real HTTP.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import rhom
from rhom.server import Settings
from rhom.server.testing import run_in_thread
from rhom.sync import notify

from .models import Customer, Note, Product
from .shop import make_app


def step(title: str) -> None:
    print(f"\n== {title}")


def on_progress(sender: Any, notification: rhom.SyncNotification) -> None:
    """The pages as they come. A page's count is its inserts and deletes (an object
    changed on the server comes as both), so the progress is told in changes, not
    objects, beside the objects the server holds."""
    n = notification
    if n.status == "in_progress":
        count = n.processed_count or 0
        print(f"   {n.source_name:<9} page: {count} change{'' if count == 1 else 's'} ({n.cumulative_count} so far; "
              f"the server holds {n.total_count} objects)")  # fmt: skip


def sync(client: rhom.SyncClient) -> rhom.SyncResult:
    """Sync, then tell how each source ended: once per source, from its final notification."""
    result: rhom.SyncResult = client.do_sync()
    for name, note in result.sources.items():
        if note.status == "error" and note.server_errors:
            print(f"   {name:<9} error: server errors {sorted(note.server_errors)}")
        elif note.status == "error":
            print(f"   {name:<9} error {int(note.error_code)}: {note.error_message}")
        else:
            print(f"   {name:<9} {note.status}")
    return result


def pending() -> int:
    return len([e for e in rhom.changelog.entries(rhom.get_database("user")) if e.sent <= 1])


def run(root: Path) -> None:
    # the server runs in this process: its log (each refused change, with the adapter's
    # traceback) is for its operators, not for the walk-through
    logging.getLogger("rhom.server").addHandler(logging.NullHandler())
    step("start rhom.server on 127.0.0.1 (embedded SQLite store, shop backend in SQLite)")
    app = make_app(root / "backend.sqlite", Settings(store=f"sqlite:///{root / 'server-state.sqlite'}"))
    with run_in_thread(app) as url, notify.source_notification.connected_to(on_progress):
        print("   serving", url)
        rhom.setup(root / "device", models=[Product, Customer, Note])
        client = rhom.SyncClient(url, threaded_mode=False, page_size=2, poll_interval=0)
        try:
            walk_through(client)
        finally:
            client.close()
            rhom.shutdown()


def walk_through(client: rhom.SyncClient) -> None:
    step("sync before logging in is refused (error 7), then log in")
    print("   do_sync ->", int(client.do_sync().error_code))
    print("   login   ->", int(client.login("alice", "secret").error_code), "logged in:", client.is_logged_in())

    step("first sync: pages of 2 objects, each applied in one transaction with its token")
    print("   result:", sync(client).status)
    print("   products:", [(p.name, p.price) for p in Product.find_all(order="name")])

    step("offline: create, edit, delete -- every write lands in the changelog")
    phone = Product.create(name="Fairphone", brand="Fairphone", price=579.0, quantity=2)
    Product.find_first(conditions={"name": "Lumia"}).destroy()
    jane = Customer.find_first(conditions={"first": "Jane"})
    jane.update_attributes(city="Madrid")
    Note.create(text="call Jane back")  # local model: not logged
    print(f"   pending changes: {pending()}   have_local_changes: {rhom.have_local_changes()}")
    print(f"   new product has temporary id {phone.object}")

    step("sync: push, then pull the create-link")
    sync(client)
    print(f"   temporary id gone: {Product.find(phone.object) is None}; "
          f"server id: {Product.find_first(conditions={'name': 'Fairphone'}).object}")  # fmt: skip
    print(f"   pending changes: {pending()}   have_local_changes: {rhom.have_local_changes()}")

    step("a change the backend refuses: the error comes back, the app decides")
    bad = Product.create(name="Broken", brand="Acme", price=-1.0)
    result = sync(client)
    create_error = result.sources["Product"].server_errors["create-error"]
    print("   create-error:", {oid: e["message"] for oid, e in create_error.items()})
    print("   can_modify while the create is refused:", bad.can_modify())
    Product.on_sync_create_error(create_error, "delete")
    print("   after on_sync_create_error(..., 'delete'):", Product.find(bad.object))

    iphone = Product.find_first(conditions={"name": "iPhone"})
    iphone.update_attributes(price=-5.0)
    result = sync(client)
    update_errors = result.sources["Product"].server_errors
    print("   update-error:", {oid: e["message"] for oid, e in update_errors["update-error"].items()})
    Product.on_sync_update_error(update_errors["update-error"], "rollback", update_errors["update-rollback"])
    print("   rolled back to the server's price:", Product.find(iphone.object).price)

    step("search the backend; results land in the local data")
    rhom.database_full_reset(models=[Customer])
    sync(client)  # the server forgets what this client had
    print("   customers before search:", Customer.count())
    result = Customer.search({"city": "o"})
    print("   search:", result.status, "->", sorted(c.first for c in Customer.find_all()))

    step("done")
    print("   sources:", [(s.name, s.last_sync_success, s.distinct_objects) for s in rhom.RhomSource.all()])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="folder for all databases (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.data:
        if (args.data / "backend.sqlite").exists():  # the walk-through needs the seed data
            print(f"error: {args.data} holds an earlier demo run; pass a new folder", file=sys.stderr)
            raise SystemExit(2)
        args.data.mkdir(parents=True, exist_ok=True)
        run(args.data)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp))
    print("\ndemo finished.")


if __name__ == "__main__":
    main()
