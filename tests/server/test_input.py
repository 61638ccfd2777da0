"""Input no handler may see is refused with 400 and its reason, before any adapter runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from rhom.server import MemoryAdapter, Settings

from .conftest import RhoClient, Serve


def test_lone_surrogate_is_refused_before_the_adapter_runs(logged_in: RhoClient, products: MemoryAdapter) -> None:
    body = '{"source_name": "Product", "create": {"1700000000001": {"name": "bad \\ud800 text"}}}'
    reply = logged_in.http.post(
        "/app/v1/Product", content=body, headers={**logged_in.headers, "Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "lone surrogate" in reply.text
    assert "create" not in products.calls, "nothing reached the backend"
    assert logged_in.page("Product")["total_count"] == 5, "the source still answers"


def test_deeply_nested_json_is_400_not_a_crash(logged_in: RhoClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = '{"source_name": "Product", "create": ' + deep + "}"
    reply = logged_in.http.post(
        "/app/v1/Product", content=body, headers={**logged_in.headers, "Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "nested deeper" in reply.text
    shallow_but_deep = json.dumps({"source_name": "Product", "create": _nest(40)})
    reply = logged_in.http.post(
        "/app/v1/Product", content=shallow_but_deep, headers={**logged_in.headers, "Content-Type": "application/json"}
    )
    assert reply.status_code == 400


def test_deeply_nested_query_parameters_are_400(logged_in: RhoClient) -> None:
    name = "query" + "[a]" * 5000
    reply = logged_in.http.get("/app/v1/Product", params={name: "x", "version": 3}, headers=logged_in.headers)
    assert reply.status_code == 400 and "nested deeper" in reply.text


def test_multipart_with_a_broken_boundary_is_400_not_an_empty_push(
    logged_in: RhoClient, products: MemoryAdapter
) -> None:
    part = b'Content-Disposition: form-data; name="cud"\r\n\r\n{"create": {"1": {"name": "x"}}}\r\n'
    headers = {**logged_in.headers, "Content-Type": "multipart/form-data; boundary=expected"}
    for body in (b"--wrong\r\n" + part + b"--wrong--\r\n", b"no boundary at all " + part):
        reply = logged_in.http.post("/app/v1/Product", content=body, headers=headers)
        assert reply.status_code == 400 and "boundary" in reply.text, body
    assert "login" not in products.calls and len(products.data) == 5


def _nest(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def test_well_formed_push_still_works(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.push("Product", {"create": {"1700000000001": {"name": "ok ünïcode ✓"}}})
    assert reply.status_code == 200
    assert products.data["6"] == {"name": "ok ünïcode ✓"}


# -- what one client may make the server keep (max_object_id_length, ...) -------------------


def test_an_object_id_over_the_limit_is_refused_naming_it(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.push("Product", {"update": {"x" * 1025: {"name": "n"}}})
    assert reply.status_code == 400
    assert reply.text == "object id of 1025 characters: the limit is 1024 (max_object_id_length)"
    reply = logged_in.http.delete(f"/app/v1/Product/{'y' * 2000}", headers=logged_in.headers)
    assert reply.status_code == 400 and "max_object_id_length" in reply.text
    assert not {"update", "delete"} & set(products.calls), "nothing reached the backend"
    assert logged_in.push("Product", {"update": {"1": {"name": "ok"}}}).status_code == 200


def test_an_attribute_name_over_the_limit_is_refused_naming_it(logged_in: RhoClient, products: MemoryAdapter) -> None:
    reply = logged_in.push("Product", {"create": {"1700000000001": {"n" * 257: "v"}}})
    assert reply.status_code == 400
    assert reply.text == "attribute name of 257 characters: the limit is 256 (max_attribute_name_length)"
    assert "create" not in products.calls


def test_errors_past_max_error_entries_keep_their_message_only(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    products = MemoryAdapter("Product")
    with serve([products], settings=Settings.for_tests(max_error_entries=2)) as url:
        client = rho(url)
        client.login()
        client.create_client()
        updates = {f"missing{i}": {"name": f"n{i}"} for i in range(3)}  # unknown ids: update-errors
        assert client.push("Product", {"update": updates}).status_code == 200
        errors = client.page("Product")["commands"]["update-error"]
    kept = {oid: attrs for oid, attrs in errors.items() if not oid.endswith("-error")}
    assert kept == {"missing0": {"name": "n0"}, "missing1": {"name": "n1"}, "missing2": {}}
    assert all("does not exist" in errors[f"missing{i}-error"]["message"] for i in range(3))


def test_objects_with_ids_over_the_limit_are_never_paged(
    serve: Serve, rho: Callable[[str], RhoClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A client could never push a change to such an object back (its push would be
    refused whole, holding every later change of the source): the server keeps it out
    of pages, searches and backend pushes, and says so once in its log."""
    long_id = "L" * 11
    products = MemoryAdapter("Product", {"1": {"name": "short"}, long_id: {"name": "long"}}, poll_interval=0)
    with serve([products], settings=Settings.for_tests(max_object_id_length=10)) as url:
        client = rho(url)
        client.login()
        client.create_client()
        with caplog.at_level(logging.WARNING, logger="rhom.server"):
            client.sync("Product")
            products.data["2"] = {"name": "later"}
            client.sync("Product")
            found = client.http.post(
                "/rc/v1/app/search",
                params={"p_size": 100, "version": 3, "search[name]": "long"},
                json={"sources": [{"name": "Product"}]},
                headers=client.headers,
            )
            assert found.status_code == 200
            assert long_id not in found.text, found.text
        warnings = [r.getMessage() for r in caplog.records if "max_object_id_length" in r.getMessage()]
        assert len(warnings) == 1, "once per source, not at every refresh"
        assert "Product: 1 object(s) with an id over 10 characters are not synced" in warnings[0]
        assert client.local["Product"] == {"1": {"name": "short"}, "2": {"name": "later"}}
        assert client.push("Product", {"update": {"1": {"name": "edited"}}}).status_code == 200
        assert products.data["1"] == {"name": "edited"}
