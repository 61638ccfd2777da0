"""Two devices of one user edit the same data (rhom.setup on two folders, one at a time).

Each device pushes only the attributes it changed, so edits of different attributes
merge on the server; after one more sync each device holds the merged state.
"""

from __future__ import annotations

from typing import Any

import rhom

from .conftest import World, sync, values


def synced(world: World, device: str) -> Any:
    world.switch_device(device)
    client = world.logged_in()
    assert sync(client).status == "complete"
    return client


def test_edits_of_two_devices_merge(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1", "quantity": "5"}})
    synced(world, "a")
    world.Product.find("1").update_attributes(price="2")
    phone_a = world.Product.create(name="made on a")
    synced(world, "b")  # b pulls the seed only: a has not synced its edits yet
    world.Product.find("1").update_attributes(name="Phone X")
    world.Customer.create(name="made on b")
    assert sync(world.clients[-1]).status == "complete"
    client_a = synced(world, "a")  # a pushes its price and its product, pulls b's name
    assert world.Product.find(phone_a.object) is None  # renamed to its server id
    assert sync(client_a).status == "complete"
    a_products, a_customers = values(world.Product), values(world.Customer)
    synced(world, "b")
    assert values(world.Product) == a_products == world.products.data
    assert values(world.Customer) == a_customers == world.customers.data
    assert world.products.data["1"] == {"name": "Phone X", "price": "2", "quantity": "5"}
    assert sorted(o["name"] for o in world.products.data.values()) == ["Phone X", "made on a"]
    assert [c["name"] for c in world.customers.data.values()] == ["made on b"]
    assert not rhom.have_local_changes()


def test_a_delete_on_one_device_reaches_the_other(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}, "2": {"name": "Pad"}})
    synced(world, "a")
    client_b = synced(world, "b")
    world.Product.find("2").destroy()
    assert sync(client_b).status == "complete"
    assert set(world.products.data) == {"1"}
    synced(world, "a")
    assert set(values(world.Product)) == {"1"}
