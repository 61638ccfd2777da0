"""Source properties set at run time (rhom-api §6.4: ``set_source_property``).

``full_update`` and ``pass_through`` switched on through the client behave as the Meta
options do; ``freezed`` limits the attributes a property bag takes from the server.
"""

from __future__ import annotations

import pytest

import rhom
from rhom.exceptions import ConfigurationError
from rhom.sync.errors import ErrorCode

from .conftest import World, sync, values, wait
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


def test_sync_type_none_at_run_time_pauses_the_source(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in()
    world.Product.set_sync_type("none")
    pad = world.Product.create(name="Pad")
    result = sync(client)
    assert result.ok and "Product" not in result.sources, "a source switched off is not synced"
    assert world.products.data == {"1": {"name": "Phone"}} and set(values(world.Product)) == {pad.object}
    alone = wait(client.do_sync_source(world.Product))
    assert (alone.status, alone.error_code) == ("error", ErrorCode.RUNTIME)
    assert "switched off" in alone.error_message
    world.Product.set_sync_type(":incremental")  # Rhodes' symbol spelling is accepted
    assert world.Product.get_sync_type() == "incremental"
    assert sync(client).ok
    assert sorted(o["name"] for o in world.products.data.values()) == ["Pad", "Phone"], "the queued create went"
    assert sorted(v["name"] for v in values(world.Product).values()) == ["Pad", "Phone"]


def test_set_sync_type_lasts_until_the_next_setup(world: World) -> None:
    """A new ``rhom.setup`` in the same process is a new start: the declared sync type
    holds again, in the model and in its ``sources`` row (Rhodes' init_db_sources)."""
    world.Product.set_sync_type("none")
    world.switch_device(world.device)  # rhom.setup again, same folder, same classes
    assert world.Product.get_sync_type() == "incremental"
    db = world.Product._rhom.database
    (row,) = db.execute_sql("SELECT sync_type FROM sources WHERE name = 'Product'")
    assert row["sync_type"] == "incremental"
    world.products.replace({"1": {"name": "Phone"}})
    assert sync(world.logged_in()).ok
    assert values(world.Product) == {"1": {"name": "Phone"}}


def test_set_sync_type_refuses_bad_input(world: World) -> None:
    with pytest.raises(ConfigurationError, match="expected 'none', 'incremental' or 'bulk_only', got 'sometimes'"):
        world.Product.set_sync_type("sometimes")
    assert world.Product.get_sync_type() == "incremental"

    class Note(rhom.PropertyBagModel):
        pass

    with pytest.raises(ConfigurationError, match="Note.set_sync_type: the model is not synced"):
        Note.set_sync_type("incremental")
