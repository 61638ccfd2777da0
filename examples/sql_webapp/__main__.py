"""Walk through a web app and rhom.server: ``python -m examples.sql_webapp [--data FOLDER]``.

The web app (FastAPI) and rhom.server run as one app on 127.0.0.1. A live device of
alice's syncs once; then the web app adds and finishes tasks over HTTP, and the live
channel brings them to the device without a sync by hand. The device adds a task
offline and syncs, and the web app lists it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import rhom
from rhom.server import Settings
from rhom.server.testing import run_in_thread

from .web import make_app


class Task(rhom.Model, sync=True):
    title = rhom.CharField()
    done = rhom.CharField()


def show(title: str) -> None:
    print(title)
    for task in Task.find_all(order="title"):
        print(f"  {task.object:>3}  {task.title:<14} {'done' if task.done == 'true' else 'open'}")


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="Keep the files here (default: a temp folder).")
    args = parser.parse_args(argv)
    folder = args.data or Path(tempfile.mkdtemp(prefix="rhom-web-"))
    folder.mkdir(parents=True, exist_ok=True)
    app = make_app(folder / "tasks.sqlite", settings=Settings.for_tests(store=f"sqlite:///{folder}/server.sqlite"))
    rhom.setup(folder / "device", models=[Task])
    with (
        run_in_thread(app) as url,
        httpx.Client(base_url=url) as web,
        rhom.SyncClient(url, threaded_mode=False, poll_interval=0, live=True) as client,
    ):
        web.post("/tasks", json={"owner": "alice", "title": "Buy bolts"}).raise_for_status()
        web.post("/tasks", json={"owner": "bob", "title": "Oil gears"}).raise_for_status()
        client.login("alice", "")
        print(f"sync: {client.do_sync().status}")
        show("alice's device holds her tasks:")

        wait_for(lambda: client.live_connected, "the live channel opened")
        new = web.post("/tasks", json={"owner": "alice", "title": "Count nuts"}).json()["id"]
        web.post("/tasks/1/done").raise_for_status()
        wait_for(lambda: Task.find(str(new)) is not None and Task.find("1").done == "true", "the web app's writes")
        show("after the web app wrote (the live channel, no sync by hand):")

        Task.create(title="Sort washers", done="false")
        print(f"sync: {client.do_sync().status}")
        print("the web app lists alice's tasks:")
        for task in web.get("/tasks", params={"owner": "alice"}).json():
            print(f"  {task['id']:>3}  {task['title']:<14} {'done' if task['done'] else 'open'}")
    rhom.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
