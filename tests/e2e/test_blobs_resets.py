"""Blobs, bulk sync, resets, unknown client, export/import (rhom-api §12 item 15)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom.sync import _recover
from rhom.sync.client import SyncClient
from rhom.sync.source import SyncSource

from .conftest import Models, World, rows, sync, values
from .helpers import during_push

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def push_pictured(world: World) -> tuple[Any, str]:
    """This device creates a product with a photo and syncs: ``(client, server id)``."""
    client = world.logged_in()
    world.Product.create(name="Pictured", photo=PHOTO)
    assert sync(client).status == "complete"
    ((server_id, remote),) = world.products.data.items()
    assert remote["name"] == "Pictured" and remote["photo"]  # the name of the server's copy
    return client, server_id


def test_blob_round_trips_byte_for_byte(world: World) -> None:
    _, server_id = push_pictured(world)
    (mine,) = world.Product.find("all")
    assert mine.object == server_id
    assert mine.blob_path("photo").read_bytes() == PHOTO
    world.switch_device("other")  # another device of the same user downloads it
    client = world.logged_in()
    assert sync(client).status == "complete"
    (theirs,) = world.Product.find("all")
    assert theirs.photo and "://" not in theirs.photo  # the stored value is the client copy
    path = theirs.blob_path("photo")
    assert path.parent == world.tmp_path / "other" / "blobs"
    assert path.read_bytes() == PHOTO
    assert rows(world.Product) == []
    theirs.destroy()  # destroying the record deletes its file
    assert not path.exists()
    assert sync(client).status == "complete"
    assert world.products.data == {}


def test_the_apps_file_stays_after_its_upload(world: World) -> None:
    """The pull that brings the created object's link (and the URL of the file the server
    just received) keeps the file the app assigned: ``photo`` is not ``overwrite``, and the
    attribute names a file (SyncSource::processBlob). An edit the server answers with a new
    value (a delete of the old one and an insert of the new) is a replaced file: the device
    downloads the server's copy, the same bytes, and its own file goes."""
    client = world.logged_in()
    made = world.Product.create(name="Pictured", photo=PHOTO)
    assigned = made.photo
    assert sync(client).ok and sync(client).ok
    (mine,) = world.Product.find("all")
    assert mine.object != made.object, "linked to the server's id"
    assert mine.photo == assigned and mine.blob_path("photo").read_bytes() == PHOTO
    mine.update_attributes(photo=b"edited")
    edited = world.Product.find(mine.object).photo
    assert sync(client).ok and sync(client).ok
    now = world.Product.find(mine.object)
    assert now.photo != edited and now.blob_path("photo").read_bytes() == b"edited"
    assert sorted(p.name for p in (world.tmp_path / "device" / "blobs").iterdir()) == [now.photo], "no stray copies"


def test_a_server_delete_removes_the_object_and_its_file(world: World) -> None:
    """The delete page names the blob ``photo-rhoblob``: it deletes ``photo`` here (Rhodes'
    CAttrValue strips the suffix), so the object goes, and its file with it."""
    client, server_id = push_pictured(world)
    path = world.Product.find(server_id).blob_path("photo")
    assert path.is_file()
    world.products.remove(server_id)  # the backend deletes it
    assert sync(client).ok
    assert world.Product.find(server_id) is None
    assert not path.exists()
    assert list((world.tmp_path / "device" / "blobs").iterdir()) == []


def test_replacing_a_blob_deletes_the_old_file_and_uploads_the_new(world: World) -> None:
    client, server_id = push_pictured(world)
    obj = world.Product.find(server_id)
    old = obj.blob_path("photo")
    obj.update_attributes(photo=b"new picture")
    assert not old.exists()
    assert sync(client).status == "complete"
    world.switch_device("other")
    other = world.logged_in()
    assert sync(other).status == "complete"
    assert world.Product.find(server_id).blob_path("photo").read_bytes() == b"new picture"


def overwritten_models(layout: str) -> Models:
    """``Product`` whose photo every page replaces (``BlobField(overwrite=True)``)."""
    if layout == "fixed":

        class Product(rhom.Model, sync=True, sync_priority=2):
            name = rhom.TextField()
            price = rhom.CharField()
            photo = rhom.BlobField(overwrite=True)

        class Customer(rhom.Model, sync=True, sync_priority=1):
            name = rhom.CharField()

    else:

        class Product(rhom.PropertyBagModel, sync=True, sync_priority=2):  # type: ignore[no-redef]
            photo = rhom.BlobField(overwrite=True)

        class Customer(rhom.PropertyBagModel, sync=True, sync_priority=1):  # type: ignore[no-redef]
            pass

    return Models(layout, Product, Customer)


