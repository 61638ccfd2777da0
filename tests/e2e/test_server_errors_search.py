"""Server errors, search, and syncing only changed sources (rhom-api §12 item 13)."""

from __future__ import annotations

from typing import Any

import pytest

import rhom

from .conftest import World, rows, sync, values, wait
from .helpers import notes, reported_errors

PRODUCTS = {
    "1": {"name": "iPhone", "price": "199"},
    "2": {"name": "Droid", "price": "149"},
    "3": {"name": "iPad", "price": "499"},
}


@pytest.mark.parametrize(("hook", "key"), [("query", "query-error"), ("login", "login-error")])
def test_source_error_surfaces_in_server_errors(world: World, hook: str, key: str) -> None:
    world.products.replace(PRODUCTS)
    world.customers.replace({"9": {"name": "Ann"}})
    client = world.logged_in()
    world.products.fail(hook, "backend down")
    result = sync(client)
    error = reported_errors(result, world.Product)
    assert error.error_code == 8
    assert error.server_errors == {key: {"message": "backend down"}}
    assert error.to_params()["server_errors"][key]["message"] == "backend down"
    assert values(world.Product) == {}
    assert set(values(world.Customer)) == {"9"}  # the other source still synced
    world.products.heal()
    assert sync(client).status == "complete"
    assert set(values(world.Product)) == {"1", "2", "3"}


def test_search_brings_the_matches(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    result = wait(client.search(world.Product, search_params={"name": "ip"}))
    assert result.status == "complete" and result.error_code == 0
    assert result.search_params == {"name": "ip"}
    assert set(values(world.Product)) == {"1", "3"}
    assert rows(world.Product) == []
    assert "search" in world.products.calls


def test_search_callback_gets_the_final_notification(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    seen: list[Any] = []
    wait(client.search("Product", search_params={"name": "droid"}, callback=seen.append, callback_data="mine"))
    assert [(n.status, n.callback_data, dict(n.search_params or {})) for n in seen] == [
        ("complete", "mine", {"name": "droid"})
    ]
    assert set(values(world.Product)) == {"2"}


def test_search_error_surfaces_in_server_errors(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    world.products.fail("search", "no index")
    result = wait(client.search(world.Product, search_params={"name": "ip"}))
    assert result.status == "error"
    assert result.error_code == 8
    assert result.server_errors["search-error"]["message"] == "no index"
    assert values(world.Product) == {}


def test_a_search_whose_adapter_login_fails_reports_a_search_error(world: World) -> None:
    # the server answers {"search-error": {"login-error": {...}}}: an app reading
    # server_errors["search-error"] (as Rhodes apps do) still finds the message
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    world.products.fail("login", "directory offline")
    result = wait(client.search(world.Product, search_params={"name": "ip"}))
    assert (result.status, result.error_code) == ("error", 8)
    assert result.server_errors == {
        "login-error": {"message": "directory offline"},
        "search-error": {"message": "directory offline"},
    }


def test_every_error_of_a_run_is_on_its_result(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    assert sync(client).ok
    world.products.fail("query", "backend down")
    world.customers.fail("create", "no such shop")
    ann = world.Customer.create(name="Ann")
    result = sync(client)
    assert result.status == "complete" and not result.ok
    assert sorted(result.failed_sources) == ["Customer", "Product"]
    assert result.server_errors["query-error"] == {"message": "backend down"}
    assert result.server_errors["create-error"][ann.object]["message"] == "no such shop"
    assert result.to_params()["server_errors"]["create-error"][ann.object]["attributes"] == {"name": "Ann"}
    # a one-source sync ends with that source's notification, errors included
    one = wait(client.do_sync_source(world.Product))
    assert (one.status, one.error_code, one.source_name) == ("error", 8, "Product")
    assert one.server_errors == {"query-error": {"message": "backend down"}}
    assert one.error_message == "backend down"
    assert client.last_sync_stats(world.Product).errors == 1
    world.products.heal()
    clean = wait(client.do_sync_source(world.Product))
    assert (clean.status, dict(clean.server_errors)) == ("ok", {})
    assert client.last_sync_stats(world.Product).errors == 0


def test_search_with_sync_changes_pushes_first(world: World) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"
    world.Product.create(name="iMac", price="999")
    result = wait(client.search(world.Product, search_params={"name": "imac"}, sync_changes=True))
    assert result.status == "complete"
    assert [p["name"] for p in world.products.data.values()] == ["iMac"]
    assert not rhom.have_local_changes()


def test_sync_only_changed_sources(world: World) -> None:
    world.products.replace(PRODUCTS)
    world.customers.replace({"9": {"name": "Ann"}})
    client = world.logged_in()
    world.Product.create(name="Pixel")
    assert rhom.have_local_changes()
    result = sync(client, sync_only_changed_sources=True)
    assert result.status == "complete"
    assert not rhom.have_local_changes()
    assert len(values(world.Product)) == 4  # pushed and pulled
    assert values(world.Customer) == {}  # unchanged: not pulled
    assert "query" not in world.customers.calls
    # the skipped source still gets its end-of-source notification
    assert [n.status for n in notes(result, world.Customer)] == ["ok"]
    assert sync(client).status == "complete"
    assert set(values(world.Customer)) == {"9"}
