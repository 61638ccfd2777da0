"""create_app's ``store``: a Store instance or a store URL string; anything else is a TypeError."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rhom.exceptions import ConfigurationError
from rhom.server import MemoryAdapter, Settings, Store, create_app, open_store
from rhom.server.testing import run_in_thread

from .conftest import PRODUCTS, RhoClient


def _login_and_sync(url: str, rho: Callable[[str], RhoClient]) -> None:
    client = rho(url)
    reply = client.login()
    assert (reply.status_code, reply.text) == (200, "")
    client.create_client()
    assert client.sync("Product") == PRODUCTS


def test_url_string_store_serves_login_and_query(
    store_url: str, settings: Settings, store: Store, rho: Callable[[str], RhoClient]
) -> None:
    # the settings name an in-memory store: the URL string must win, or the check below fails
    elsewhere = dataclasses.replace(settings, store="sqlite://")
    app = create_app([MemoryAdapter("Product", PRODUCTS)], store=store_url, settings=elsewhere)
    with run_in_thread(app) as url:
        _login_and_sync(url, rho)
    # the server wrote its state where the URL points (with the settings' redis_prefix)
    assert store.keys(""), f"nothing written to {store_url}"


def test_url_string_store_persists_across_apps(tmp_path: Path, rho: Callable[[str], RhoClient]) -> None:
    url_string = f"sqlite:///{tmp_path}/server.db"
    for _ in range(2):
        app = create_app([MemoryAdapter("Product", PRODUCTS)], store=url_string, settings=Settings.for_tests())
        with run_in_thread(app) as url:
            _login_and_sync(url, rho)
    assert (tmp_path / "server.db").is_file()
    opened = open_store(url_string)
    try:
        assert opened.keys("")
    finally:
        opened.close()


def test_store_instance_still_accepted(store: Store, settings: Settings, rho: Callable[[str], RhoClient]) -> None:
    app = create_app([MemoryAdapter("Product", PRODUCTS)], store=store, settings=settings)
    with run_in_thread(app) as url:
        _login_and_sync(url, rho)


@pytest.mark.parametrize("bad", [Path("x.db"), b"sqlite://", 42, object()], ids=["path", "bytes", "int", "object"])
def test_other_store_values_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=re.escape(repr(bad))):
        create_app([], store=bad, settings=Settings.for_tests())  # type: ignore[arg-type]


def test_unknown_store_url_scheme() -> None:
    with pytest.raises(ConfigurationError, match="mongodb://nowhere"):
        create_app([], store="mongodb://nowhere", settings=Settings.for_tests())
