"""The backend plugin end to end: an application writes through the SQLAlchemy ORM, a
:class:`Publisher` pushes its commits into rhom.server, real devices sync them.

Each test runs on SQLite and on PostgreSQL (``database``), and most twice more: into the
server in this process (``app``) and over HTTP with the API token (``http``). The
server's source is a SqlAdapter that never queries (``poll_interval=-1``): what devices
get of the application's writes came through the publisher.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import rhom
from rhom.exceptions import ConfigurationError
from rhom.server import Settings, create_app
from rhom.server.adapters import calling_as
from rhom.server.sql import Publisher, SqlAdapter
from rhom.server.sql._outbox import LEASE, Outbox, Turn
from rhom.server.testing import free_port, run_in_thread

from .conftest import Database, Serving

TOKEN = Settings.for_tests().api_token


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    """The application's mapped class over the tests' ``products`` table."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str]
    name: Mapped[str]
    price: Mapped[float | None] = mapped_column(sa.Float)
    quantity: Mapped[int | None]
    in_stock: Mapped[bool | None]
    released: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime | None]
    photo: Mapped[str | None]


@dataclass
class Server:
    """A running rhom.server: its app (for in-process pushes), URL and devices."""

    app: Any
    serving: Serving

    @property
    def url(self) -> str:
        return self.serving.url

    def publisher(self, target: str, **options: Any) -> Publisher:
        options.setdefault("background", False)
        if target == "app":
            return Publisher(self.app, **options)
        options.setdefault("api_token", TOKEN)
        return Publisher(self.url, **options)

    def names(self, user: str) -> dict[str, str]:
        device = self.serving.device(user)
        assert device.sync().status == "complete"
        return {oid: attrs["name"] for oid, attrs in device.values().items()}

    def md(self, user: str) -> dict[str, dict[str, str]]:
        """The objects the server holds for ``user`` (RhoConnect's admin route)."""
        reply = httpx.get(
            f"{self.url}/rc/v1/users/{user}/sources/Product/docs/md", headers={"X-RhoConnect-API-TOKEN": TOKEN}
        )
        reply.raise_for_status()
        result: dict[str, dict[str, str]] = reply.json()
        return result


@contextlib.contextmanager
def _serving(app: Starlette, source: SqlAdapter, tmp_path: Path) -> Iterator[Server]:
    """``app`` on 127.0.0.1 for the test; then its devices, rhom and ``source`` closed."""
    try:
        with run_in_thread(app) as url:
            serving = Serving(url, tmp_path)
            try:
                yield Server(app, serving)
            finally:
                for device in serving.devices:
                    device.client.close()
                rhom.shutdown()
    finally:
        source.close()


@pytest.fixture
def server(products: Database, tmp_path: Path) -> Iterator[Server]:
    """rhom.server over ``products`` (pushed to, never querying), on 127.0.0.1."""
    source = SqlAdapter("Product", products.url, table="products", partition_by="owner", poll_interval=-1)
    app = create_app([source], settings=Settings.for_tests(store=f"sqlite:///{tmp_path}/server.db"))
    with _serving(app, source, tmp_path) as server:
        yield server


@pytest.fixture
def orm(products: Database) -> Iterator[sessionmaker[Session]]:
    """The application's sessionmaker over ``products``."""
    engine = sa.create_engine(products.url)
    yield sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def publish(server: Server, orm: sessionmaker[Session]) -> Iterator[Callable[..., Publisher]]:
    """``publish(target, **options)``: a publisher of ProductRow watching ``orm``; closed after."""
    made: list[Publisher] = []

    def make(target: str, **options: Any) -> Publisher:
        made.append(server.publisher(target, **options).source(ProductRow, "Product", partition_by="owner"))
        return made[-1].watch(orm)

    yield make
    for publisher in made:
        publisher.close()


targets = pytest.mark.parametrize("target", ["app", "http"])


