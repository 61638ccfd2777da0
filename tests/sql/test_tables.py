"""SqlAdapter and the life of a table: columns added, blobs, triggers installed and
removed (by the call and by ``rhom sql``), errors that must not leak a password."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rhom.cli import main as cli_main
from rhom.exceptions import ConfigurationError
from rhom.server.sql import SqlAdapter, SqlError, install_triggers, uninstall_triggers

from .conftest import Database

Serve = Callable[..., Any]
Make = Callable[..., SqlAdapter]


def rhom_objects(db: Database) -> list[str]:
    """The names of every rhom_* table, trigger and function in the database."""
    if db.kind == "sqlite":
        found = db.rows("SELECT name FROM sqlite_master WHERE name LIKE 'rhom%'")
    elif db.kind == "mariadb":
        found = db.rows(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'rhom%' "
            "UNION ALL SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'rhom%'"
        )
    else:
        found = db.rows(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'rhom%' "
            "UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE 'rhom%' "
            "UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'rhom%'"
        )
    return sorted(name for (name,) in found)


@pytest.mark.parametrize("capture", [True, False], ids=["triggers", "requery"])
def test_a_column_added_to_the_table_reaches_every_object(
    products: Database, serve: Serve, adapter: Make, capture: bool
) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (2, 'alice', 'Case')")
    source = adapter(products)
    if capture:
        source.install_triggers()
    with serve(source) as server:
        device = server.device("alice", layout="bag")
        device.sync()
        products.sql("ALTER TABLE products ADD COLUMN colour VARCHAR(20) DEFAULT 'red'")  # no trigger fires
        assert device.sync().status == "complete"
        assert {oid: attrs.get("colour") for oid, attrs in device.values().items()} == {"1": "red", "2": "red"}
        device.Product.find("2").update_attributes(colour="blue")  # and it is writable
        device.sync()
    assert products.rows("SELECT colour FROM products WHERE id = 2") == [("blue",)]


def test_with_publish_schema_a_changed_table_sends_schema_changed(
    products: Database, serve: Serve, adapter: Make
) -> None:
    products.sql("INSERT INTO products (id, owner, name, price) VALUES (1, 'alice', 'Phone', 5)")
    source = adapter(products, publish_schema=True)
    source.install_triggers()
    schema = source.schema
    assert schema is not None and schema["property"]["price"] == "float" and schema["property"]["quantity"] == "integer"
    with serve(source) as server:
        device = server.device("alice")
        assert device.sync().status == "complete"
        products.sql("ALTER TABLE products ADD COLUMN colour VARCHAR(20)")
        result = device.sync()
        assert result.sources["Product"].status == "schema_changed"
        assert source.schema is not None and source.schema["version"] != schema["version"]


def test_a_pushed_blob_is_kept_in_the_server_store_and_named_in_its_column(
    products: Database, serve: Serve, adapter: Make
) -> None:
    with serve(adapter(products, blob_columns=["photo"])) as server:
        device = server.device("alice")
        device.Product.create(name="Pictured", photo=b"\x89PNG picture bytes")
        assert device.sync().status == "complete"
        ((oid, stored),) = products.rows("SELECT id, photo FROM products")
        assert re.fullmatch(r"[0-9a-f]{32}-.+", stored)  # the name store_blob gave the saved file
        other = server.device("alice", name="other-device")
        assert other.sync().status == "complete"
        assert other.Product.find(str(oid)).blob_path("photo").read_bytes() == b"\x89PNG picture bytes"


def test_install_is_idempotent_and_uninstall_leaves_no_trace(products: Database, adapter: Make) -> None:
    before = rhom_objects(products)
    source = adapter(products)
    assert source.install_triggers() is True
    installed = rhom_objects(products)
    assert source.install_triggers() is False  # again: nothing new, cursors kept
    assert rhom_objects(products) == installed
    products.sql("INSERT INTO products (owner, name) VALUES ('alice', 'Phone')")
    assert products.rows("SELECT tbl, pk, part FROM rhom_changes") == [("products", "1", "alice")]
    assert source.uninstall_triggers() is True
    assert source.uninstall_triggers() is False
    assert rhom_objects(products) == before
    products.sql("INSERT INTO products (owner, name) VALUES ('alice', 'Case')")  # writes still work


def test_reinstalling_after_an_uninstall_reads_everything_once(products: Database, serve: Serve, adapter: Make) -> None:
    """Changes made while capture was off were never recorded: a cursor from before must not be trusted."""
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Phone'), (3, 'alice', 'Cable')")
    source = adapter(products)
    source.install_triggers()
    with serve(source) as server:
        device = server.device("alice")
        device.sync()
        source.uninstall_triggers()
        products.sql("UPDATE products SET name = 'Phone X' WHERE id = 1")
        products.sql("INSERT INTO products (id, owner, name) VALUES (2, 'alice', 'Case')")
        products.sql("DELETE FROM products WHERE id = 3")  # the full read must delete it too
        source.install_triggers()
        device.sync()
        assert {oid: a["name"] for oid, a in device.values().items()} == {"1": "Phone X", "2": "Case"}


def test_the_rhom_sql_commands_install_and_remove_triggers(products: Database) -> None:
    runner = CliRunner()
    env = {"RHOM_SQL_URL": products.url}
    args = ["sql", "install-triggers", "--table", "products", "--partition-by", "owner"]
    result = runner.invoke(cli_main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "installed on products" in result.output
    assert "already installed" in runner.invoke(cli_main, args, env=env).output
    assert any("rhom" in name for name in rhom_objects(products))
    result = runner.invoke(cli_main, ["sql", "uninstall-triggers", "--table", "products"], env=env)
    assert result.exit_code == 0 and "removed from products" in result.output
    assert rhom_objects(products) == []
    result = runner.invoke(cli_main, ["sql", "install-triggers", "--table", "nowhere"], env=env)
    assert result.exit_code == 1 and "nowhere" in result.output


def test_a_table_without_a_single_column_key_needs_an_id_column(database: Database) -> None:
    database.sql("CREATE TABLE pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))")
    with pytest.raises(ConfigurationError, match="id_column"):
        install_triggers(database.url, "pairs")
    source = SqlAdapter("Pair", database.url, table="pairs")
    try:
        with pytest.raises(ConfigurationError, match="id_column"):
            source.shape()
    finally:
        source.close()
    assert uninstall_triggers(database.url, "pairs") is False


@pytest.mark.postgresql
def test_a_connection_error_names_the_database_but_not_the_password(
    postgres_url: str, serve: Serve, adapter: Make
) -> None:
    url = sa.make_url(postgres_url)
    wrong = url.set(password="s3cret-pass", database="postgres", query={"host": url.query["host"], "port": "1"})
    source = SqlAdapter("Product", wrong.render_as_string(hide_password=False), table="products")
    try:
        with serve(source) as server:
            device = server.device("alice")
            result = device.sync()
            message = str(result.sources["Product"].server_errors)
            assert "PGSQL.1" in message and "s3cret" not in message
        with pytest.raises(SqlError) as raised:
            install_triggers(source.engine, "products")
        assert "s3cret" not in str(raised.value)
    finally:
        source.close()
