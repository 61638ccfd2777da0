"""Stopping a run (rhom-api §6.2 ``stop_sync``; protocol.md §11.11): code 10, data intact.

The server's Product query blocks on a gate, so the test knows the run is in the middle
of a request when it stops it; the page in flight is applied (it commits with its token)
and the run ends at its next checkpoint, before the next source.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

import rhom
from rhom.server import MemoryAdapter
from rhom.sync.errors import ErrorCode

from .conftest import World, sync, values, wait


class Gated(MemoryAdapter):
    """A source whose next query waits until the test opens the gate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def query(self, params: Mapping[str, Any] | None) -> Any:
        if self.closed:
            self.closed = False
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        return super().query(params)


@pytest.fixture
def gated(world: World) -> Gated:
    world.server.stop()
    gated = Gated("Product", {str(i): {"name": f"p{i}"} for i in range(1, 6)})
    world.server.adapters[0] = world.products = gated
    world.customers.replace({"1": {"name": "Ann"}})
    world.server.start()
    return gated


@pytest.mark.parametrize("how", ["stop_sync", "login"])
def test_stop_during_a_request_ends_the_run_with_code_10(world: World, gated: Gated, how: str) -> None:
    client = world.logged_in(threaded_mode=True, page_size=2)
    draft = world.Product.create(name="draft")
    gated.closed = True
    future = client.do_sync()
    assert gated.entered.wait(20)
    assert client.is_syncing()
    if how == "stop_sync":
        client.stop_sync()
        login = None
    else:
        login = client.login("alice", "secret")  # a login stops the running sync first
    gated.gate.set()
    result = wait(future)
    assert result.status == "error"
    assert result.error_code == ErrorCode.CANCEL_BY_USER
    assert "complete" not in [n.status for n in result.notifications]
    assert "query" not in world.customers.calls  # stopped before the next source
    if login is not None:
        assert wait(login).error_code == 0
    assert not client.is_syncing()
    assert draft.object not in values(world.Product)  # the push and the first page went through
    assert len(values(world.Product)) in (2, 3)

    assert sync(client).status == "complete"
    assert values(world.Product) == gated.data
    assert len(gated.data) == 6
    assert set(values(world.Customer)) == {"1"}
    assert not rhom.have_local_changes()
