"""Pages from the change log: what clients at different points of the log receive.

The log holds every change in order; each client keeps a cursor. These tests check the
behaviour a client relies on: whatever changes while it pages, and however far behind
it is, applying its pages leaves it with exactly the server's data.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from rhom.server import MemoryAdapter, Settings, Store

from .conftest import PRODUCTS, RhoClient, Serve, client_of


def test_lagging_client_gets_the_exact_difference(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with serve([products]) as url:
        behind, current = client_of(url, rho), client_of(url, rho)
        behind.sync("Product")
        for price in ("1.00", "2.00"):
            products.data["1"]["price"] = price
            current.sync("Product")  # each refresh appends a version of object 1
        products.data["1"]["name"] = "iPhone 2"
        del products.data["1"]["sku"]
        page = behind.page("Product")
    assert page["commands"] == {
        "insert": {"1": {"price": "2.00", "name": "iPhone 2"}},
        "delete": {"1": {"price": "199.99", "name": "iPhone", "sku": "1001"}},
    }, "protocol.md §4.5 step 3: from the version the client holds to the current one"


def test_object_changed_while_paging_arrives_once_current(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with serve([products]) as url:
        client = client_of(url, rho)
        first = client.page("Product", p_size=2)
        sent = set(first["commands"]["insert"])
        later = next(oid for oid in PRODUCTS if oid not in sent)
        products.data[later]["price"] = "0.01"  # not sent yet: must arrive in its new version
        products.data[sorted(sent)[0]]["price"] = "0.02"  # sent already: must arrive as a change
        client.local["Product"] = {}
        local = client.local["Product"]
        for oid, attrs in first["commands"]["insert"].items():
            local[oid] = dict(attrs)
        client.sync("Product", p_size=2)  # acknowledges the first page and pages on
    assert local == products.data


def test_random_changes_between_pages_converge(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    """Clients with different page sizes, the backend changing between their requests."""
    rng = random.Random(20261203)
    adapter = MemoryAdapter("Product", {str(i): {"n": str(i), "a": "x"} for i in range(40)})
    with serve([adapter]) as url:
        clients = [client_of(url, rho) for _ in range(3)]
        sizes = [1, 3, 7]
        tokens: list[str | None] = [None, None, None]
        for _ in range(300):
            which = rng.randrange(3)
            client = clients[which]
            page = client.page("Product", p_size=sizes[which], token=tokens[which])
            _apply(client, page["commands"])
            tokens[which] = page["token"] or None
            _mutate(rng, adapter)
        for client, size in zip(clients, sizes, strict=True):
            client.sync("Product", p_size=size)
            assert client.local["Product"] == adapter.data, "every client ends with the server's data"


def _apply(client: RhoClient, commands: dict[str, object]) -> None:
    from .conftest import _apply as apply_page

    apply_page(client.local.setdefault("Product", {}), commands)  # type: ignore[arg-type]


def _mutate(rng: random.Random, adapter: MemoryAdapter) -> None:
    oid = str(rng.randrange(50))
    kind = rng.random()
    if kind < 0.2:
        adapter.data.pop(oid, None)
    elif kind < 0.5:
        adapter.data[oid] = {"n": str(rng.randrange(5)), "a": rng.choice("xyz")}
    elif kind < 0.7 and oid in adapter.data:
        adapter.data[oid].pop("a", None)
    elif oid in adapter.data:
        adapter.data[oid]["b"] = str(rng.randrange(3))


def test_app_partition_keeps_one_log_for_every_client(
    serve: Serve, store: Store, rho: Callable[[str], RhoClient]
) -> None:
    shared = MemoryAdapter("Product", PRODUCTS, partition="app")
    with serve([shared]) as url:
        clients = [client_of(url, rho, user) for user in ("alice", "bob", "carol", "bob")]
        for client in clients:
            assert client.sync("Product") == PRODUCTS
        info = store.log_info("app:Product")
        assert info.last == len(PRODUCTS) and info.count == len(PRODUCTS), (
            "one entry per object, whatever the number of clients"
        )
        states = store.keys("cx:")
        assert states and all(len(store.get(key) or b"") < 200 for key in states), (
            "a client keeps a cursor, not a copy of the data"
        )


def test_stale_client_is_forgotten_and_starts_over(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    forgetful = Settings.for_tests(
        store=settings.store, redis_prefix=settings.redis_prefix, log_retention=0, log_compact_interval=0
    )
    with serve([products], settings=forgetful) as url:
        away, active = client_of(url, rho), client_of(url, rho)
        away.sync("Product")
        del products.data["5"]
        active.sync("Product")  # refreshes: the deletion is compacted away at once
        reply = away.query("Product")
        assert (reply.status_code, reply.text) == (500, "Unknown client"), (
            "docs/server.md: a client behind the log's retention is forgotten"
        )
        away.create_client()
        away.local["Product"] = {}
        assert away.sync("Product") == products.data, "a new client id pages everything"


def test_compaction_runs_one_interval_after_a_log_is_first_seen(store: Store) -> None:
    from rhom.server._log import log_changes
    from rhom.server._state import State

    state = State(store, retention=0, compact_every=10)
    log = "u/alice:Product"
    store.log_write(log, log_changes([("1", {"n": "1"})]), 0.0)
    store.log_write(log, log_changes([("1", {"n": "2"})]), 1.0)  # replaces entry 1
    state.compact(log, 100.0)
    state.compact(log, 105.0)
    assert store.log_info(log).floor == 0, "first seen at 100: nothing before 110"
    state.compact(log, 110.0)
    assert store.log_info(log).floor == 2, "an interval later the replaced entry is dropped"
