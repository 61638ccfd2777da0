"""Source properties set at run time (rhom-api §6.4: ``set_source_property``).

``full_update`` and ``pass_through`` switched on through the client behave as the Meta
options do; ``freezed`` limits the attributes a property bag takes from the server.
"""

from __future__ import annotations

import rhom

from .conftest import World, sync, values
from .helpers import pushes


def test_full_update_property_pushes_every_attribute(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1", "quantity": "5"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    client.set_source_property(world.Product, "full_update", "true")
    assert client.get_source_property("Product", "full_update") == "true"
    world.Product.find("1").update_attributes(price="2")
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    (push,) = seen
    assert push["body"]["update"] == {"1": {"name": "Phone", "price": "2", "quantity": "5"}}
    client.set_source_property(world.Product, "full_update", "false")
    world.Product.find("1").update_attributes(price="3")
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert [p["body"]["update"] for p in seen] == [{"1": {"price": "3"}}]


def test_pass_through_property(world: World) -> None:
    world.products.pass_through = True
    world.products.replace({"1": {"name": "Phone"}, "2": {"name": "Pad"}})
    client = world.logged_in()
    client.set_source_property("Product", "pass_through", "true")
    assert sync(client).status == "complete"
    assert set(values(world.Product)) == {"1", "2"}
    del world.products.data["2"]
    assert sync(client).status == "complete"
    assert set(values(world.Product)) == {"1"}  # each page replaces the source's data


def test_freezed_property_drops_other_attributes(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1", "quantity": "5"}})
    client = world.logged_in()
    client.set_source_property(world.Product, "freezed", "name, quantity")
    assert sync(client).status == "complete"
    assert values(world.Product) == {"1": {"name": "Phone", "quantity": "5"}}
    assert not rhom.have_local_changes()
