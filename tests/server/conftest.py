"""Fixtures of the rhom.server tests: real HTTP on 127.0.0.1, both stores.

Every test that takes ``serve`` runs twice, once on the SQLite store and once on a
private redis-server this session starts (``--save ""``, temp dir, free port).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from rhom.server import MemoryAdapter, Settings, SourceAdapter, Store, create_app, open_store
from rhom.server.testing import redis_cluster, redis_server, run_in_thread

PRODUCTS: dict[str, dict[str, str]] = {
    "1": {"brand": "Apple", "name": "iPhone", "price": "199.99", "quantity": "10", "sku": "1001"},
    "2": {"brand": "Motorola", "name": "Droid", "price": "149.99", "quantity": "5", "sku": "1002"},
    "3": {"brand": "HTC", "name": "Fuze", "price": "299.99", "quantity": "3", "sku": "1003"},
    "4": {"brand": "Samsung", "name": "Galaxy", "price": "249.99", "quantity": "7", "sku": "1004"},
    "5": {"brand": "Nokia", "name": "Lumia", "price": "99.99", "quantity": "1", "sku": "1005"},
}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server missing: run scripts/ensure-redis.sh (the Redis tests need it)")
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A private Redis Cluster (3 masters, 3 replicas, AOF on) for the session."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server missing: run scripts/ensure-redis.sh (the Redis Cluster tests need it)")
    with redis_cluster() as nodes:
        yield nodes.url


#: The store of each family of URL schemes the contract tests run on, and its marker:
#: every scheme of rhom.server.store.SCHEMES belongs to one (test_store checks).
STORE_FAMILIES = {
    "sqlite": ("sqlite",),
    "redis": ("redis", "rediss", "unix"),
    "redis+cluster": ("redis+cluster", "rediss+cluster"),
}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis+cluster", marks=pytest.mark.redis_cluster),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/server.db"
    url: str = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    return url


@pytest.fixture
def settings(store_url: str) -> Settings:
    # a fresh key prefix isolates each test inside the shared redis-server
    return Settings.for_tests(store=store_url, redis_prefix=f"t{secrets.token_hex(4)}:")


@pytest.fixture
def store(store_url: str, settings: Settings) -> Iterator[Store]:
    """The store of ``settings``, opened directly (emptied and closed after the test)."""
    opened = open_store(store_url, redis_prefix=settings.redis_prefix)
    yield opened
    opened.flush()
    opened.close()


Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """``with serve([adapters], authenticate=...) as url``: rhom.server over real HTTP."""

    @contextmanager
    def start(adapters: list[SourceAdapter] | None = None, **options: Any) -> Iterator[str]:
        chosen = options.pop("settings", settings)
        app = create_app(adapters or [], settings=chosen, **options)
        with run_in_thread(app) as url:
            yield url

    return start


@pytest.fixture
def products() -> MemoryAdapter:
    return MemoryAdapter("Product", PRODUCTS)


class RhoClient:
    """A minimal protocol-4 client speaking raw HTTP, for assertions on the wire."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url)
        self.client_id = ""
        self.local: dict[str, dict[str, dict[str, str]]] = {}  # source → what this client holds

    def close(self) -> None:
        self.http.close()

    def login(self, login: str = "alice", password: str = "x") -> httpx.Response:
        reply = self.http.post("/rc/v1/app/login", json={"login": login, "password": password, "remember_me": 1})
        return reply

    def create_client(self) -> str:
        reply = self.http.post("/rc/v1/clients")
        assert reply.status_code == 200, f"protocol.md §3.2: {reply.status_code} {reply.text}"
        self.client_id = reply.json()["client"]["client_id"]
        return self.client_id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-RhoConnect-CLIENT-ID": self.client_id}

    def query(self, source: str, *, token: str | None = None, p_size: int = 2000, **extra: str) -> httpx.Response:
        params: dict[str, Any] = {"p_size": p_size, "version": 3, **extra}
        if token is not None:
            params["token"] = token
        return self.http.get(f"/app/v1/{source}", params=params, headers=self.headers)

    def page(self, source: str, **kwargs: Any) -> dict[str, Any]:
        reply = self.query(source, **kwargs)
        assert reply.status_code == 200, f"protocol.md §4.2: {reply.status_code} {reply.text}"
        return parse_page(reply.json())

    def push(self, source: str, body: Mapping[str, Any]) -> httpx.Response:
        full = {"source_name": source, "client_id": self.client_id, **body}
        reply = self.http.post(f"/app/v1/{source}", json=full, headers=self.headers)
        local = self.local.setdefault(source, {})
        for oid, attrs in body.get("create", {}).items():
            local[oid] = dict(attrs)
        for oid, attrs in body.get("update", {}).items():
            local.setdefault(oid, {}).update(attrs)
        for oid in body.get("delete", {}):
            local.pop(oid, None)
        return reply

    def sync(self, source: str, p_size: int = 2000) -> dict[str, dict[str, str]]:
        """Page until the empty page, acknowledging each token; return what arrived."""
        received: dict[str, dict[str, str]] = {}
        local = self.local.setdefault(source, {})
        token: str | None = None
        for _ in range(1000):
            page = self.page(source, token=token, p_size=p_size)
            _apply(local, page["commands"])
            for oid, attrs in page["commands"].get("delete", {}).items():
                for attr in attrs:
                    received.get(oid, {}).pop(attr, None)
                if oid in received and not received[oid]:
                    del received[oid]
            for oid, attrs in page["commands"].get("insert", {}).items():
                received.setdefault(oid, {}).update(attrs)
            if not page["token"]:
                return received
            token = page["token"]
        raise AssertionError("protocol.md §4.4: paging did not end with an empty page")


