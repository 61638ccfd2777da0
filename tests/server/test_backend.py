"""Backend-driven changes (rhom.server.backend): pushed objects reach clients without a query."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rhom.server import MemoryAdapter, backend, create_app
from rhom.server.testing import run_in_thread

from .conftest import RhoClient, Settings


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


def client_of(url: str, rho: Callable[[str], RhoClient], user: str = "alice") -> RhoClient:
    client = rho(url)
    assert client.login(user).status_code == 200
    client.create_client()
    return client


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