def _photo_overwritten_while_pending(world: World) -> tuple[Any, Any, dict[str, str], Path]:
    """A page overwrote A's photo while the app's own new photo of A waits to be pushed:
    the client, the model, the server ids by name, and the app's file."""
    world.setup_models(overwritten_models(world.models.layout))
    product = world.Product
    client = world.logged_in()
    product.create(name="A", photo=b"A" * 100)
    product.create(name="B", photo=b"B" * 100)
    assert sync(client).ok and sync(client).ok
    ids = {o["name"]: oid for oid, o in world.products.data.items()}
    world.products.data[ids["A"]]["photo"] = world.products.data[ids["B"]]["photo"]  # server side
    product.find(ids["A"]).update_attributes(price="2")
    with during_push(product, lambda: product.find(ids["A"]).update_attributes(photo=b"C" * 100)):
        assert sync(client).ok
    (pending,) = [value for attrib, value in rows(product, "attrib", "value") if attrib == "photo"]
    return client, product, ids, rhom.blobs.path(pending)


def test_a_photo_changed_during_the_push_survives_a_page_that_overwrites_it(world: World) -> None:
    """The server changed the photo; the app changes it too while its push is in flight.
    The page of that run downloads the server's photo over the app's, but the app's file
    stays while its change waits: the next push uploads it and the app's photo wins."""
    client, product, ids, _ = _photo_overwritten_while_pending(world)
    assert product.find(ids["A"]).blob_path("photo").read_bytes() == b"B" * 100, "the page overwrote it"
    assert [(r[1], r[2], r[3]) for r in rows(product)] == [("photo", "update", 0)], "the app's change waits"
    assert sync(client).ok and sync(client).ok
    assert product.find(ids["A"]).blob_path("photo").read_bytes() == b"C" * 100
    folder = product.find(ids["A"]).blob_path("photo").parent
    named = sorted(product.find(oid).blob_path("photo").name for oid in ids.values())
    assert sorted(p.name for p in folder.iterdir()) == named, "the file kept for the push went after it"
    world.switch_device("other")
    assert sync(world.logged_in()).ok
    assert product.find(ids["A"]).blob_path("photo").read_bytes() == b"C" * 100, "the server holds the app's photo"
    assert not rhom.have_local_changes()


@pytest.mark.parametrize("meanwhile", ["a write of another record", "a restart"])
def test_the_file_of_a_pending_blob_change_outlives_every_sweep_until_pushed(world: World, meanwhile: str) -> None:
    """Every sweep, not only the page's, keeps a file that a change still to push names:
    after a write of a model with blobs (which sweeps) or a restart (which sweeps every
    partition), the push still uploads the app's photo."""
    client, product, ids, kept = _photo_overwritten_while_pending(world)
    if meanwhile == "a restart":
        world.switch_device("device")
        client = world.logged_in()
    else:
        product.find(ids["B"]).update_attributes(price="9")
    assert kept.is_file()
    assert sync(client).ok and sync(client).ok
    assert product.find(ids["A"]).blob_path("photo").read_bytes() == b"C" * 100
    assert not kept.exists() or kept == product.find(ids["A"]).blob_path("photo"), "gone once pushed"


def test_bulk_sync_fills_the_models(world: World) -> None:
    world.products.replace({str(i): {"name": f"p{i}", "price": str(i)} for i in range(1, 6)})
    world.customers.replace({"9": {"name": "Ann"}})
    client = world.logged_in(bulksync_timeout=0.05)  # resets start a bulk sync: poll often
    client.bulksync_state = 0
    result = sync(client)
    assert result.status == "complete", result
    assert client.bulksync_state == 1
    bulk = [n for n in result.notifications if n.sync_type == "bulk"]
    assert bulk and {n.bulk_status for n in bulk} >= {"start", "download", "change_db"}
    assert len(values(world.Product)) == 5 and set(values(world.Customer)) == {"9"}
    assert rows(world.Product) == []
    world.products.data["1"]["name"] = "p1 changed"  # incremental sync goes on from there
    assert sync(client).status == "complete"
    assert values(world.Product)["1"]["name"] == "p1 changed"


def test_bulk_sync_downloads_remote_blobs(world: World) -> None:
    _, server_id = push_pictured(world)
    world.switch_device("other")
    client = world.logged_in(bulksync_timeout=0.05)
    client.bulksync_state = 0
    result = sync(client)
    assert result.status == "complete", result
    assert client.bulksync_state == 1
    (obj,) = world.Product.find("all")
    assert obj.object == server_id and "://" not in obj.photo
    assert obj.blob_path("photo").read_bytes() == PHOTO


