"""create-error handling (rhom-api §12 item 11, §2.4 ``on_sync_create_error``).

The server's adapter refuses creates (``MemoryAdapter.fail("create")``); the client gets a
``create-error`` in its next page, keeps the object stuck (sent=2) until the application
answers ``delete`` or ``recreate``, and holds back the object's edits and its dependents.
"""

from __future__ import annotations

from typing import Any

import pytest

from rhom.exceptions import ValidationError

from .conftest import World, rows, sync, values
from .helpers import pushes, reported_errors


def stuck_phone(world: World) -> tuple[Any, Any, dict[str, Any]]:
    """A product whose create the server refused: ``(client, product, create-error)``."""
    client = world.logged_in()
    world.products.fail("create", "out of stock")
    phone = world.Product.create(name="Phone", price="1")
    result = sync(client)
    assert result.status == "complete"
    error = reported_errors(result, world.Product)
    assert error.error_code == 8
    return client, phone, dict(error.server_errors["create-error"])


def test_create_error_reports_message_and_attributes(world: World) -> None:
    client, phone, errors = stuck_phone(world)
    assert errors == {phone.object: {"message": "out of stock", "attributes": {"name": "Phone", "price": "1"}}}
    assert world.products.data == {}
    # the rows wait (sent=2): the object cannot be modified, and is not pushed again
    assert {r[3] for r in rows(world.Product)} == {2}
    assert not world.Product.find(phone.object).can_modify()
    world.Product.find(phone.object).update_attributes(price="2")
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert seen == []
    assert world.products.calls.count("create") == 1 and "update" not in world.products.calls
    assert values(world.Product) == {phone.object: {"name": "Phone", "price": "2"}}


def test_create_error_delete_forgets_the_object(world: World) -> None:
    client, phone, errors = stuck_phone(world)
    world.Product.on_sync_create_error(errors, "delete")
    assert values(world.Product) == {}
    assert rows(world.Product) == []
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data == {}


def test_create_error_recreate_pushes_it_again(world: World) -> None:
    client, phone, errors = stuck_phone(world)
    world.Product.find(phone.object).update_attributes(price="3")  # made while stuck
    client.on_sync_create_error("Product", errors, "recreate")  # the client-level form
    assert rows(world.Product) == [(phone.object, "object", "create", 0)]
    assert world.Product.find(phone.object) is not None
    world.products.heal()
    assert sync(client).status == "complete"
    ((server_id, remote),) = world.products.data.items()
    assert remote == {"name": "Phone", "price": "3"}
    assert values(world.Product) == {server_id: remote}
    assert rows(world.Product) == []


def test_create_error_recreate_of_a_deleted_object_does_nothing(world: World) -> None:
    client, phone, errors = stuck_phone(world)
    world.Product.find(phone.object).destroy()
    world.Product.on_sync_create_error(list(errors), "recreate")  # ids are accepted too
    assert rows(world.Product) == []
    assert values(world.Product) == {}
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data == {}


def test_dependents_of_a_stuck_create_are_not_pushed(world: World) -> None:
    client = world.logged_in()
    world.products.fail("create", "out of stock")
    phone = world.Product.create(name="Phone")
    world.Customer.create(name="Ann", product=phone.object)
    result = sync(client)
    errors = reported_errors(result, world.Product).server_errors["create-error"]
    assert world.customers.data == {} and "create" not in world.customers.calls
    assert sync(client).status == "complete"
    assert world.customers.data == {}  # still held back
    world.Product.on_sync_create_error(errors, "recreate")
    world.products.heal()
    assert sync(client).status == "complete"
    ((product_id, _),) = world.products.data.items()
    assert list(world.customers.data.values()) == [{"name": "Ann", "product": product_id}]
    assert [c["product"] for c in values(world.Customer).values()] == [product_id]


def test_push_changes_pushes_with_nothing_queued(world: World) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"
    world.Product.push_changes()
    assert rows(world.Product) == [(None, None, "push_changes", 0)]
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert len(seen) == 1 and seen[0]["ok"]
    assert not {"create", "update", "delete"} & set(seen[0]["body"])
    assert rows(world.Product) == []
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert seen == []  # the marker is gone


def test_bad_create_error_action_raises(world: World) -> None:
    client, phone, errors = stuck_phone(world)
    with pytest.raises(ValidationError):
        world.Product.on_sync_create_error(errors, "retry")
    assert {r[3] for r in rows(world.Product)} == {2}  # nothing changed