def client_of(url: str, rho: Callable[[str], RhoClient], user: str = "alice") -> RhoClient:
    """A raw client of ``user``, logged in and with a client id."""
    client = rho(url)
    assert client.login(user).status_code == 200, "protocol.md §2.2"
    client.create_client()
    return client


def _apply(local: dict[str, dict[str, str]], commands: dict[str, Any]) -> None:
    """Apply a page the way a client does: links, then deletes, then inserts (§4.6)."""
    for temp, link in commands.get("links", {}).items():
        if temp in local:
            local[link["l"]] = local.pop(temp)
    for oid, attrs in commands.get("delete", {}).items():
        for attr in attrs:
            local.get(oid, {}).pop(attr, None)
        if oid in local and not local[oid]:
            del local[oid]
    for oid, attrs in commands.get("insert", {}).items():
        local.setdefault(oid, {}).update(attrs)


def parse_page(body: Any) -> dict[str, Any]:
    """Check the six-element page shape (protocol.md §4.2) and return it as a dict."""
    assert isinstance(body, list) and len(body) == 6, f"protocol.md §4.2: page shape {body!r}"
    keys = ["version", "token", "count", "progress_count", "total_count"]
    for element, key in zip(body[:5], keys, strict=True):
        assert list(element) == [key], f"protocol.md §4.2: expected {key!r} in {element!r}"
    assert body[0]["version"] == 3, "protocol.md §0.2: data format version 3"
    assert body[3]["progress_count"] == 0, "protocol.md §4.2: progress_count is always 0"
    page = {key: element[key] for element, key in zip(body[:5], keys, strict=True)}
    page["commands"] = body[5]
    return page


@pytest.fixture
def rho() -> Iterator[Callable[[str], RhoClient]]:
    """``rho(url)`` makes a raw client; all are closed after the test."""
    made: list[RhoClient] = []

    def make(url: str) -> RhoClient:
        client = RhoClient(url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def logged_in(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> Iterator[RhoClient]:
    """A client of user alice with a client id, against a server with ``products``."""
    with serve([products]) as url:
        client = rho(url)
        assert client.login().status_code == 200
        client.create_client()
        yield client
