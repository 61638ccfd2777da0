"""A device offline longer than the server's log retention starts over and keeps its edits.

rhom.server keeps replaced versions and deletions for ``log_retention`` seconds. A client
whose cursor is older is forgotten: its next request answers ``Unknown client``, and the
client recovers as from a lost client id (a reset that keeps unpushed local changes),
then pulls everything again (docs/server.md, "The change log").
"""

from __future__ import annotations

import httpx

import rhom

from .conftest import World, sync, values


def _another_device_syncs(url: str) -> None:
    """A second device of alice pulls, which refreshes her log (and compacts it)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.post("/rc/v1/app/login", json={"login": "alice", "password": "x"}).status_code == 200
        client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
        reply = http.get("/app/v1/Product", params={"version": 3}, headers={"X-RhoConnect-CLIENT-ID": client_id})
        assert reply.status_code == 200


def test_device_behind_the_retention_window_catches_up_with_its_edits(world: World) -> None:
    world.products.replace({"1": {"name": "Phone", "price": "1"}, "2": {"name": "Pad", "price": "2"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    first_id = rhom.client_id()
    world.Product.find("1").update_attributes(price="5")  # an edit made offline
    del world.products.data["2"]  # meanwhile on the server: a deletion...
    world.products.data["3"] = {"name": "Watch", "price": "3"}
    world.server.stop()
    world.server.start(log_retention=0, log_compact_interval=0)
    _another_device_syncs(world.url)  # ... that the log forgets at once
    world.server.stop()
    world.server.start()
    result = sync(client)
    assert result.status == "complete", result
    assert rhom.client_id() != first_id, "the server forgot the client: it registered anew"
    assert values(world.Product) == world.products.data, "local data equals the server's"
    assert world.products.data["1"]["price"] == "5", "the offline edit reached the server"
    assert "2" not in values(world.Product), "the deletion the log forgot still reached the device"
