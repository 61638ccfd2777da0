"""Search: paging, acknowledgement, resend, errors, several sources (protocol.md §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rhom.server import MemoryAdapter

from .conftest import PRODUCTS, RhoClient, Serve

CUSTOMERS = {
    "1": {"first": "John", "last": "Smith"},
    "2": {"first": "Jane", "last": "Doe"},
    "3": {"first": "Alice", "last": "Brown"},
}


def _search(client: RhoClient, sources: list[dict[str, str]], **params: Any) -> Any:
    query = {"p_size": 100, "version": 3, **params}
    reply = client.http.post("/rc/v1/app/search", params=query, json={"sources": sources}, headers=client.headers)
    assert reply.status_code == 200, f"protocol.md §6.3: {reply.status_code} {reply.text}"
    return reply


def test_search_pages_then_acknowledges(logged_in: RhoClient) -> None:
    reply = _search(logged_in, [{"name": "Product"}], **{"search[name]": "iPhone"})
    body = reply.json()
    assert body == [
        [
            {"version": 3},
            {"token": body[0][1]["token"]},
            {"source": "Product"},
            {"count": 1},
            {"insert": {"1": PRODUCTS["1"]}},
        ]
    ], "protocol.md §6.3 (captures A.44)"
    assert reply.headers["X-Rhoconnect-PAGE-TOKEN"] == body[0][1]["token"], "protocol.md §1.4"
    assert reply.headers["X-Rhoconnect-PAGE-OBJECT-COUNT"] == "1", "protocol.md §1.4"
    token = body[0][1]["token"]
    ack = _search(logged_in, [{"name": "Product", "token": token}], **{"search[name]": "iPhone"})
    assert ack.json() == [[]], "protocol.md §6.4 (captures A.45)"
    assert "X-Rhoconnect-PAGE-TOKEN" not in ack.headers, "protocol.md §1.4 (A.45)"
    page = logged_in.page("Product")
    assert "1" not in page["commands"]["insert"], "protocol.md §6.4 step 4: found object in CD"


def test_search_pages_by_p_size_with_one_token(logged_in: RhoClient) -> None:
    first = _search(logged_in, [{"name": "Product"}], p_size=2).json()[0]
    token = first[1]["token"]
    second = _search(logged_in, [{"name": "Product", "token": token}], p_size=2).json()[0]
    assert second[1]["token"] == token, "protocol.md §6.4: one token for the whole search"
    assert not set(first[4]["insert"]) & set(second[4]["insert"]), "protocol.md §6.4 step 4"


def test_search_resend_and_invalid_token(logged_in: RhoClient) -> None:
    first = _search(logged_in, [{"name": "Product"}], p_size=2).json()
    token = first[0][1]["token"]
    again = _search(logged_in, [{"name": "Product", "token": token}], p_size=2, resend=1)
    assert again.json() == first, "protocol.md §6.4 step 1 (live check L.7)"
    bad = _search(logged_in, [{"name": "Product", "token": "999"}]).json()
    assert bad == [
        [
            {"version": 3},
            {"source": "Product"},
            {"search-error": {"search-error": {"message": "Search error - invalid token"}}},
        ]
    ], "protocol.md §6.3 (live check L.7)"


def test_multi_source_search_keeps_request_order(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with serve([products, MemoryAdapter("Customer", CUSTOMERS)]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        reply = _search(client, [{"name": "Product"}, {"name": "Customer"}], **{"search[first]": "Jane"})
        body = reply.json()
        assert body[0] == [] and body[1][2] == {"source": "Customer"}, "protocol.md §6.3 (L.7)"
        assert "X-Rhoconnect-PAGE-TOKEN" not in reply.headers, "protocol.md §1.4 (L.7)"


def test_search_errors_and_edge_cases(logged_in: RhoClient, products: MemoryAdapter) -> None:
    products.fail("search", "backend search failed")
    body = _search(logged_in, [{"name": "Product"}]).json()
    assert body == [
        [
            {"version": 3},
            {"source": "Product"},
            {"search-error": {"search-error": {"message": "backend search failed"}}},
        ]
    ], "protocol.md §6.3: error form"
    products.heal()
    empty = logged_in.http.post("/rc/v1/app/search", headers=logged_in.headers)
    assert empty.json() == [], "protocol.md §6.2 (live check L.7): no body → []"
    unknown = logged_in.http.post(
        "/rc/v1/app/search", json={"sources": [{"name": "Nosuch"}]}, headers=logged_in.headers
    )
    assert (unknown.status_code, unknown.text) == (500, "Unknown source"), "protocol.md §1.8"


def test_pass_through_search_acknowledgement_is_empty(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    live = MemoryAdapter("Live", {"1": {"a": "1"}}, pass_through=True)
    with serve([live]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        body = _search(client, [{"name": "Live"}]).json()
        assert body[0][4] == {"insert": {"1": {"a": "1"}}}, "protocol.md §6.4: pass-through"
        token = body[0][1]["token"]
        ack = _search(client, [{"name": "Live", "token": token}]).json()
        assert ack == [[]], "protocol.md §14 #9: no crash on a pass-through acknowledgement"
