"""rhom inside an asyncio app: sync in the background, react to rhom's signals.

Run: ``python -m examples.asyncio_app`` (it starts the demo shop server on 127.0.0.1 for
itself). The app keeps serving its own work -- here a ticker -- while ``do_sync_async``
runs the sync on rhom's sync thread; blinker signals sent there are handed to the event
loop with ``call_soon_threadsafe``, so the app's handlers run on the loop like any other
callback.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import rhom
from rhom.demo.models import Customer, Product
from rhom.demo.shop import make_app
from rhom.server import Settings
from rhom.server.testing import run_in_thread
from rhom.sync import notify


class App:
    """A tiny asyncio application that shows sync progress as it happens."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: asyncio.Queue[str] = asyncio.Queue()
        self.ticks = 0

    # blinker calls these on rhom's sync thread: hop onto the event loop
    def on_source(self, sender: Any, notification: rhom.SyncNotification) -> None:
        n = notification
        text = f"{n.source_name}: {n.status} {n.cumulative_count or 0}/{n.total_count or 0}"
        self.loop.call_soon_threadsafe(self.events.put_nowait, text)

    def on_finished(self, sender: Any, notification: rhom.SyncNotification) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, f"sync {notification.status}")

    async def ticker(self) -> None:
        while True:  # the app's own work goes on during the sync
            await asyncio.sleep(0.01)
            self.ticks += 1

    async def printer(self) -> None:
        while True:
            print("  event:", await self.events.get())


async def run(url: str, data: Path) -> int:
    app = App(asyncio.get_running_loop())
    rhom.setup(data, models=[Product, Customer])
    client = rhom.SyncClient(url, poll_interval=0)  # threaded: the loop is never blocked
    tasks = [asyncio.create_task(app.ticker()), asyncio.create_task(app.printer())]
    try:
        with notify.source_notification.connected_to(app.on_source), notify.sync_finished.connected_to(app.on_finished):
            login = await asyncio.wrap_future(client.login("alice", "x"))
            print("logged in:", login.error_code == 0)
            result = await client.do_sync_async()
            await asyncio.sleep(0.05)  # let the last events reach the printer
        print(f"sync {result.status}: {Product.count()} products, {Customer.count()} customers;"
              f" the app ticked {app.ticks} times meanwhile")  # fmt: skip
        return 0 if result.ok else 1
    finally:
        for task in tasks:
            task.cancel()
        client.close()
        rhom.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = make_app(root / "backend.sqlite", Settings.for_tests())
        with run_in_thread(server) as url:
            return asyncio.run(run(url, root / "device"))


if __name__ == "__main__":
    raise SystemExit(main())
