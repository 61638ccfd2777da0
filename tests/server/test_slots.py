"""One CPU slot does not serialize adapters: a request waiting in its adapter gives the
slot up, so two slow adapter calls overlap (rhom/server/_slots.py)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable

import pytest

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
    with serve([Meeting()], settings=dataclasses.replace(settings, cpu_slots=1)) as url:
        alice, bob = client_of(url, rho, "alice"), client_of(url, rho, "bob")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            pages = list(pool.map(lambda c: c.page("Product"), [alice, bob]))
        for page in pages:
            assert "source-error" not in page["commands"], page
            assert page["commands"]["insert"] == {"1": {"name": "Phone"}}


def test_each_store_gets_the_slots_that_suit_it(settings: Settings) -> None:
    from rhom.server import create_app
    from rhom.server._call import server_of

    server = server_of(create_app([], settings=dataclasses.replace(settings, cpu_slots=None)))
    assert server.slots.size == server.state.store.cpu_slots == (1 if settings.store.startswith("sqlite") else 2), (
        "unset, cpu_slots is what the store suggests: 1 for SQLite, 2 for Redis"
    )
    assert server_of(create_app([], settings=dataclasses.replace(settings, cpu_slots=3))).slots.size == 3


def _until(check: Callable[[], bool]) -> None:
    for _ in range(2000):
        if check():
            return
        threading.Event().wait(0.005)
    raise AssertionError("the threads never got there")


def test_a_thread_back_from_a_wait_gets_the_slot_before_a_new_request() -> None:
    from rhom.server._slots import Slots, waiting

    slots = Slots(1)
    turns = slots._semaphore
    assert turns is not None
    order: list[str] = []
    wait_over, holder_done, holder_in = threading.Event(), threading.Event(), threading.Event()

    def returning() -> None:
        with slots.held():
            with waiting():  # gives the slot up, as around an adapter call or a Redis reply
                wait_over.wait(10)
            order.append("back from its wait")

    def holder() -> None:
        with slots.held():
            holder_in.set()
            holder_done.wait(10)
            order.append("holder")

    def new() -> None:
        with slots.held():
            order.append("new request")

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(returning)]
        _until(lambda: turns._free == 1)  # "returning" waits, its slot given up
        futures.append(pool.submit(holder))
        holder_in.wait(10)
        futures.append(pool.submit(new))
        _until(lambda: len(turns._new) == 1)
        wait_over.set()
        _until(lambda: len(turns._back) == 1)
        holder_done.set()
        for future in futures:
            future.result(10)
    assert order == ["holder", "back from its wait", "new request"], "work under way finishes first"


@pytest.mark.redis
def test_a_request_waiting_for_redis_gives_its_slot_up(redis_url: str) -> None:
    """While Redis is busy answering one request, another request runs (the connection
    gives the slot up around each reply)."""
    import redis

    from rhom.server._redis_store import RedisStore
    from rhom.server._slots import Slots

    store, slots = RedisStore(redis_url, prefix=f"t{threading.get_ident()}:"), Slots(1)
    busy = redis.Redis.from_url(redis_url)
    spin = "local t = redis.call('TIME') while tonumber(redis.call('TIME')[1]) < t[1] + 2 do end return 1"
    order: list[str] = []
    store.get("warm")  # connected: the wait below is Redis's, not the connection's

    def waiting_for_redis() -> None:
        with slots.held():
            threading.Timer(0.1, lambda: order.append("redis busy") or busy.eval(spin, 0)).start()
            _until(lambda: "redis busy" in order)
            threading.Event().wait(0.2)  # the script now holds Redis for about 2 s
            store.get("key")  # waits for Redis
            order.append("reply")

    def other_request() -> None:
        _until(lambda: "redis busy" in order)
        threading.Event().wait(0.4)
        with slots.held():
            order.append("other request")

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(waiting_for_redis), pool.submit(other_request)]:
            future.result(20)
    store.close()
    assert order.index("other request") < order.index("reply"), order
