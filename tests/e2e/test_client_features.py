"""SyncClient features around the run: polling, asyncio, query parameters, partitions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom.exceptions import ValidationError
from rhom.server import MemoryAdapter

from .conftest import LAYOUTS, Server, World, sync, values, wait


@pytest.mark.parametrize("model_layout", LAYOUTS)
def test_threaded_client_polls_while_logged_in(make_world: Callable[..., World], model_layout: str) -> None:
    world = make_world(model_layout, True)
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in(poll_interval=0.2)
    deadline = time.monotonic() + 10
    while not values(world.Product) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(values(world.Product)) == {"1"}  # no do_sync: the poller ran it
    client.logout()
    world.products.data["2"] = {"name": "Pad"}
    time.sleep(0.6)
    assert set(values(world.Product)) == {"1"}  # logged out: no more polling
    client.close()
    assert not client.is_syncing()


def test_do_sync_async(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in()

    async def main() -> Any:
        return await client.do_sync_async()

    result = asyncio.run(main())
    assert result.status == "complete"
    assert set(values(world.Product)) == {"1"}


class Recording(MemoryAdapter):
    """Remembers the query parameters of every query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params: list[Any] = []

    def query(self, params: Mapping[str, Any] | None) -> Any:
        self.params.append(params)
        return super().query(params)


def test_query_params_reach_the_adapter(world: World) -> None:
    world.server.stop()
    recording = Recording("Product", {"1": {"name": "Phone"}})
    world.server.adapters[0] = world.products = recording
    world.server.start()
    client = world.logged_in()
    assert sync(client, query_params="query[brand]=Apple&query[kind]=phone").status == "complete"
    assert {"brand": "Apple", "kind": "phone"} in recording.params
    result = wait(client.do_sync_source(world.Product, query_params="query[brand]=HTC"))
    assert result.status == "ok"
    assert recording.params[-1] == {"brand": "HTC"}
    # a mapping arrives the same way (docs/sync.md): its keys are sent as query[...]
    assert sync(client, query_params={"brand": "Apple", "kind": "a b&c"}).ok
    assert {"brand": "Apple", "kind": "a b&c"} in recording.params
    result = wait(client.do_sync_source(world.Product, query_params={"brand": "HTC"}))
    assert result.status == "ok" and recording.params[-1] == {"brand": "HTC"}
    with pytest.raises(ValidationError, match=r"query_params: key 'a\[b\]'"):
        client.do_sync(query_params={"a[b]": "1"})


def test_links_rewrite_a_dependent_in_another_partition(tmp_path: Path, threaded: bool) -> None:
    """The owner lives in the app partition, its dependent in the user partition: the
    rewrite crosses two SQLite files."""

    class Catalog(rhom.PropertyBagModel, sync=True, sync_priority=5, partition="app"):
        pass

    class Entry(rhom.Model, sync=True, sync_priority=1):
        title = rhom.CharField()
        catalog = rhom.BelongsTo("Catalog")

    catalogs, entries = MemoryAdapter("Catalog", partition="app"), MemoryAdapter("Entry")
    rhom.setup(tmp_path / "device", models=[Catalog, Entry])
    server = Server([catalogs, entries], store=f"sqlite:///{tmp_path}/server.db")
    server.start()
    client = None
    try:
        client = rhom.SyncClient(server.url, threaded_mode=threaded, poll_interval=0)
        assert wait(client.login("alice", "secret")).error_code == 0
        spring = Catalog.create(name="Spring")
        Entry.create(title="Kite", catalog=spring.object)
        assert wait(client.do_sync()).status == "complete"
        ((cat_id, cat),) = catalogs.data.items()
        assert cat == {"name": "Spring"}
        ((entry_id, entry),) = entries.data.items()
        assert entry == {"title": "Kite", "catalog": cat_id}
        assert Entry.find(entry_id).catalog == cat_id
        assert Catalog.find(cat_id).name == "Spring"
        assert not rhom.have_local_changes()
    finally:
        if client is not None:
            client.close()
        rhom.shutdown()
        server.stop()


class WithMetadata(MemoryAdapter):
    """A source that describes itself (protocol.md §9.1)."""

    meta = '{"title": "Products", "version": 1}'

    def metadata(self) -> str | None:
        return self.meta


def test_metadata_is_stored_and_follows_changes(world: World) -> None:
    world.server.stop()
    described = WithMetadata("Product", {"1": {"name": "Phone"}})
    world.server.adapters[0] = world.products = described
    world.server.start()
    client = world.logged_in()
    assert world.Product.metadata() is None
    assert sync(client).status == "complete"
    assert world.Product.metadata() == {"title": "Products", "version": 1}
    described.meta = '{"title": "Products", "version": 2}'
    assert sync(client).status == "complete"
    assert world.Product.metadata() == {"title": "Products", "version": 2}
    assert set(values(world.Product)) == {"1"}


def test_bulk_only_source_is_left_to_bulk_sync(tmp_path: Path, threaded: bool) -> None:
    """rhom-api §5.5: incremental runs skip it; a single-source sync still syncs it."""

    class Archive(rhom.PropertyBagModel, sync=True, sync_type="bulk_only"):
        pass

    class Note(rhom.PropertyBagModel, sync=True):
        pass

    archives = MemoryAdapter("Archive", {"1": {"title": "old"}})
    notes = MemoryAdapter("Note", {"1": {"text": "hi"}})
    rhom.setup(tmp_path / "device", models=[Archive, Note])
    server = Server([archives, notes], store=f"sqlite:///{tmp_path}/server.db")
    server.start()
    client = rhom.SyncClient(server.url, threaded_mode=threaded, poll_interval=0)
    try:
        assert wait(client.login("alice", "secret")).error_code == 0
        result = wait(client.do_sync())
        assert result.status == "complete"
        assert "Archive" not in {n.source_name for n in result.notifications}
        assert "query" not in archives.calls
        assert [n.text for n in Note.find("all")] == ["hi"]
        assert wait(client.do_sync_source(Archive)).status == "ok"
        assert [a.title for a in Archive.find("all")] == ["old"]
    finally:
        client.close()
        rhom.shutdown()
        server.stop()
