"""Replies the real server never sends, in the middle of a real sync.

Every test here is a mock, and says why: rhom.server cannot be made to send half a JSON
page, an HTML page, a 500 on page 3, a dropped connection mid-run or another data
format ``version``. The mock is a thin one: an ``httpx.MockTransport`` whose handler
forwards every request to the real rhom.server and replaces only the reply to the third
``Product`` page, so logins, client ids, pushes, token acknowledgements and the other
pages all go over real HTTP. The engine must commit pages 1-2, leave the token on
page 2, and on the next run get page 3 again and end with every object exactly once
(protocol.md §4.4, §11.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import rhom
from rhom.sync.errors import ErrorCode

from .conftest import World, sync, values, wait

PRODUCTS = {str(i): {"name": f"p{i}", "price": str(i)} for i in range(1, 8)}

Fault = Callable[[httpx.Request], httpx.Response]
Proxy = Callable[[Fault], "ThirdPageFault"]


def _truncated(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b'[{"version":3},{"token":"99"},{"count":2},{"progress_co')


def _html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html><body>Gateway</body></html>")


def _status_500(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, content=b"backend exploded")


def _dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer", request=request)


def _version_2(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=[{"version": 2}, {"token": "99"}, {"count": 0}, {"progress_count": 0},
                                     {"total_count": 7}, {}])  # fmt: skip


class ThirdPageFault:
    """Forward to the real server; answer the 3rd ``GET .../Product`` with *fault*."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.armed = True
        self.product_pages = 0
        self.real = httpx.HTTPTransport()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/Product"):
            self.product_pages += 1
            if self.armed and self.product_pages == 3:
                self.armed = False
                return self.fault(request)
        response = self.real.handle_request(request)
        response.read()
        return httpx.Response(response.status_code, headers=_plain(response.headers), content=response.content)


@pytest.fixture
def threaded() -> bool:
    """Blocking clients only: the faults are the engine's business, not the thread's
    (the threaded path runs the same engine, see test_login and test_notifications)."""
    return False


@pytest.fixture
def proxy(world: World) -> Iterator[Callable[[Fault], ThirdPageFault]]:
    made: list[ThirdPageFault] = []

    def make(fault: Fault) -> ThirdPageFault:
        made.append(ThirdPageFault(fault))
        return made[-1]

    yield make
    world.close_clients()
    for handler in made:
        handler.real.close()


def _plain(headers: httpx.Headers) -> list[tuple[str, str]]:
    # the body was decoded by read(): drop the headers that described the encoded one
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in ("content-encoding", "content-length")]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param(_truncated, ErrorCode.UNEXPECTED_SERVER_RESPONSE, id="truncated-json"),
        pytest.param(_html, ErrorCode.UNEXPECTED_SERVER_RESPONSE, id="html"),
        pytest.param(_status_500, ErrorCode.REMOTE_SERVER, id="500"),
        pytest.param(_dropped, ErrorCode.NETWORK, id="dropped-connection"),
    ],
)
def test_bad_third_page_keeps_two_pages_then_the_next_run_ends(
    world: World, proxy: Proxy, fault: Fault, code: int
) -> None:
    """Mock: rhom.server never sends these replies (see the module docstring)."""
    world.products.replace(PRODUCTS)
    world.customers.replace({"1": {"name": "Ann"}})
    handler = proxy(fault)
    client = world.client(transport=httpx.MockTransport(handler), page_size=2)
    assert wait(client.login("alice", "secret")).error_code == 0
    draft = world.Product.create(name="draft", price="1")

    result = sync(client)
    product_end = [n for n in result.notifications if n.source_name == "Product" and n.status != "in_progress"]
    assert [(n.status, n.error_code) for n in product_end] == [("error", code)]
    assert product_end[0].error_message
    assert result.status == "complete"  # the other sources went on (protocol.md §11.8)
    assert set(values(world.Customer)) == {"1"}
    progress = [n for n in result.notifications if n.source_name == "Product" and n.status == "in_progress"]
    assert [n.cumulative_count for n in progress] == [2, 4]  # pages 1-2 committed, page 3 not
    local = values(world.Product)
    assert draft.object not in local  # the create was pushed: its link rode page 1
    assert "8" in local and set(local) <= set(world.products.data)
    assert len(local) in (4, 5)  # four paged objects, plus the draft if not among them

    result = sync(client)
    assert result.status == "complete" and result.error_code == 0
    assert values(world.Product) == world.products.data
    assert len(world.products.data) == 8  # the draft exactly once
    assert not rhom.have_local_changes()


def test_other_data_format_version_stops_the_run(world: World, proxy: Proxy) -> None:
    """Mock: rhom.server always answers version 3; another version stops the engine."""
    world.products.replace(PRODUCTS)
    world.customers.replace({"1": {"name": "Ann"}})
    handler = proxy(_version_2)
    client = world.client(transport=httpx.MockTransport(handler), page_size=2)
    assert wait(client.login("alice", "secret")).error_code == 0
    result = sync(client)
    assert result.status == "error"
    assert result.error_code == ErrorCode.SYNC_VERSION
    assert "complete" not in [n.status for n in result.notifications]
    assert len(values(world.Product)) == 4
    assert "query" not in world.customers.calls  # the run stopped before Customer
    assert values(world.Customer) == {}

    result = sync(client)
    assert result.status == "complete"
    assert len(values(world.Product)) == 7
    assert set(values(world.Customer)) == {"1"}
