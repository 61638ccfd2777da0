"""SqlAdapter end to end: a table of a real database, rhom.server on 127.0.0.1, a device.

Each test runs on SQLite and on PostgreSQL (``database``); the device is a real
``rhom.SyncClient`` with a fixed-schema model unless the test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from rhom.server.adapters import calling_as
from rhom.server.sql import SqlAdapter, SqlError

from .conftest import Database

Serve = Callable[..., Any]
Make = Callable[..., SqlAdapter]


def seed(db: Database) -> None:
    db.sql(
        "INSERT INTO products (id, owner, name, price, quantity, in_stock) VALUES (:id, :owner, :name, :price, :q, :s)",
        [
            {"id": 1, "owner": "alice", "name": "Phone", "price": 9.99, "q": 3, "s": True},
            {"id": 2, "owner": "alice", "name": "Case", "price": 5, "q": None, "s": False},
            {"id": 3, "owner": "bob", "name": "Tablet", "price": 300, "q": 1, "s": True},
        ],
    )
    if db.kind == "postgresql":  # ids were given: move the serial past them
        db.sql("SELECT setval('products_id_seq', 3)")


def names(device: Any) -> dict[str, str]:
    return {oid: attrs["name"] for oid, attrs in device.values().items()}


@pytest.mark.parametrize("capture", [True, False], ids=["triggers", "requery"])
def test_each_user_pulls_only_their_rows(products: Database, serve: Serve, capture: bool, adapter: Make) -> None:
    seed(products)
    source = adapter(products)
    if capture:
        assert source.install_triggers()
    with serve(source) as server:
        alice = server.device("alice")
        assert alice.sync().status == "complete"
        assert names(alice) == {"1": "Phone", "2": "Case"}
        bob = server.device("bob")
        assert bob.sync().status == "complete"
        assert names(bob) == {"3": "Tablet"}


def test_an_app_partition_source_gives_every_user_every_row(products: Database, serve: Serve, adapter: Make) -> None:
    seed(products)
    source = adapter(products, partition_by=None)
    assert source.partition == "app"
    with serve(source) as server:
        for user in ("alice", "bob"):
            device = server.device(user)
            assert device.sync().status == "complete"
            assert names(device) == {"1": "Phone", "2": "Case", "3": "Tablet"}


def test_values_reach_the_device_as_their_column_types(products: Database, serve: Serve, adapter: Make) -> None:
    released, updated = dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, 13, 45, 10)
    products.sql(
        "INSERT INTO products (id, owner, name, price, quantity, in_stock, released, updated_at) "
        "VALUES (1, 'alice', 'Phone', 9.99, 3, :s, :r, :u)",
        {"s": True, "r": released, "u": updated},
    )
    with serve(adapter(products)) as server:
        device = server.device("alice")
        device.sync()
        phone = device.Product.find("1")
        assert (phone.name, phone.price, phone.quantity, phone.in_stock) == ("Phone", 9.99, 3, "true")
        assert phone.released == released
        assert phone.updated_at == updated.replace(tzinfo=dt.timezone.utc)
        assert phone.photo is None  # NULL: the attribute is absent


def test_create_update_delete_from_the_device_reach_the_users_rows(
    products: Database, serve: Serve, adapter: Make
) -> None:
    seed(products)
    with serve(adapter(products)) as server:
        device = server.device("alice")
        device.sync()
        made = device.Product.create(name="Watch", price=199.5, quantity=2, in_stock="false",
                                     released=dt.date(2024, 6, 1))  # fmt: skip
        device.Product.find("1").update_attributes(price=8.5, quantity=None)
        device.Product.find("2").destroy()
        assert device.sync().status == "complete"

        rows = products.rows("SELECT id, owner, name, price, quantity, in_stock, released FROM products ORDER BY id")
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (1, "alice", "Phone"),
            (3, "bob", "Tablet"),
            (4, "alice", "Watch"),
        ]
        assert (float(rows[0][3]), rows[0][4]) == (8.5, None)  # the NULL pushed as NULL
        assert (float(rows[2][3]), rows[2][4], bool(rows[2][5])) == (199.5, 2, False)
        assert _date(rows[2][6]) == dt.date(2024, 6, 1)
        # the created object took the database's id (a create-link)
        assert device.Product.find(made.object) is None
        assert device.Product.find("4").name == "Watch"
        device.sync()
        assert names(device) == {"1": "Phone", "4": "Watch"}


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.mark.parametrize("capture", [True, False], ids=["triggers", "requery"])
def test_plain_sql_changes_reach_the_device_at_its_next_sync(
    products: Database, serve: Serve, capture: bool, adapter: Make
) -> None:
    seed(products)
    source = adapter(products)
    if capture:
        source.install_triggers()
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        assert names(device) == {"1": "Phone", "2": "Case"}
        products.sql("INSERT INTO products (id, owner, name, price) VALUES (10, 'alice', 'Charger', 15)")
        products.sql("UPDATE products SET name = 'Phone X', quantity = NULL WHERE id = 1")
        products.sql("DELETE FROM products WHERE id = 2")
        products.sql("UPDATE products SET name = 'Tablet X' WHERE id = 3")  # bob's: not alice's business
        assert device.sync().status == "complete"
        assert names(device) == {"1": "Phone X", "10": "Charger"}
        assert device.Product.find("1").quantity is None
        # a row given to another user leaves this user's devices
        products.sql("UPDATE products SET owner = 'bob' WHERE id = 10")
        device.sync()
        assert names(device) == {"1": "Phone X"}


def test_with_triggers_a_sync_reads_what_changed_not_the_table(products: Database, serve: Serve, adapter: Make) -> None:
    seed(products)
    source = adapter(products)
    source.install_triggers()
    statements: list[str] = []
    sa.event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        statements.clear()
        products.sql("UPDATE products SET price = 7 WHERE id = 2")
        device.sync()
        assert device.Product.find("2").price == 7
    reads = [s for s in statements if "FROM products" in s.replace('"', "")]
    assert reads and all(" IN " in s for s in reads), reads  # by id, never the whole table


def test_a_refused_constraint_is_a_create_error_with_the_databases_message(
    products: Database, serve: Serve, adapter: Make
) -> None:
    with serve(adapter(products)) as server:
        device = server.device("alice")
        bad = device.Product.create(name="Broken", price=-1)
        result = device.sync()
        errors = result.server_errors["create-error"]
        assert list(errors) == [bad.object]
        assert "price" in errors[bad.object]["message"].lower()  # the CHECK constraint, named by the database
        assert products.rows("SELECT COUNT(*) FROM products") == [(0,)]


def test_an_update_of_another_users_row_is_refused(products: Database, serve: Serve, adapter: Make) -> None:
    """Raw HTTP: a rhom device never holds another user's object to update."""
    seed(products)
    with serve(adapter(products)) as server, httpx.Client(base_url=server.url) as http:
        http.post("/rc/v1/app/login", json={"login": "alice", "password": "x"}).raise_for_status()
        client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
        headers = {"X-RhoConnect-CLIENT-ID": client_id}
        body = {"update": {"3": {"name": "Mine now"}}, "delete": {"3": {"name": "Tablet"}}}
        http.post("/app/v1/Product", json=body, headers=headers).raise_for_status()
        page = http.get("/app/v1/Product", params={"p_size": 100}, headers=headers).json()
        command = next(part for part in page if "update-error" in part or "insert" in part)
        assert "3-error" in command["update-error"]
    assert products.rows("SELECT owner, name FROM products WHERE id = 3") == [("bob", "Tablet")]


