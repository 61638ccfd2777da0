"""The admin API subset: token, system reset, users and clients (protocol.md §1.4, §13)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import httpx

from rhom.server import MemoryAdapter, Settings

from .conftest import RhoClient, Serve, client_of

TOKEN = {"X-RhoConnect-API-TOKEN": "test-api-token"}


def test_system_login_returns_token(serve: Serve, settings: Settings) -> None:
    with serve([], settings=dataclasses.replace(settings, admin_password="admin-secret")) as url:
        reply = httpx.post(url + "/rc/v1/system/login", json={"login": "rhoadmin", "password": "admin-secret"})
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


class CountingProducts(MemoryAdapter):
    def __init__(self) -> None:
        super().__init__("Product", {"1": {"name": "Phone"}}, poll_interval=3600)
        self.queries = 0

    def query(self, params: object = None) -> object:
        self.queries += 1
        return super().query(params)


def test_readstate_sets_the_next_refresh(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    """captures (REST API): PUT /rc/v1/readstate/users/{user}/sources/{source} answers
    200 with an empty body; refresh_time 0 makes the next query run the adapter."""
    products = CountingProducts()
    with serve([products]) as url:
        client = rho(url)
        client.login("alice")
        client.create_client()
        client.sync("Product")
        client.sync("Product")
        assert products.queries == 1, "poll_interval 3600: not due again"
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            path = "/rc/v1/readstate/users/alice/sources/Product"
            reply = admin.put(path, json={"refresh_time": "0"})
            assert (reply.status_code, reply.text) == (200, "")
            client.sync("Product")
            assert products.queries == 2, "refresh_time 0: refreshed on the next query"
            later = admin.put(path, json={"refresh_time": "9999999999"})
            assert later.status_code == 200
            client.sync("Product")
            assert products.queries == 2
            assert admin.put("/rc/v1/readstate/users/alice/sources/Nope", json={}).status_code == 400
            bad = admin.put(path, json={"refresh_time": "soon"})
            assert (bad.status_code, bad.text) == (400, "refresh_time must be epoch seconds")
            assert admin.put("/rc/v1/read_state/users/alice/sources/Product", json={}).status_code == 404
        assert httpx.put(url + path, json={}).status_code == 422


def test_stats_answer_like_a_server_without_stats(serve: Serve) -> None:
    """captures (REST API): GET /rc/v1/system/stats answers 500 'Stats not enabled'."""
    with serve([]) as url:
        reply = httpx.get(url + "/rc/v1/system/stats", params={"names": "*"}, headers=TOKEN)
        assert (reply.status_code, reply.text) == (500, "Stats not enabled")
        assert httpx.get(url + "/rc/v1/system/stats").status_code == 422


def test_user_and_document_routes(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> None:
    """captures (REST API): users/{user}, docnames, docs/{doc} and store/{doc} answer in
    RhoConnect's shapes; a document named by docnames reads back through store/."""
    with serve([products]) as url:
        client = rho(url)
        client.login("alice")
        cid = client.create_client()
        client.sync("Product")
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            info = admin.get("/rc/v1/users/alice").json()
            assert [a["name"] for a in info] == [
                "rho__id",
                "login",
                "email",
                "salt",
                "hashed_password",
                "clients",
                "admin",
                "token_id",
            ], "captures: GET /rc/v1/users/alice, attribute order"
            by_name = {a["name"]: a["value"] for a in info}
            assert (by_name["login"], by_name["clients"]) == ("alice", [cid])
            assert admin.get("/rc/v1/users/nobody").status_code == 404
            names = admin.get("/rc/v1/users/alice/sources/Product/docnames").json()
            assert names == {
                doc: f"source:application:alice:Product:{doc}" for doc in ("md", "md_size", "md_copy", "errors")
            }, "captures: docnames"
            md = admin.get("/rc/v1/users/alice/sources/Product/docs/md").json()
            assert md == products.query(None), "the master document is the adapter's data"
            assert admin.get("/rc/v1/store/" + names["md"]).json() == md, "captures: store/<docname>"
            assert admin.get("/rc/v1/store/" + names["md_size"]).json() == len(md)
            assert admin.get("/rc/v1/users/alice/sources/Product/docs/errors").json() == {}
            assert admin.get("/rc/v1/users/alice/sources/Product/docs/nope").status_code == 400
            assert admin.get("/rc/v1/users/alice/sources/Nope/docnames").status_code == 400
            assert admin.get("/rc/v1/store/not-a-doc").status_code == 400
            assert httpx.get(url + "/rc/v1/store/" + names["md"]).status_code == 422, "token needed"


def test_client_document_routes(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> None:
    """captures (REST API): clients/{id}/sources/{source}/docnames names the client's
    documents; cd is what the client holds, page and page_token its unacknowledged page."""
    with serve([products]) as url:
        client = client_of(url, rho)
        cid = client.client_id
        client.sync("Product")
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            names = admin.get(f"/rc/v1/clients/{cid}/sources/Product/docnames").json()
            assert names["cd"] == f"client:application:alice:{cid}:Product:cd", "captures: client docnames"
            assert list(names)[:4] == ["cd", "cd_size", "page", "delete_page"], "RhoConnect's order"
            base = f"/rc/v1/clients/{cid}/sources/Product/docs/"
            assert admin.get(base + "cd").json() == client.local["Product"], "cd: what the client holds"
            assert admin.get("/rc/v1/store/" + names["cd_size"]).json() == 5
            assert admin.get(base + "page_token").json() == "", "every page acknowledged"
            products.replace({**products.query(None), "6": {"name": "New"}})
            page = client.page("Product")  # sent, not acknowledged
            assert admin.get(base + "page_token").json() == page["token"]
            assert admin.get(base + "page").json() == {"6": {"name": "New"}}
            assert "6" in admin.get(base + "cd").json(), "rhom's cd counts the page sent (docs/server.md)"
            assert admin.get(base + "nope").status_code == 400
            assert admin.get("/rc/v1/clients/nobody/sources/Product/docnames").text == "Unknown client"
            wrong_user = names["cd"].replace(":alice:", ":bob:")
            assert admin.get("/rc/v1/store/" + wrong_user).text == "Unknown client"
