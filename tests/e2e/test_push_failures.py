"""The changelog survives failed and concurrent pushes (rhom-api §12 item 10, §5.3).

A push fails either because the server is down (error 1) or because it refuses the request
(413, error 2); an edit "during" a push is made from another thread while the push's rows
are in flight (see helpers.during_push).
"""

from __future__ import annotations

import pytest

from rhom.sync.client import SyncClient

from .conftest import World, rows, sync, values
from .helpers import FAILURE_CODES, FAILURES, during_push, failing, notes, pushes, row_values


def synced_phone(world: World) -> tuple[SyncClient, str]:
    """A product created, pushed and linked: ``(client, server id)``."""
    client = world.logged_in()
    world.Product.create(name="Phone", price="1", quantity="1")
    assert sync(client).status == "complete"
    ((server_id, _),) = world.products.data.items()
    return client, server_id


@pytest.mark.parametrize("failure", FAILURES)
def test_failed_create_collapses_to_one_placeholder(world: World, failure: str) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"  # the client has its id
    phone = world.Product.create(name="Phone", price="1")
    with failing(world, failure):
        with during_push(world.Product, lambda: world.Product.find(phone.object).update_attributes(price="2")):
            result = sync(client)
    (error,) = notes(result, world.Product, "error")
    assert error.error_code == FAILURE_CODES[failure]
    assert rows(world.Product) == [(phone.object, "object", "create", 0)]
    # a failed sync does not multiply rows; later edits fold into the create
    world.Product.find(phone.object).update_attributes(quantity="5")
    assert rows(world.Product) == [(phone.object, "object", "create", 0)]
    assert world.products.data == {}
    assert sync(client).status == "complete"
    assert list(world.products.data.values()) == [{"name": "Phone", "price": "2", "quantity": "5"}]
    assert world.products.calls.count("create") == 1
    assert rows(world.Product) == []


@pytest.mark.parametrize("failure", FAILURES)
def test_failed_update_keeps_the_value_typed_during_the_push(world: World, failure: str) -> None:
    client, oid = synced_phone(world)
    world.Product.find(oid).update_attributes(name="Phone 2", price="2")
    with failing(world, failure):
        with during_push(world.Product, lambda: world.Product.find(oid).update_attributes(name="Phone 3")):
            result = sync(client)
    assert notes(result, world.Product, "error")
    # two rows, back in the queue; name carries the value typed during the push
    assert sorted(row_values(world.Product)) == [
        (oid, "name", "update", 0, "Phone 3"),
        (oid, "price", "update", 0, "2"),
    ]
    assert world.products.data[oid] == {"name": "Phone", "price": "1", "quantity": "1"}
    assert sync(client).status == "complete"
    assert world.products.data[oid] == {"name": "Phone 3", "price": "2", "quantity": "1"}
    assert values(world.Product)[oid] == {"name": "Phone 3", "price": "2", "quantity": "1"}
    assert rows(world.Product) == []


@pytest.mark.parametrize("failure", FAILURES)
def test_failed_delete_returns_to_the_queue(world: World, failure: str) -> None:
    client, oid = synced_phone(world)
    world.Product.find(oid).destroy()
    queued = sorted(rows(world.Product))
    assert {r[2] for r in queued} == {"delete"} and {r[3] for r in queued} == {0}
    with failing(world, failure):
        assert notes(sync(client), world.Product, "error")
    assert sorted(rows(world.Product)) == queued
    assert oid in world.products.data
    assert sync(client).status == "complete"
    assert world.products.data == {}
    assert values(world.Product) == {}
    assert rows(world.Product) == []


@pytest.mark.parametrize("failure", FAILURES)
def test_object_deleted_during_a_failed_create_push_is_forgotten(world: World, failure: str) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"  # the client has its id
    phone = world.Product.create(name="Phone")
    with failing(world, failure):
        with during_push(world.Product, lambda: world.Product.find(phone.object).destroy()):
            assert notes(sync(client), world.Product, "error")
    assert rows(world.Product) == []  # the server never knew it: nothing to send
    assert sync(client).status == "complete"
    assert world.products.data == {} and "create" not in world.products.calls
    assert values(world.Product) == {}


def test_edits_during_a_successful_push_go_out_next_time(world: World) -> None:
    client, oid = synced_phone(world)
    world.Product.find(oid).update_attributes(name="Phone 2")
    with during_push(world.Product, lambda: world.Product.find(oid).update_attributes(name="Phone 3", price="3")):
        assert sync(client).status == "complete"
    assert world.products.data[oid]["name"] == "Phone 2"
    assert sorted(row_values(world.Product)) == [
        (oid, "name", "update", 0, "Phone 3"),
        (oid, "price", "update", 0, "3"),
    ]
    assert sync(client).status == "complete"
    assert world.products.data[oid] == {"name": "Phone 3", "price": "3", "quantity": "1"}
    assert values(world.Product)[oid] == {"name": "Phone 3", "price": "3", "quantity": "1"}
    assert rows(world.Product) == []


def test_object_deleted_during_its_successful_create_push_is_deleted_on_the_server(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone")
    with during_push(world.Product, lambda: world.Product.find(phone.object).destroy()):
        assert sync(client).status == "complete"
    assert values(world.Product) == {}  # the server's confirmation does not bring it back
    for _ in range(2):  # the delete waits for the link, then goes out
        assert sync(client).status == "complete"
    assert world.products.data == {}
    assert values(world.Product) == {}
    assert rows(world.Product) == []


def test_full_update_pushes_every_attribute(world: World) -> None:
    client, oid = synced_phone(world)
    client.set_source_property(world.Product, "full_update", "true")
    assert client.get_source_property("Product", "full_update") == "true"
    world.Product.find(oid).update_attributes(name="Phone 2")
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert seen[0]["body"]["update"] == {oid: {"name": "Phone 2", "price": "1", "quantity": "1"}}
    assert rows(world.Product) == []


def test_full_update_edit_during_the_push_survives(world: World) -> None:
    client, oid = synced_phone(world)
    client.set_source_property(world.Product, "full_update", "true")
    world.Product.find(oid).update_attributes(name="Phone 2")
    with during_push(world.Product, lambda: world.Product.find(oid).update_attributes(price="9")):
        assert sync(client).status == "complete"
    assert row_values(world.Product) == [(oid, "price", "update", 0, "9")]
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert seen[0]["body"]["update"] == {oid: {"name": "Phone 2", "price": "9", "quantity": "1"}}
    assert world.products.data[oid] == {"name": "Phone 2", "price": "9", "quantity": "1"}


def test_edit_of_a_new_object_during_its_create_push_goes_out_after_the_link(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    with during_push(world.Product, lambda: world.Product.find(phone.object).update_attributes(price="2")):
        assert sync(client).status == "complete"
    ((server_id, remote),) = world.products.data.items()
    assert remote == {"name": "Phone", "price": "1"}
    # the edit followed the object to its server id and waits in the queue
    assert row_values(world.Product) == [(server_id, "price", "update", 0, "2")]
    assert values(world.Product) == {server_id: {"name": "Phone", "price": "2"}}
    assert sync(client).status == "complete"
    assert world.products.data == {server_id: {"name": "Phone", "price": "2"}}
    assert world.products.calls.count("create") == 1
    assert rows(world.Product) == []
