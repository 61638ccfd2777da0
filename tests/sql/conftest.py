"""Fixtures of the SqlAdapter tests: a real database, a real rhom.server, a real device.

Every test that takes ``database`` runs three times: on a SQLite file under ``tmp_path``,
on a fresh database of a private PostgreSQL cluster that this session starts
(``rhom.server.sql.testing.postgres_server``: initdb in a temporary directory, a Unix
socket, no TCP port), and on a fresh database of a private MariaDB server started the
same way (``mariadb_server``: mariadb-install-db, a socket). Without a server's binaries
its runs are skipped with a notice (scripts/ensure-postgresql.sh and
scripts/ensure-mariadb.sh install them); under CI they fail instead.

``database.sql(...)`` is "another program": plain SQL on a connection of its own, never
the adapter's, as a web app or a psql session would change the table.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import rhom
from rhom.server import Settings, SourceAdapter, create_app
from rhom.server.sql import SqlAdapter
from rhom.server.sql.testing import find_mariadb, find_postgres, mariadb_server, postgres_server
from rhom.server.testing import run_in_thread
from rhom.sync.client import SyncClient

#: The products table of the tests, per database: the same columns and constraints.
PRODUCTS_DDL = {
    "sqlite": """
        CREATE TABLE products (
            id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,
            price REAL CHECK (price >= 0), quantity INTEGER, in_stock BOOLEAN,
            released DATE, updated_at TIMESTAMP, photo TEXT)""",
    "postgresql": """
        CREATE TABLE products (
            id serial PRIMARY KEY, owner text NOT NULL, name text NOT NULL,
            price numeric(10, 2) CHECK (price >= 0), quantity integer, in_stock boolean,
            released date, updated_at timestamp, photo text)""",
    "mariadb": """
        CREATE TABLE products (
            id INT AUTO_INCREMENT PRIMARY KEY, owner VARCHAR(100) NOT NULL, name VARCHAR(200) NOT NULL,
            price DECIMAL(10, 2) CHECK (price >= 0), quantity INT, in_stock BOOLEAN,
            released DATE, updated_at DATETIME, photo TEXT)""",
}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if find_postgres() is None:
        message = "PostgreSQL's initdb and postgres missing: run scripts/ensure-postgresql.sh (as root) to install them"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    if find_mariadb() is None:
        message = "MariaDB's mariadb-install-db and mariadbd missing: run scripts/ensure-mariadb.sh (as root)"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(message)
        pytest.skip(message)
    with mariadb_server() as url:
        yield url


@dataclass
class Database:
    """A test database: its URL and plain SQL on a connection the adapter does not use."""

    kind: str  # "sqlite", "postgresql" or "mariadb"
    url: str
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.url)

    def sql(self, statement: str, params: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
        """Run ``statement`` (one statement, bound ``:name`` parameters) and commit."""
        with self.engine.begin() as conn:
            conn.execute(sa.text(statement), params or {})

    def rows(self, statement: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(statement), params or {})]

    def products(self) -> None:
        """Create the ``products`` table (``PRODUCTS_DDL``)."""
        self.sql(PRODUCTS_DDL[self.kind])


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database: a SQLite file, or a new database of a private server."""
    if request.param == "sqlite":
        db = Database("sqlite", f"sqlite:///{tmp_path}/app.db")
        yield db
        db.engine.dispose()
        return
    server = {"postgresql": "postgres_url", "mariadb": "mariadb_url"}[request.param]
    base = sa.make_url(request.getfixturevalue(server))
    name = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    db = Database(request.param, base.set(database=name).render_as_string(hide_password=False))
    drop = f"DROP DATABASE {name} WITH (FORCE)" if request.param == "postgresql" else f"DROP DATABASE {name}"
    try:
        yield db
    finally:
        db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(drop))
        admin.dispose()


@pytest.fixture
def products(database: Database) -> Database:
    """``database`` with an empty ``products`` table."""
    database.products()
    return database


def define_product(layout: str = "fixed") -> Any:
    """A fresh ``Product`` model of the device, fixed schema or property bag."""
    if layout == "bag":

        class BagProduct(rhom.PropertyBagModel, sync=True, source_name="Product"):
            photo = rhom.BlobField()

        return BagProduct

    class Product(rhom.Model, sync=True):
        name = rhom.CharField()
        price = rhom.FloatField()
        quantity = rhom.IntegerField()
        in_stock = rhom.CharField()
        released = rhom.DateField()
        updated_at = rhom.TimeField()
        photo = rhom.BlobField()

    return Product


@dataclass
class Device:
    """A device: a rhom data folder with the Product model, and its sync client."""

    Product: Any
    client: SyncClient

    def sync(self) -> Any:
        result = self.client.do_sync()
        return result

    def values(self) -> dict[str, dict[str, Any]]:
        """Every local object ``{object: {attr: value}}``, without empty attributes."""
        out = {}
        for obj in self.Product.find("all"):
            attrs = obj.vars
            out[obj.object] = {k: v for k, v in attrs.items() if k not in ("object", "source_id") and v is not None}
        return out


@dataclass
class Serving:
    """A running rhom.server and the devices made against it."""

    url: str
    tmp_path: Path
    devices: list[Device] = field(default_factory=list)

    def device(self, user: str = "alice", *, layout: str = "fixed", name: str | None = None) -> Device:
        """Open a device's data folder (one device open at a time) and log in as ``user``."""
        for old in self.devices:
            old.client.close()
        rhom.shutdown()
        model = define_product(layout)
        rhom.setup(self.tmp_path / (name or f"device-{user}"), models=[model])
        client = SyncClient(self.url, threaded_mode=False, poll_interval=0)
        result = client.login(user, "secret")
        assert result.error_code == 0, result
        device = Device(model, client)
        self.devices.append(device)
        return device


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``with serve(adapter, ...) as server``: rhom.server on 127.0.0.1 with these sources."""
    opened: list[Serving] = []

    @contextmanager
    def start(*adapters: SourceAdapter) -> Iterator[Serving]:
        settings = Settings.for_tests(store=f"sqlite:///{tmp_path}/server-{len(opened)}.db")
        with run_in_thread(create_app(list(adapters), settings=settings)) as url:
            serving = Serving(url, tmp_path)
            opened.append(serving)
            try:
                yield serving
            finally:
                for device in serving.devices:
                    device.client.close()
                rhom.shutdown()

    yield start
    rhom.shutdown()


@pytest.fixture
def adapter() -> Iterator[Callable[..., SqlAdapter]]:
    """``adapter(database, **options)``: the Product source over ``database``'s products
    table, one data set per user; closed after the test."""
    made: list[SqlAdapter] = []

    def make(database: Database, **options: Any) -> SqlAdapter:
        options.setdefault("table", "products")
        options.setdefault("partition_by", "owner")
        made.append(SqlAdapter("Product", database.url, **options))
        return made[-1]

    yield make
    for source in made:
        source.close()