def test_a_retried_create_makes_one_row(products: Database, serve: Serve, adapter: Make) -> None:
    """Raw HTTP: the same create (same user, same temporary id) from a client that lost its id."""
    with serve(adapter(products)) as server, httpx.Client(base_url=server.url) as http:
        http.post("/rc/v1/app/login", json={"login": "alice", "password": "x"}).raise_for_status()
        links = []
        for price in ("1", "2"):  # the second attempt carries the client's current version
            client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
            headers = {"X-RhoConnect-CLIENT-ID": client_id}
            body = {"create": {"1700000000001": {"name": "Lamp", "price": price}}}
            http.post("/app/v1/Product", json=body, headers=headers).raise_for_status()
            page = http.get("/app/v1/Product", params={"p_size": 100}, headers=headers).json()
            links.append(next(part["links"] for part in page if "links" in part))
    assert links[0] == links[1]
    rows = products.rows("SELECT id, name, price FROM products")
    assert [(str(r[0]), r[1], float(r[2])) for r in rows] == [(links[0]["1700000000001"]["l"], "Lamp", 2.0)]


def test_a_create_retried_with_a_key_column_makes_one_row(database: Database, serve: Serve, adapter: Make) -> None:
    database.products()
    database.sql("ALTER TABLE products ADD COLUMN rhom_key VARCHAR(200)")
    database.sql("CREATE UNIQUE INDEX products_rhom_key ON products (rhom_key)")
    source = adapter(database, key_column="rhom_key")
    with serve(source) as server, httpx.Client(base_url=server.url) as http:
        http.post("/rc/v1/app/login", json={"login": "alice", "password": "x"}).raise_for_status()
        for _ in range(2):
            client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
            body = {"create": {"t1": {"name": "Lamp"}}}
            http.post("/app/v1/Product", json=body, headers={"X-RhoConnect-CLIENT-ID": client_id})
    assert database.rows("SELECT name, rhom_key FROM products") == [("Lamp", "alice/t1")]