@targets
def test_orm_commits_reach_each_users_devices(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher], target: str
) -> None:
    publisher = publish(target)
    with orm() as session:
        session.add_all([
            ProductRow(id=1, owner="alice", name="Phone", price=9.5, quantity=3, released=dt.date(2024, 5, 1)),
            ProductRow(id=2, owner="alice", name="Case", quantity=7),
            ProductRow(id=3, owner="bob", name="Tablet"),
        ])  # fmt: skip
        session.commit()
    assert publisher.pending() == 3  # in the outbox, committed with the rows
    assert publisher.flush() == 0
    assert server.names("alice") == {"1": "Phone", "2": "Case"}
    phone = server.serving.devices[-1].Product.find("1")
    assert (phone.price, phone.quantity, phone.released) == (9.5, 3, dt.date(2024, 5, 1))

    with orm() as session:
        phone, case = session.get(ProductRow, 1), session.get(ProductRow, 2)
        assert phone is not None and case is not None
        phone.name, phone.quantity = "Phone X", None  # a NULL: the attribute goes
        case.owner = "bob"  # given to bob: gone from alice's devices
        session.add(ProductRow(id=4, owner="alice", name="Charger"))
        session.commit()
        session.delete(session.get(ProductRow, 3))
        session.commit()
    assert publisher.flush() == 0, publisher.last_error
    assert server.names("alice") == {"1": "Phone X", "4": "Charger"}
    assert server.serving.devices[-1].Product.find("1").quantity is None
    assert server.names("bob") == {"2": "Case"}


@targets
def test_the_server_holds_what_a_sqladapter_reads(
    products: Database, server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher], target: str
) -> None:
    """One mapping of columns to the wire: the plugin reads rows through SqlAdapter's."""
    publisher = publish(target)
    with orm() as session:
        session.add(
            ProductRow(id=1, owner="alice", name="Phone", price=9.99, quantity=0, in_stock=False,
                       released=dt.date(2024, 5, 1), updated_at=dt.datetime(2024, 5, 1, 13, 45, 10))
        )  # fmt: skip
        session.commit()
    assert publisher.flush() == 0
    reader = SqlAdapter("Product", products.url, table="products", partition_by="owner")
    try:
        with calling_as("alice", "http://127.0.0.1", None):
            expected = reader.query(None)
    finally:
        reader.close()
    assert server.md("alice") == expected
    assert expected["1"]["in_stock"] == "false" and expected["1"]["released"] == "1714521600"


@targets
def test_rolled_back_writes_are_never_pushed(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher], target: str
) -> None:
    publisher = publish(target)
    with orm() as session:
        session.add(ProductRow(id=1, owner="alice", name="Never"))
        session.flush()
        session.rollback()
        session.add(ProductRow(id=2, owner="alice", name="Kept"))
        savepoint = session.begin_nested()
        session.add(ProductRow(id=3, owner="alice", name="Undone"))
        session.flush()
        savepoint.rollback()
        session.commit()
    assert publisher.pending() == 1  # the outbox rows went with the rolled-back ones
    assert publisher.flush() == 0
    assert server.names("alice") == {"2": "Kept"}


class Box(Base):
    __tablename__ = "boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list[Item]] = relationship(cascade="all, delete-orphan")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int | None] = mapped_column(sa.ForeignKey("boxes.id"))
    owner: Mapped[str] = mapped_column(sa.String(100))  # MariaDB's VARCHAR needs a length
    name: Mapped[str] = mapped_column(sa.String(100))


def test_cascaded_and_orphan_deletes_are_pushed(database: Database, tmp_path: Path) -> None:
    """Rows the flush deletes on its own, which ``session.deleted`` never lists."""
    engine = sa.create_engine(database.url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables["boxes"], Base.metadata.tables["items"]])
    source = SqlAdapter("Item", database.url, table="items", partition_by="owner", poll_interval=-1)
    app = create_app([source], settings=Settings.for_tests())
    publisher = Publisher(app, background=False).source(Item, partition_by="owner").watch(engine)
    try:
        with Session(engine) as session:
            box = Box(id=1, items=[Item(id=1, owner="alice", name="a"), Item(id=2, owner="alice", name="b")])
            session.add_all([box, Box(id=2, items=[Item(id=3, owner="alice", name="c")])])
            session.commit()
            assert publisher.flush() == 0
            with (
                run_in_thread(app) as url,
                httpx.Client(base_url=url, headers={"X-RhoConnect-API-TOKEN": TOKEN}) as http,
            ):
                assert set(http.get("/rc/v1/users/alice/sources/Item/docs/md").json()) == {"1", "2", "3"}
                box.items.pop(0)  # an orphan: deleted by the flush
                session.delete(session.get(Box, 2))  # its item goes by cascade
                session.commit()
                assert publisher.flush() == 0
                assert set(http.get("/rc/v1/users/alice/sources/Item/docs/md").json()) == {"2"}
    finally:
        publisher.close()
        source.close()
        engine.dispose()


