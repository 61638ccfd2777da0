"""A request sent without an answer is in doubt, never failed (rhom.testing.FaultyTransport).

The server ran the push; the reply was lost on the way back. Sending the creates again
blindly would create them twice on a server that does not recognise them, so the client
keeps them in doubt and waits for the pull to bring their links.
"""

from __future__ import annotations

from collections import Counter

from rhom.testing import FaultyTransport

from .conftest import World, sync, values
from .helpers import pushes


def test_create_whose_reply_was_lost_is_not_sent_again(world: World) -> None:
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).status == "complete"
    world.Product.create(name="Phone", price="1")
    world.Product.create(name="Pad", price="2")
    faults.lose_reply("POST", "/app/v1/Product")
    with pushes(world.Product) as sent:
        lost = sync(client)
        assert not lost.ok and lost.failed_sources == ["Product"], "no reply: the run says so"
        assert sync(client).ok
    assert faults.injected == ["lose_reply POST /app/v1/Product"]
    assert [(bool(push["body"].get("create")), push["ok"]) for push in sent] == [(True, False)], (
        "the creates went out once: the second run waited for their links instead"
    )
    assert Counter(o["name"] for o in world.products.data.values()) == Counter({"Phone": 1, "Pad": 1})
    assert values(world.Product) == world.products.data, "linked: local ids are the server's"


def test_update_whose_reply_was_lost_goes_out_again(world: World) -> None:
    faults = FaultyTransport()
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in(transport=faults)
    assert sync(client).status == "complete"
    world.Product.find("1").update_attributes(price="2")
    faults.lose_reply("POST", "/app/v1/Product")
    assert not sync(client).ok
    assert sync(client).ok
    assert world.products.data == {"1": {"name": "Phone", "price": "2"}}
    assert values(world.Product) == world.products.data


def test_request_refused_before_sending_is_a_plain_failure(world: World) -> None:
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).status == "complete"
    world.Product.create(name="Phone", price="1")
    faults.refuse("POST", "/app/v1/Product")
    with pushes(world.Product) as sent:
        assert sync(client).failed_sources == ["Product"]
        assert sync(client).ok
    assert [(bool(push["body"].get("create")), push["ok"]) for push in sent] == [(True, False), (True, True)], (
        "never sent: sent again at once"
    )
    assert [o["name"] for o in world.products.data.values()] == ["Phone"]


def test_a_server_that_never_moves_on_ends_the_source_with_a_protocol_error(world: World) -> None:
    """A stuck server is simulated at the transport: rhom.server itself cannot be made to
    repeat an acknowledged token."""
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    stuck = b'[{"version":3},{"token":"123"},{"count":1},{"progress_count":0},{"total_count":1},'
    stuck += b'{"insert":{"1":{"name":"again"}}}]'
    faults.answer("GET", "/app/v1/Product", 200, stuck, times=1000)
    result = sync(client)
    assert result.failed_sources == ["Product"], "the source fails instead of paging forever"
    assert "keeps sending page 123" in result.sources["Product"].error_message
    assert len(faults.injected) == 5, "the first page, then three repeats tolerated, then the stop"
    assert result.sources["Customer"].status == "ok", "the other sources still sync"


def test_changes_made_while_a_create_is_in_doubt_go_out_once_its_fate_is_known(world: World) -> None:
    """A gateway answered 502 to the push: the server may have made the creates, so they
    wait for the pull. This server never saw them (no link comes): they are pushed again,
    with the edit made meanwhile folded in (one create, no update of a temporary id),
    and an object deleted meanwhile is created and then deleted, exactly once."""
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).status == "complete"
    phone = world.Product.create(name="Phone", price="1")
    pad = world.Product.create(name="Pad", price="2")
    faults.answer("POST", "/app/v1/Product", 502, b"<h1>Bad Gateway</h1>")
    assert sync(client).failed_sources == ["Product"]
    world.Product.find(phone.object).update_attributes(price="3")  # while in doubt
    world.Product.find(pad.object).destroy()
    with pushes(world.Product) as sent:
        for _ in range(3):
            assert sync(client).ok
    assert [sorted(k for k in push["body"] if k in ("create", "update", "delete")) for push in sent] == [
        ["create"],
        ["delete"],
    ], "the two creates, then the delete of the second under its server id"
    assert [(o["name"], o["price"]) for o in world.products.data.values()] == [("Phone", "3")]
    assert values(world.Product) == world.products.data
    assert world.products.calls.count("create") == 2 and world.products.calls.count("delete") == 1


def test_a_create_sent_again_for_a_deleted_object_still_carries_its_photo(world: World) -> None:
    """Deleted while its create was in doubt, the object goes out again as it was first
    sent, photo included: the create's file stays until that change is settled (the
    server may have made the record with it), and goes after the delete."""
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).ok
    poster = world.Product.create(name="Poster", photo=b"\x89PNG" + bytes(100))
    photo = poster.blob_path("photo")
    faults.answer("POST", "/app/v1/Product", 502, b"<h1>Bad Gateway</h1>")
    assert sync(client).failed_sources == ["Product"]
    world.Product.find(poster.object).destroy()
    assert photo.is_file(), "kept for the create that may go again"
    with pushes(world.Product) as sent:
        for _ in range(3):
            assert sync(client).ok
    creates = [push["body"]["create"] for push in sent if "create" in push["body"]]
    assert [{oid: sorted(attrs) for oid, attrs in c.items()} for c in creates] == [{poster.object: ["name", "photo"]}]
    assert world.products.data == {} and values(world.Product) == {}
    assert not photo.exists(), "settled: the file went"
    assert world.products.calls.count("create") == 1 and world.products.calls.count("delete") == 1
