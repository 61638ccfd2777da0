"""Create round-trip, id rewrite, associations and pulled pages (rhom-api §12 item 9)."""

from __future__ import annotations

from typing import Any

import rhom

from .conftest import World, rows, sync, values
from .helpers import during_push, notes


def test_create_round_trip_gives_the_server_id(world: World) -> None:
    client = world.logged_in()
    obj = world.Product.create(name="Phone", price="199", quantity="3")
    temp = obj.object
    assert rows(world.Product) == [(temp, "object", "create", 0)]
    assert rhom.have_local_changes()
    result = sync(client)
    assert result.status == "complete" and result.error_code == 0
    ((server_id, remote),) = world.products.data.items()
    assert remote == {"name": "Phone", "price": "199", "quantity": "3"}
    assert world.Product.find(temp) is None  # the temporary id is gone
    assert values(world.Product) == {server_id: remote}
    assert rows(world.Product) == []
    assert not rhom.have_local_changes()
    assert sync(client).status == "complete"
    assert world.products.calls.count("create") == 1  # never pushed twice


def test_dependents_are_rewritten_and_the_owner_syncs_first(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="199")
    ann = world.Customer.create(name="Ann", product=phone.object)
    bob = world.Customer.create(name="Bob", product=phone.object)
    # Customer has the lower sync_priority, yet it belongs_to Product
    assert world.Customer._rhom.sync_priority < world.Product._rhom.sync_priority
    result = sync(client)
    assert result.status == "complete"
    order = [n.source_name for n in result.notifications if n.status == "ok"]
    assert order == ["Product", "Customer"]
    ((product_id, _),) = world.products.data.items()
    assert sorted(c["name"] for c in world.customers.data.values()) == ["Ann", "Bob"]
    assert {c["product"] for c in world.customers.data.values()} == {product_id}  # server ids on the wire
    local = values(world.Customer)
    assert {c["product"] for c in local.values()} == {product_id}
    assert ann.object not in local and bob.object not in local
    assert rows(world.Customer) == [] and rows(world.Product) == []


def test_a_dependent_waits_for_an_owner_created_during_the_run(world: World) -> None:
    client = world.logged_in()
    world.Product.create(name="First")
    made: dict[str, Any] = {}

    def edit() -> None:  # while Product's push is in flight: a new owner and its dependent
        made["owner"] = world.Product.create(name="Late")
        made["customer"] = world.Customer.create(name="Cy", product=made["owner"].object)

    with during_push(world.Product, edit):
        assert sync(client).status == "complete"
    # the owner's create is only queued: its dependent must not carry the temporary id out
    assert world.customers.data == {}
    assert sorted(p["name"] for p in world.products.data.values()) == ["First"]
    assert sync(client).status == "complete"
    late_id = next(k for k, v in world.products.data.items() if v["name"] == "Late")
    assert list(world.customers.data.values()) == [{"name": "Cy", "product": late_id}]
    assert [c["product"] for c in values(world.Customer).values()] == [late_id]


def test_server_changes_are_pulled(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1"}, "2": {"name": "Pad", "price": "2"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    assert values(world.Product) == {"1": {"name": "Phone", "price": "1"}, "2": {"name": "Pad", "price": "2"}}
    world.products.replace({"1": {"name": "Phone X", "price": "1"}, "3": {"name": "Watch", "quantity": "9"}})
    result = sync(client)
    assert result.status == "complete"
    assert values(world.Product) == {"1": {"name": "Phone X", "price": "1"}, "3": {"name": "Watch", "quantity": "9"}}
    # a changed attribute arrives as delete + insert: it counts as an update, not a delete
    stats = client.last_sync_stats(world.Product)
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 1, 1)
    assert rows(world.Product) == []  # server data is not a local change
    assert not rhom.have_local_changes()


def test_paging_brings_every_object_once(world: World) -> None:
    world.products.replace({str(i): {"name": f"p{i}", "price": str(i)} for i in range(1, 8)})
    client = world.logged_in(page_size=2)
    result = sync(client)
    assert result.status == "complete"
    assert len(values(world.Product)) == 7
    progress = notes(result, world.Product, "in_progress")
    assert [n.processed_count for n in progress] == [2, 2, 2, 1]
    assert [n.cumulative_count for n in progress] == [2, 4, 6, 7]
    assert {n.total_count for n in progress} == {7}
    assert client.get_last_sync_object_count(world.Product) == 7
    assert sync(client).status == "complete"  # nothing new: nothing re-applied
    assert client.get_last_sync_object_count("Product") == 0


def test_sync_source_syncs_one_source(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    world.customers.replace({"7": {"name": "Ann"}})
    client = world.logged_in()
    result = world.Product.sync()
    result = result.result(30) if world.threaded else result
    assert (result.status, result.source_name, result.error_code) == ("ok", "Product", 0)
    assert set(values(world.Product)) == {"1"}
    assert values(world.Customer) == {}
    assert "query" not in world.customers.calls
    unknown = client.do_sync_source("NoSuchSource")
    unknown = unknown.result(30) if world.threaded else unknown
    assert (unknown.status, unknown.error_code) == ("error", 3)
