"""Login, the session cookie, client ids and their checks (protocol.md §1.5, §2, §3)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from rhom.server import LoginError, MemoryAdapter

from .conftest import PRODUCTS, RhoClient, Serve

# RhoConnect's attributes, then SameSite (docs/protocol-decisions.md, "Security")
COOKIE = re.compile(
    r"^rhoconnect_session=([^;]+); path=/; expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT; HttpOnly; SameSite=Lax$"
)


def _cookie_value(reply: httpx.Response) -> str:
    header = reply.headers["set-cookie"]
    match = COOKIE.match(header)
    assert match, f"protocol.md §1.4: Set-Cookie shape {header!r}"
    return match.group(1)


def test_login_sets_session_cookie(logged_in: RhoClient) -> None:
    reply = logged_in.login()
    assert (reply.status_code, reply.text) == (200, ""), "protocol.md §2.3 (captures A.5)"
    assert reply.headers["content-type"] == "text/html;charset=utf-8", "protocol.md §1.3"
    assert reply.headers["cache-control"] == "no-cache", "protocol.md §1.4"
    assert reply.headers["pragma"] == "no-cache", "protocol.md §1.4"
    _cookie_value(reply)


def test_every_reply_repeats_the_same_cookie(logged_in: RhoClient) -> None:
    value = logged_in.http.cookies["rhoconnect_session"]
    replies = [
        logged_in.query("Product"),
        logged_in.http.post("/rc/v1/clients"),
        logged_in.query("Product", token="1"),
    ]
    for reply in replies:
        assert _cookie_value(reply) == value, "protocol.md §1.5: same value on every reply"
    unknown = logged_in.http.get("/app/v1/Product", headers={"X-RhoConnect-CLIENT-ID": "nosuch"})
    assert _cookie_value(unknown) == value, "protocol.md §1.4: errors carry it too (A.58)"


def test_empty_login_is_refused_with_anonymous_cookie(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    with serve([]) as url:
        client = rho(url)
        reply = client.login(login="")
        assert (reply.status_code, reply.text) == (401, "Unable to authenticate ''"), "§2.2"
        assert reply.headers["content-type"] == "text/html;charset=utf-8", "protocol.md §1.8"
        _cookie_value(reply)
        assert client.http.post("/rc/v1/clients").status_code == 401, "protocol.md §2.5"


def test_authenticate_hook(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    def authenticate(login: str, password: str) -> bool | str:
        if password == "boom":
            raise LoginError("account locked")
        if password == "alias":
            return "mapped-user"
        return password == "right"

    with serve([], authenticate=authenticate) as url:
        client = rho(url)
        wrong = client.login("pyuser", "wrong")
        assert (wrong.status_code, wrong.text) == (401, "Unable to authenticate 'pyuser'"), (
            "protocol.md §2.2 (captures A.61)"
        )
        locked = client.login("pyuser", "boom")
        assert (locked.status_code, locked.text) == (401, "account locked"), "protocol.md §2.2"
        assert client.login("pyuser", "right").status_code == 200, "protocol.md §2.2"
        assert client.login("pyuser", "alias").status_code == 200, "protocol.md §2.2: mapping"
        client.create_client()
        admin = {"X-RhoConnect-API-TOKEN": "test-api-token"}
        clients = client.http.get("/rc/v1/users/mapped-user/clients", headers=admin).json()
        assert clients == [client.client_id], "protocol.md §2.2: returned name is the user"


def test_failed_relogin_keeps_old_session_valid(logged_in: RhoClient) -> None:
    old = logged_in.http.cookies["rhoconnect_session"]
    refused = httpx.post(
        str(logged_in.http.base_url).rstrip("/") + "/rc/v1/app/login",
        json={"login": "", "password": ""},
        headers={"Cookie": f"rhoconnect_session={old};"},
    )
    assert refused.status_code == 401 and _cookie_value(refused) != old, "protocol.md §1.5"
    again = httpx.post(
        str(logged_in.http.base_url).rstrip("/") + "/rc/v1/clients",
        headers={"Cookie": f"rhoconnect_session={old};"},
    )
    assert again.status_code == 200, "protocol.md §1.5 (live check L.14)"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/app/v1/Product"),
        ("POST", "/app/v1/Product"),
        ("POST", "/rc/v1/clients"),
        ("POST", "/rc/v1/app/search"),
        ("POST", "/rc/v1/app/bulk_data"),
        ("POST", "/rc/v1/clients/abc/reset"),
        ("POST", "/rc/v1/clients/abc/register"),
    ],
)
def test_sync_routes_need_a_session(serve: Serve, products: MemoryAdapter, method: str, path: str) -> None:
    with serve([products]) as url:
        reply = httpx.request(method, url + path, headers={"X-RhoConnect-CLIENT-ID": "abc"})
        assert (reply.status_code, reply.text) == (401, "Not authenticated"), "protocol.md §2.5"
        assert reply.headers["content-type"] == "text/plain", "protocol.md §1.8 (A.57)"
        assert "set-cookie" not in reply.headers, "protocol.md §1.4: no cookie sent, none set"
        forged = httpx.request(method, url + path, headers={"Cookie": "rhoconnect_session=forged.value.sig"})
        assert forged.status_code == 401, "protocol.md §2.5: a cookie that does not verify"


def test_unknown_client_id(logged_in: RhoClient) -> None:
    for headers in ({"X-RhoConnect-CLIENT-ID": "nosuchclient"}, {}):
        reply = logged_in.http.get("/app/v1/Product", params={"p_size": 2}, headers=headers)
        assert (reply.status_code, reply.text) == (500, "Unknown client"), "protocol.md §3.6"
        assert reply.headers["content-type"] == "text/html;charset=utf-8", "protocol.md §3.6"
    reset = logged_in.http.post("/rc/v1/clients/nosuch/reset")
    assert (reset.status_code, reset.text) == (500, "Unknown client"), "protocol.md §3.5"


def test_foreign_client_id_is_refused(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> None:
    """rhom.server refuses another user's client id (the real server moves it, §3.7)."""
    with serve([products]) as url:
        alice = rho(url)
        alice.login("alice")
        alice.create_client()
        alice.sync("Product")
        mallory = rho(url)
        mallory.login("mallory")
        mallory.client_id = alice.client_id
        for reply in (
            mallory.query("Product"),
            mallory.push("Product", {"delete": {"1": {}}}),
            mallory.http.post(f"/rc/v1/clients/{alice.client_id}/reset"),
            mallory.http.post(f"/rc/v1/clients/{alice.client_id}/register", json={}),
        ):
            assert (reply.status_code, reply.text) == (500, "Unknown client"), "protocol.md §3.6"
        assert products.data == PRODUCTS, "nothing of alice's was touched"
        assert alice.page("Product")["commands"] == {}, "alice's client state is intact"


