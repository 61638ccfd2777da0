"""The server and the device both change data between two syncs (protocol.md §11.4).

Push comes before pull, so the device's edits reach the server first; what the server
then answers -- including values its backend changed on the way -- is what the device
ends with, with no changelog left behind.
"""

from __future__ import annotations

from collections.abc import Mapping

import rhom
from rhom.server import MemoryAdapter

from .conftest import World, rows, sync, values


class Normalising(MemoryAdapter):
    """A backend that rewrites what it stores (names in capitals, prices with cents)."""

    def create(self, attrs: Mapping[str, str]) -> str | None:
        return super().create(self._normal(attrs))

    def update(self, attrs: Mapping[str, str]) -> None:
        super().update(self._normal(attrs))

    @staticmethod
    def _normal(attrs: Mapping[str, str]) -> dict[str, str]:
        out = dict(attrs)
        if "name" in out:
            out["name"] = out["name"].upper()
        if "price" in out:
            out["price"] = f"{float(out['price']):.2f}"
        return out


def test_values_the_backend_rewrote_come_back_to_the_device(world: World) -> None:
    world.server.stop()
    normal = Normalising("Product")
    world.server.adapters[0] = world.products = normal
    world.server.start()
    client = world.logged_in()
    phone = world.Product.create(name="phone", price="9")
    assert sync(client).status == "complete"
    ((server_id, remote),) = normal.data.items()
    assert remote == {"name": "PHONE", "price": "9.00"}
    assert world.Product.find(phone.object) is None
    assert values(world.Product) == {server_id: {"name": "PHONE", "price": "9.00"}}
    assert rows(world.Product) == []
    world.Product.find(server_id).update_attributes(price="10")
    assert sync(client).status == "complete"
    assert values(world.Product) == {server_id: {"name": "PHONE", "price": "10.00"}}
    assert not rhom.have_local_changes()


def test_both_sides_edit_one_object(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1", "quantity": "5"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    world.Product.find("1").update_attributes(price="2")  # the device edits the price
    world.products.data["1"]["price"] = "3"  # the backend edits price and quantity
    world.products.data["1"]["quantity"] = "6"
    assert sync(client).status == "complete"
    assert world.products.data["1"] == {"name": "Phone", "price": "2", "quantity": "6"}
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()


def test_server_deletes_what_the_device_did_not_touch(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}, "2": {"name": "Pad"}})
    world.customers.replace({"7": {"name": "Ann", "product": "1"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    del world.products.data["2"]
    world.Customer.find("7").update_attributes(name="Anne")
    assert sync(client).status == "complete"
    assert set(values(world.Product)) == {"1"}
    assert world.customers.data["7"] == {"name": "Anne", "product": "1"}
    assert values(world.Customer) == world.customers.data


def test_update_of_an_object_the_backend_deleted_is_an_update_error(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    world.Product.find("1").update_attributes(price="2")
    del world.products.data["1"]  # the backend deleted it meanwhile
    result = sync(client)
    errors = [n.server_errors for n in result.notifications if n.server_errors]
    assert world.products.data == {}, world.products.data  # no partial {"price": "2"} record
    assert errors and "1" in errors[0]["update-error"]
