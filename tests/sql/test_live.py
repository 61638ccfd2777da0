"""Live clients and captured changes: a plain-SQL change reaches a ``SyncClient(live=True)``
device without a poll, on SQLite and PostgreSQL (``watch_changes``).

No timed assertion: each test waits for the data with a generous timeout; the device
never polls (``poll_interval=0``), so only the live channel can bring it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import rhom
from rhom.server import Settings, create_app
from rhom.server.sql import ChangeWatcher, SqlAdapter, watch_changes
from rhom.server.testing import run_in_thread
from rhom.sync.client import SyncClient

from .conftest import Database, define_product

Make = Callable[..., SqlAdapter]
TIMEOUT = 30.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {TIMEOUT} s: {what}")


def names(model: Any) -> dict[str, str]:
    return {obj.object: obj.name for obj in model.find("all")}


def test_a_plain_sql_change_reaches_a_live_device(products: Database, adapter: Make, tmp_path: Path) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (2, 'bob', 'Tablet')")
    source = adapter(products)
    source.install_triggers()
    app = create_app([source], settings=Settings.for_tests(store=f"sqlite:///{tmp_path}/server.db"))
    watcher = watch_changes(app)
    model = define_product()
    rhom.setup(tmp_path / "device", models=[model])
    try:
        with run_in_thread(app) as url, SyncClient(url, threaded_mode=False, poll_interval=0, live=True) as client:
            assert client.login("alice", "x").error_code == 0
            assert client.do_sync().status == "complete"
            assert names(model) == {"1": "Phone"}
            eventually(lambda: client.live_connected, "the live channel opened")
            products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
            products.sql("INSERT INTO products (id, owner, name) VALUES (3, 'alice', 'Charger')")
            eventually(lambda: names(model) == {"1": "Phone X", "3": "Charger"}, "the changes reached the device")
            products.sql("DELETE FROM products WHERE id = 1")
            eventually(lambda: names(model) == {"3": "Charger"}, "the delete reached the device")
    finally:
        watcher.close()
        rhom.shutdown()


def test_a_served_app_watches_without_being_asked(products: Database, adapter: Make, tmp_path: Path) -> None:
    """SqlAdapter.open starts the app's watcher when the app starts serving, and close
    stops it: no watch_changes call, in any server process."""
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone')")
    source = adapter(products)
    source.install_triggers()
    app = create_app([source], settings=Settings.for_tests(store=f"sqlite:///{tmp_path}/server.db"))
    model = define_product()
    rhom.setup(tmp_path / "device", models=[model])
    try:
        with run_in_thread(app) as url, SyncClient(url, threaded_mode=False, poll_interval=0, live=True) as client:
            watcher = watch_changes(app)
            assert watch_changes(app) is watcher, "one watcher per app"
            assert not watcher.closed, "started with the app"
            assert client.login("alice", "x").error_code == 0
            assert client.do_sync().status == "complete"
            eventually(lambda: client.live_connected, "the live channel opened")
            products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
            eventually(lambda: names(model) == {"1": "Phone X"}, "the change reached the device")
        assert watcher.closed, "stopped with the app"
    finally:
        rhom.shutdown()


def test_several_server_processes_announce_a_change_once(products: Database, adapter: Make, tmp_path: Path) -> None:
    """Two apps over one store stand for two processes of one server."""
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone')")
    source = adapter(products)
    source.install_triggers()
    settings = Settings.for_tests(store=f"sqlite:///{tmp_path}/shared.db")
    watchers = [ChangeWatcher(create_app([source], settings=settings), start=False) for _ in range(2)]
    try:
        for watcher in watchers:  # the first look: every source, to every live client
            assert watcher.poll() == {"Product": None}
        products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
        products.sql("INSERT INTO products (id, owner, name) VALUES (2, 'bob', 'Tablet')")
        told: Counter[str] = Counter()

        def look() -> bool:
            for watcher in watchers:
                for users in watcher.poll().values():
                    told.update(users or ["everyone"])
            return told["alice"] > 0 and told["bob"] > 0

        eventually(look, "a watcher announced the changes")
        for _ in range(10):  # what the other watcher hears meanwhile it must not announce again
            time.sleep(0.05)
            look()
        assert told == {"alice": 1, "bob": 1}
    finally:
        for watcher in watchers:
            watcher.close()
        for made in watchers:
            made.server.state.store.close()


def test_a_change_committed_after_a_later_one_is_announced(products: Database, adapter: Make, tmp_path: Path) -> None:
    """The earlier-numbered change commits last: the watcher must announce it all the same."""
    if products.kind == "sqlite":
        pytest.skip("SQLite's writers take turns: changes commit in the order they are numbered")
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (2, 'bob', 'Tablet')")
    source = adapter(products)
    source.install_triggers()
    watcher = ChangeWatcher(create_app([source], settings=Settings.for_tests()), start=False)
    try:
        assert watcher.poll() == {"Product": None}  # the first look: every source, to everyone
        with products.engine.connect() as early:
            early.begin()
            early.execute(sa.text("UPDATE products SET name = 'Phone early' WHERE id = 1"))  # numbered first
            products.sql("UPDATE products SET name = 'Tablet late' WHERE id = 2")  # numbered and committed after
            told: Counter[str] = Counter()
            for users in watcher.poll().values():
                told.update(users or ["everyone"])
            assert "alice" not in told  # her change is not committed yet
            early.commit()

        def alice_told() -> bool:
            for users in watcher.poll().values():
                told.update(users or ["everyone"])
            return told["alice"] > 0

        eventually(alice_told, "the change committed last was announced")
    finally:
        watcher.close()
        watcher.server.state.store.close()
