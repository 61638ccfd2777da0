"""Pruning ``rhom_changes``: the changes every reader has passed go, and a reader whose
changes went anyway (idle too long, or unknown) reads its rows again, deletions included.

A reader is one user's refresh of one table; each notes the cursor its read started
from in ``rhom_readers`` (here at every read: ``NOTE_EVERY`` is 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rhom.cli import main as cli_main
from rhom.server.sql import SqlAdapter, prune_changes
from rhom.server.sql import adapter as adapter_module

from .conftest import Database

Serve = Callable[..., Any]
Make = Callable[..., SqlAdapter]


@pytest.fixture(autouse=True)
def note_every_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(adapter_module, "NOTE_EVERY", 0.0)
    yield


def count(db: Database) -> int:
    return int(db.rows("SELECT COUNT(*) FROM rhom_changes")[0][0])


def names(device: Any) -> dict[str, str]:
    return {oid: attrs["name"] for oid, attrs in device.values().items()}


def test_pruning_deletes_what_every_reader_has_passed(products: Database, serve: Serve, adapter: Make) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (3, 'bob', 'Tablet')")
    source = adapter(products, prune_interval=0)
    source.install_triggers()
    with serve(source) as server:
        for user in ("alice", "bob"):
            server.device(user).sync()
        products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
        products.sql("UPDATE products SET name = 'Tablet X' WHERE id = 3")
        alice = server.device("alice")
        alice.sync()
        alice.sync()  # notes a cursor past both changes
        assert prune_changes(products.url) == 0  # bob has read neither
        assert count(products) == 2
        bob = server.device("bob")
        bob.sync()
        bob.sync()
        assert names(bob) == {"3": "Tablet X"}
        assert prune_changes(products.url) == 2  # every reader has passed them
        assert count(products) == 0
        bob.sync()  # nothing changed: the cursor must not fall back with the pruned rows

        statements: list[str] = []
        sa.event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        products.sql("UPDATE products SET name = 'Tablet Y' WHERE id = 3")
        bob.sync()
        assert names(bob) == {"3": "Tablet Y"}
        reads = [s for s in statements if "FROM products" in s.replace('"', "")]
        assert reads and all(" IN " in s for s in reads), reads  # still by id: the cursor held after pruning


def test_a_reader_whose_changes_were_pruned_reads_its_rows_again(
    products: Database, serve: Serve, adapter: Make
) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (2, 'alice', 'Case')")
    source = adapter(products, prune_interval=0)
    source.install_triggers()
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
        products.sql("DELETE FROM products WHERE id = 2")
        products.sql("INSERT INTO products (id, owner, name) VALUES (4, 'alice', 'Charger')")
        assert source.prune_changes(idle=0) == 3  # alice counts as gone: her changes go
        assert count(products) == 0
        device.sync()
        assert names(device) == {"1": "Phone X", "4": "Charger"}  # the deletion too


def test_the_adapter_prunes_by_itself_once_per_interval(products: Database, serve: Serve, adapter: Make) -> None:
    source = adapter(products)  # prune_interval: an hour
    other = adapter(products)  # another server process over the same table
    source.install_triggers()
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (2, 'alice', 'Case')")
    with serve(source) as server:
        server.device("alice").sync()  # reads everything, then prunes in a thread
        deadline = time.monotonic() + 30  # no timed assertion: the pruning thread gets 30 s
        while count(products) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count(products) == 0
    products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
    assert other.prune_changes(interval=3600) == 0  # pruned within the hour by the first
    assert count(products) == 1


def test_rhom_sql_prune_changes_prunes_and_says_how_many(products: Database, serve: Serve, adapter: Make) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone')")
    source = adapter(products, prune_interval=0)
    source.install_triggers()
    with serve(source) as server:
        alice = server.device("alice")
        alice.sync()
        products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
        alice.sync()
        alice.sync()  # notes a cursor past the change
        runner = CliRunner()
        env = {"RHOM_SQL_URL": products.url}
        result = runner.invoke(cli_main, ["sql", "prune-changes", "--table", "products"], env=env)
        assert result.exit_code == 0, result.output
        assert "1 captured change pruned" in result.output
        assert count(products) == 0
        result = runner.invoke(cli_main, ["sql", "prune-changes"], env=env)
        assert result.exit_code == 0 and "0 captured changes pruned" in result.output