def test_a_commit_while_the_server_is_unreachable_loses_nothing(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher]
) -> None:
    down = Publisher(f"http://127.0.0.1:{free_port()}", api_token=TOKEN, background=False)
    down.source(ProductRow, "Product", partition_by="owner").watch(orm)
    try:
        with orm() as session:
            session.add(ProductRow(id=1, owner="alice", name="Phone"))
            session.commit()  # the commit does not wait for the server: it touches no network
        assert down.last_error is None and down.pending() == 1
        assert down.flush() == 1  # refused connection: the entry stays
        assert down.last_error is not None and "ConnectError" in down.last_error
    finally:
        down.close()
    # the application starts again with the server back: the outbox is delivered
    assert publish("http").flush() == 0
    assert server.names("alice") == {"1": "Phone"}


def test_a_refused_push_keeps_its_entries_and_never_shows_the_token(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher]
) -> None:
    publisher = publish("http", api_token="not-the-token")
    with orm() as session:
        session.add(ProductRow(id=1, owner="alice", name="Phone"))
        session.commit()
    assert publisher.flush() == 1
    assert publisher.last_error is not None and "HTTP 422" in publisher.last_error
    assert "not-the-token" not in publisher.last_error


def test_the_sender_thread_delivers_after_each_commit(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher]
) -> None:
    publish("http", background=True)
    device = server.serving.device("alice")
    with orm() as session:
        session.add(ProductRow(id=1, owner="alice", name="Phone"))
        session.commit()
    _eventually(lambda: device.sync() is not None and "1" in device.values(), "the commit reached the device")


def test_push_all_queues_rows_written_before_the_publisher(
    products: Database, server: Server, publish: Callable[..., Publisher]
) -> None:
    products.sql("INSERT INTO products (id, owner, name) VALUES (1, 'alice', 'Old'), (2, 'bob', 'Older')")
    publisher = publish("app")
    assert publisher.push_all(ProductRow) == 2
    assert publisher.flush() == 0
    assert server.names("alice") == {"1": "Old"} and server.names("bob") == {"2": "Older"}


def test_partition_user_names_the_login_of_a_partition_value(server: Server, orm: sessionmaker[Session]) -> None:
    publisher = server.publisher("app").source(
        ProductRow, "Product", partition_by="owner", partition_user=lambda part: f"{part}@shop"
    )
    publisher.watch(orm)
    try:
        with orm() as session:
            session.add(ProductRow(id=1, owner="alice", name="Phone"))
            session.commit()
        assert publisher.flush() == 0
        assert set(server.md("alice@shop")) == {"1"} and server.md("alice") == {}
    finally:
        publisher.close()


def test_one_sender_at_a_time_delivers_an_outbox(
    server: Server, orm: sessionmaker[Session], publish: Callable[..., Publisher]
) -> None:
    """Two senders reading one row at different moments could deliver the older last."""
    publisher = publish("app")
    other = Turn(Outbox(), "rhom")  # another process's sender, holding the turn
    assert other.take(orm.kw["bind"])
    with orm() as session:
        session.add(ProductRow(id=1, owner="alice", name="Phone"))
        session.commit()
    assert publisher.flush() == 1 and publisher.last_error is None  # waits its turn
    other.give_up(orm.kw["bind"])
    assert publisher.flush() == 0


def test_a_turn_ends_when_its_lease_says(orm: sessionmaker[Session], publish: Callable[..., Publisher]) -> None:
    """The lease's end is stored to the second: a single-precision column (MariaDB's FLOAT)
    rounds today's epoch seconds to 128 s, so a turn could look free while held."""
    import time

    publish("app")  # the outbox tables
    engine: sa.Engine = orm.kw["bind"]
    turn, outbox = Turn(Outbox(), "rhom"), Outbox()
    before = time.time()
    assert turn.take(engine)
    with engine.connect() as conn:
        until = conn.execute(sa.select(outbox.lease.c.until).where(outbox.lease.c.publisher == "rhom")).scalar_one()
    assert before + LEASE - 0.01 <= until <= time.time() + LEASE + 0.01
    assert not Turn(Outbox(), "rhom").take(engine), "held: no other sender gets it"