def test_client_reset_then_sync_gets_a_new_client_id_and_the_data(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in(bulksync_timeout=0.05)  # resets start a bulk sync: poll often
    assert sync(client).status == "complete"
    old_id = rhom.client_id()
    rhom.database_client_reset()
    assert rhom.client_id() is None and values(world.Product) == {}
    assert client.is_logged_in()  # the session stays
    assert sync(client).status == "complete"
    assert rhom.client_id() not in (None, old_id)
    assert values(world.Product) == {"1": {"name": "Phone"}}


def test_full_reset_asks_the_server_to_reset_the_client(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in(bulksync_timeout=0.05)  # resets start a bulk sync: poll often
    assert sync(client).status == "complete"
    cid = rhom.client_id()
    rhom.database_full_reset()
    assert values(world.Product) == {}
    assert sync(client).status == "complete"
    assert rhom.client_id() == cid
    # the server forgot what it had sent, so everything comes again
    assert values(world.Product) == {"1": {"name": "Phone"}}


def test_unknown_client_is_recovered_keeping_local_changes(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in(bulksync_timeout=0.05)  # resets start a bulk sync: poll often
    assert sync(client).status == "complete"
    old_id = rhom.client_id()
    assert world.server.admin("DELETE", f"/rc/v1/clients/{old_id}").status_code == 200
    world.Product.find("1").update_attributes(price="2")
    world.Product.create(name="Pad")
    result = sync(client)
    assert result.status == "complete", result
    assert rhom.client_id() not in (None, old_id)
    assert sorted((p["name"], p.get("price")) for p in world.products.data.values()) == [
        ("Pad", None),
        ("Phone", "2"),
    ]
    assert {a["name"] for a in values(world.Product).values()} == {"Phone", "Pad"}
    assert not rhom.have_local_changes()


def test_a_recovery_cut_short_loses_no_local_change(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recovery empties the data and puts the local changes back in one transaction:
    cut short between the two (here by an error where a killed process would stop), the
    data stays as it was, the client id too, and the next sync recovers."""
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in(bulksync_timeout=0.05)
    assert sync(client).status == "complete"
    old_id = rhom.client_id()
    assert world.server.admin("DELETE", f"/rc/v1/clients/{old_id}").status_code == 200
    world.Product.find("1").update_attributes(price="2")
    world.Product.create(name="Pad")
    upsert = SyncSource.upsert

    def power_cut(self: SyncSource, objects: Any) -> Any:
        raise RuntimeError("power cut")

    monkeypatch.setattr(SyncSource, "upsert", power_cut)
    try:
        assert not sync(client).ok
    except RuntimeError:
        pass  # blocking mode: the error reaches the caller
    assert rhom.client_id() == old_id, "not reset: the next unknown-client answer recovers again"
    assert {(a["name"], a.get("price")) for a in values(world.Product).values()} == {("Phone", "2"), ("Pad", None)}
    assert rhom.have_local_changes()
    monkeypatch.setattr(SyncSource, "upsert", upsert)
    assert sync(client).status == "complete"
    assert rhom.client_id() not in (None, old_id)
    assert sorted((p["name"], p.get("price")) for p in world.products.data.values()) == [("Pad", None), ("Phone", "2")]
    assert not rhom.have_local_changes()


def test_a_record_the_app_writes_during_the_recovery_is_kept(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recovery locks every database before it reads what to keep: the app's write
    waits for the reset instead of landing between the read and the reset, where it would
    be deleted unseen."""
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in(bulksync_timeout=0.05)
    assert sync(client).status == "complete"
    assert world.server.admin("DELETE", f"/rc/v1/clients/{rhom.client_id()}").status_code == 200
    world.Product.find("1").update_attributes(price="2")
    snapshot, writers = _recover._snapshot, []

    def while_the_app_writes() -> Any:
        kept = snapshot()
        writer = threading.Thread(target=lambda: world.Product.create(name="Typed meanwhile"))
        writer.start()
        writer.join(timeout=1.0)  # done now unless the recovery's lock holds it back
        writers.append(writer)
        return kept

    monkeypatch.setattr(_recover, "_snapshot", while_the_app_writes)
    assert sync(client).status == "complete"
    writers[0].join(30)
    assert {a["name"] for a in values(world.Product).values()} == {"Phone", "Typed meanwhile"}
    assert sync(client).ok
    assert sorted(p["name"] for p in world.products.data.values()) == ["Phone", "Typed meanwhile"]


def test_export_and_import_restore_data_and_blobs(world: World) -> None:
    push_pictured(world)
    archive = rhom.database_export("user")
    assert archive.is_file() and archive.stat().st_size > 0
    rhom.database_full_reset()
    assert values(world.Product) == {}
    assert rhom.database_import("user", archive) is True
    (obj,) = world.Product.find("all")
    assert obj.name == "Pictured"
    assert obj.blob_path("photo").read_bytes() == PHOTO


def test_tls_verification_is_on_by_default(world: World) -> None:
    client = SyncClient(world.url, threaded_mode=world.threaded, poll_interval=0)
    try:
        assert client.ssl_verify_peer is True
    finally:
        client.close()
