"""Incremental query: paging, tokens, acknowledgement and resends (protocol.md §4)."""

from __future__ import annotations

from collections.abc import Callable

from rhom.server import MemoryAdapter

from .conftest import PRODUCTS, RhoClient, Serve, parse_page


def test_pages_by_p_size_and_ends_with_empty_page(logged_in: RhoClient) -> None:
    first = logged_in.query("Product", p_size=2)
    page = parse_page(first.json())
    assert page["count"] == 2 and len(page["commands"]["insert"]) == 2, "protocol.md §4.5 step 1"
    assert page["total_count"] == 5, "protocol.md §4.2: total_count is the MD size"
    assert first.headers["X-Rhoconnect-PAGE-TOKEN"] == page["token"], "protocol.md §1.4"
    assert first.headers["X-Rhoconnect-PAGE-OBJECT-COUNT"] == "2", "protocol.md §1.4"
    assert first.headers["content-type"] == "application/json", "protocol.md §1.3"
    seen = dict(page["commands"]["insert"])
    token = page["token"]
    sizes = []
    while True:
        reply = logged_in.query("Product", p_size=2, token=token)
        page = parse_page(reply.json())
        if not page["token"]:
            break
        sizes.append(page["count"])
        seen.update(page["commands"]["insert"])
        token = page["token"]
    assert sizes == [2, 1], "protocol.md §4.8: 5 objects with p_size 2 arrive as 2 + 2 + 1"
    assert seen == PRODUCTS, "protocol.md §4.5: every object arrives whole"
    assert page["commands"] == {} and page["count"] == 0, "protocol.md §4.4: closing empty page"
    assert "X-Rhoconnect-PAGE-TOKEN" not in reply.headers, "protocol.md §1.4: no token header"
    assert reply.headers["X-Rhoconnect-PAGE-OBJECT-COUNT"] == "0", "protocol.md §1.4"


def test_tokens_are_increasing_decimal_strings(logged_in: RhoClient) -> None:
    one = logged_in.page("Product", p_size=1)
    two = logged_in.page("Product", p_size=1, token=one["token"])
    assert one["token"].isdigit() and len(one["token"]) >= 15, "protocol.md §4.2: token format"
    assert int(two["token"]) > int(one["token"]), "protocol.md §4.2: tokens grow"


def test_wrong_token_resends_stored_page(logged_in: RhoClient) -> None:
    first = logged_in.page("Product", p_size=2)
    again = logged_in.page("Product", p_size=2, token="12345")
    assert again == first, "protocol.md §4.4 (captures A.9): a wrong token resends the page"


def test_token_one_resends_outstanding_page_and_is_ignored_otherwise(
    logged_in: RhoClient,
) -> None:
    fresh = logged_in.page("Product", p_size=2, token="1")
    assert fresh["count"] == 2, "protocol.md §4.4 (live check L.1): ignored when nothing is due"
    again = logged_in.page("Product", p_size=2, token="1")
    assert again == fresh, "protocol.md §4.4 (live check L.1): token=1 resends the page"


def test_missing_token_resends_instead_of_skipping(logged_in: RhoClient) -> None:
    """rhom.server resends where the real server skips (protocol.md §4.4, captures A.17)."""
    first = logged_in.page("Product", p_size=2)
    again = logged_in.page("Product", p_size=2)
    assert again == first, "protocol.md §4.4: rhom.server resends a page sent without token"
    assert logged_in.sync("Product", p_size=2) == PRODUCTS, "protocol.md §4.4: nothing lost"