def test_watching_an_engine_pushes_every_session_writing_to_it(
    server: Server, orm: sessionmaker[Session], tmp_path: Path
) -> None:
    engine: sa.Engine = orm.kw["bind"]
    elsewhere = sa.create_engine(f"sqlite:///{tmp_path}/elsewhere.db")
    Base.metadata.create_all(elsewhere, tables=[Base.metadata.tables["products"]])
    publisher = server.publisher("app").source(ProductRow, "Product", partition_by="owner").watch(engine)
    try:
        for bind, name in ((engine, "Here"), (elsewhere, "Elsewhere")):
            with Session(bind) as session:
                session.add(ProductRow(id=1, owner="alice", name=name))
                session.commit()
        assert publisher.flush() == 0
        assert server.names("alice") == {"1": "Here"}
    finally:
        publisher.close()
        elsewhere.dispose()


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def blob_server(products: Database, tmp_path: Path) -> Iterator[Server]:
    """rhom.server over ``products`` whose ``photo`` column holds blob files, with a
    ``/media/{name}`` route for files the application keeps itself."""
    media = {"tag.png": b"\x89PNG the shop's own picture"}

    def serve_media(request: Request) -> Response:
        return Response(media[request.path_params["name"]], media_type="image/png")

    source = SqlAdapter(
        "Product", products.url, table="products", partition_by="owner", poll_interval=-1, blob_columns=["photo"]
    )
    app = create_app(
        [source],
        settings=Settings.for_tests(store=f"sqlite:///{tmp_path}/server.db"),
        routes=[Route("/media/{name}", serve_media)],
    )
    with _serving(app, source, tmp_path) as server:
        yield server


@targets
def test_a_blob_a_device_pushed_stays_downloadable_after_an_orm_commit(
    blob_server: Server, orm: sessionmaker[Session], target: str
) -> None:
    publisher = blob_server.publisher(target, blob_base_url=blob_server.url if target == "app" else None)
    publisher.source(ProductRow, "Product", partition_by="owner", blob_columns=["photo"]).watch(orm)
    try:
        device = blob_server.serving.device("alice")
        device.Product.create(name="Pictured", photo=b"\x89PNG picture bytes")
        assert device.sync().status == "complete"
        with orm() as session:
            row = session.scalars(sa.select(ProductRow)).one()
            assert row.photo  # the name store_blob gave the file, in the application's row
            row.name = "Pictured again"
            session.commit()
        assert publisher.flush() == 0, publisher.last_error
        other = blob_server.serving.device("alice", name="other-device")
        assert other.sync().status == "complete"
        (product,) = other.Product.find("all")
        assert product.name == "Pictured again"
        assert product.blob_path("photo").read_bytes() == b"\x89PNG picture bytes"
    finally:
        publisher.close()


@targets
def test_a_blob_the_application_keeps_is_downloaded_from_its_url(
    blob_server: Server, orm: sessionmaker[Session], target: str
) -> None:
    url = blob_server.url
    publisher = blob_server.publisher(target).source(
        ProductRow, "Product", partition_by="owner", blob_columns={"photo": lambda name: f"{url}/media/{name}"}
    )
    publisher.watch(orm)
    try:
        with orm() as session:
            session.add(ProductRow(id=1, owner="alice", name="Tagged", photo="tag.png"))
            session.commit()
        assert publisher.flush() == 0, publisher.last_error
        device = blob_server.serving.device("alice")
        assert device.sync().status == "complete"
        assert device.Product.find("1").blob_path("photo").read_bytes() == b"\x89PNG the shop's own picture"
    finally:
        publisher.close()


def test_blob_columns_of_the_server_store_need_its_url_in_process(server: Server) -> None:
    with pytest.raises(ConfigurationError, match="blob_base_url"):
        server.publisher("app").source(ProductRow, "Product", partition_by="owner", blob_columns=["photo"])
