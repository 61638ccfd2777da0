"""Input no handler may see is refused with 400 and its reason, before any adapter runs."""

from __future__ import annotations

import json

from rhom.server import MemoryAdapter

from .conftest import RhoClient


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