def test_a_select_source_reads_its_columns_and_writes_its_table(
    products: Database, serve: Serve, adapter: Make
) -> None:
    seed(products)
    table = sa.table("products", sa.column("id"), sa.column("owner"), sa.column("name"), sa.column("price"))
    cheap = sa.select(table).where(table.c.price < 100)
    source = adapter(products, select=cheap)
    source.install_triggers()
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        assert device.values() == {"1": {"name": "Phone", "price": 9.99}, "2": {"name": "Case", "price": 5.0}}
        device.Product.find("2").update_attributes(price=150)  # written to the table, then out of the select
        device.sync()
        device.sync()
        assert names(device) == {"1": "Phone"}
    assert products.rows("SELECT price FROM products WHERE id = 2") == [(150,)]


def test_search_finds_the_users_rows_by_column_text(products: Database, adapter: Make) -> None:
    seed(products)
    source = adapter(products)
    with calling_as("alice", "http://127.0.0.1", None):
        assert set(source.search({"name": "PHO"})) == {"1"}
        assert set(source.search({"name": "a"})) == {"2"}  # bob's Tablet is not alice's
        with pytest.raises(SqlError, match="no column 'colour'"):
            source.search({"colour": "red"})


@pytest.mark.parametrize("capture", [True, False], ids=["triggers", "requery"])
def test_a_change_committed_after_a_later_one_still_reaches_the_device(
    products: Database, serve: Serve, capture: bool, adapter: Make
) -> None:
    """PostgreSQL and MariaDB number changes when made, not when committed: a cursor
    that passed the later change's number must not pass the earlier one's."""
    if products.kind == "sqlite":
        pytest.skip("SQLite's writers take turns: changes commit in the order they are numbered")
    seed(products)
    source = adapter(products)
    if capture:
        source.install_triggers()
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        with products.engine.connect() as early:
            early.begin()
            early.execute(sa.text("UPDATE products SET name = 'Phone early' WHERE id = 1"))  # numbered first
            products.sql("UPDATE products SET name = 'Case late' WHERE id = 2")  # numbered and committed after
            assert device.sync().status == "complete"
            assert names(device)["1"] == "Phone"  # not committed yet: not seen
            early.commit()
        assert device.sync().status == "complete"
        assert names(device) == {"1": "Phone early", "2": "Case late"}
