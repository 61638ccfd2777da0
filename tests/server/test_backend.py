"""Backend-driven changes (rhom.server.backend): pushed objects reach clients without a query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rhom.server import MemoryAdapter, backend, create_app
from rhom.server.adapters import Objects
from rhom.server.testing import run_in_thread

from .conftest import RhoClient, Settings, client_of


class NoQuery(MemoryAdapter):
    """A source fed only by its backend: ``query`` must never run."""

    def query(self, params: object) -> dict[str, dict[str, str]]:
        raise AssertionError("a pushed source is never queried")


@pytest.fixture
def pushed(settings: Settings) -> Iterator[tuple[object, str]]:
    source = NoQuery("Product", poll_interval=-1)
    shared = NoQuery("Notice", poll_interval=-1, partition="app")
    app = create_app([source, shared], settings=settings)
    with run_in_thread(app) as url:
        yield app, url


def test_pushed_objects_merge_and_reach_the_client(pushed: tuple[object, str], rho: Callable[[str], RhoClient]) -> None:
    app, url = pushed
    client = client_of(url, rho)
    assert (
        backend.push_objects(app, "Product", {"1": {"name": "Phone", "price": 5}, 2: {"name": "Pad"}}, user="alice")
        == 2
    )
    assert client.sync("Product") == {"1": {"name": "Phone", "price": "5"}, "2": {"name": "Pad"}}
    assert backend.push_objects(app, "Product", {"1": {"price": "6"}}, user="alice") == 1
    assert backend.push_objects(app, "Product", {"1": {"price": "6"}}, user="alice") == 0, "nothing changed"
    page = client.page("Product")
    assert page["commands"] == {"insert": {"1": {"price": "6"}}, "delete": {"1": {"price": "5"}}}, (
        "push_objects merges attributes: name is kept"
    )


def test_pushed_deletes_and_attribute_removal(pushed: tuple[object, str], rho: Callable[[str], RhoClient]) -> None:
    app, url = pushed
    backend.push_objects(app, "Product", {str(i): {"name": f"n{i}", "tag": "x"} for i in range(1, 4)}, user="alice")
    client = client_of(url, rho)
    client.sync("Product")
    assert backend.push_deletes(app, "Product", ["1", "404"], user="alice") == 1, "an unknown id is ignored"
    assert backend.delete_attributes(app, "Product", {"2": ["tag"], "3": ["name", "tag"]}, user="alice") == 2
    assert client.sync("Product") == {}
    assert client.local["Product"] == {"2": {"name": "n2"}}, "3 lost every attribute: deleted"


def test_app_partition_push_reaches_every_user(pushed: tuple[object, str], rho: Callable[[str], RhoClient]) -> None:
    app, url = pushed
    backend.push_objects(app, "Notice", ((str(i), {"text": f"notice {i}"}) for i in range(2500)))
    for user in ("alice", "bob"):
        assert len(client_of(url, rho, user).sync("Notice", p_size=1000)) == 2500


def test_bad_targets_raise_naming_the_problem(pushed: tuple[object, str]) -> None:
    app, _ = pushed
    with pytest.raises(ValueError, match="unknown source 'Nope'"):
        backend.push_objects(app, "Nope", {}, user="alice")
    with pytest.raises(ValueError, match="partitioned by user"):
        backend.push_objects(app, "Product", {"1": {"a": "b"}})


class Feeding(MemoryAdapter):
    """Writes to the ``Notice`` source through the backend from its ``query`` (inside
    its own source's lock) and from its ``create`` (inside the client's lock only)."""

    app: Any = None

    def query(self, params: Any) -> Objects:
        backend.push_objects(self.app, "Notice", {"q": {"text": "from a query"}})
        return super().query(params)

    def create(self, attrs: Any) -> str | None:
        backend.push_objects(self.app, "Notice", {"c": {"text": "from a create"}})
        return super().create(attrs)


def test_a_backend_write_inside_a_query_is_its_query_error(settings: Settings, rho: Callable[[str], RhoClient]) -> None:
    """Two source locks at once could deadlock (a store may share one lock between
    them): the write fails at once, reported as the source's query-error."""
    source = Feeding("Product", {"1": {"name": "Phone"}})
    app = create_app([source, NoQuery("Notice", poll_interval=-1, partition="app")], settings=settings)
    source.app = app
    with run_in_thread(app) as url:
        client = client_of(url, rho)
        page = client.page("Product")
        error = page["commands"]["source-error"]["query-error"]["message"]
        assert "taken while one of its kind is held" in error
        assert client.sync("Notice") == {}, "nothing written"
        source.poll_interval = -1  # no query now: the push hook's write goes through
        assert client.push("Product", {"create": {"t1": {"name": "Pad"}}}).status_code == 200
        assert client.sync("Notice") == {"c": {"text": "from a create"}}


class Journaled(MemoryAdapter):
    """Incremental: ``changes`` answers refreshes; a full ``query`` must never run."""

    def __init__(self) -> None:
        super().__init__("Product", {"1": {"name": "Phone"}}, incremental=True)
        self.cursors: list[str | None] = []

    def changes(self, cursor: str | None) -> tuple[Any, str] | None:
        self.cursors.append(cursor)
        return super().changes(cursor)

    def query(self, params: object) -> dict[str, dict[str, str]]:
        raise AssertionError("an incremental source is never queried in full")


def test_incremental_adapter_refreshes_with_what_changed(settings: Settings, rho: Callable[[str], RhoClient]) -> None:
    source = Journaled()
    app = create_app([source], settings=settings)
    with run_in_thread(app) as url:
        client = client_of(url, rho)
        assert client.sync("Product") == {"1": {"name": "Phone"}}
        source.put("2", {"name": "Pad"})
        source.put("1", {"name": "Phone", "price": "5"})
        source.remove("2")
        source.put("3", {"name": "Watch"})
        page = client.page("Product")
        assert page["commands"] == {"insert": {"1": {"price": "5"}, "3": {"name": "Watch"}}}, (
            "2 came and went between two refreshes: nothing to send"
        )
        source.remove("3")
        assert client.page("Product", token=page["token"])["commands"] == {"delete": {"3": {"name": "Watch"}}}
    assert source.cursors[0] is None and all(c is not None for c in source.cursors[1:]), (
        "everything the first time, then only what changed since the cursor it returned"
    )


def test_shop_backend_refreshes_from_its_change_journal(tmp_path: Any, settings: Settings) -> None:
    from rhom.demo.shop import Backend, ProductAdapter

    backend = Backend(tmp_path / "shop.sqlite")
    adapter = ProductAdapter(backend)
    everything, cursor = adapter.changes(None)
    assert len(everything) == 5 and cursor == "0"
    new_id = backend.insert("product", ("name", "price"), {"name": "Tab", "price": "9"})
    backend.delete("product", "1")
    changed, later = adapter.changes(cursor)
    assert changed == {new_id: {"name": "Tab", "price": "9.00"}, "1": None} and int(later) > 0
    assert adapter.changes(later)[0] == {}


def test_shop_backend_makes_a_create_with_a_known_key_once(tmp_path: Any) -> None:
    from rhom.demo.shop import Backend

    backend = Backend(tmp_path / "shop.sqlite")
    first = backend.insert("product", ("name", "price"), {"name": "Tab", "price": "9"}, key="alice/1700000000001")
    again = backend.insert("product", ("name", "price"), {"name": "Tab 2", "price": "9"}, key="alice/1700000000001")
    assert again == first, "a retried create returns the first record"
    assert backend.rows("product")[first]["name"] == "Tab 2", "and takes the attributes sent again"
    assert len(backend.rows("product")) == 6
