"""Pass-through sources (rhom-api §5.7, protocol.md §4.7): no server copy, no links.

The server pages the adapter's whole result every run; the client replaces all local data
of the source with each page, drops pushed creates at once, and never acknowledges.
"""

from __future__ import annotations

import pytest

import rhom
from rhom.testing import FaultyTransport

from .conftest import World, define_models, rows, sync, values


@pytest.fixture
def passing(world: World) -> World:
    world.setup_models(define_models(world.models.layout, pass_through=True))
    world.products.pass_through = True
    world.products.replace({str(i): {"name": f"p{i}", "price": str(i)} for i in range(1, 4)})
    return world


def test_every_run_replaces_the_local_data(passing: World) -> None:
    client = passing.logged_in(page_size=2)
    result = sync(client)
    assert result.status == "complete"
    assert values(passing.Product) == passing.products.data  # one page: no paging
    progress = [n for n in result.notifications if n.source_name == "Product" and n.status == "in_progress"]
    assert [n.processed_count for n in progress] == [3]
    del passing.products.data["2"]
    passing.products.data["3"]["name"] = "renamed"
    assert sync(client).status == "complete"
    assert values(passing.Product) == passing.products.data
    assert passing.Product.find("2") is None


def test_local_changes_are_pushed_and_replaced_by_the_server_copy(passing: World) -> None:
    client = passing.logged_in()
    assert sync(client).status == "complete"
    draft = passing.Product.create(name="draft", price="9")
    passing.Product.find("1").update_attributes(price="100")
    passing.Product.find("2").destroy()
    result = sync(client)
    assert result.status == "complete", result
    assert sorted(o["name"] for o in passing.products.data.values()) == ["draft", "p1", "p3"]
    assert passing.products.data["1"]["price"] == "100"
    assert passing.Product.find(draft.object) is None  # the page replaced it by the server's
    assert values(passing.Product) == passing.products.data
    assert rows(passing.Product) == []
    assert not rhom.have_local_changes()
    assert sync(client).status == "complete"
    assert len(passing.products.data) == 3  # nothing pushed twice


def test_a_create_whose_reply_was_lost_is_not_made_twice(passing: World) -> None:
    """A gateway answered 502 after the server ran the push. A pass-through source has
    no links and no server copy to tell whether the create was made: it is not sent
    again (the page already shows the server's record if it was)."""
    faults = FaultyTransport()
    client = passing.logged_in(transport=faults)
    assert sync(client).ok
    passing.Product.create(name="draft", price="9")
    faults.replace_reply("POST", "/app/v1/Product", b"<h1>Bad Gateway</h1>", status=502)
    assert sync(client).failed_sources == ["Product"]
    for _ in range(2):
        assert sync(client).ok
    assert sorted(o["name"] for o in passing.products.data.values()) == ["draft", "p1", "p2", "p3"]
    assert passing.products.calls.count("create") == 1
    assert values(passing.Product) == passing.products.data
    assert not rhom.have_local_changes()