def test_clientcreate_issues_new_hex_ids(logged_in: RhoClient) -> None:
    first = logged_in.http.post("/rc/v1/clients")
    assert first.headers["content-type"] == "application/json", "protocol.md §3.2"
    ids = {first.json()["client"]["client_id"], logged_in.create_client()}
    assert len(ids) == 2, "protocol.md §3.2: a new id per call (A.15)"
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), "protocol.md §0.1: 32 hex"


def test_register_stores_device_and_refuses_an_id_never_issued(logged_in: RhoClient) -> None:
    body = {"device_pin": "", "device_type": "Python", "device_app_version": "0.1"}
    reply = logged_in.http.post(f"/rc/v1/clients/{logged_in.client_id}/register", json=body)
    assert (reply.status_code, reply.text) == (200, ""), "protocol.md §3.3 (captures A.7)"
    admin = {"X-RhoConnect-API-TOKEN": "test-api-token"}
    info = logged_in.http.get(f"/rc/v1/clients/{logged_in.client_id}", headers=admin).json()
    assert {"name": "device_type", "value": "Python", "type": "string"} in info, "§3.3"
    fresh = "0123456789abcdef0123456789abcdef"
    reply = logged_in.http.post(f"/rc/v1/clients/{fresh}/register", json=body)
    assert (reply.status_code, reply.text) == (500, "Unknown client"), (
        "docs/protocol-decisions.md: an id the server never issued is refused (RhoConnect creates it, L.8)"
    )
    logged_in.client_id = fresh
    assert logged_in.query("Product").text == "Unknown client", "nothing was created"


def test_wrong_method_and_unknown_path_are_404(logged_in: RhoClient) -> None:
    for method, path in (("DELETE", "/rc/v1/app/login"), ("GET", "/nothing/here")):
        reply = logged_in.http.request(method, path)
        assert reply.status_code == 404, "protocol.md §1.2: unmatched paths → 404"


def test_authenticate_crash_is_500_and_server_keeps_serving(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    def authenticate(login: str, password: str) -> bool:
        if login == "crash":
            raise RuntimeError("directory unreachable")
        return True

    with serve([], authenticate=authenticate) as url:
        client = rho(url)
        reply = client.login("crash")
        assert (reply.status_code, reply.text) == (500, "Internal server error"), (
            "§2.2 step 3: 500, whose message stays in the server's log (docs/protocol-decisions.md)"
        )
        assert client.login("fine").status_code == 200, "the server keeps serving"


def test_search_and_bulk_need_a_known_client(logged_in: RhoClient) -> None:
    headers = {"X-RhoConnect-CLIENT-ID": "nosuchclient"}
    for path in ("/rc/v1/app/search", "/rc/v1/app/bulk_data"):
        reply = logged_in.http.post(path, json={"sources": [{"name": "Product"}]}, headers=headers)
        assert (reply.status_code, reply.text) == (500, "Unknown client"), "§3.6 (live check L.6)"


def test_form_encoded_login(serve: Serve) -> None:
    with serve([]) as url:
        reply = httpx.post(url + "/rc/v1/app/login", data={"login": "formuser", "password": "x"})
        assert reply.status_code == 200 and "set-cookie" in reply.headers, "§2.1 (live check L.4)"
