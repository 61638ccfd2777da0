"""The rhoconnect-client spec app, on rhom: its models, its sync server, one client per run.

rhoconnect-client runs ``spec/rhoconnect_spec`` as one Rhodes app against one RhoConnect
server (``spec/server``). Here that app is :func:`spec_models` (the classes of
``spec/rhoconnect_spec/app/*/*.rb``), the server is rhom.server on 127.0.0.1 with adapters
modelled on ``spec/server/sources/*.rb`` (:func:`spec_adapters`), and :class:`SpecApp` is
one run of a spec file in one mode (``$spec_settings[:schema_model]``), kept for the whole
run as the Ruby specs keep theirs: their ``it`` blocks build on each other, in order.

What stands in for the Rhodes test hooks (rhom-api §6.4):

* ``sync_push_callback`` -> :meth:`SpecApp.during_push`: the ``push_sent`` signal, which
  rhom sends where Rhodes calls the callback (after the push request, before the
  changelog rows are settled), in the sync's own thread;
* ``set_sync_push_body`` / ``sync_push_body`` -> the same signal's ``body``;
* ``sync_push_error = ERR_NETWORK`` -> the push's connection is refused
  (:meth:`rhom.testing.FaultyTransport.refuse`): the request never leaves the device,
  as with Rhodes' hook;
* ``rho_server_response`` -> :meth:`rhom.testing.FaultyTransport.replace_reply`: the
  request reaches the real server, which runs it, and the reply is replaced by the
  spec's text, as Rhodes replaces it. A mock, where the spec needs a reply that names
  objects this client never pushed (``broken_object_id``) or attributes it never sent.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import rhom
from rhom.server import MemoryAdapter, SourceAdapter
from rhom.server.adapters import Upload
from rhom.sync import notify
from rhom.sync.client import SyncClient
from rhom.testing import FaultyTransport
from tests.loopback import LoopbackServer, join_stopped_servers

# Rhodes' RhoError codes the specs compare with
ERR_NONE = 0
ERR_NETWORK = 1
ERR_RUNTIME = 3
ERR_CLIENTISNOTLOGGEDIN = 7
ERR_CUSTOMSYNCSERVER = 8


@pytest.fixture(scope="session", autouse=True)
def _join_stopped_servers() -> Iterator[None]:
    yield from join_stopped_servers()


# -- the spec app's models (spec/rhoconnect_spec/app/*/*.rb) ---------------------------------


def spec_models() -> SimpleNamespace:
    """Fresh classes of every model of the spec app (rhom's registry keeps the latest)."""

    class Product(rhom.PropertyBagModel, sync=True, sync_priority=1):  # "sync engine should reorder sources"
        quantity = rhom.BelongsTo("Customer")
        sku = rhom.BelongsTo("Customer")

    class Customer(rhom.PropertyBagModel, sync=True, sync_priority=2):
        # property :first is commented out in customer.rb: a frozen Customer drops it
        address = rhom.CharField()
        created_at = rhom.CharField()
        city = rhom.CharField()
        email = rhom.CharField()
        last = rhom.CharField()
        updated_at = rhom.CharField()
        lat = rhom.CharField()
        long = rhom.CharField()
        phone = rhom.CharField()
        state = rhom.CharField()
        zip = rhom.CharField()

    class Product_s(rhom.Model, sync=True, sync_priority=2, schema_version="1.0"):  # noqa: N801 -- Rhodes' name
        brand = rhom.CharField()
        created_at = rhom.CharField()
        name = rhom.CharField()
        price = rhom.CharField()
        quantity = rhom.BelongsTo("Customer_s")
        sku = rhom.BelongsTo("Customer_s")
        updated_at = rhom.CharField()

    class Customer_s(rhom.Model, sync=True, sync_priority=1, schema_version="1.0"):  # noqa: N801
        address = rhom.CharField()
        created_at = rhom.CharField()
        city = rhom.CharField()
        email = rhom.CharField()
        first = rhom.CharField()
        last = rhom.CharField()
        updated_at = rhom.CharField()
        lat = rhom.CharField()
        long = rhom.CharField()
        phone = rhom.CharField()
        state = rhom.CharField()
        zip = rhom.CharField()

    class BlobTest(rhom.PropertyBagModel, sync=True):
        image_uri = rhom.BlobField(overwrite=True)

    class BlobTest_s(rhom.Model, sync=True):  # noqa: N801
        name = rhom.CharField()
        filename = rhom.CharField()
        image_uri = rhom.BlobField(overwrite=True)

    class BlobBulkTest(rhom.PropertyBagModel, sync=True):
        image_uri = rhom.BlobField(overwrite=True)

    class BlobBulkTest_s(rhom.Model, sync=True):  # noqa: N801
        name = rhom.CharField()
        filename = rhom.CharField()
        image_uri = rhom.BlobField(overwrite=True)

    class Syncerror(rhom.PropertyBagModel, sync=True, sync_priority=100):
        pass

    models = (Product, Customer, Product_s, Customer_s, BlobTest, BlobTest_s, BlobBulkTest, BlobBulkTest_s, Syncerror)
    return SimpleNamespace(**{m.__name__: m for m in models})


# -- the spec server's sources (spec/server/sources/*.rb) -------------------------------------

#: What the store backend (a Rails app in Rhodes' runs) holds before the specs start.
STORE_PRODUCTS = {
    "1": {"name": "iPhone", "brand": "Apple", "price": "199.99", "quantity": "20", "sku": "1234"},
    "2": {"name": "G2", "brand": "Android", "price": "99.99", "quantity": "15", "sku": "2345"},
    "3": {"name": "Fuze", "brand": "HTC", "price": "299.99", "quantity": "5", "sku": "3456"},
}
STORE_CUSTOMERS = {
    "1": {"first": "Jane", "last": "Doe", "city": "Seattle", "state": "WA", "zip": "98101", "phone": "555-0100"},
    "2": {"first": "John", "last": "Smith", "city": "Austin", "state": "TX", "zip": "73301", "phone": "555-0101"},
}


class StoreSource(MemoryAdapter):
    """``product.rb`` / ``customer.rb`` and their ``_s`` twins: one store backend behind
    both names (Product and Product_s read and write the same products)."""

    def __init__(self, name: str, table: dict[str, dict[str, str]]) -> None:
        super().__init__(name, poll_interval=0)  # settings.yml: poll_interval 0
        self.data = table

    def create(self, attrs: Mapping[str, str]) -> str | None:
        with self._lock:  # ids continue after the table's largest, whichever name created them
            self._next_id = 1 + max((int(k) for k in self.data if k.isdigit()), default=0)
        return super().create(attrs)


class CustomerSource(StoreSource):
    """``customer.rb``: ``search`` is ``query`` filtered by a ``first`` name."""

    def search(self, params: Mapping[str, Any] | None) -> Mapping[str, Mapping[str, str]]:
        self._enter("search")
        first = str((params or {}).get("first", "")).lower()
        with self._lock:
            return {k: dict(v) for k, v in self.data.items() if not first or v.get("first", "").lower() == first}


class ImageSource(MemoryAdapter):
    """``image_base.rb``: a bucket of images listed as ``{name, image_uri-rhoblob}``.

    ``create`` keeps the uploaded file under a key (``name``, as ImageBase does) and
    lists it back; there is no ``update`` (a pushed update is an update-error), and
    ``delete`` removes the key. Both names of a model share one bucket.

    :param key: the attribute naming the stored file: ``name`` (image_base.rb), or
        ``filename`` (the uploaded file's name, which ``store_blob`` records: the bulk
        specs find their objects by it).
    """

    def __init__(self, name: str, bucket: dict[str, dict[str, str]], *, key: str = "name") -> None:
        super().__init__(name, poll_interval=0, blob_fields=("image_uri",))
        self.data = bucket
        self.key = key

    def store_blob(self, obj: dict[str, str], field: str, upload: Upload) -> str:
        obj["filename"] = upload.filename
        return self.save_blob(upload)

    def create(self, attrs: Mapping[str, str]) -> str | None:
        self._enter("create")
        key = attrs.get(self.key) or attrs.get("name") or ""
        with self._lock:
            self.data[key] = {"image_uri": attrs.get("image_uri", ""), "name": key}
        return key

    def update(self, attrs: Mapping[str, str]) -> None:
        raise NotImplementedError(f"{self.name}: image_base.rb has no update")


@dataclasses.dataclass
class Backend:
    """The spec server's backends: the store's tables and the image buckets."""

    products: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=lambda: {k: dict(v) for k, v in STORE_PRODUCTS.items()}
    )
    customers: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=lambda: {k: dict(v) for k, v in STORE_CUSTOMERS.items()}
    )
    images: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    bulk_images: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


