"""The application keeps writing while the threaded client syncs (rhom-api §4 "sync-side locking")."""

from __future__ import annotations

from collections.abc import Callable

import rhom

from .conftest import World, rows, sync, values, wait


def test_app_writes_while_the_sync_thread_pulls_and_pushes(make_world: Callable[..., World], layout: str) -> None:
    world = make_world(layout, True)
    world.products.replace({str(i): {"name": f"server-{i}", "price": str(i)} for i in range(1, 301)})
    client = world.logged_in(page_size=25)
    made: list[str] = []
    for _round in range(3):
        running = client.do_sync()
        while not running.done() or len(made) < 20 * (_round + 1):  # bounded: ~60 writes in all
            obj = world.Product.create(name=f"local-{len(made)}", price="0")
            made.append(obj.object)
            if len(made) % 3 == 0:
                world.Product.find(obj.object).update_attributes(price="3")
            if len(made) > 400:
                break
        assert wait(running).status == "complete"
    for _ in range(3):
        assert sync(client).status == "complete"
        if not rhom.have_local_changes():
            break
    local = values(world.Product)
    assert local == world.products.data
    names = [attrs["name"] for attrs in world.products.data.values()]
    assert len(names) == len(set(names)) == 300 + len(made)  # every write arrived, once
    assert rows(world.Product) == []
