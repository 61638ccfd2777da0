"""Fixtures of the end-to-end sync tests: a real rhom.server over HTTP, real SQLite files.

Every test that takes ``world`` runs on fixed schema and property bag models (rhom-api
§12: "every spec runs in both modes") and with a blocking client (``threaded_mode=False``)
and a threaded one (calls return Futures, resolved here with a 30 s timeout): pairwise,
fixed+blocking and bag+threaded, or all four pairs with ``RHOM_E2E_ALL_VARIANTS=1``.
The server is a fresh ``create_app`` with fresh MemoryAdapters per test, on 127.0.0.1,
keeping its state in a SQLite file under ``tmp_path`` so that a test can stop it and
start it again on the same port (a server that is down, then back).

Models are declared per test (:func:`define_models`): rhom's registry maps a source name to
the latest class declared, so each test's ``Product`` is the one the client resolves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom.server import MemoryAdapter
from rhom.sync.client import SyncClient
from rhom.sync.notify import SyncResult
from tests.loopback import API_TOKEN as API_TOKEN  # re-exported for the tests
from tests.loopback import LoopbackServer as Server
from tests.loopback import join_stopped_servers

LAYOUTS = ("fixed", "bag")
MODES = ("blocking", "threaded")
# Pairwise by default: each layout and each client mode runs, in two runs per test
# instead of four (the suite's time budget); RHOM_E2E_ALL_VARIANTS=1 runs all four.
if os.environ.get("RHOM_E2E_ALL_VARIANTS"):
    VARIANTS = [(layout, mode) for layout in LAYOUTS for mode in MODES]
else:
    VARIANTS = [("fixed", "blocking"), ("bag", "threaded")]


# -- models ------------------------------------------------------------------------------


@dataclasses.dataclass
class Models:
    """The synced models of one test: a ``Product`` owner and a ``Customer`` dependent.

    ``Customer`` has the lower ``sync_priority`` (it would sync first), but it
    ``belongs_to`` Product, so the engine must sync Product first.
    """

    layout: str
    Product: Any
    Customer: Any

    @property
    def all(self) -> list[Any]:
        return [self.Product, self.Customer]


def define_models(layout: str, **product_options: Any) -> Models:
    """Declare fresh ``Product`` and ``Customer`` classes of *layout* ("fixed" or "bag")."""
    if layout == "fixed":

        class Product(rhom.Model, sync=True, sync_priority=2, **product_options):
            name = rhom.TextField()  # test_values round-trips 20,000-character names
            price = rhom.CharField()
            quantity = rhom.CharField()
            photo = rhom.BlobField()

        class Customer(rhom.Model, sync=True, sync_priority=1):
            name = rhom.CharField()
            product = rhom.BelongsTo("Product")

    else:

        class Product(rhom.PropertyBagModel, sync=True, sync_priority=2, **product_options):  # type: ignore[no-redef]
            photo = rhom.BlobField()

        class Customer(rhom.PropertyBagModel, sync=True, sync_priority=1):  # type: ignore[no-redef]
            product = rhom.BelongsTo("Product")

    return Models(layout, Product, Customer)


# -- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _join_stopped_servers() -> Iterator[None]:
    yield from join_stopped_servers()


def adapters() -> tuple[MemoryAdapter, MemoryAdapter]:
    """Fresh, empty ``Product`` (with a ``photo`` blob attribute) and ``Customer`` sources."""
    return MemoryAdapter("Product", blob_fields=("photo",)), MemoryAdapter("Customer")


# -- one test's world ----------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """A device (rhom data folder + models), a running server and the clients made."""

    tmp_path: Path
    models: Models
    server: Server
    products: MemoryAdapter
    customers: MemoryAdapter
    threaded: bool
    clients: list[SyncClient] = dataclasses.field(default_factory=list)
    device: str = "device"

    @property
    def Product(self) -> Any:  # noqa: N802 -- reads like the model it is
        return self.models.Product

    @property
    def Customer(self) -> Any:  # noqa: N802
        return self.models.Customer

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, url: str | None = None, **options: Any) -> SyncClient:
        options.setdefault("threaded_mode", self.threaded)
        options.setdefault("poll_interval", 0)
        # resets turn bulk sync on; poll the server's bulk file build every 50 ms, not 5 s
        options.setdefault("bulksync_timeout", 0.05)
        client = SyncClient(url or self.url, **options)
        self.clients.append(client)
        return client

    def logged_in(self, user: str = "alice", **options: Any) -> SyncClient:
        client = self.client(**options)
        result = wait(client.login(user, "secret"))
        assert result.error_code == 0, result
        return client

    def close_clients(self) -> None:
        while self.clients:
            self.clients.pop().close()

    def switch_device(self, name: str) -> None:
        """Close the clients and open another device's data folder (same models)."""
        self.close_clients()
        rhom.shutdown()
        self.device = name
        rhom.setup(self.tmp_path / name, models=self.models.all)

    def setup_models(self, models: Models) -> None:
        """Replace the models (for tests that need other Meta options)."""
        self.close_clients()
        rhom.shutdown()
        self.models = models
        rhom.setup(self.tmp_path / self.device, models=models.all)


def wait(result: SyncResult | Future[SyncResult]) -> SyncResult:
    """The SyncResult of a call, waiting for it in threaded mode."""
    if isinstance(result, Future):
        return result.result(timeout=30)
    return result


def sync(client: SyncClient, **kwargs: Any) -> SyncResult:
    return wait(client.do_sync(**kwargs))


def rows(model: Any, *columns: str) -> list[tuple[Any, ...]]:
    """The model's changelog rows as tuples of *columns* (default: object, attrib,
    update_type, sent), in insertion order; ``push_changes`` markers included."""
    cols = columns or ("object", "attrib", "update_type", "sent")
    sql = f"SELECT {', '.join(cols)} FROM changed_values WHERE source_id = ? ORDER BY id"
    found = model._rhom.database.execute_sql(sql, (model.get_source_id(),))
    return [tuple(r[c] for c in cols) for r in found]


def values(model: Any) -> dict[str, dict[str, Any]]:
    """Every object of *model* as ``{object: {attr: value}}`` without empty attributes."""
    out = {}
    for obj in model.find("all"):
        out[obj.object] = {k: v for k, v in obj.vars.items() if k not in ("object", "source_id") and v is not None}
    return out


@pytest.fixture(params=VARIANTS, ids="-".join)
def variant(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(layout, mode)``: see ``VARIANTS``."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def layout(variant: tuple[str, str]) -> str:
    return variant[0]


@pytest.fixture
def threaded(variant: tuple[str, str]) -> bool:
    return variant[1] == "threaded"


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``make_world(layout, threaded, authenticate=None)``: set up and start everything."""
    made: list[World] = []

    def make(layout: str, threaded: bool, **app_options: Any) -> World:
        models = define_models(layout)
        rhom.setup(tmp_path / "device", models=models.all)
        products, customers = adapters()
        server = Server([products, customers], store=f"sqlite:///{tmp_path}/server.db", **app_options)
        server.start()
        world = World(tmp_path, models, server, products, customers, threaded)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close_clients()
        rhom.shutdown()
        world.server.stop(wait=False)


@pytest.fixture
def world(make_world: Callable[..., World], layout: str, threaded: bool) -> World:
    """Both layouts x both client modes, server running, nobody logged in."""
    return make_world(layout, threaded)


@contextlib.contextmanager
def server_down(world: World) -> Iterator[None]:
    """Stop the server for the block; start it again (same port, same state) after."""
    world.server.stop()
    try:
        yield
    finally:
        world.server.start()
