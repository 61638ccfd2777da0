"""Layout-3 routes: same behaviour, client id in the query, a Warning header (protocol.md §0.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rhom.server import MemoryAdapter

from .conftest import PRODUCTS, RhoClient, Serve, parse_page


def _warning(method: str, path: str) -> str:
    return f"Use of the {method} {path} is deprecated. Use Rhoconnect API v1 instead."


@pytest.mark.parametrize("root", ["/application", "/api/application"])
def test_legacy_sync_run(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient], root: str) -> None:
    with serve([products]) as url:
        client = rho(url).http
        login = client.post(root + "/clientlogin", json={"login": "legacy", "password": "x"})
        assert login.status_code == 200, "protocol.md §1.2 (captures B.62)"
        assert login.headers["warning"] == _warning("POST", root + "/clientlogin"), "§1.4"
        created = client.get(root + "/clientcreate")
        assert created.headers["warning"] == _warning("GET", root + "/clientcreate"), "B.63"
        cid = created.json()["client"]["client_id"]
        register = client.post(root + "/clientregister", json={"client_id": cid, "device_pin": "a"})
        assert register.status_code == 200, "protocol.md §3.3 (captures B.64)"
        params = {"client_id": cid, "p_size": 3, "version": 3, "source_name": "Product"}
        seen: dict[str, dict[str, str]] = {}
        token = ""
        for _ in range(10):
            reply = client.get(root, params={**params, **({"token": token} if token else {})})
            assert reply.headers["warning"] == _warning("GET", root), "protocol.md §1.4 (B.65)"
            page = parse_page(reply.json())
            seen.update(page["commands"].get("insert", {}))
            token = page["token"]
            if not token:
                break
        assert seen == PRODUCTS, "protocol.md §4 on layout 3 (captures B.65–B.68)"
        push = client.post(
            root,
            json={"source_name": "Product", "client_id": cid, "create": {"t9": {"name": "L"}}},
        )
        assert (push.status_code, push.text) == (200, ""), "protocol.md §5.1 (captures B.69)"
        links = parse_page(client.get(root, params=params).json())
        assert links["commands"]["links"] == {"t9": {"l": "6"}}, "protocol.md §5.4 (B.70)"
        search = client.get(
            root + "/search",
            params={"client_id": cid, "p_size": 10, "sources[][name]": "Product", "search[name]": "Fuze"},
        )
        assert search.json() == [[]], "protocol.md §6.4 step 4: Fuze is already in the CD"
        assert search.headers["warning"] == _warning("GET", root + "/search"), "B.72"
        reset = client.get(root + "/clientreset", params={"client_id": cid})
        assert (reset.status_code, reset.text) == (200, ""), "protocol.md §3.5 (captures B.74)"
        assert reset.headers["warning"] == _warning("GET", root + "/clientreset"), "B.74"


def test_legacy_query_without_source_name(logged_in: RhoClient) -> None:
    reply = logged_in.http.get("/application", params={"client_id": logged_in.client_id})
    assert (reply.status_code, reply.text) == (500, "Unknown source"), "protocol.md §1.8"


def test_api_aliases(logged_in: RhoClient) -> None:
    params: dict[str, str | int] = {
        "client_id": logged_in.client_id,
        "p_size": 1,
        "source_name": "Product",
    }
    reply = logged_in.http.get("/api/application/query", params=params)
    assert parse_page(reply.json())["count"] == 1, "protocol.md §1.2 (live check L.5)"
    assert reply.headers["warning"] == _warning("GET", "/api/application/query"), "L.5"
    push = logged_in.http.post(
        "/api/application/queue_updates",
        json={"client_id": logged_in.client_id, "source_name": "Product", "update": {"1": {"price": "2"}}},
    )
    assert push.status_code == 200, "protocol.md §1.2: queue_updates alias"


def test_search_with_nested_sources_in_query_string(logged_in: RhoClient) -> None:
    reply = logged_in.http.get(
        "/application/search",
        params=[
            ("client_id", logged_in.client_id),
            ("sources[][name]", "Product"),
            ("search[brand]", "Nokia"),
        ],
    )
    body = reply.json()
    assert body[0][4] == {"insert": {"5": PRODUCTS["5"]}}, "protocol.md §1.3: Rack nesting"
    token = body[0][1]["token"]
    ack = logged_in.http.get(
        "/application/search",
        params=[
            ("client_id", logged_in.client_id),
            ("sources[][name]", "Product"),
            ("sources[][token]", token),
            ("search[brand]", "Nokia"),
        ],
    )
    assert ack.json() == [[]], "protocol.md §6.4: acknowledged through sources[][token]"


def test_legacy_bulk_data(logged_in: RhoClient) -> None:
    params = {"client_id": logged_in.client_id, "partition": "user", "sources": "Product"}
    first = logged_in.http.get("/application/bulk_data", params=params)
    assert first.json() == {"result": "wait"}, "protocol.md §7.3 (captures B.73)"
    assert first.headers["warning"] == _warning("GET", "/application/bulk_data"), "B.73"
    for _ in range(500):
        reply = logged_in.http.get("/application/bulk_data", params=params).json()
        if reply["result"] != "wait":
            break
    assert reply["result"] == "url" and reply["url"].endswith(".data"), "protocol.md §7.3"
