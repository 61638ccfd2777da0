"""RhoConnect's backend push routes (POST /app/v1/{source}/push_objects, ...).

The answers are those of the real server (spec/captures/rhoconnect-7.8-rest-api.md):
200 ``done`` as text/html, 422 ``No API token provided`` without the token. The data
they write reaches clients with their next page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rhom.server import MemoryAdapter

from .conftest import RhoClient, Serve, client_of

TOKEN = {"X-RhoConnect-API-TOKEN": "test-api-token"}


@pytest.fixture
def backend_fed(serve: Serve) -> Iterator[str]:
    with serve(
        [MemoryAdapter("Product", poll_interval=-1), MemoryAdapter("Notice", poll_interval=-1, partition="app")]
    ) as url:
        yield url


def post(url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=TOKEN if headers is None else headers)


def test_push_routes_answer_like_rhoconnect_and_reach_the_client(
    backend_fed: str, rho: Callable[[str], RhoClient]
) -> None:
    url = backend_fed
    seed = {str(i): {"name": f"n{i}", "price": "1.00"} for i in range(1, 6)}
    steps = [
        ("push_objects", {"user_id": "alice", "objects": seed}),
        ("push_objects", {"user_id": "alice", "objects": {"100": {"name": "pushed", "price": "1.00"}}}),
        ("push_objects", {"user_id": "alice", "objects": {"1": {"price": "0.99"}}, "rebuild_md": False}),
        ("push_deletes", {"user_id": "alice", "objects": ["2"]}),
        ("fast_insert", {"user_id": "alice", "data": {"102": {"name": "fast"}}}),
        (
            "fast_update",
            {"user_id": "alice", "delete_data": {"102": {"name": "fast"}}, "update_data": {"102": {"name": "faster"}}},
        ),
        ("fast_delete", {"user_id": "alice", "data": {"3": {"price": "1.00"}}}),
    ]
    for route, body in steps:
        reply = post(url, f"/app/v1/Product/{route}", body)
        assert (reply.status_code, reply.text) == (200, "done"), f"{route}: captures"
        assert reply.headers["content-type"] == "text/html;charset=utf-8", f"{route}: captures"
    expected = {
        "1": {"name": "n1", "price": "0.99"},
        "3": {"name": "n3"},
        "4": {"name": "n4", "price": "1.00"},
        "5": {"name": "n5", "price": "1.00"},
        "100": {"name": "pushed", "price": "1.00"},
        "102": {"name": "faster"},
    }
    assert client_of(url, rho).sync("Product") == expected
    assert client_of(url, rho, "bob").sync("Product") == {}, "user partition: alice's data only"


def test_app_partition_push_needs_no_user(backend_fed: str, rho: Callable[[str], RhoClient]) -> None:
    reply = post(backend_fed, "/app/v1/Notice/push_objects", {"objects": {"1": {"text": "hello"}}})
    assert reply.status_code == 200
    assert client_of(backend_fed, rho, "carol").sync("Notice") == {"1": {"text": "hello"}}


def test_push_routes_refuse_without_the_token_and_write_nothing(
    backend_fed: str, rho: Callable[[str], RhoClient]
) -> None:
    body = {"user_id": "alice", "objects": {"101": {"name": "x"}}}
    reply = post(backend_fed, "/app/v1/Product/push_objects", body, headers={})
    assert (reply.status_code, reply.text) == (422, "No API token provided"), "captures"
    reply = post(backend_fed, "/app/v1/Product/push_objects", body, headers={"X-RhoConnect-API-TOKEN": "wrong"})
    assert (reply.status_code, reply.text) == (422, "Invalid/missing API user")
    assert client_of(backend_fed, rho).sync("Product") == {}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/app/v1/Nope/push_objects", {"user_id": "alice", "objects": {}}, "unknown source 'Nope'"),
        ("/app/v1/Product/push_objects", {"objects": {"1": {"a": "b"}}}, "partitioned by user"),
        ("/app/v1/Product/push_objects", {"user_id": "alice", "objects": ["1"]}, "'objects' must be"),
        ("/app/v1/Product/push_deletes", {"user_id": "alice", "objects": "1"}, "list of object ids"),
    ],
)
def test_bad_push_bodies_are_400_naming_the_problem(
    backend_fed: str, path: str, body: dict[str, Any], message: str
) -> None:
    reply = post(backend_fed, path, body)
    assert reply.status_code == 400 and message in reply.text
