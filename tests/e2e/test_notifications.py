"""Notifications: per-source, wildcard, object notifications, signals (rhom-api §12 item 14, §7)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import rhom
from rhom.sync import notify

from .conftest import World, sync, wait


def recorder() -> tuple[list[Any], Any]:
    seen: list[Any] = []

    def callback(note: Any) -> None:
        seen.append((note.source_name, note.status, note.callback_data, threading.current_thread().name))

    return seen, callback


def test_per_source_callback_is_one_shot(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    client = world.logged_in()
    seen, callback = recorder()
    client.set_notification(world.Product, callback, callback_data={"screen": 1})
    assert sync(client).status == "complete"
    assert [(s, st, d) for s, st, d, _ in seen] == [
        ("Product", "in_progress", {"screen": 1}),
        ("Product", "ok", {"screen": 1}),
    ]
    world.products.replace({"1": {"name": "Phone 2"}})
    assert sync(client).status == "complete"
    assert len(seen) == 2  # removed after the source's final notification


def test_wildcard_persists_and_gets_the_run_end(world: World) -> None:
    world.customers.replace({"9": {"name": "Ann"}})
    client = world.logged_in()
    own, own_callback = recorder()
    star, star_callback = recorder()
    client.set_notification("Product", own_callback)
    client.set_notification("*", star_callback)
    assert sync(client).status == "complete"
    assert [(s, st) for s, st, _, _ in own] == [("Product", "ok")]
    # sources with their own callback do not reach '*'; the run-level complete does
    assert [(s, st) for s, st, _, _ in star] == [("Customer", "in_progress"), ("Customer", "ok"), (None, "complete")]
    assert sync(client).status == "complete"
    assert [(s, st) for s, st, _, _ in star][3:] == [("Product", "ok"), ("Customer", "ok"), (None, "complete")]
    client.clear_notification("*")
    assert sync(client).status == "complete"
    assert len(star) == 6  # silenced


def test_model_sync_registers_a_one_shot_callback(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}})
    world.logged_in()
    seen, callback = recorder()
    result = wait(world.Product.sync(callback, callback_data="d"))
    assert (result.status, result.error_code) == ("ok", 0)
    assert [(s, st, d) for s, st, d, _ in seen] == [("Product", "in_progress", "d"), ("Product", "ok", "d")]
    wait(world.Product.sync())
    assert len(seen) == 2
    world.Product.set_notification(callback, "again")
    world.Product.clear_notification()
    wait(world.Product.sync())
    assert len(seen) == 2


def test_threaded_calls_return_futures_and_call_back_on_the_sync_thread(world: World) -> None:
    client = world.logged_in()
    seen, callback = recorder()
    client.set_notification("*", callback)
    call = client.do_sync()
    assert isinstance(call, Future) == world.threaded
    assert wait(call).status == "complete"
    threads = {name for _, _, _, name in seen}
    if world.threaded:
        assert all(name.startswith("rhom-sync") for name in threads), threads
    else:
        assert threads == {threading.current_thread().name}


def test_sync_result_lists_every_notification(world: World) -> None:
    world.products.replace({str(i): {"name": f"p{i}"} for i in range(5)})
    client = world.logged_in(page_size=2)
    result = sync(client)
    assert [(n.source_name, n.status) for n in result.notifications] == [
        ("Product", "in_progress"),
        ("Product", "in_progress"),
        ("Product", "in_progress"),
        ("Product", "ok"),
        ("Customer", "ok"),
        (None, "complete"),
    ]
    assert result.notifications[-1] == result.notification
    assert result.ok


def test_object_notifications_of_tracked_objects(world: World) -> None:
    world.products.replace({"1": {"name": "Phone"}, "2": {"name": "Pad"}, "3": {"name": "Watch"}})
    client = world.logged_in()
    assert sync(client).status == "complete"
    fresh = world.Product.create(name="Laptop")
    calls: list[tuple[list[str], list[str], list[str]]] = []
    signalled: list[dict[str, Any]] = []

    def on_objects(created: Any, updated: Any, deleted: Any) -> None:
        calls.append(([r.object for r in created], [r.object for r in updated], [r.object for r in deleted]))

    def receiver(sender: Any, **kwargs: Any) -> None:
        signalled.append({k: sorted(r.object for r in v) for k, v in kwargs.items()})

    client.set_object_notification(on_objects)
    client.add_object_notify(world.Product, "1")
    client.add_object_notify("Product", "2")
    client.add_object_notify(world.Product, fresh.object)
    world.products.replace({"1": {"name": "Phone 2"}, "3": {"name": "Watch 2"}})  # 2 deleted, 3 untracked
    with notify.objects_changed.connected_to(receiver, sender=client):
        assert sync(client).status == "complete"
    created = [c for c, _, _ in calls if c]
    assert created == [[fresh.object]]  # reported under its temporary id
    assert sorted(o for _, u, _ in calls for o in u) == ["1"]
    assert sorted(o for _, _, d in calls for o in d) == ["2"]
    assert signalled and {o for s in signalled for o in s["updated"]} == {"1"}
    client.clean_object_notify()
    world.products.data["1"]["name"] = "Phone 3"
    calls.clear()
    assert sync(client).status == "complete"
    assert calls == []  # nothing tracked any more


def test_signals_of_a_run(world: World) -> None:
    client = world.logged_in()
    events: list[tuple[str, Any]] = []

    def started(sender: Any, sources: list[str], kind: str) -> None:
        events.append(("started", (tuple(sources), kind)))

    def per_source(sender: Any, notification: Any) -> None:
        events.append(("source", (sender.get_source_name(), notification.status)))

    def finished(sender: Any, notification: Any) -> None:
        events.append(("finished", notification.status))

    with (
        notify.sync_started.connected_to(started, sender=client),
        notify.source_notification.connected_to(per_source),
        notify.sync_finished.connected_to(finished, sender=client),
    ):
        assert sync(client).status == "complete"
    assert events == [
        ("started", (("Product", "Customer"), "all")),
        ("source", ("Product", "ok")),
        ("source", ("Customer", "ok")),
        ("finished", "complete"),
    ]
    assert rhom.signals.sync_user_changed is not None