def test_default_page_size_is_500(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    big = MemoryAdapter("Big", {str(i): {"n": str(i)} for i in range(600)})
    with serve([big]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        reply = client.http.get("/app/v1/Big", params={"version": 3}, headers=client.headers)
        assert parse_page(reply.json())["count"] == 500, "protocol.md §4.1: default p_size 500"


def test_changed_attribute_arrives_as_insert_and_delete(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.data["3"]["price"] = "1.00"
    page = logged_in.page("Product")
    assert page["commands"]["insert"] == {"3": {"price": "1.00"}}, "protocol.md §4.5 step 3"
    assert page["commands"]["delete"] == {"3": {"price": "299.99"}}, "protocol.md §4.5 step 3"
    assert page["count"] == 2, "protocol.md §4.2: a changed object counts twice (A.22)"


def test_object_gone_from_backend_is_deleted_whole(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.data.pop("5")
    page = logged_in.page("Product")
    assert page["commands"] == {"delete": {"5": PRODUCTS["5"]}}, "protocol.md §4.5 step 2"
    assert page["total_count"] == 4, "protocol.md §4.2"


def test_values_are_strings_and_reserved_names_dropped(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    odd = MemoryAdapter("Odd")
    odd.data = {"1": {"n": 7, "none": None, "id": "1", "attrib_type": "x"}}  # type: ignore[dict-item]
    with serve([odd]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        page = client.page("Odd")
        assert page["commands"]["insert"] == {"1": {"n": "7", "none": ""}}, "protocol.md §1.9"


def test_a_query_finding_the_same_data_in_another_form_sends_nothing(
    serve: Serve, rho: Callable[[str], RhoClient]
) -> None:
    """The refresh compares what the adapter returns with the log before normalizing it;
    data equal only once normalized (a number for its string) is no change either."""
    odd = MemoryAdapter("Odd", poll_interval=0)
    odd.data = {"1": {"n": 7, "m": "x"}}  # type: ignore[dict-item]
    with serve([odd]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        assert client.sync("Odd") == {"1": {"n": "7", "m": "x"}}
        assert client.sync("Odd") == {}, "the same data: nothing sent"
        odd.data["1"]["n"] = "7"
        assert client.sync("Odd") == {}, "equal once normalized: nothing sent"
        odd.data["1"]["m"] = "y"
        assert client.sync("Odd") == {"1": {"m": "y"}}
        assert client.sync("Odd") == {}


def test_query_error_is_a_source_error_on_every_page(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    products.fail("query", "backend timed out")
    page = logged_in.page("Product")
    assert page["commands"] == {"source-error": {"query-error": {"message": "backend timed out"}}}, (
        "protocol.md §5.8 (captures A.35)"
    )
    assert page["token"] == "" and page["total_count"] == 5, "protocol.md §5.8: last good MD"
    products.heal()
    assert logged_in.page("Product")["commands"] == {}, "protocol.md §5.8: cleared on success"


def test_login_and_logoff_errors_are_source_errors(logged_in: RhoClient, products: MemoryAdapter) -> None:
    products.fail("login", "bad backend credentials")
    page = logged_in.page("Product")
    assert page["commands"]["source-error"] == {"login-error": {"message": "bad backend credentials"}}, (
        "protocol.md §5.8"
    )
    products.heal()
    products.fail("logoff", "logout failed")
    page = logged_in.page("Product")
    assert page["commands"]["source-error"] == {"logoff-error": {"message": "logout failed"}}
    assert len(page["commands"]["insert"]) == 5, "protocol.md §5.8: data next to source-error"


def test_poll_interval_caches_master_document(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    slow = MemoryAdapter("Slow", {"1": {"a": "1"}}, poll_interval=3600)
    with serve([slow]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.sync("Slow")
        slow.data["2"] = {"a": "2"}
        assert client.page("Slow")["commands"] == {}, "protocol.md §4.4 step 2: poll_interval"
        assert slow.calls.count("query") == 1, "protocol.md §13: query once per poll interval"


def test_unknown_source_is_an_empty_page_with_query_error(logged_in: RhoClient) -> None:
    reply = logged_in.query("Nosuch", p_size=2)
    assert reply.status_code == 200, "protocol.md §1.2 (captures A.59): not a 404"
    page = parse_page(reply.json())
    assert page["token"] == "" and page["count"] == 0 and page["total_count"] == 0
    assert page["commands"] == {"source-error": {"query-error": {"message": "Unknown source"}}}, (
        "protocol.md §1.2: rhom.server's own message"
    )


def test_metadata_is_sent_once_per_change(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    class WithMeta(MemoryAdapter):
        meta = '{"index":{"title":"Products"}}'

        def metadata(self) -> str | None:
            return self.meta

    source = WithMeta("Meta", {"1": {"a": "1"}})
    with serve([source]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        page = client.page("Meta")
        assert page["commands"]["metadata"] == source.meta, "protocol.md §9.1"
        rest = client.page("Meta", token=page["token"])
        assert "metadata" not in rest["commands"], "protocol.md §9.1: only when the SHA-1 moved"
        source.meta = '{"index":{"title":"Goods"}}'
        assert client.page("Meta")["commands"]["metadata"] == source.meta, "protocol.md §9.1"


def test_schema_change_sends_schema_changed_page(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    class Fixed(MemoryAdapter):
        schema = {"version": "1.0", "property": {"a": "string"}}

    source = Fixed("Fixed", {"1": {"a": "1"}})
    with serve([source]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        assert len(client.sync("Fixed")) == 1, "protocol.md §4.5 step 7: first query records"
        Fixed.schema = {"version": "2.0", "property": {"a": "string"}}
        page = client.page("Fixed")
        assert page["commands"] == {"schema-changed": "true"}, "protocol.md §9.2"
        assert page["token"] and page["count"] == 0 and page["total_count"] == 0, "§4.5 step 7"
        after = client.page("Fixed", token=page["token"])
        assert after["commands"] == {} and after["token"] == "", "protocol.md §9.2: then normal"


def test_pass_through_pages_everything_and_stores_nothing(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    source = MemoryAdapter("Live", {"1": {"a": "1"}, "2": {"a": "2"}}, pass_through=True)
    with serve([source]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        page = client.page("Live", p_size=1)
        assert page["count"] == 2 and page["total_count"] == 2, "protocol.md §4.7: no paging"
        again = client.page("Live", token=page["token"])
        assert again["count"] == 2, "protocol.md §4.7: every query pages the whole result"


def test_reset_makes_next_query_send_everything(logged_in: RhoClient) -> None:
    logged_in.sync("Product")
    reply = logged_in.http.post(f"/rc/v1/clients/{logged_in.client_id}/reset")
    assert (reply.status_code, reply.text) == (200, ""), "protocol.md §3.5 (captures A.55)"
    assert reply.headers["content-type"] == "text/html;charset=utf-8", "protocol.md §1.3"
    assert logged_in.sync("Product") == PRODUCTS, "protocol.md §3.5: everything again (A.56)"


def test_reset_per_source_touches_only_named_sources(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    customers = MemoryAdapter("Customer", {"1": {"first": "John"}})
    with serve([products, customers]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.sync("Product")
        client.sync("Customer")
        reset = f"/rc/v1/clients/{client.client_id}/reset"
        client.http.post(reset, json={"sources": [{"name": "Product"}]})
        assert client.sync("Customer") == {}, "protocol.md §3.5 (live check L.9)"
        assert client.sync("Product") == PRODUCTS, "protocol.md §3.5 (live check L.9)"


def test_query_hash_reaches_the_adapter(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    seen: list[object] = []

    class Filtered(MemoryAdapter):
        def query(self, params: object) -> dict[str, dict[str, str]]:
            seen.append(params)
            return {}

    with serve([Filtered("Filtered")]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        client.page("Filtered", **{"query[color]": "red", "other": "x"})
        assert seen == [{"color": "red"}], "protocol.md §4.1: only the query hash"


def test_concurrent_requests_of_one_client_stay_consistent(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    import concurrent.futures

    many = MemoryAdapter("Many", {str(i): {"n": str(i)} for i in range(300)})
    with serve([many]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: client.query("Many", p_size=7), range(24)))
        assert all(r.status_code == 200 for r in replies), "protocol.md §4: no request failed"
        tokens = {parse_page(r.json())["token"] for r in replies}
        assert len(tokens) == 1, "protocol.md §4.4: one outstanding page, resent to the others"
        assert client.sync("Many", p_size=50) == many.data, "protocol.md §4.5: nothing lost"
