"""update-error and delete-error actions (rhom-api §12 item 12, §2.4)."""

from __future__ import annotations

from typing import Any

import pytest

from rhom.exceptions import ValidationError

from .conftest import World, rows, sync, values
from .helpers import pushes, reported_errors, row_values


def synced_phone(world: World) -> tuple[Any, str]:
    client = world.logged_in()
    world.products.replace({"1": {"name": "Phone", "price": "1", "quantity": "1"}})
    assert sync(client).status == "complete"
    return client, "1"


def refused_update(world: World, client: Any, oid: str, **attrs: str) -> dict[str, Any]:
    world.products.fail("update", "locked")
    world.Product.find(oid).update_attributes(**attrs)
    result = sync(client)
    assert result.status == "complete"
    error = reported_errors(result, world.Product)
    assert error.error_code == 8
    return dict(error.server_errors)


def test_update_error_retry_queues_the_echoed_values(world: World) -> None:
    client, oid = synced_phone(world)
    errors = refused_update(world, client, oid, name="Phone 2", price="2")
    assert errors["update-error"] == {oid: {"message": "locked", "attributes": {"name": "Phone 2", "price": "2"}}}
    assert errors["update-rollback"] == {oid: {"attributes": {"name": "Phone", "price": "1", "quantity": "1"}}}
    assert rows(world.Product) == []  # the push itself went through
    assert world.products.data[oid]["name"] == "Phone"
    world.Product.on_sync_update_error(errors["update-error"], "retry")
    assert sorted(row_values(world.Product)) == [
        (oid, "name", "update", 0, "Phone 2"),
        (oid, "price", "update", 0, "2"),
    ]
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data[oid] == {"name": "Phone 2", "price": "2", "quantity": "1"}
    assert rows(world.Product) == []


def test_update_error_retry_keeps_a_newer_edit(world: World) -> None:
    client, oid = synced_phone(world)
    errors = refused_update(world, client, oid, name="Phone 2", price="2")
    world.Product.find(oid).update_attributes(name="Phone 3")  # typed after the error
    client.on_sync_update_error("Product", errors["update-error"], "retry")
    assert sorted(row_values(world.Product)) == [
        (oid, "name", "update", 0, "Phone 3"),
        (oid, "price", "update", 0, "2"),
    ]
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data[oid] == {"name": "Phone 3", "price": "2", "quantity": "1"}


def test_update_error_retry_on_a_full_update_source(world: World) -> None:
    client, oid = synced_phone(world)
    client.set_source_property(world.Product, "full_update", "true")
    with pushes(world.Product) as seen:
        errors = refused_update(world, client, oid, name="Phone 2")
    assert seen[0]["body"]["update"] == {oid: {"name": "Phone 2", "price": "1", "quantity": "1"}}
    assert errors["update-error"][oid]["attributes"] == {"name": "Phone 2", "price": "1", "quantity": "1"}
    world.Product.on_sync_update_error(errors["update-error"], "retry")
    # still one row per attribute
    assert sorted(r[1:4] for r in rows(world.Product)) == [
        ("name", "update", 0),
        ("price", "update", 0),
        ("quantity", "update", 0),
    ]
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data[oid] == {"name": "Phone 2", "price": "1", "quantity": "1"}


def test_update_error_rollback_restores_the_server_values(world: World) -> None:
    client, oid = synced_phone(world)
    errors = refused_update(world, client, oid, name="Phone 2", price="2")
    assert values(world.Product)[oid] == {"name": "Phone 2", "price": "2", "quantity": "1"}
    world.Product.on_sync_update_error(errors["update-error"], "rollback", errors["update-rollback"])
    assert values(world.Product)[oid] == {"name": "Phone", "price": "1", "quantity": "1"}
    assert rows(world.Product) == []  # a rollback is not a local change
    world.products.heal()
    with pushes(world.Product) as seen:
        assert sync(client).status == "complete"
    assert seen == []
    assert world.products.data[oid] == {"name": "Phone", "price": "1", "quantity": "1"}


def test_bad_update_error_calls_raise(world: World) -> None:
    client, oid = synced_phone(world)
    errors = refused_update(world, client, oid, name="Phone 2")
    with pytest.raises(ValidationError):
        world.Product.on_sync_update_error(errors["update-error"], "rollback")  # no rollback data
    with pytest.raises(ValidationError):
        world.Product.on_sync_update_error(errors["update-error"], "delete")
    with pytest.raises(ValidationError):
        world.Product.on_sync_delete_error(errors["update-error"], "rollback")
    assert rows(world.Product) == []


def test_delete_error_retry_queues_the_delete_again(world: World) -> None:
    client, oid = synced_phone(world)
    world.products.fail("delete", "in use")
    world.Product.find(oid).destroy()
    result = sync(client)
    error = reported_errors(result, world.Product)
    errors = error.server_errors["delete-error"]
    pushed = {"name": "Phone", "price": "1", "quantity": "1"}
    if world.models.layout == "fixed":  # a fixed-schema delete carries every column (Rhom's destroy)
        pushed["photo"] = ""
    assert errors == {oid: {"message": "in use", "attributes": pushed}}
    assert oid in world.products.data
    assert rows(world.Product) == []
    world.Product.on_sync_delete_error(errors, "retry")
    queued = rows(world.Product)
    assert len(queued) == len(pushed) and {r[2] for r in queued} == {"delete"} and {r[3] for r in queued} == {0}
    world.products.heal()
    assert sync(client).status == "complete"
    assert world.products.data == {}
    assert values(world.Product) == {}
    assert rows(world.Product) == []
