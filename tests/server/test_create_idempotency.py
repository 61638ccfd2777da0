"""A create pushed twice makes one backend record (rhom.server's own guarantee).

A client that died, or lost the reply, after its push reached the server cannot know
whether its creates were made. rhom.server remembers the temporary ids it created per
client and source, so the same create pushed again repeats its link instead of creating
a second record (docs/protocol-decisions.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server._cud import process_push
from rhom.server.pages import Caller, query_page

from .conftest import RhoClient


def test_same_create_pushed_twice_makes_one_record(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    logged_in.push("Product", {"create": {"1700000000001": attrs}})  # the reply was lost: again
    page = logged_in.page("Product")
    assert page["commands"] == {"links": {"1700000000001": {"l": "6"}}}
    assert sorted(products.data) == ["1", "2", "3", "4", "5", "6"], "one backend record"


def test_repeated_create_after_its_link_was_delivered_repeats_the_link(
    logged_in: RhoClient, products: MemoryAdapter
) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    first = logged_in.page("Product")
    logged_in.page("Product", token=first["token"])  # link delivered and acknowledged
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    again = logged_in.page("Product")
    assert again["commands"] == {"links": {"1700000000001": {"l": "6"}}}
    assert len(products.data) == 6


def test_edits_a_repeated_create_carries_that_the_adapter_refuses_are_an_update_error(
    logged_in: RhoClient, products: MemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same create again carries the device's edits made since; the record takes them
    as an update. Refused, the device hears of it as of any refused update, under the
    server id its link gives."""
    logged_in.sync("Product")
    logged_in.push("Product", {"create": {"1700000000001": {"name": "Nexus", "price": "349.00"}}})

    def refuse(attrs: Mapping[str, str]) -> None:
        raise ValueError("price out of range")

    monkeypatch.setattr(products, "update", refuse)
    logged_in.push("Product", {"create": {"1700000000001": {"name": "Nexus", "price": "-1"}}})
    commands = logged_in.page("Product")["commands"]
    assert commands["links"] == {"1700000000001": {"l": "6"}}
    assert commands["update-error"]["6-error"] == {"message": "price out of range"}
    assert commands["update-error"]["6"] == {"name": "Nexus", "price": "-1"}
    assert products.data["6"]["price"] == "349.00"


def test_different_temporary_ids_are_different_records(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs, "1700000000002": attrs}})
    page = logged_in.page("Product")
    assert page["commands"] == {"links": {"1700000000001": {"l": "6"}, "1700000000002": {"l": "7"}}}
    assert len(products.data) == 7


class _Killed(BaseException):
    """Stands for the server process dying in the middle of a push (nothing catches it)."""


class PlainBackend(MemoryAdapter):
    """A backend that ignores idempotency keys: every create call makes a record."""

    def __init__(self) -> None:
        super().__init__("Product", poll_interval=-1)
        self.die_after: int | None = None

    def create(self, attrs: Mapping[str, str]) -> str | None:
        if self.die_after is not None and len(self.data) >= self.die_after:
            raise _Killed()
        with self._lock:
            new_id = str(self._next_id)
            self._next_id += 1
            self.data[new_id] = dict(attrs)
        return new_id


def _caller(app: Any, client_id: str = "c1") -> Caller:
    state = app.state.rhom.state
    state.add_user("alice")
    state.save_client(client_id, {"user": "alice"})
    return Caller(state, "alice", client_id, "http://test")


def test_creates_made_before_the_server_died_are_not_made_again(settings: Settings) -> None:
    backend = PlainBackend()
    app = create_app([backend], settings=settings)
    caller = _caller(app)
    push = {"create": {f"17000000000{i}": {"name": f"new {i}"} for i in range(5)}}
    backend.die_after = 3
    with pytest.raises(_Killed):
        process_push(caller, backend, push, [], {})
    assert len(backend.data) == 3, "three creates reached the backend before the crash"
    backend.die_after = None
    process_push(caller, backend, push, [], {})  # the client never got a reply: it pushes again
    assert len(backend.data) == 5, "each link was recorded as soon as its create returned"
    page = query_page(caller, backend, "", 100)
    assert sorted(page.commands["links"]) == sorted(push["create"]), "every create gets its link"
    assert sorted(link["l"] for link in page.commands["links"].values()) == sorted(backend.data)


def test_idempotency_key_makes_one_record_across_client_ids(settings: Settings) -> None:
    products = MemoryAdapter("Product", poll_interval=-1)
    app = create_app([products], settings=settings)
    push = {"create": {"1700000000001": {"name": "Nexus"}}}
    process_push(_caller(app, "old"), products, push, [], {})
    # the server forgot the client (its store lost, or "Unknown client"): the device
    # registers again and pushes the create it never got a link for
    process_push(_caller(app, "new"), products, push, [], {})
    assert len(products.data) == 1, "MemoryAdapter returns the first record for a known key"
    page = query_page(_caller(app, "new"), products, "", 100)
    assert page.commands["links"] == {"1700000000001": {"l": "1"}}


def test_adapters_see_the_idempotency_key_only_during_create(settings: Settings) -> None:
    seen: list[str | None] = []

    class Recording(MemoryAdapter):
        def create(self, attrs: Mapping[str, str]) -> str | None:
            seen.append(self.idempotency_key)
            return super().create(attrs)

        def update(self, attrs: Mapping[str, str]) -> None:
            seen.append(self.idempotency_key)

    products = Recording("Product", {"1": {"name": "a"}}, poll_interval=-1)
    app = create_app([products], settings=settings)
    push = {"create": {"1700000000001": {"name": "b"}}, "update": {"1": {"name": "c"}}}
    process_push(_caller(app), products, push, [], {})
    assert seen == ["alice/1700000000001", None]
