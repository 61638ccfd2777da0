"""Push-enabled apps: the live channel brings pings and backend changes to a client at once.

A ``SyncClient(live=True)`` keeps a server-sent-events stream open; the server's ping
API (HTTP and Python) and backend-driven changes make it sync without waiting for a poll
(the clients here never poll: ``poll_interval=0``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

import rhom
from rhom.server import backend, live

from .conftest import API_TOKEN, World, server_down, sync, values

TIMEOUT = 10.0


def eventually(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def live_client(world: World, user: str = "alice") -> Any:
    client = world.logged_in(user, live=True)
    assert sync(client).status == "complete"  # the first sync gets the client its id
    eventually(lambda: client.live_connected, "the live channel opens once the client has an id")
    return client


def ping(world: World, body: dict[str, Any]) -> httpx.Response:
    return world.server.admin("POST", "/rc/v1/users/ping", json=body)


def test_a_ping_syncs_the_named_source_and_carries_its_message(world: World) -> None:
    client = live_client(world)
    received: list[dict[str, Any]] = []
    rhom.signals.ping.connect(lambda sender, **kw: received.append(kw), weak=False)
    try:
        world.products.replace({"1": {"name": "Phone"}})  # the adapter changed; nobody polls
        reply = ping(world, {"user_id": ["alice"], "sources": ["Product"], "message": "new stock", "badge": "1"})
        assert (reply.status_code, reply.text) == (200, "")
        eventually(lambda: "1" in values(world.Product), "the pinged source synced")
    finally:
        rhom.signals.ping.receivers.clear()
    assert received[0]["message"] == "new stock" and received[0]["badge"] == "1"
    assert received[0]["sources"] == ["Product"] and received[0]["sound"] is None
    assert client.live_connected


def test_a_backend_change_reaches_the_live_client(world: World) -> None:
    world.products.poll_interval = -1  # fed by the backend only: a query would undo the push
    live_client(world)
    backend.push_objects(world.server.app, "Product", {"7": {"name": "Pushed"}}, user="alice")
    eventually(lambda: values(world.Product).get("7") == {"name": "Pushed"}, "the pushed object arrived")
    backend.push_deletes(world.server.app, "Product", ["7"], user="alice")
    eventually(lambda: "7" not in values(world.Product), "the pushed delete arrived")


def test_a_ping_of_another_user_does_not_sync_this_one(world: World) -> None:
    live_client(world)
    synced = threading.Event()
    rhom.signals.sync_started.connect(lambda *a, **k: synced.set(), weak=False)
    try:
        world.products.replace({"1": {"name": "Phone"}})
        assert ping(world, {"user_id": "bob"}).status_code == 200
        assert live.ping(world.server.app, ["bob"]).users == ["bob"]
        assert not synced.wait(1.0), "bob's ping started a sync of alice's client"
    finally:
        rhom.signals.sync_started.receivers.clear()
    assert values(world.Product) == {}


def test_a_ping_sent_while_the_channel_was_down_arrives_after_it_reconnects(world: World) -> None:
    client = live_client(world)
    with server_down(world):
        eventually(lambda: not client.live_connected, "the client notices the server is gone")
    # back up (same state): the client reconnects with the id of the last event it saw
    world.products.replace({"1": {"name": "Phone"}})
    live.ping(world.server.app, "alice", sources=["Product"])  # likely before the reconnect
    eventually(lambda: "1" in values(world.Product), "the ping sent around the reconnect synced")
    eventually(lambda: client.live_connected, "the channel is open again")


def test_a_live_client_still_pushes_and_pulls_normally(world: World) -> None:
    client = live_client(world)
    world.Product.create(name="local")
    assert sync(client).status == "complete"
    assert [o["name"] for o in world.products.data.values()] == ["local"]


def test_the_ping_api_checks_its_token_and_input(world: World) -> None:
    url = world.server.url + "/rc/v1/users/ping"
    no_token = httpx.post(url, json={"user_id": "alice"})
    assert (no_token.status_code, no_token.text) == (422, "No API token provided")
    for bad in ({}, {"user_id": ""}, {"user_id": [1]}, {"user_id": "alice", "sources": "Product"}):
        reply = ping(world, bad)
        assert reply.status_code == 400, bad
    headers = {"X-RhoConnect-API-TOKEN": API_TOKEN, "X-RhoConnect-CLIENT-ID": "nobody"}
    assert httpx.get(world.server.url + "/rc/v1/app/live", headers=headers).status_code == 401
