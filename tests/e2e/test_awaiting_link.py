"""A create the server took whose link has not come yet (changelog ``sent=2``).

The push succeeds, then the server goes down before the page carrying the create-link
(a real outage: the test stops rhom.server from the ``push_sent`` receiver, after the
server answered the push). While the object waits for its link the user keeps working
on it; when the server is back, what the user did must reach the server object -- the
one the server created, not a second one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import rhom
from rhom.sync import notify
from rhom.sync.errors import ErrorCode

from .conftest import World, rows, sync, values


def push_then_outage(world: World, client: Any, model: Any) -> None:
    """Sync: the push of *model* goes through, then the server is down for the pull."""

    def stop_server(sender: Any, body: Any, ok: bool) -> None:
        if ok:
            world.server.stop()

    with notify.push_sent.connected_to(stop_server, sender=model):
        result = sync(client)
    ends = [n for n in result.notifications if n.source_name == model.__name__ and n.status == "error"]
    assert [n.error_code for n in ends] == [ErrorCode.NETWORK]
    world.server.start()


def names(world: World) -> Counter[str]:
    return Counter(o.get("name", "") for o in world.products.data.values())


def test_edit_while_waiting_reaches_the_server_object(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    assert [r[3] for r in rows(world.Product)] == [2, 2]  # name, price: awaiting the link
    assert not world.Product.find(phone.object).can_modify()
    world.Product.find(phone.object).update_attributes(price="2")
    assert sync(client).status == "complete"
    assert sync(client).status == "complete"  # the held update goes out once linked
    assert names(world) == Counter({"Phone": 1})
    ((server_id, remote),) = world.products.data.items()
    assert remote["price"] == "2"
    assert values(world.Product) == {server_id: {"name": "Phone", "price": "2"}}
    assert not rhom.have_local_changes()


def test_delete_while_waiting_deletes_the_server_object(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    world.Product.find(phone.object).destroy()
    for _ in range(2):
        assert sync(client).status == "complete"
    assert world.products.data == {}
    assert values(world.Product) == {}
    assert rows(world.Product) == []


def test_dependent_created_while_waiting_points_at_the_server_id(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    ann = world.Customer.create(name="Ann", product=phone.object)
    for _ in range(2):
        assert sync(client).status == "complete"
    ((server_id, _),) = world.products.data.items()
    assert [c["product"] for c in world.customers.data.values()] == [server_id]
    assert world.Customer.find(ann.object) is None
    assert [c.product for c in world.Customer.find("all")] == [server_id]


def lose_the_client(world: World) -> None:
    old_id = rhom.client_id()
    assert world.server.admin("DELETE", f"/rc/v1/clients/{old_id}").status_code == 200


def test_unknown_client_while_waiting_drops_an_unedited_copy(world: World) -> None:
    """The server's copy comes back with the pull: nothing doubled."""
    client = world.logged_in()
    world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    lose_the_client(world)
    assert sync(client).status == "complete"
    assert names(world) == Counter({"Phone": 1})
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()


def test_unknown_client_while_waiting_keeps_the_edit(world: World) -> None:
    """The edit cannot go out as an update (the server never knew the temporary id: it
    used to create a partial record under it); the object is created again instead."""
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    world.Product.find(phone.object).update_attributes(price="2")
    lose_the_client(world)
    for _ in range(2):
        assert sync(client).status == "complete"
    assert all(o.get("name") == "Phone" for o in world.products.data.values()), world.products.data
    assert "2" in {o["price"] for o in world.products.data.values()}  # the edit reached the server
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()


def test_unknown_client_while_waiting_keeps_dependents_pointing_at_a_server_object(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    world.Customer.create(name="Ann", product=phone.object)
    lose_the_client(world)
    for _ in range(2):
        assert sync(client).status == "complete"
    ((ann_id, ann),) = world.customers.data.items()
    assert ann["product"] in world.products.data
    assert world.Customer.find(ann_id).product == ann["product"]
    assert not rhom.have_local_changes()


def test_unknown_client_while_waiting_keeps_a_delete(world: World) -> None:
    """The object was deleted here while its create waited for its link, and then the
    server lost the client: the reset must not drop the delete. The create goes again
    (the backend answers its idempotency key with the first record), then the delete."""
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    world.Product.find(phone.object).destroy()
    lose_the_client(world)
    for _ in range(3):
        assert sync(client).status == "complete"
    assert world.products.data == {}
    assert values(world.Product) == {}
    assert not rhom.have_local_changes()


def test_unknown_client_while_waiting_does_not_duplicate_an_edited_object(world: World) -> None:
    client = world.logged_in()
    phone = world.Product.create(name="Phone", price="1")
    push_then_outage(world, client, world.Product)
    world.Product.find(phone.object).update_attributes(price="2")
    lose_the_client(world)
    for _ in range(2):
        assert sync(client).status == "complete"
    assert names(world) == Counter({"Phone": 1})


def test_unknown_client_recovery_keeps_the_photo_of_a_create_it_puts_back(world: World) -> None:
    """Issue: the recovery's reset deleted the blob file of the pending create it restored."""
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    client = world.logged_in()
    draft = world.Product.create(name="Pictured", photo=photo)
    push_then_outage(world, client, world.Product)
    world.Product.find(draft.object).update_attributes(price="2")  # edited: created again
    lose_the_client(world)
    for _ in range(2):
        assert sync(client).status == "complete"
    (mine,) = world.Product.find("all")
    assert mine.blob_path("photo").read_bytes() == photo, "the local file survived the reset"
    assert names(world) == Counter({"Pictured": 1})
    ((_, remote),) = world.products.data.items()
    assert remote["photo"] and remote["price"] == "2", "the server has the photo and the edit"
