"""A device process for the kill -9 tests (test_kill9.py): it is killed, never asked to stop.

    python tests/e2e/_crash_child.py --data DIR --url URL --layout fixed|bag [options]

It opens the rhom data folder DIR with the e2e models of *layout*, optionally writes local
changes, then syncs against the rhom.server at URL. ``--crash-at POINT`` makes the process
send itself SIGKILL at an exact point of the sync engine (the parent also kills it from
outside, at a time of its choosing). Lines on stdout tell the parent how far it got:
``ready``, ``created <n>``, ``synced <status> <error_code>``.

Crash points (each wraps one engine function; ``--crash-count N`` picks the N-th call):

* ``push-before-send``: the push rows are marked in flight (sent=1) and committed, the
  request is not sent;
* ``push-after-server``: the server has run the push and answered 200; the changelog
  bookkeeping of the answer has not run;
* ``page-mid-commit``: inside the transaction that applies a page, after its objects are
  written, before the commit;
* ``page-after-commit``: a page and its token are committed, the next request not sent;
* ``blob-downloaded``: a blob file is downloaded (``.part``), not yet renamed nor recorded;
* ``push-prepared``: the push's rows are collected and marked in flight (committed);
* ``page-received``: a page has arrived, nothing of it is applied;
* ``link-mid-commit``: inside a page's transaction, right after a create-link renamed an
  object (before the commit);
* ``source-finished``: a source's pull is complete, its in-doubt creates not yet settled.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]  # the repo (rhom), tests/ (e2e)

import rhom  # noqa: E402
from e2e.conftest import define_models  # noqa: E402
from rhom.sync import _pull, _push, engine, protocol  # noqa: E402
from rhom.sync.client import SyncClient  # noqa: E402
from rhom.sync.source import SyncSource  # noqa: E402
from rhom.sync.transport import Transport  # noqa: E402


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def crash_after(owner: Any, name: str, count: int, *, before: bool = False) -> None:
    """Replace ``owner.name`` by a wrapper that kills the process at its *count*-th call."""
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == count:
            die()
        result = original(*args, **kwargs)
        if calls[0] == count:
            die()
        return result

    setattr(owner, name, wrapper)


def arm(point: str, count: int) -> None:
    if point == "push-before-send":
        crash_after(protocol, "push", count, before=True)
    elif point == "push-after-server":
        crash_after(_push, "settle_success", count, before=True)
    elif point == "page-mid-commit":
        crash_after(SyncSource, "upsert", count)
    elif point == "page-after-commit":
        crash_after(engine.SyncRun, "after_page", count, before=True)
    elif point == "blob-downloaded":
        crash_after(Transport, "download", count)
    elif point == "push-prepared":
        crash_after(_push, "prepare", count)
    elif point == "page-received":
        crash_after(_pull, "apply_page", count, before=True)
    elif point == "link-mid-commit":
        crash_after(SyncSource, "rename", count)
    elif point == "source-finished":
        crash_after(_push, "requeue_lost_creates", count, before=True)
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--layout", required=True)
    parser.add_argument("--threaded", action="store_true")
    parser.add_argument("--user", default="alice")
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--create", type=int, default=0, help="create this many Products first")
    parser.add_argument("--create-loop", action="store_true", help="create Products until killed")
    parser.add_argument("--rename", action="store_true", help="rename every Product first")
    parser.add_argument("--sync", type=int, default=0, help="sync this many times")
    parser.add_argument("--tag", default="", help="put into the names of created Products")
    parser.add_argument("--crash-at")
    parser.add_argument("--crash-count", type=int, default=1)
    args = parser.parse_args()

    models = define_models(args.layout)
    rhom.setup(args.data, models=models.all)
    Product, Customer = models.Product, models.Customer  # noqa: N806
    print("ready", flush=True)

    if args.create_loop:
        n = 0
        while True:  # killed from outside; each iteration is one transaction of 3 records
            with Product._rhom.database.atomic():
                owner = Product.create(name=f"loop-{n}", price=str(n), quantity="1")
                Customer.create(name=f"buyer-{n}", product=owner.object)
                owner.update_attributes(quantity="2")
            n += 1
            print(f"created {n}", flush=True)
    for i in range(args.create):
        owner = Product.create(name=f"new{args.tag}-{i}", price=str(i), quantity="1")
        Customer.create(name=f"buyer-{i}", product=owner.object)
    if args.create:
        print(f"created {args.create}", flush=True)
    if args.rename:
        for obj in Product.find("all"):
            obj.update_attributes(name=f"{obj.name}!")
    if args.crash_at:
        arm(args.crash_at, args.crash_count)

    if args.sync:
        client = SyncClient(args.url, threaded_mode=args.threaded, poll_interval=0, page_size=args.page_size)
        if not client.is_logged_in():
            result = client.login(args.user, "secret")
            result = result.result(30) if args.threaded else result
            assert result.error_code == 0, result
        for _ in range(args.sync):
            result = client.do_sync()
            result = result.result(60) if args.threaded else result
            print(f"synced {result.status} {int(result.error_code)}", flush=True)
        client.close()
    rhom.shutdown()


if __name__ == "__main__":
    main()
