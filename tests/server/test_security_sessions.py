"""Sessions and client ids (issue 24, items 2, 3 and 6): cookie attributes, revocation,
lifetime, client ids the server never issued, ids in URLs, user names with ``/``.

Each test runs a real rhom.server on 127.0.0.1 over HTTP, on both stores.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from collections.abc import Callable

import httpx
import pytest

from rhom.server import MemoryAdapter, Settings

from .conftest import PRODUCTS, RhoClient, Serve, client_of
from .test_live import Listener, app_and_url, named, ping

ADMIN = {"X-RhoConnect-API-TOKEN": "test-api-token"}
Rho = Callable[[str], RhoClient]


def set_cookie(reply: httpx.Response) -> list[str]:
    return [part.strip() for part in reply.headers["set-cookie"].split(";")]


# -- item 2: cookie attributes ------------------------------------------------------------------


def test_the_session_cookie_is_samesite_lax_and_not_secure_over_http(logged_in: RhoClient) -> None:
    attributes = set_cookie(logged_in.login())
    assert {"path=/", "HttpOnly", "SameSite=Lax"} <= set(attributes)
    assert "Secure" not in attributes, "a Secure cookie would never come back over plain http"


def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(serve: Serve, settings: Settings) -> None:
    https = {"X-Forwarded-Proto": "https"}
    with serve([], settings=dataclasses.replace(settings, trusted_proxies="127.0.0.1")) as url:
        reply = httpx.post(url + "/rc/v1/app/login", json={"login": "alice", "password": ""}, headers=https)
        assert "Secure" in set_cookie(reply), "the proxy terminated TLS"
    with serve([], settings=settings) as url:
        reply = httpx.post(url + "/rc/v1/app/login", json={"login": "alice", "password": ""}, headers=https)
        assert "Secure" not in set_cookie(reply), "an untrusted peer's word about TLS is ignored"


# -- item 2: revocation and lifetime -----------------------------------------------------------


def test_deleting_a_user_revokes_its_old_cookies_even_after_it_logs_in_again(
    serve: Serve, products: MemoryAdapter, rho: Rho
) -> None:
    with serve([products]) as url:
        old = client_of(url, rho, "alice")
        old_cookie = old.http.cookies["rhoconnect_session"]
        assert httpx.delete(url + "/rc/v1/users/alice", headers=ADMIN).status_code == 200
        fresh = client_of(url, rho, "alice")  # the user comes back, with a new session
        assert fresh.page("Product")["count"] == len(PRODUCTS)
        with httpx.Client(base_url=url, cookies={"rhoconnect_session": old_cookie}) as stale:
            reply = stale.post("/rc/v1/clients")
            assert (reply.status_code, reply.text) == (401, "Not authenticated"), "the old cookie stays dead"


def test_sign_out_everywhere_revokes_every_session_and_keeps_the_data(
    serve: Serve, products: MemoryAdapter, rho: Rho
) -> None:
    with serve([products]) as url:
        phone, laptop = client_of(url, rho, "alice"), client_of(url, rho, "alice")
        phone.sync("Product")
        reply = httpx.delete(url + "/rc/v1/users/alice/sessions", headers=ADMIN)
        assert (reply.status_code, reply.text) == (200, "Sessions revoked")
        for device in (phone, laptop):
            assert device.query("Product").status_code == 401, "protocol.md §2.5: the client logs in again"
        assert phone.login().status_code == 200
        assert phone.page("Product")["commands"] == {}, "its client id and what it holds are kept"
        assert httpx.delete(url + "/rc/v1/users/nobody/sessions", headers=ADMIN).status_code == 404
        assert httpx.delete(url + "/rc/v1/users/alice/sessions").status_code == 422, "needs the API token"


def test_a_session_older_than_cookie_expire_is_refused(serve: Serve, settings: Settings, rho: Rho) -> None:
    with serve([], settings=dataclasses.replace(settings, cookie_expire=1)) as url:
        client = client_of(url, rho, "alice")
        time.sleep(2.1)  # itsdangerous stamps whole seconds
        assert client.http.post("/rc/v1/clients").status_code == 401, "cookie_expire is the session's lifetime"


def test_a_deleted_users_open_stream_ends_and_gets_no_more_pings(settings: Settings, rho: Rho) -> None:
    with app_and_url(settings) as (_, url):
        listener = Listener(client_of(url, rho, "alice"))
        listener.wait_for(named("hello"))
        assert httpx.delete(url + "/rc/v1/users/alice", headers=ADMIN).status_code == 200
        listener.wait_for_end()
        assert ping(url, {"user_id": "alice", "message": "after"}).status_code == 200
        assert "ping" not in listener.names(), "a deleted user's stream receives nothing more"
        listener.close()


def test_signing_out_ends_the_users_open_streams(settings: Settings, rho: Rho) -> None:
    with app_and_url(settings) as (_, url):
        alice, bob = Listener(client_of(url, rho, "alice")), Listener(client_of(url, rho, "bob"))
        for listener in (alice, bob):
            listener.wait_for(named("hello"))
        assert httpx.delete(url + "/rc/v1/users/alice/sessions", headers=ADMIN).status_code == 200
        alice.wait_for_end()
        assert ping(url, {"user_id": "bob"}).status_code == 200
        assert bob.wait_for(named("ping")), "other users' streams go on"
        for listener in (alice, bob):
            listener.close()


# -- item 3: client ids --------------------------------------------------------------------------


def test_register_refuses_an_id_the_server_never_issued(logged_in: RhoClient) -> None:
    made_up = "feedfacefeedfacefeedfacefeedface"
    reply = logged_in.http.post(f"/rc/v1/clients/{made_up}/register", json={"device_type": "X"})
    assert (reply.status_code, reply.text) == (500, "Unknown client"), "as RhoConnect answers for other routes"
    legacy = logged_in.http.post("/application/clientregister", json={"client_id": made_up, "device_pin": "a"})
    assert (legacy.status_code, legacy.text) == (500, "Unknown client")
    listed = logged_in.http.get("/rc/v1/users/alice/clients", headers=ADMIN).json()
    assert listed == [logged_in.client_id], "no client was made"


def test_a_cross_site_form_cannot_push_with_a_client_id_in_the_url(
    serve: Serve, products: MemoryAdapter, rho: Rho
) -> None:
    """What a plain HTML form on another site can send: the victim's cookie (a browser that
    ignores SameSite), a form body, the client id only in the URL."""
    with serve([products]) as url:
        victim = client_of(url, rho, "alice")
        form = {"cud": '{"delete": {"1": {}}}'}
        for path in (
            f"/app/v1/Product?client_id={victim.client_id}",
            f"/app/v1/Product/1?client_id={victim.client_id}",
        ):
            method = "POST" if path.count("/") == 3 else "DELETE"
            reply = victim.http.request(method, path, data=form)
            assert (reply.status_code, reply.text) == (500, "Unknown client"), "layout 4 never reads ?client_id="
        made_up = "0123456789abcdef0123456789abcdef"
        assert victim.http.post(f"/rc/v1/clients/{made_up}/register", data={}).status_code == 500
        assert products.data == PRODUCTS, "nothing was pushed"
        pushed = victim.push("Product", {"update": {"1": {"price": "1.00"}}})
        assert pushed.status_code == 200, "the client's own pushes (header and body) still go through"


def test_layout_3_routes_still_take_the_client_id_from_the_query_string(logged_in: RhoClient) -> None:
    params: dict[str, str | int] = {
        "client_id": logged_in.client_id,
        "p_size": 3,
        "version": 3,
        "source_name": "Product",
    }
    reply = logged_in.http.get("/application", params=params)
    assert reply.status_code == 200 and reply.json()[2] == {"count": 3}, "protocol.md §1.2 (captures B.65)"


# -- item 6: user names with "/" ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["team/alice", "x/clients", "50%/b"])
def test_users_whose_names_hold_a_slash_can_be_viewed_and_deleted(
    serve: Serve, products: MemoryAdapter, rho: Rho, name: str
) -> None:
    with serve([products]) as url:
        client = client_of(url, rho, name)
        quoted = urllib.parse.quote(name, safe="")
        info = httpx.get(f"{url}/rc/v1/users/{quoted}", headers=ADMIN)
        assert info.status_code == 200 and info.json()[1] == {"name": "login", "type": "string", "value": name}
        clients = httpx.get(f"{url}/rc/v1/users/{quoted}/clients", headers=ADMIN)
        assert clients.json() == [client.client_id]
        docnames = httpx.get(f"{url}/rc/v1/users/{quoted}/sources/Product/docnames", headers=ADMIN)
        assert docnames.json()["md"] == f"source:application:{name}:Product:md"
        deleted = httpx.delete(f"{url}/rc/v1/users/{quoted}", headers=ADMIN)
        assert (deleted.status_code, deleted.text) == (200, "User deleted")
        assert name not in httpx.get(url + "/rc/v1/users", headers=ADMIN).json()


def test_the_console_shows_and_deletes_a_user_whose_name_holds_a_slash(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Rho
) -> None:
    from .test_console import csrf_of, logged_in

    with serve([products], settings=dataclasses.replace(settings, console=True)) as url:
        client_of(url, rho, "team/alice")
        with logged_in(url) as browser:
            page = browser.get("/users/team%2Falice")
            assert page.status_code == 200 and "<h1>team/alice</h1>" in page.text
            assert browser.get("/users/team%2Falice/sources/Product").status_code == 200
            done = browser.post("/users/team%2Falice/delete", data={"csrf": csrf_of(page), "confirm": "yes"})
            assert done.status_code == 200 and "User deleted." in done.text
        assert "team/alice" not in httpx.get(url + "/rc/v1/users", headers=ADMIN).json()
