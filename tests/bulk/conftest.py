"""Fixtures of the bulk sync tests: a real rhom.server over HTTP, real SQLite files.

Every test that takes ``world`` runs twice, with fixed-schema and with property-bag models
(rhom-api §12). The server is a fresh ``create_app`` with fresh MemoryAdapters per test.
A second small app, the *blob host*, serves files at ``/files/<name>`` for the blob phase
(protocol.md §8.3); a test makes a file appear or vanish through ``BlobHost.files``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import rhom
from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server.testing import run_in_thread
from rhom.sync import notify
from rhom.sync.client import SyncClient
from rhom.sync.notify import SyncNotification, SyncResult

LAYOUTS = ("fixed", "bag")

PRODUCTS: dict[str, dict[str, str]] = {
    "1": {"name": "iPhone", "price": "199.99", "quantity": "10", "brand": "Apple"},
    "2": {"name": "Droid", "price": "149.99", "quantity": "5", "brand": "Motorola"},
    "3": {"name": "Fuze", "price": "299.99", "quantity": "3", "brand": "HTC"},
}
CUSTOMERS: dict[str, dict[str, str]] = {
    "10": {"name": "Alice", "product": "1"},
    "11": {"name": "Bob", "product": "2"},
}


@dataclasses.dataclass
class Models:
    """The models of one test: synced ``Product`` and ``Customer``, and two local models,
    ``Note`` in the ``user`` partition (the file a bulk sync swaps) and ``Draft`` in
    ``local``."""

    layout: str
    Product: Any
    Customer: Any
    Note: Any
    Draft: Any

    @property
    def all(self) -> list[Any]:
        return [self.Product, self.Customer, self.Note, self.Draft]


def define_models(layout: str) -> Models:
    """Declare fresh classes (the registry resolves a source name to the latest one)."""
    if layout == "fixed":

        class Product(rhom.Model, sync=True, sync_priority=2):
            name = rhom.CharField()
            price = rhom.CharField()
            quantity = rhom.CharField()
            photo = rhom.BlobField()

        class Customer(rhom.Model, sync=True, sync_priority=1):
            name = rhom.CharField()
            product = rhom.BelongsTo("Product")

        class Note(rhom.Model, sync=False, partition="user"):
            text = rhom.CharField()

        class Draft(rhom.Model, sync=False):
            text = rhom.CharField()

    else:

        class Product(rhom.PropertyBagModel, sync=True, sync_priority=2):  # type: ignore[no-redef]
            photo = rhom.BlobField()

        class Customer(rhom.PropertyBagModel, sync=True, sync_priority=1):  # type: ignore[no-redef]
            product = rhom.BelongsTo("Product")

        class Note(rhom.PropertyBagModel, sync=False, partition="user"):  # type: ignore[no-redef]
            pass

        class Draft(rhom.PropertyBagModel, sync=False):  # type: ignore[no-redef]
            pass

    return Models(layout, Product, Customer, Note, Draft)


# -- the blob host -------------------------------------------------------------------------


@dataclasses.dataclass
class BlobHost:
    url: str
    files: dict[str, bytes]
    requests: list[str]

    def link(self, name: str) -> str:
        return f"{self.url}/files/{name}"


@pytest.fixture
def blob_host() -> Iterator[BlobHost]:
    files: dict[str, bytes] = {}
    requests: list[str] = []

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        requests.append(str(request.url))
        if name not in files:
            return Response("<h1>Not Found</h1>", status_code=404)
        return Response(files[name], media_type="application/octet-stream")

    app = Starlette(routes=[Route("/files/{name}", serve)])
    with run_in_thread(app) as url:
        yield BlobHost(url, files, requests)


# -- one test's world ----------------------------------------------------------------------


@dataclasses.dataclass
class World:
    """A device (rhom data folder + models), a running rhom.server and its adapters."""

    tmp_path: Path
    models: Models
    url: str
    products: MemoryAdapter
    customers: MemoryAdapter
    clients: list[SyncClient] = dataclasses.field(default_factory=list)

    @property
    def Product(self) -> Any:  # noqa: N802 -- reads like the model it is
        return self.models.Product

    @property
    def Customer(self) -> Any:  # noqa: N802
        return self.models.Customer

    def client(self, **options: Any) -> SyncClient:
        """A client logged in as alice (blocking unless ``threaded_mode=True``)."""
        options.setdefault("threaded_mode", False)
        options.setdefault("poll_interval", 0)
        options.setdefault("bulksync_timeout", 0.05)
        client = SyncClient(self.url, **options)
        self.clients.append(client)
        result = client.login("alice", "secret")
        if isinstance(result, Future):
            result = result.result(timeout=30)
        assert result.error_code == 0, result
        return client


@pytest.fixture(params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``make_world(layout, *extra_adapters, products=..., customers=..., extra_models=[...],
    settings=..., **create_app_options)``."""
    stack: list[Any] = []
    made: list[World] = []

    def make(
        layout: str,
        *extra: MemoryAdapter,
        products: Any = None,
        customers: Any = None,
        extra_models: Any = (),
        settings: Settings | None = None,
        **app_options: Any,
    ) -> World:
        models = define_models(layout)
        rhom.setup(tmp_path / "device", models=[*models.all, *extra_models])
        product_adapter = products or MemoryAdapter("Product", PRODUCTS)
        customer_adapter = customers or MemoryAdapter("Customer", CUSTOMERS)
        app = create_app(
            [product_adapter, customer_adapter, *extra], settings=settings or Settings.for_tests(), **app_options
        )
        running = run_in_thread(app)
        url = running.__enter__()
        stack.append(running)
        world = World(tmp_path, models, url, product_adapter, customer_adapter)
        made.append(world)
        return world

    yield make
    for world in made:
        for client in world.clients:
            client.close()
    rhom.shutdown()
    for running in reversed(stack):
        running.__exit__(None, None, None)


@pytest.fixture
def world(make_world: Callable[..., World], layout: str) -> World:
    """Both layouts, server running with PRODUCTS and CUSTOMERS, nobody logged in."""
    return make_world(layout)


# -- helpers ---------------------------------------------------------------------------------


def values(model: Any) -> dict[str, dict[str, Any]]:
    """Every object of *model* as ``{object: {attr: value}}`` without empty attributes."""
    out = {}
    for obj in model.find("all"):
        out[obj.object] = {k: v for k, v in obj.vars.items() if k not in ("object", "source_id") and v is not None}
    return out


def expected(data: dict[str, dict[str, str]], layout: str, fields: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """What a model holds of server *data*: fixed schema keeps only its declared fields."""
    if layout == "bag":
        return {k: dict(v) for k, v in data.items()}
    return {k: {a: v for a, v in obj.items() if a in fields} for k, obj in data.items()}


PRODUCT_FIELDS = ("name", "price", "quantity", "photo")
CUSTOMER_FIELDS = ("name", "product")


def bulk_notes(result: SyncResult) -> list[tuple[str | None, str | None, str]]:
    """``(bulk_status, partition, status)`` of the bulk notifications of a call."""
    return [(n.bulk_status, n.partition, n.status) for n in result.notifications if n.sync_type == "bulk"]


class Recorder:
    """Collects what ``notify.bulk_progress`` sends (use as a context manager)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, SyncNotification]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.seen.append((kwargs["bulk_status"], kwargs["partition"], kwargs["notification"]))

    def __enter__(self) -> Recorder:
        self._ctx = notify.bulk_progress.connected_to(self)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
