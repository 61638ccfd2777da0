"""A store that cannot answer makes requests fail with Retry-After, never 500: 503 when
nothing ran, 504 when a write's handler had begun (it may have called the adapter)."""

from __future__ import annotations

import httpx
import pytest

from rhom.server import MemoryAdapter, Settings, StoreUnavailableError, create_app
from rhom.server._redis_store import RedisStore
from rhom.server.testing import free_port, run_in_thread


def test_requests_fail_with_retry_after_while_redis_is_unreachable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    app = create_app([MemoryAdapter("Product")], store=store, settings=Settings.for_tests())
    cookie = {"rhoconnect_session": app.state.rhom.sessions.issue("alice", "stamp")}
    headers = {"X-RhoConnect-CLIENT-ID": "c1"}
    with run_in_thread(app) as url:
        query = httpx.get(url + "/app/v1/Product", cookies=cookie, headers=headers)
        push = httpx.post(url + "/rc/v1/app/login", json={"login": "alice", "password": "x"})
        files = httpx.get(url + "/data/application/alice/Product.data", cookies=cookie)
    assert (query.status_code, query.headers.get("retry-after")) == (503, "1"), "before the handler: nothing ran"
    assert (push.status_code, push.headers.get("retry-after")) == (504, "1"), "a write's handler had begun"
    assert files.status_code == 503, "a route outside the request pipeline too"


def test_the_redis_store_raises_store_unavailable_not_a_redis_error() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    for call in (
        lambda: store.get("u:alice"),
        lambda: store.log_info("app:Product"),
        lambda: store.lock("c:1").__enter__(),
    ):
        with pytest.raises(StoreUnavailableError, match=r"redis://127\.0\.0\.1:\d+/0 unreachable"):
            call()
    store.close()