def spec_adapters(backend: Backend) -> list[SourceAdapter]:
    return [
        StoreSource("Product", backend.products),
        StoreSource("Product_s", backend.products),
        CustomerSource("Customer", backend.customers),
        CustomerSource("Customer_s", backend.customers),
        ImageSource("BlobTest", backend.images),
        ImageSource("BlobTest_s", backend.images),
        ImageSource("BlobBulkTest", backend.bulk_images, key="filename"),
        ImageSource("BlobBulkTest_s", backend.bulk_images, key="filename"),
        MemoryAdapter("Syncerror"),
    ]


# -- one run of a spec file ----------------------------------------------------------------


@dataclasses.dataclass
class SpecApp:
    """The device (a rhom data folder), the sync server and the client of one spec run."""

    root: Path
    models: SimpleNamespace
    backend: Backend
    server: LoopbackServer
    faults: FaultyTransport
    client: SyncClient
    schema_model: bool
    server_settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def model(self, name: str) -> Any:
        """``getProduct``: the model of *name* in this run's mode (``Product_s`` in schema mode)."""
        return getattr(self.models, name + "_s" if self.schema_model else name)

    def name(self, name: str) -> str:
        """``getProduct_str``."""
        return str(self.model(name).get_source_name())

    @property
    def db(self) -> rhom.Database:
        """``::Rho::RHO.get_user_db()``."""
        return rhom.get_database("user")

    def changed_values(self, conditions: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """``getTestDB().select_from_table('changed_values', '*', conditions)``, oldest first."""
        return self.db.select_from_table("changed_values", "*", conditions, order_by="id")

    def use_sync_types(self, **types: str) -> None:
        """Rhodes' ``update_into_table('sources', {'sync_type' => ...})``: every source
        ``none`` but the named ones."""
        for model in vars(self.models).values():
            model.set_sync_type(types.get(model.__name__, "none"))

    @contextmanager
    def during_push(self, model: Any, edit: Callable[[], Any]) -> Iterator[list[dict[str, Any]]]:
        """``sync_push_callback``: run *edit* right after *model*'s push request, before
        the engine settles the rows; yields the bodies pushed (``sync_push_body``)."""
        seen: list[dict[str, Any]] = []

        def receiver(sender: Any, body: Any, ok: bool) -> None:
            seen.append(body)
            edit()

        with notify.push_sent.connected_to(receiver, sender=model):
            yield seen

    def replace_pull_reply(self, model: Any, body: str) -> None:
        """``rho_server_response``: the next pull of *model* runs on the server and
        its reply is replaced by *body*."""
        self.faults.replace_reply("GET", f"/app/v1/{model.get_source_name()}", body.encode())

    def refuse_push(self, model: Any) -> None:
        """``sync_push_error = ERR_NETWORK``: *model*'s next push never leaves the device."""
        self.faults.refuse("POST", f"/app/v1/{model.get_source_name()}")

    @contextmanager
    def server_down(self) -> Iterator[None]:
        """The sync server cannot be reached for the block; back, with its state, after."""
        self.server.stop()
        try:
            yield
        finally:
            self.server.start(**self.server_settings)


def copy_file(src: Path, dst_dir: Path) -> None:
    """The blob specs' ``copy_file``: *src* into *dst_dir* under its own name."""
    shutil.copyfile(src, dst_dir / src.name)


def push_body_text(body: Any) -> str:
    """A push body as the JSON text Rhodes keeps in ``sync_push_body``."""
    return json.dumps(body)


@contextmanager
def spec_app(root: Path, *, schema_model: bool = False, **server_settings: Any) -> Iterator[SpecApp]:
    """Set up the device, start the server (with *server_settings*), make the client;
    tear all down after."""
    models = spec_models()
    rhom.setup(root / "device", models=list(vars(models).values()))
    backend = Backend()
    server = LoopbackServer(spec_adapters(backend), store=f"sqlite:///{root}/server.db")
    server.start(**server_settings)
    faults = FaultyTransport()
    # non-threaded, as every spec runs (``Rho::RhoConnectClient.threadedMode = false``);
    # rhoconfig.txt: sync_poll_interval=0; resets make the next sync a bulk sync: poll
    # the server's bulk file every 50 ms
    client = SyncClient(server.url, threaded_mode=False, poll_interval=0, transport=faults, bulksync_timeout=0.05)
    app = SpecApp(root, models, backend, server, faults, client, schema_model, server_settings)
    try:
        yield app
    finally:
        client.close()
        rhom.shutdown()
        server.stop(wait=False)
