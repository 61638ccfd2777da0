"""Application code that raises inside notifications must not corrupt a run (notify.py).

Signals are sent after the page they report has committed with its token, so a raising
receiver can stop the run but never leave a page half applied, nor make the next run
apply one twice. A raising ``set_notification`` callback is logged and the run goes on.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import rhom
from rhom.sync import notify

from .conftest import World, sync, values, wait

PRODUCTS = {str(i): {"name": f"p{i}", "price": str(i)} for i in range(1, 8)}


class Boom(Exception):
    pass


def test_raising_signal_receiver_stops_the_run_between_pages(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in(page_size=3)
    seen: list[int] = []

    def receiver(sender: Any, notification: Any) -> None:
        if notification.status == "in_progress":
            seen.append(notification.cumulative_count)
            raise Boom("the application's receiver failed")

    with notify.source_notification.connected_to(receiver, sender=world.Product), pytest.raises(Boom):
        sync(client)
    assert seen == [3]
    assert not client.is_syncing()
    assert len(values(world.Product)) == 3  # the first page, whole
    result = sync(client)
    assert result.status == "complete"
    progress = [n.cumulative_count for n in result.notifications if n.status == "in_progress"]
    assert progress == [3, 4]  # the rest, not the first page again
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()


def test_raising_callback_is_logged_and_the_run_goes_on(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in(page_size=3)
    calls: list[str] = []

    def callback(notification: Any) -> None:
        calls.append(notification.status)
        raise Boom("the application's callback failed")

    client.set_notification("*", callback)
    with caplog.at_level(logging.ERROR, logger="rhom.sync"):
        result = wait(client.do_sync())
    assert result.status == "complete"
    assert calls[-1] == "complete"
    assert values(world.Product) == world.products.data
    assert any("callback raised" in r.getMessage() for r in caplog.records)


def test_raising_push_receiver_leaves_the_push_in_doubt_not_lost_nor_doubled(world: World) -> None:
    """The receiver runs after the server took the push and before the bookkeeping: the
    rows stay in flight, as after a crash at that point. The next run must not create the
    objects again (their links come with its pull) and must still send the update."""
    world.products.replace({"1": {"name": "Phone", "price": "1"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    world.Product.create(name="Pad", price="2")
    world.Product.find("1").update_attributes(price="5")

    def receiver(sender: Any, body: Any, ok: bool) -> None:
        raise Boom("the application's push receiver failed")

    with notify.push_sent.connected_to(receiver, sender=world.Product), pytest.raises(Boom):
        sync(client)
    assert sorted(o["name"] for o in world.products.data.values()) == ["Pad", "Phone"]
    for _ in range(2):
        assert sync(client).status == "complete"
    assert world.products.calls.count("create") == 1
    assert sorted((o["name"], o["price"]) for o in world.products.data.values()) == [("Pad", "2"), ("Phone", "5")]
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()
