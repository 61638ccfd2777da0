"""The web console over real HTTP, without a browser: access control, CSRF, the pages'
content, the actions, and the stats API it switches on (docs/console.md).

tests/console/test_console_browser.py drives the same pages in headless Chromium.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from rhom.server import MemoryAdapter, Settings

from .conftest import RhoClient, Serve, client_of
from .test_live import Listener, named

TOKEN = {"X-RhoConnect-API-TOKEN": "test-api-token"}


@contextmanager
def console(
    serve: Serve,
    settings: Settings,
    adapters: list[MemoryAdapter],
    *,
    app: dict[str, Any] | None = None,
    **changes: object,
) -> Iterator[str]:
    chosen = dataclasses.replace(settings, console=True, **changes)  # type: ignore[arg-type]
    with serve(adapters, settings=chosen, **(app or {})) as url:
        yield url


@contextmanager
def logged_in(url: str, password: str = "test-api-token") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url + "/console", follow_redirects=True) as browser:
        reply = browser.post("/login", data={"password": password})
        assert reply.status_code == 200 and str(reply.url).endswith("/console/"), reply.text
        yield browser


@contextmanager
def synced(url: str, rho: Callable[[str], RhoClient], source: str) -> Iterator[tuple[RhoClient, httpx.Client]]:
    """A client of alice that has synced ``source``, and a logged-in console session."""
    client = client_of(url, rho)
    client.sync(source)
    with logged_in(url) as browser:
        yield client, browser


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, "every console page carries the CSRF token"
    return found.group(1)


def test_console_is_off_unless_switched_on(serve: Serve, products: MemoryAdapter) -> None:
    with serve([products]) as url:
        assert httpx.get(url + "/console/").status_code == 404


def test_login_is_required_and_checked(serve: Serve, settings: Settings, products: MemoryAdapter) -> None:
    with console(serve, settings, [products], admin_password="s3cret") as url:
        anonymous = httpx.get(url + "/console/users/alice")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/console/login?next=/console/users/alice"
        wrong = httpx.post(url + "/console/login", data={"password": "nope"})
        assert wrong.status_code == 401 and "Wrong API token or password" in wrong.text
        assert "set-cookie" not in wrong.headers
        good = httpx.post(url + "/console/login?next=/console/stats", data={"password": "s3cret"})
        assert (good.status_code, good.headers["location"]) == (303, "/console/stats"), "admin password"
        cookie = good.headers["set-cookie"].lower()
        assert all(part in cookie for part in ("httponly", "samesite=strict", "path=/console")), cookie
        away = httpx.post(url + "/console/login?next=//evil.example/", data={"password": "s3cret"})
        assert away.headers["location"] == "/console/", "no open redirect"
        with logged_in(url) as browser:  # the API token works too
            page = browser.get("/")
            assert page.status_code == 200 and "<h1>Users</h1>" in page.text
            assert "script-src 'none'" in page.headers["content-security-policy"]
            tampered = browser.cookies["rhom_console"][:-2] + "xx"
            forged = httpx.get(url + "/console/", headers={"cookie": f"rhom_console={tampered}"})
            assert forged.status_code == 303, "a tampered cookie is no session"


def test_pages_show_users_clients_and_documents(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [products]) as url, synced(url, rho, "Product") as (client, browser):
        cid = client.client_id
        users = browser.get("/").text
        assert 'data-user="alice"' in users
        user = browser.get("/users/alice").text
        assert f'data-client="{cid}"' in user
        assert re.search(r'data-source="Product">.*?class="num count">5<', user, re.S), "object count"
        assert "never" not in user.split(f'data-client="{cid}"')[1].split("</tr>")[0], "last sync shown"
        doc = browser.get("/users/alice/sources/Product").text
        assert doc.count("data-object=") == 5 and "iPhone" in doc
        found = browser.get("/users/alice/sources/Product", params={"q": "motorola"}).text
        assert found.count("data-object=") == 1 and 'data-object="2"' in found
        assert browser.get("/users/nobody").status_code == 404
        assert browser.get("/users/alice/sources/Nope").status_code == 404


def test_document_pages_page_through_a_large_source(
    serve: Serve, settings: Settings, rho: Callable[[str], RhoClient]
) -> None:
    many = MemoryAdapter("Item", {str(i): {"n": str(i)} for i in range(120)})
    with console(serve, settings, [many]) as url, synced(url, rho, "Item") as (_, browser):
        seen: set[str] = set()
        page = browser.get("/users/alice/sources/Item")
        while True:
            ids = re.findall(r'data-object="([^"]+)"', page.text)
            assert len(ids) <= 50 and not seen & set(ids), "pages of 50, none twice"
            seen |= set(ids)
            more = re.search(r'href="\?q=&amp;after=(\d+)" id="next"', page.text)
            if not more:
                break
            page = browser.get("/users/alice/sources/Item", params={"after": more.group(1)})
        assert seen == {str(i) for i in range(120)}


def test_actions_need_csrf_and_confirmation(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [products]) as url, synced(url, rho, "Product") as (client, browser):
        cid = client.client_id
        csrf = csrf_of(browser.get("/users/alice"))
        no_token = browser.post("/users/alice/delete", data={"confirm": "yes"})
        assert no_token.status_code == 403, "no CSRF token, no action"
        unconfirmed = browser.post("/users/alice/delete", data={"csrf": csrf})
        assert unconfirmed.status_code == 400, "destructive actions need the box ticked"
        anonymous = httpx.post(url + "/console/users/alice/delete", data={"csrf": csrf, "confirm": "yes"})
        assert anonymous.status_code == 303 and "/console/login" in anonymous.headers["location"]
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            assert admin.get("/rc/v1/users").json() == ["alice"], "nothing happened yet"
            reset = browser.post(f"/users/alice/clients/{cid}/reset", data={"csrf": csrf, "confirm": "yes"})
            assert "registers again" in reset.text
            assert client.query("Product").text == "Unknown client", "a reset client starts over"
            gone = browser.post("/users/alice/delete", data={"csrf": csrf, "confirm": "yes"})
            assert gone.status_code == 200 and "User deleted." in gone.text
            assert admin.get("/rc/v1/users").json() == []


def test_stats_api_and_page_count_syncs(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [products]) as url:
        client = client_of(url, rho)
        for _ in range(3):
            assert client.query("Product").status_code == 200
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            names = admin.get("/rc/v1/system/stats", params={"names": "http:*"}).json()
            assert "http:GET:/app/v1/Product" in names and "http:POST:/rc/v1/app/login" in names
            members = admin.get("/rc/v1/system/stats", params={"metric": "http:GET:/app/v1/Product"}).json()
            assert 1 <= len(members) <= 2, "buckets of 60 s: one, or two across a boundary"
            count = sum(int(m.split(":")[0].split(",")[0]) for m in members)
            assert count == 3, "every query counted once"
            assert re.fullmatch(r"\d+,[0-9.e-]+:\d+", members[0]), "RhoConnect's count,sum:start members"
            unknown = admin.get("/rc/v1/system/stats", params={"metric": "nope"})
            assert (unknown.status_code, unknown.text) == (404, "Unknown metric")
        with logged_in(url) as browser:
            page = browser.get("/stats").text
            row = re.search(r'data-source="Product">.*?class="num syncs">(\d+)<', page, re.S)
            assert row and int(row.group(1)) == 3
            assert page.count('<svg class="chart"') == 4


def test_ping_from_the_console_reaches_the_live_stream(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [products]) as url:
        client = client_of(url, rho)
        with logged_in(url) as browser:
            csrf = csrf_of(browser.get("/users/alice"))
            bad = browser.post("/users/alice/ping", data={"csrf": csrf, "sources": "Nope"})
            assert bad.status_code == 400 and "Nope" in bad.text
            listener = Listener(client)
            try:
                listener.wait_for(named("hello"))
                sent = browser.post("/users/alice/ping", data={"csrf": csrf, "message": "hello", "sources": "Product"})
                assert "Ping sent." in sent.text
                events = listener.wait_for(named("ping"))
                ping = next(e for e in events if e.name == "ping")
                assert (ping.data["message"], ping.data["sources"]) == ("hello", ["Product"])
            finally:
                listener.close()


class Broken(MemoryAdapter):
    def __init__(self) -> None:
        super().__init__("Broken", poll_interval=0)

    def query(self, params: object = None) -> object:
        raise RuntimeError("backend down")


def test_adapter_errors_are_counted_per_source(
    serve: Serve, settings: Settings, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [Broken()], stats=True) as url:
        client = client_of(url, rho)
        assert "backend down" in client.query("Broken").text
        with httpx.Client(base_url=url, headers=TOKEN) as admin:
            members = admin.get("/rc/v1/system/stats", params={"metric": "errors:Broken"}).json()
            assert [m.split(":")[0] for m in members] == ["1,1"]
        with logged_in(url) as browser:
            assert "query-error: backend down" in browser.get("/users/alice").text


def test_failed_logins_are_throttled(serve: Serve, settings: Settings, products: MemoryAdapter) -> None:
    with console(serve, settings, [products]) as url:
        for _ in range(10):
            assert httpx.post(url + "/console/login", data={"password": "guess"}).status_code == 401
        refused = httpx.post(url + "/console/login", data={"password": "test-api-token"})
        assert refused.status_code == 429 and "Too many failed logins" in refused.text
        assert "set-cookie" not in refused.headers, "not even the right token gets in meanwhile"


def test_hostile_names_are_escaped(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    """User names come from logins: the console must show them as text, never as markup."""
    hostile = '"><script>alert(1)</script>'
    with console(serve, settings, [products]) as url:
        client_of(url, rho, hostile)
        with logged_in(url) as browser:
            page = browser.get("/").text
            assert "<script>alert(1)</script>" not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


class DownSender:
    """A push service that is down."""

    def send(self, client_id: str, device: dict[str, str], payload: dict[str, Any]) -> bool:
        raise ConnectionError("push service unreachable")


def test_a_ping_whose_sender_failed_says_so(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with console(serve, settings, [products], app={"push_senders": {"ANDROID": DownSender()}}) as url:
        client = client_of(url, rho)
        registered = client.http.post(
            f"/rc/v1/clients/{client.client_id}/register", json={"device_type": "ANDROID", "device_pin": "pin-1"}
        )
        assert registered.status_code == 200
        with logged_in(url) as browser:
            csrf = csrf_of(browser.get("/users/alice"))
            page = browser.post("/users/alice/ping", data={"csrf": csrf, "message": "hi"}).text
            assert "push sender failed" in page and "Ping sent." not in page
