"""The admin API subset: token, system reset, users and clients (protocol.md §1.4, §13)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from rhom.server import MemoryAdapter

from .conftest import RhoClient, Serve

TOKEN = {"X-RhoConnect-API-TOKEN": "test-api-token"}


def test_system_login_returns_token(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    with serve([]) as url:
        reply = httpx.post(url + "/rc/v1/system/login", json={"login": "rhoadmin", "password": ""})
        assert (reply.status_code, reply.text) == (200, "test-api-token"), "protocol.md §1.4 (0.1)"
        assert reply.headers["content-type"] == "text/html;charset=utf-8", "captures 0.1"
        wrong = httpx.post(url + "/rc/v1/system/login", json={"login": "rhoadmin", "password": "x"})
        assert wrong.status_code == 401, "protocol.md §1.4: wrong admin password"


def test_admin_routes_need_the_token(serve: Serve) -> None:
    with serve([]) as url:
        missing = httpx.post(url + "/rc/v1/system/reset")
        assert (missing.status_code, missing.text) == (422, "No API token provided"), "§1.8"
        wrong = httpx.get(url + "/rc/v1/users", headers={"X-RhoConnect-API-TOKEN": "nope"})
        assert (wrong.status_code, wrong.text) == (422, "Invalid/missing API user"), "§1.8"


def test_reset_and_inspect(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> None:
    with serve([products]) as url:
        client = rho(url)
        client.login("alice")
        cid = client.create_client()
        client.sync("Product")
        admin = httpx.Client(base_url=url, headers=TOKEN)
        with admin:
            assert admin.get("/rc/v1/users").json() == ["alice"], "admin: users"
            assert admin.get("/rc/v1/users/alice/clients").json() == [cid], "admin: clients"
            reset = admin.post("/rc/v1/system/reset")
            assert (reset.status_code, reset.text) == (200, "DB reset"), "captures 0.2"
            assert "set-cookie" not in reset.headers, "protocol.md §1.4 (0.2)"
            assert admin.get("/rc/v1/users").json() == [], "system/reset forgets users"
            assert client.query("Product").status_code == 401, "protocol.md §2.5: user gone"
            client.login("alice")
            client.create_client()
            assert admin.post("/rc/v1/users", json={"attributes": {"login": "bob"}}).text == ("User created")
            assert admin.delete(f"/rc/v1/clients/{client.client_id}").text == "Client deleted"
            assert client.query("Product").text == "Unknown client", "protocol.md §3.6"
            assert admin.delete("/rc/v1/users/alice").text == "User deleted"
            assert admin.get("/rc/v1/users").json() == ["bob"], "admin: users"
