"""The page cap: no client decides how much of a log one request reads into memory
(setting ``max_page_size``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rhom.exceptions import ConfigurationError
from rhom.server import MemoryAdapter, Settings

from .conftest import PRODUCTS, RhoClient, Serve, client_of


def test_a_page_never_holds_more_than_max_page_size(
    serve: Serve, settings: Settings, rho: Callable[[str], RhoClient]
) -> None:
    capped = Settings.for_tests(
        store=settings.store, redis_prefix=settings.redis_prefix, max_page_size=2, default_page_size=2
    )
    with serve([MemoryAdapter("Product", PRODUCTS)], settings=capped) as url:
        client = client_of(url, rho)
        query = {"p_size": 1_000_000, "version": 3}
        found = client.http.post(
            "/rc/v1/app/search", params=query, json={"sources": [{"name": "Product"}]}, headers=client.headers
        )
        assert found.json()[0][3] == {"count": 2}, "a search page holds 2 too"
        client = client_of(url, rho, "bob")
        sizes = []
        token = None
        for _ in range(10):
            page = client.page("Product", p_size=1_000_000, token=token)
            sizes.append(page["count"])
            token = page["token"]
            if not token:
                break
        assert sizes == [2, 2, 1, 0], "5 objects asked 1,000,000 at a time arrive 2 by 2"


def test_the_cap_is_a_setting_at_least_rhodes_page_size() -> None:
    assert Settings().max_page_size >= 2000, "Rhodes' client asks for 2,000 objects a page"
    assert Settings.from_env({"RHOM_SERVER_MAX_PAGE_SIZE": "5000"}).max_page_size == 5000
    with pytest.raises(ConfigurationError, match="MAX_PAGE_SIZE"):
        Settings(max_page_size=100, default_page_size=500).check()
    with pytest.raises(ConfigurationError):
        Settings(max_page_size=0).check()
