"""Bulk sync against rhom.server: a partition's data swapped in at once (protocol.md §7)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

import rhom
from rhom.server import MemoryAdapter
from rhom.sync import _bulk, _state, notify, protocol
from rhom.sync.client import SyncClient
from rhom.sync.errors import ErrorCode
from rhom.testing import FaultyTransport

from .conftest import (
    CUSTOMER_FIELDS,
    CUSTOMERS,
    PRODUCT_FIELDS,
    PRODUCTS,
    BlobHost,
    Recorder,
    World,
    bulk_notes,
    expected,
    values,
)

SUCCESS = [
    ("start", "", "in_progress"),
    ("start", "user", "in_progress"),
    ("download", "user", "in_progress"),
    ("change_db", "user", "in_progress"),
    ("ok", "user", "in_progress"),
    ("blobs", "", "in_progress"),
    ("complete", "", "ok"),
]


def _bulk_replies(monkeypatch: pytest.MonkeyPatch, on_reply: Callable[[str], None] | None = None) -> list[str]:
    """Record the ``result`` of every bulk_data reply the client parses."""
    seen: list[str] = []
    parse = protocol.parse_bulk_data_reply

    def spy(content: bytes | str) -> protocol.BulkReply:
        reply = parse(content)
        seen.append(reply.result)
        if on_reply is not None:
            on_reply(reply.result)
        return reply

    monkeypatch.setattr(protocol, "parse_bulk_data_reply", spy)
    return seen


def _bulk_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Record ``(partition, sources)`` of every bulk_data request built."""
    seen: list[tuple[str, list[str]]] = []
    build = protocol.bulk_data

    def spy(partition: str, sources: Any, *, client_id: str) -> Any:
        seen.append((partition, list(sources)))
        return build(partition, sources, client_id=client_id)

    monkeypatch.setattr(protocol, "bulk_data", spy)
    return seen


