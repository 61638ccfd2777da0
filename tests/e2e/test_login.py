"""Login and session lifecycle against rhom.server (rhom-api §12 item 8, protocol.md §2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rhom
from rhom.server import MemoryAdapter
from rhom.server.testing import free_port
from rhom.sync.errors import ErrorCode

from .conftest import World, rows, sync, values, wait

PRODUCTS = {"1": {"name": "iPhone", "price": "199"}, "2": {"name": "Droid", "price": "149"}}


def test_sync_without_login_is_error_7_and_sends_nothing(world: World) -> None:
    client = world.client()
    result = sync(client)
    assert result.status == "error"
    assert result.error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN
    assert world.products.calls == []
    assert rhom.client_id() is None


def test_login_gives_0_and_a_session(world: World) -> None:
    client = world.client()
    assert not client.is_logged_in()
    result = wait(client.login("alice", "secret"))
    assert (result.error_code, result.error_message) == (0, "")
    assert client.is_logged_in()
    assert client.user_name == "alice"


def test_push_registration_reads_client_info(world: World) -> None:
    """syncengine_spec "should sync Product": after a login, no push token and
    ``token_sent`` 0; a login clears ``token_sent`` so that the token is registered again."""
    from rhom.sync import PushRegistration

    client = world.client()
    assert client.push_registration == PushRegistration(token=None, token_sent=False)
    assert wait(client.login("alice", "secret")).error_code == 0
    assert client.push_registration == PushRegistration(token=None, token_sent=False)
    rhom.get_database("user").update_into_table("client_info", {"token": "pin-1", "token_sent": 1})
    assert client.push_registration == PushRegistration(token="pin-1", token_sent=True)
    assert wait(client.login("alice", "secret")).error_code == 0
    assert client.push_registration == PushRegistration(token="pin-1", token_sent=False)


def test_login_callback_gets_the_result(world: World) -> None:
    seen: list[Any] = []
    client = world.client()
    wait(client.login("alice", "secret", callback=seen.append))
    assert [(n.status, n.error_code) for n in seen] == [("ok", 0)]


def test_refused_login_is_error_9(make_world: Callable[..., World], layout: str, threaded: bool) -> None:
    world = make_world(layout, threaded, authenticate=lambda login, password: password == "right")
    client = world.client()
    result = wait(client.login("alice", "wrong"))
    assert result.error_code == ErrorCode.UNAUTHORIZED
    assert result.error_message
    assert not client.is_logged_in()
    assert wait(client.login("alice", "right")).error_code == 0
    assert client.is_logged_in()


def test_unreachable_server_is_error_1(world: World) -> None:
    client = world.client(f"http://127.0.0.1:{free_port()}", timeout=5)
    result = wait(client.login("alice", "secret"))
    assert result.error_code == ErrorCode.NETWORK
    assert result.error_message
    assert not client.is_logged_in()


def test_logout_drops_the_session_and_keeps_the_data(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in()
    assert sync(client).status == "complete"
    cid = rhom.client_id()
    client.logout()
    assert not client.is_logged_in()
    assert rhom.client_id() == cid
    assert set(values(world.Product)) == {"1", "2"}
    assert sync(client).error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN


def test_new_sync_server_url_needs_a_login_there(world: World) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"
    cid = rhom.client_id()
    client.sync_server = world.url  # the same URL changes nothing
    assert client.is_logged_in() and rhom.client_id() == cid
    client.sync_server = world.url.replace("127.0.0.1", "localhost")
    assert not client.is_logged_in()
    assert sync(client).error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN
    assert rhom.client_id() == cid, "kept, unused, until the new server accepts a login"


def test_a_new_client_on_another_url_is_not_logged_in(world: World) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"
    client.close()
    other = world.client(world.url.replace("127.0.0.1", "localhost"))
    assert not other.is_logged_in()
    assert sync(other).error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN


def test_login_as_another_user_resets_local_data(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in("alice")
    assert sync(client).status == "complete"
    world.Product.create(name="alice's draft")
    assert rhom.have_local_changes()
    seen: list[tuple[str, str]] = []

    def receiver(sender: Any, old_user: str, new_user: str) -> None:
        seen.append((old_user, new_user))

    with rhom.signals.sync_user_changed.connected_to(receiver):
        assert wait(client.login("bob", "secret")).error_code == 0
    assert seen == [("alice", "bob")]
    assert client.user_name == "bob"
    assert values(world.Product) == {}
    assert not rhom.have_local_changes()
    assert sync(client).status == "complete"  # the server resets the client, then pages
    assert set(values(world.Product)) == {"1", "2"}
    assert "alice's draft" not in str(world.products.data)


def test_same_user_again_keeps_local_data(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in("alice")
    assert sync(client).status == "complete"
    seen: list[Any] = []
    with rhom.signals.sync_user_changed.connected_to(lambda sender, **kw: seen.append(kw)):
        assert wait(client.login("alice", "secret")).error_code == 0
    assert seen == []
    assert set(values(world.Product)) == {"1", "2"}


def test_user_changed_receiver_returning_false_keeps_data(world: World) -> None:
    world.products.replace(PRODUCTS)
    client = world.logged_in("alice")
    assert sync(client).status == "complete"
    draft = world.Product.create(name="draft")
    with rhom.signals.sync_user_changed.connected_to(lambda sender, **kw: False):
        assert wait(client.login("bob", "secret")).error_code == 0
    assert set(values(world.Product)) == {"1", "2", draft.object}
    assert rows(world.Product) == [(draft.object, "object", "create", 0)]


def test_401_mid_session_drops_the_session(world: World) -> None:
    client = world.logged_in("alice")
    assert sync(client).status == "complete"
    assert world.server.admin("DELETE", "/rc/v1/users/alice").status_code == 200
    draft = world.Product.create(name="draft")
    result = sync(client)
    assert result.status == "error"
    assert result.error_code == ErrorCode.UNAUTHORIZED
    assert not client.is_logged_in()
    assert rows(world.Product) == [(draft.object, "object", "create", 0)]  # nothing lost
    assert sync(client).error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN
    # logged in again, the server no longer knows the client (its user was deleted):
    # the run recovers with a new client id and still pushes the draft, once
    assert wait(client.login("alice", "secret")).error_code == 0
    assert sync(client).status == "complete"
    assert [o["name"] for o in world.products.data.values()] == ["draft"]
    assert list(values(world.Product).values()) == [{"name": "draft"}]
    assert not rhom.have_local_changes()


class PerUser(MemoryAdapter):
    """A backend that keeps one data set per user (``current_user``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.by_user: dict[str, dict[str, dict[str, str]]] = {}

    def query(self, params: Any) -> Any:
        self._enter("query")
        return {k: dict(v) for k, v in self.by_user.get(self.current_user, {}).items()}

    def create(self, attrs: Any) -> str | None:
        new_id = super().create(attrs)
        assert new_id is not None
        self.by_user.setdefault(self.current_user, {})[new_id] = self.data.pop(new_id)
        return new_id


def test_each_user_sees_only_their_data(world: World) -> None:
    world.server.stop()
    per_user = PerUser("Product")
    world.server.adapters[0] = world.products = per_user
    world.server.start()
    client = world.logged_in("alice")
    world.Product.create(name="alice's")
    assert sync(client).status == "complete"
    world.Product.create(name="alice's unsent draft")
    assert wait(client.login("bob", "secret")).error_code == 0
    assert values(world.Product) == {}
    world.Product.create(name="bob's")
    assert sync(client).status == "complete"
    assert [o["name"] for o in values(world.Product).values()] == ["bob's"]
    assert {u: [o["name"] for o in d.values()] for u, d in per_user.by_user.items()} == {
        "alice": ["alice's"],
        "bob": ["bob's"],
    }
    assert wait(client.login("alice", "secret")).error_code == 0
    assert sync(client).status == "complete"
    assert [o["name"] for o in values(world.Product).values()] == ["alice's"]


def test_a_mistyped_server_url_keeps_the_real_servers_client_id_and_session(world: World) -> None:
    client = world.logged_in()
    assert sync(client).status == "complete"
    cid = rhom.client_id()
    client.sync_server = "http://127.0.0.1:1"  # a typo: nothing listens there
    assert not client.is_logged_in(), "the other server has not accepted a login"
    assert sync(client).error_code == ErrorCode.CLIENT_IS_NOT_LOGGED_IN, "no request with the old session"
    assert wait(client.login("alice", "x")).error_code == ErrorCode.NETWORK
    client.sync_server = world.url  # back to the real one
    assert client.is_logged_in() and rhom.client_id() == cid, "nothing to log in or register again"
    assert sync(client).ok


def test_a_login_the_new_server_accepts_replaces_the_old_client_info(world: World) -> None:
    client = world.logged_in()
    assert sync(client).ok
    other = world.server.url.replace("127.0.0.1", "localhost")  # another URL, same server
    client.sync_server = other
    assert wait(client.login("alice", "x")).error_code == ErrorCode.NONE
    assert rhom.client_id() is None, "the new server gives its own client id at the next sync"
    assert sync(client).ok and rhom.client_id()
