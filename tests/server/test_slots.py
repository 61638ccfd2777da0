"""One CPU slot does not serialize adapters: a request waiting in its adapter gives the
slot up, so two slow adapter calls overlap (rhom/server/_slots.py)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

from rhom.server import MemoryAdapter, Settings

from .conftest import RhoClient, Serve, client_of


class Meeting(MemoryAdapter):
    """A query that returns only once two queries are inside the adapter at the same time."""

    def __init__(self) -> None:
        super().__init__("Product", {"1": {"name": "Phone"}}, poll_interval=0)
        self.barrier = threading.Barrier(2, timeout=20)

    def query(self, params: object = None) -> object:
        self.barrier.wait()  # BrokenBarrierError (a source error) if the other never comes
        return super().query(params)


def test_adapter_calls_overlap_with_one_slot(serve: Serve, settings: Settings, rho: Callable[[str], RhoClient]) -> None:
    assert settings.cpu_slots == 1, "the default"
    with serve([Meeting()]) as url:
        alice, bob = client_of(url, rho, "alice"), client_of(url, rho, "bob")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            pages = list(pool.map(lambda c: c.page("Product"), [alice, bob]))
        for page in pages:
            assert "source-error" not in page["commands"], page
            assert page["commands"]["insert"] == {"1": {"name": "Phone"}}