def _retry_blob_phase_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook asked of client.py: run ``_bulk.run`` for ``bulksync_state`` 2 as well."""

    def run_bulk_if_needed(self: SyncClient, sync_run: Any) -> None:
        if _state.get_config("bulksync_state") in ("0", "2"):
            _bulk.run(self, sync_run)

    monkeypatch.setattr(SyncClient, "_run_bulk_if_needed", run_bulk_if_needed)


# -- the data ---------------------------------------------------------------------------------


def test_bulk_sync_fills_models_and_sets_state_back_to_1(world: World) -> None:
    client = world.client()
    ids = (world.Product.get_source_id(), world.Customer.get_source_id())
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    assert bulk_notes(result) == SUCCESS, "protocol.md §7.7"
    assert values(world.Product) == expected(PRODUCTS, world.models.layout, PRODUCT_FIELDS)
    assert values(world.Customer) == expected(CUSTOMERS, world.models.layout, CUSTOMER_FIELDS)
    assert client.bulksync_state == 1, "rhom-api §6.6"
    assert (world.Product.get_source_id(), world.Customer.get_source_id()) == ids, "rhom keeps its source ids"
    assert not rhom.have_local_changes(), "bulk data is not logged as local changes"


def test_source_rows_keep_rhom_ids_and_take_the_servers_facts(world: World) -> None:
    client = world.client()
    db = world.Product._rhom.database
    before = db.execute_sql("SELECT source_id, name, sync_type, partition FROM sources ORDER BY source_id")
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    after = db.execute_sql("SELECT source_id, name, sync_type, partition FROM sources ORDER BY source_id")
    assert after == before, "the bulk file's own source ids (1, 2, ...) never replace rhom's"
    row = db.execute_sql(
        "SELECT token, last_inserted_size, source_attribs FROM sources WHERE source_id = ?",
        (world.Product.get_source_id(),),
    )[0]
    assert row["token"] == 0
    assert row["source_attribs"] == "brand,3,name,3,price,3,quantity,3", "protocol.md §7.6"


def test_incremental_sync_right_after_bulk_brings_no_duplicates(world: World) -> None:
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    per_source = {n.source_name: n for n in result.notifications if n.source_name and n.status == "ok"}
    assert per_source["Product"].cumulative_count == 0, "protocol.md §7.5: the query pages nothing new"
    assert per_source["Customer"].cumulative_count == 0, "protocol.md §7.5"
    again = client.do_sync()
    assert again.status == "complete"
    assert bulk_notes(again) == [], "bulksync_state is 1: no second bulk sync"
    assert values(world.Product) == expected(PRODUCTS, world.models.layout, PRODUCT_FIELDS)
    assert world.Product.find("count") == len(PRODUCTS)


def test_bulk_sync_replaces_older_synced_data(world: World) -> None:
    client = world.client()
    assert client.do_sync().status == "complete"  # incremental: the old data
    world.products.replace({"7": {"name": "Pixel", "price": "599"}, "1": {"name": "iPhone 2", "price": "1"}})
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert values(world.Product) == {"7": {"name": "Pixel", "price": "599"}, "1": {"name": "iPhone 2", "price": "1"}}


def test_local_models_keep_their_data_and_are_not_requested(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    note = world.models.Note.create(text="in the user partition")
    draft = world.models.Draft.create(text="in the local partition")
    requests = _bulk_requests(monkeypatch)
    client = world.client()
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert {(p, tuple(s)) for p, s in requests} == {("user", ("Product", "Customer"))}, "§7.2: synced only"
    assert world.models.Note.find(note.object).text == "in the user partition", "§15 q10: kept"
    assert world.models.Draft.find(draft.object).text == "in the local partition"
    assert world.models.Note.find("count") == 1 and world.models.Draft.find("count") == 1


def test_unpushed_local_changes_survive_the_swap_and_are_pushed(world: World) -> None:
    Product = world.Product  # noqa: N806
    client = world.client()
    assert client.do_sync().status == "complete"
    Product.find("1").update_attributes(name="Mine")
    created = Product.create(name="New", price="5")
    Product.find("2").destroy()
    world.products.data["1"]["price"] = "99.00"  # changed on the server meanwhile
    world.products.data["40"] = {"name": "Server-side", "price": "7"}

    at_swap: dict[str, Any] = {}

    def snapshot(sender: Any, **kwargs: Any) -> None:
        if kwargs["bulk_status"] == "complete":
            at_swap.update(values(Product))

    client.bulksync_state = 0
    with notify.bulk_progress.connected_to(snapshot):
        result = client.do_sync()
    assert result.status == "complete", result
    assert at_swap["1"]["name"] == "Mine", "protocol.md §7.4 step 3: a pending update wins"
    assert at_swap["1"]["price"] == "99.00", "the server's other attributes come in"
    assert at_swap[created.object]["name"] == "New", "a pending create is kept"
    assert "2" not in at_swap, "a pending delete is applied again"
    assert "40" in at_swap
    # the following incremental sync pushed them: nothing lost, nothing doubled
    server = world.products.data
    assert server["1"]["name"] == "Mine"
    assert "2" not in server
    assert [o["name"] for o in server.values()].count("New") == 1
    assert values(Product) == expected(server, world.models.layout, PRODUCT_FIELDS)
    assert not rhom.have_local_changes()


def test_a_failure_during_the_swap_leaves_the_old_data(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = world.client()
    assert client.do_sync().status == "complete"
    old = values(world.Product)
    world.Product.find("1").update_attributes(name="Mine")
    world.products.replace({"9": {"name": "Other"}})

    def power_cut(*args: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(_bulk, "_reapply", power_cut)
    client.bulksync_state = 0
    with pytest.raises(RuntimeError, match="power cut"):
        client.do_sync()
    old["1"]["name"] = "Mine"
    assert values(world.Product) == old, "the transaction rolled back: old data, not half of the new"
    assert client.bulksync_state == 0
    assert rhom.have_local_changes()


# -- polling, errors, stopping ------------------------------------------------------------------


class SlowAdapter(MemoryAdapter):
    """A backend whose query takes a while, so that the bulk build answers ``wait``."""

    def query(self, params: Mapping[str, Any] | None) -> Any:
        time.sleep(0.3)
        return super().query(params)


def test_client_polls_while_the_server_answers_wait(
    make_world: Callable[..., World], layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(layout, products=SlowAdapter("Product", PRODUCTS))
    replies = _bulk_replies(monkeypatch)
    client = world.client(bulksync_timeout=0.05)
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert replies[0] == "wait" and replies[-1] == "url", "protocol.md §7.3"
    assert replies.count("wait") >= 2, "polled every bulksync_timeout seconds"
    assert values(world.Product) == expected(PRODUCTS, layout, PRODUCT_FIELDS)


def test_stop_sync_while_waiting_ends_the_run(
    make_world: Callable[..., World], layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(layout, products=SlowAdapter("Product", PRODUCTS))
    client = world.client(bulksync_timeout=5)
    _bulk_replies(monkeypatch, on_reply=lambda result: client.stop_sync())
    client.bulksync_state = 0
    started = time.monotonic()
    result = client.do_sync()
    assert time.monotonic() - started < 4, "the wait between polls is interrupted"
    assert (result.status, result.error_code) == ("error", ErrorCode.CANCEL_BY_USER)
    assert client.bulksync_state == 0, "the next sync starts the bulk sync again"
    assert world.Product.find("count") == 0


def test_empty_url_is_a_bulk_error_and_changes_nothing(world: World) -> None:
    client = world.client()
    assert client.do_sync().status == "complete"
    old = values(world.Product)
    world.products.fail("query")
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "error", "the run ends in error"
    failure = [n for n in result.notifications if n.sync_type == "bulk" and n.status == "error"]
    assert len(failure) == 1
    assert (failure[0].bulk_status, failure[0].partition) == ("", "user"), "protocol.md §7.7"
    assert failure[0].error_code == ErrorCode.REMOTE_SERVER, "the server could not build the file"
    assert bulk_notes(result)[:2] == SUCCESS[:2]
    assert values(world.Product) == old
    assert client.bulksync_state == 0
    world.products.heal()
    assert client.do_sync().status == "complete", "the next sync bulk-syncs again"
    assert client.bulksync_state == 1


# -- notifications ----------------------------------------------------------------------------


def test_notifications_reach_the_signal_and_the_wildcard_callback(world: World) -> None:
    client = world.client()
    wildcard: list[Any] = []
    finished: list[Any] = []
    client.set_notification("*", wildcard.append)
    client.bulksync_state = 0

    def on_finished(sender: Any, **kwargs: Any) -> None:
        finished.append(kwargs["notification"])

    with Recorder() as recorder, notify.sync_finished.connected_to(on_finished):
        result = client.do_sync()
    assert [(s, p, n.status) for s, p, n in recorder.seen] == SUCCESS, "rhom-api §7.8 bulk_progress"
    assert all(n.sync_type == "bulk" for _, _, n in recorder.seen)
    assert [(n.bulk_status, n.partition, n.status) for n in wildcard if n.sync_type == "bulk"] == SUCCESS
    assert [n.status for n in finished] == ["complete"], "bulk phases are not the end of the run"
    assert result.notifications[-1].status == "complete"


def test_app_partition_is_bulk_synced_after_user(make_world: Callable[..., World], layout: str) -> None:
    class Catalog(rhom.PropertyBagModel, sync=True, partition="app"):
        pass

    catalog = MemoryAdapter("Catalog", {"c1": {"title": "Spring"}}, partition="app")
    world = make_world(layout, catalog, extra_models=[Catalog])
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    partition_notes = [(s, p) for s, p, _ in bulk_notes(result) if p]
    assert partition_notes == [
        ("start", "user"),
        ("download", "user"),
        ("change_db", "user"),
        ("ok", "user"),
        ("start", "app"),
        ("download", "app"),
        ("change_db", "app"),
        ("ok", "app"),
    ], "protocol.md §7.7: partition by partition"
    assert values(Catalog) == {"c1": {"title": "Spring"}}
    assert values(world.Product) == expected(PRODUCTS, layout, PRODUCT_FIELDS)


def test_nop_finishes_a_partition_with_status_ok(make_world: Callable[..., World], layout: str) -> None:
    class Catalog(rhom.PropertyBagModel, sync=True, partition="app"):
        pass

    # the server keeps Catalog in its user partition: nothing to send for "app" (§7.3 step 2)
    catalog = MemoryAdapter("Catalog", {"c1": {"title": "Spring"}})
    world = make_world(layout, catalog, extra_models=[Catalog])
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    assert ("ok", "app", "ok") in bulk_notes(result), "protocol.md §7.7: nop"
    assert ("download", "app", "in_progress") not in bulk_notes(result)
    assert values(Catalog) == {"c1": {"title": "Spring"}}, "the incremental sync brought it"
    assert client.bulksync_state == 1


# -- blobs (§8.3) ------------------------------------------------------------------------------


def test_blob_urls_are_downloaded_after_the_swap(
    make_world: Callable[..., World], layout: str, blob_host: BlobHost
) -> None:
    blob_host.files.update({"p1.jpg": b"\xff\xd8 photo", "m.pdf": b"%PDF manual"})
    data = {
        "1": {"name": "iPhone", "photo-rhoblob": blob_host.link("p1.jpg"), "manual-rhoblob": blob_host.link("m.pdf")},
        "2": {"name": "Droid"},
    }
    world = make_world(layout, products=MemoryAdapter("Product", data))
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    assert bulk_notes(result) == SUCCESS
    product = world.Product.find("1")
    assert "://" not in product.photo, "protocol.md §8.3 step 2: replaced by the local file"
    assert rhom.blobs.path(product.photo).read_bytes() == b"\xff\xd8 photo"
    assert product.photo.endswith(".jpg")
    if layout == "bag":  # a server-marked attribute the model does not declare (§8.3 step 1)
        manual = product.vars["manual"]
        assert rhom.blobs.path(manual).read_bytes() == b"%PDF manual"
    assert client.bulksync_state == 1
    assert not rhom.have_local_changes(), "downloaded blobs are not local changes"


def test_blob_failure_leaves_state_2_and_the_next_sync_retries(
    make_world: Callable[..., World], layout: str, blob_host: BlobHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    _retry_blob_phase_hook(monkeypatch)
    data = {"1": {"name": "iPhone", "photo-rhoblob": blob_host.link("late.jpg")}}
    world = make_world(layout, products=MemoryAdapter("Product", data))
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    assert ("error", "", "in_progress") in bulk_notes(result), "protocol.md §7.7: blob failure"
    assert ("complete", "", "ok") not in bulk_notes(result)
    failure = [n for n in result.notifications if n.bulk_status == "error"][0]
    assert failure.error_code == ErrorCode.NONE, "protocol.md §7.7: no error code"
    assert result.status == "complete", "the data is in; the incremental sync went on"
    assert client.bulksync_state == 2, "protocol.md §8.3: blobs still to fetch"
    assert world.Product.find("1").name == "iPhone"
    assert "://" in world.Product.find("1").photo

    blob_host.files["late.jpg"] = b"finally"
    again = client.do_sync()
    assert bulk_notes(again) == [("blobs", "", "in_progress"), ("complete", "", "ok")], "only the blob phase"
    assert client.bulksync_state == 1
    assert rhom.blobs.path(world.Product.find("1").photo).read_bytes() == b"finally"


def test_old_blob_files_of_swapped_sources_go_others_stay(
    make_world: Callable[..., World], layout: str, blob_host: BlobHost
) -> None:
    world = make_world(layout)
    client = world.client()
    assert client.do_sync().status == "complete"
    synced = world.Product.find("1")
    synced.update_attributes(photo=b"old server photo")
    old_file = rhom.blobs.path(synced.photo)
    assert client.do_sync().status == "complete"  # pushed: now the server's value
    world.products.data["1"] = {"name": "iPhone"}  # the server dropped the photo
    note_blob = rhom.blobs.store(b"a local file")
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert world.Product.find("1").photo is None
    assert not old_file.exists(), "§15 q15: an unreferenced file of the swapped source goes"
    assert rhom.blobs.path(note_blob).exists(), "files nobody's data names are not swept by the swap"


# -- file layouts and client modes ---------------------------------------------------------


class FixedProducts(MemoryAdapter):
    """A server source with a schema: the bulk file holds a table named like it (§7.6)."""

    schema = {
        "version": "1.0",
        "property": {"name": "string", "price": "string", "quantity": "string", "brand": "string"},
        "index": {"by_name": "name"},
    }


def test_fixed_schema_table_of_the_file_fills_either_layout(make_world: Callable[..., World], layout: str) -> None:
    world = make_world(layout, products=FixedProducts("Product", PRODUCTS))
    client = world.client()
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert values(world.Product) == expected(PRODUCTS, layout, PRODUCT_FIELDS)
    assert client.bulksync_state == 1


def test_frozen_model_drops_undeclared_attributes(make_world: Callable[..., World]) -> None:
    class Gadget(rhom.PropertyBagModel, sync=True, freezed=True):
        name = rhom.CharField()

    gadgets = MemoryAdapter("Gadget", {"g1": {"name": "Watch", "secret": "x", "colour-rhoblob": "http://x/y"}})
    world = make_world("bag", gadgets, extra_models=[Gadget])
    client = world.client()
    client.bulksync_state = 0
    assert client.do_sync().status == "complete"
    assert values(Gadget) == {"g1": {"name": "Watch"}}, "as in a pull: a frozen model keeps its attributes"


def test_bulk_sync_in_threaded_mode(world: World) -> None:
    client = world.client(threaded_mode=True)
    client.bulksync_state = 0
    result = client.do_sync().result(timeout=30)
    assert result.status == "complete", result
    assert bulk_notes(result) == SUCCESS
    assert values(world.Product) == expected(PRODUCTS, world.models.layout, PRODUCT_FIELDS)
    assert client.bulksync_state == 1


def test_a_blob_url_the_app_set_itself_is_not_downloaded(world: World, blob_host: BlobHost) -> None:
    client = world.client()
    mine = world.Product.create(name="Mine", photo=blob_host.link("mine.jpg"))
    at_swap: dict[str, Any] = {}

    def snapshot(sender: Any, **kwargs: Any) -> None:
        if kwargs["bulk_status"] == "complete":
            at_swap.update(values(world.Product))

    client.bulksync_state = 0
    with notify.bulk_progress.connected_to(snapshot):
        result = client.do_sync()
    assert result.status == "complete", result
    assert at_swap[mine.object]["photo"] == blob_host.link("mine.jpg"), "a pending value is the user's"
    assert blob_host.requests == []
    assert ("error", "", "in_progress") not in bulk_notes(result)


def test_bulk_sync_only_source_is_filled_by_bulk_and_skipped_after(make_world: Callable[..., World]) -> None:
    class Archive(rhom.PropertyBagModel, sync=True, sync_type="bulk_only"):
        pass

    archive = MemoryAdapter("Archive", {"a1": {"year": "2020"}})
    archive.sync_type = "bulk_sync_only"
    world = make_world("bag", archive, extra_models=[Archive])
    client = world.client()
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    assert values(Archive) == {"a1": {"year": "2020"}}
    assert "Archive" not in {n.source_name for n in result.notifications}, "protocol.md §7.5: no incremental"
    queries = archive.calls.count("query")
    assert client.do_sync().status == "complete"
    assert archive.calls.count("query") == queries, "incremental sync never asks for it"


def test_swap_keeps_a_cleared_attribute_and_lets_a_server_delete_win_over_an_edit(world: World) -> None:
    Product = world.Product  # noqa: N806
    client = world.client()
    assert client.do_sync().status == "complete"
    Product.find("1").update_attributes(price=None)
    Product.find("3").update_attributes(name="Edited offline")
    del world.products.data["3"]  # deleted on the server meanwhile
    at_swap: dict[str, Any] = {}

    def snapshot(sender: Any, **kwargs: Any) -> None:
        if kwargs["bulk_status"] == "complete":
            at_swap.update(values(Product))

    client.bulksync_state = 0
    with notify.bulk_progress.connected_to(snapshot):
        client.do_sync()
    assert "price" not in at_swap["1"], "the local clearing of an attribute is re-applied"
    assert at_swap["1"]["name"] == "iPhone"
    assert "3" not in at_swap, "as in a pull, the server's delete wins over a local update"


def test_unknown_client_during_bulk_sync_recovers_and_keeps_local_changes(world: World) -> None:
    client = world.client()
    assert client.do_sync().status == "complete"
    old_id = rhom.client_id()
    created = world.Product.create(name="Offline", price="3")
    deleted = httpx.delete(f"{world.url}/rc/v1/clients/{old_id}", headers={"X-RhoConnect-API-TOKEN": "test-api-token"})
    assert deleted.status_code == 200
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    assert ("", "user", "error") in bulk_notes(result), "the first attempt failed with Unknown client"
    assert bulk_notes(result)[-1] == ("complete", "", "ok"), "then the reset client bulk-synced"
    assert rhom.client_id() not in (None, old_id)
    assert [o["name"] for o in world.products.data.values()].count("Offline") == 1
    assert world.Product.find(created.object) is None, "linked to its server id"
    assert values(world.Product) == expected(world.products.data, world.models.layout, PRODUCT_FIELDS)
    assert client.bulksync_state == 1


def test_selective_bulk_sync_empties_a_switched_off_source_until_it_is_on_again(world: World) -> None:
    """Rhodes' selective bulk sync (bulksync_spec "should do selective bulk sync"): the file
    replaces the partition's data, so a source set to sync_type 'none' at run time is
    emptied, all but its unpushed changes. Switched on again, it gets all its data back:
    the server was asked to forget what this client held of it."""
    client = world.client()
    client.bulksync_state = 0
    assert client.do_sync().ok
    assert sorted(c["name"] for c in values(world.Customer).values()) == ["Alice", "Bob"]
    world.Customer.create(name="Local only")
    world.Customer.set_sync_type("none")
    assert world.Customer.get_sync_type() == "none"
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.ok, result
    assert values(world.Product) == expected(PRODUCTS, world.models.layout, PRODUCT_FIELDS)
    assert [c["name"] for c in values(world.Customer).values()] == ["Local only"]
    db = world.Customer._rhom.database
    (row,) = db.execute_sql("SELECT sync_type FROM sources WHERE name = 'Customer'")
    assert row["sync_type"] == "none"
    world.Customer.set_sync_type("incremental")
    assert client.do_sync().ok
    names = sorted(c["name"] for c in values(world.Customer).values())
    assert names == ["Alice", "Bob", "Local only"], "switched back on: the server's data and the queued create"


def test_a_switched_off_source_whose_create_waits_for_its_link_keeps_it(world: World) -> None:
    """A create pushed whose link has not come yet (the pull after the push failed) needs
    the server's memory of this client's creates. A bulk sync while its source is
    switched off leaves that source as it is rather than asking the server to forget it:
    switched on again, the link comes and the record is neither lost nor made twice."""
    faults = FaultyTransport()
    client = world.client(transport=faults)
    assert client.do_sync().ok
    world.Product.create(name="mine")
    faults.refuse("GET", "/app/v1/Product", times=1)
    assert "Product" in client.do_sync().failed_sources, "pushed, but the page with its link never came"
    world.Product.set_sync_type("none")
    client.bulksync_state = 0
    assert client.do_sync().ok
    world.Product.set_sync_type("incremental")
    for _ in range(2):
        assert client.do_sync().ok
    on_server = [key for key, obj in world.products.data.items() if obj.get("name") == "mine"]
    assert len(on_server) == 1, world.products.data
    assert world.Product.find(on_server[0]).name == "mine", "linked: the local record took the server's id"
    assert world.Product.find("count", conditions={"name": "mine"}) == 1
    assert not rhom.have_local_changes()
