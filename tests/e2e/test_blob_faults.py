"""A blob the server cannot serve (protocol.md §8.2 step 4).

A file gone for good (404) is skipped: the rest of the page is applied with its token and
the source ends with the error, so one lost file cannot stop a source at one page on
every run. A transient failure (5xx, dropped connection) fails the page instead, which
the next run gets again: see test_wire_faults and test_kill9.
"""

from __future__ import annotations

import rhom
from rhom.sync.errors import ErrorCode

from .conftest import World, sync, values


def test_a_blob_gone_from_the_server_is_skipped_and_the_source_goes_on(world: World) -> None:
    world.products.replace(
        {
            "1": {"name": "Phone", "photo": "0000-gone.png"},  # a blob name the server does not hold
            "2": {"name": "Pad"},
            "3": {"name": "Watch"},
            "4": {"name": "Kite"},
        }
    )
    client = world.logged_in(page_size=2)
    result = sync(client)
    assert result.status == "complete"
    (end,) = [n for n in result.notifications if n.source_name == "Product" and n.status != "in_progress"]
    assert (end.status, end.error_code) == ("error", ErrorCode.REMOTE_SERVER)
    assert values(world.Product) == {
        "1": {"name": "Phone"},
        "2": {"name": "Pad"},
        "3": {"name": "Watch"},
        "4": {"name": "Kite"},
    }
    assert not [p for p in (world.tmp_path / "device" / "blobs").iterdir() if p.is_file()]
    result = sync(client)
    assert result.status == "complete"
    assert [n.status for n in result.notifications if n.source_name == "Product"] == ["ok"]
    assert not rhom.have_local_changes()


def test_a_blob_over_the_servers_body_limit_fails_alone(world: World) -> None:
    world.server.stop()
    world.server.start(max_body_size=20_000)
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in()
    assert sync(client).ok
    big = world.Product.create(name="Poster", photo=b"\x00" * 50_000)
    world.Product.create(name="Mug")
    world.Product.find("1").update_attributes(price="2")
    world.products.data["9"] = {"name": "Made on the server"}
    result = sync(client)
    refused = [n for n in result.notifications if n.server_errors.get("create-error")]
    # the push's own notification, the source's final one and the run's result
    assert [list(n.server_errors["create-error"]) for n in refused] == [[big.object]] * 3
    assert [n.status for n in refused] == ["error", "error", "complete"]
    assert "too large (HTTP 413)" in result.server_errors["create-error"][big.object]["message"]
    assert result.server_errors["create-error"][big.object]["attributes"]["name"] == "Poster"
    assert not result.ok and result.failed_sources == ["Product"]
    names = sorted(o["name"] for o in world.products.data.values())
    assert names == ["Made on the server", "Mug", "Phone"], "the rest of the push went through"
    assert world.products.data["1"]["price"] == "2"
    assert world.Product.find("9") is not None, "the pull went on"
    assert sync(client).ok, "the source is not blocked: later runs succeed"
    world.Product.find(big.object).update_attributes(photo=b"\x00" * 1000)  # the app makes it smaller
    world.Product.on_sync_create_error([big.object], "recreate")
    assert sync(client).ok and sync(client).ok
    assert sorted(o["name"] for o in world.products.data.values()) == ["Made on the server", "Mug", "Phone", "Poster"]
    (poster,) = [o for o in world.products.data.values() if o["name"] == "Poster"]
    assert poster["photo"], "the smaller file reached the server"
    assert sorted(values(world.Product)) == sorted(world.products.data)


def test_a_create_sent_again_stores_its_photo_again(world: World) -> None:
    """The server made a create with a photo, then answered 500: the client sends it
    again, and the server, which knows that create, updates the record it made. The
    photo comes again as a file part: the record names a stored blob with its bytes,
    never the device's own file name, and another device downloads it."""
    from rhom.testing import FaultyTransport

    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).ok
    world.Product.create(name="Pictured", photo=b"picture bytes")
    faults.replace_reply("POST", "/app/v1/Product", b"Internal error", status=500)
    assert sync(client).failed_sources == ["Product"]  # refused: sent again
    assert sync(client).ok
    ((server_id, remote),) = world.products.data.items()
    assert remote["name"] == "Pictured"
    assert remote["photo"] != world.Product.find(server_id).photo, "the server's own name for the file"
    world.switch_device("other")
    assert sync(world.logged_in()).ok
    assert world.Product.find(server_id).blob_path("photo").read_bytes() == b"picture bytes"
