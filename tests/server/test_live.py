"""The live channel and the ping API on the wire (rhom.server.live), on both stores.

Streams are read over real HTTP with httpx; events are parsed by the client's own
parser (``rhom.sync.live.parse_events``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from rhom.server import MemoryAdapter, Settings, backend, create_app, live
from rhom.server.testing import run_in_thread
from rhom.sync.live import Event, parse_events

from .conftest import RhoClient, client_of

ADMIN = {"X-RhoConnect-API-TOKEN": "test-api-token"}


class Listener:
    """One open live stream, read on a thread into ``events``."""

    def __init__(self, client: RhoClient, last_event_id: str | None = None) -> None:
        self.events: list[Event] = []
        self.status = 0
        self._changed = threading.Condition()
        headers = dict(client.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._http = httpx.Client(base_url=str(client.http.base_url), cookies=client.http.cookies, timeout=30)
        self._request = self._http.build_request("GET", "/rc/v1/app/live", headers=headers)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        response = self._http.send(self._request, stream=True)
        self.status = response.status_code
        try:
            for event in parse_events(response.iter_lines()):
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except httpx.HTTPError:
            pass
        finally:
            response.close()

    def wait_for(self, check: Callable[[list[Event]], bool], timeout: float = 10) -> list[Event]:
        with self._changed:
            assert self._changed.wait_for(lambda: check(self.events), timeout), [e.name for e in self.events]
            return list(self.events)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def wait_for_end(self, timeout: float = 10) -> None:
        """Wait until the server ends the stream."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream is still open after {timeout} s: {self.names()}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def named(name: str, count: int = 1) -> Callable[[list[Event]], bool]:
    return lambda events: sum(e.name == name for e in events) >= count


@contextmanager
def app_and_url(settings: Settings, **options: Any) -> Iterator[tuple[Any, str]]:
    adapters = [MemoryAdapter("Product", poll_interval=-1), MemoryAdapter("Shared", poll_interval=-1, partition="app")]
    app = create_app(adapters, settings=settings, **options)
    with run_in_thread(app) as url:
        yield app, url


def ping(url: str, body: Mapping[str, Any]) -> httpx.Response:
    return httpx.post(url + "/rc/v1/users/ping", json=body, headers=ADMIN)


def test_a_ping_reaches_the_users_open_stream_with_its_fields(settings: Settings, rho: Any) -> None:
    with app_and_url(settings) as (_, url):
        listener = Listener(client_of(url, rho))
        listener.wait_for(named("hello"))
        assert listener.events[0].id == "0.0"
        reply = ping(
            url, {"user_id": ["alice"], "sources": ["Product"], "message": "hi", "badge": 3, "vibrate": "2000"}
        )
        assert (reply.status_code, reply.text, reply.headers["content-type"]) == (200, "", "text/html;charset=utf-8")
        event = listener.wait_for(named("ping"))[-1]
        assert event.id == "1.0"
        assert {k: v for k, v in event.data.items() if k != "at"} == {
            "type": "ping",
            "sources": ["Product"],
            "message": "hi",
            "badge": "3",
            "vibrate": "2000",
        }
        listener.close()


def test_a_stream_resumes_after_the_last_event_id_and_a_stale_one_resyncs(settings: Settings, rho: Any) -> None:
    with app_and_url(settings) as (app, url):
        client = client_of(url, rho)
        live.ping(app, "alice", message="one")
        live.ping(app, "alice", message="two")
        resumed = Listener(client, last_event_id="1.0")
        events = resumed.wait_for(named("hello"))
        assert [(e.name, e.data.get("message")) for e in events] == [("ping", "two"), ("hello", None)]
        assert events[-1].id == "2.0"
        resumed.close()
        for n in range(live.KEEP_EVENTS + 1):
            live.ping(app, "alice", message=str(n))
        stale = Listener(client, last_event_id="2.0")
        events = stale.wait_for(named("hello"))
        assert [e.name for e in events] == ["changed", "hello"], "events were dropped: sync everything"
        assert events[0].data["sources"] is None
        stale.close()
        fresh = Listener(client, last_event_id="not-an-id")
        assert fresh.wait_for(named("hello"))[0].name == "hello", "a bad id starts afresh"
        fresh.close()


def test_backend_changes_reach_the_streams_of_those_who_read_the_source(settings: Settings, rho: Any) -> None:
    with app_and_url(settings) as (app, url):
        alice, bob = Listener(client_of(url, rho, "alice")), Listener(client_of(url, rho, "bob"))
        for listener in (alice, bob):
            listener.wait_for(named("hello"))
        backend.push_objects(app, "Product", {"1": {"name": "x"}}, user="alice")
        event = alice.wait_for(named("changed"))[-1]
        assert event.data["sources"] == ["Product"]
        backend.push_objects(app, "Shared", {"1": {"name": "x"}})  # app partition: everyone
        assert bob.wait_for(named("changed"))[-1].data["sources"] == ["Shared"]
        assert alice.wait_for(named("changed", 2))[-1].data["sources"] == ["Shared"]
        assert backend.push_objects(app, "Product", {"1": {"name": "x"}}, user="alice") == 0
        httpx.post(url + "/app/v1/Product/push_deletes", json={"user_id": "bob", "objects": ["9"]}, headers=ADMIN)
        assert bob.names().count("changed") == 1, "a push that changed nothing is not announced"
        alice.close()
        bob.close()


def test_the_stream_needs_a_session_and_a_client_of_that_user(settings: Settings, rho: Any) -> None:
    with app_and_url(settings) as (_, url):
        alice = client_of(url, rho, "alice")
        bob = client_of(url, rho, "bob")
        anonymous = httpx.get(url + "/rc/v1/app/live", headers=alice.headers)
        assert (anonymous.status_code, anonymous.text) == (401, "Not authenticated")
        theirs = bob.http.get("/rc/v1/app/live", headers=alice.headers)
        assert (theirs.status_code, theirs.text) == (500, "Unknown client")


class RecordingSender:
    """A push sender (the plug-in point for FCM/APNs) that records what it is given."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.fail = fail

    def send(self, client_id: str, device: Mapping[str, str], payload: Mapping[str, Any]) -> bool:
        if self.fail:
            raise ConnectionError("push service unreachable")
        self.sent.append((client_id, dict(device), dict(payload)))
        return True


def test_registered_devices_are_pinged_through_their_sender(settings: Settings, rho: Any) -> None:
    android, ios = RecordingSender(), RecordingSender(fail=True)
    with app_and_url(settings, push_senders={"ANDROID": android, "APPLE": ios}) as (app, url):
        phone, tablet, bare = (client_of(url, rho) for _ in range(3))
        phone.http.post(
            f"/rc/v1/clients/{phone.client_id}/register", json={"device_type": "ANDROID", "device_pin": "p1"}
        )
        tablet.http.post(
            f"/rc/v1/clients/{tablet.client_id}/register", json={"device_type": "APPLE", "device_pin": "p2"}
        )
        assert ping(url, {"user_id": "alice", "message": "hello"}).status_code == 200
        [(client_id, device, payload)] = android.sent
        assert client_id == phone.client_id and device["device_pin"] == "p1"
        assert payload["message"] == "hello" and payload["sources"] is None
        result = live.ping(app, ["alice"], sources=["Product"])
        assert result.sent == [phone.client_id]
        assert result.failed == {tablet.client_id: "push service unreachable"}
        assert bare.client_id not in result.sent
        with pytest.raises(ValueError, match="unknown source"):
            live.ping(app, "alice", sources=["Nope"])
        with pytest.raises(ValueError, match="non-empty"):
            live.ping(app, [])


@pytest.mark.redis
def test_a_ping_on_one_process_reaches_a_stream_on_another(redis_url: str, rho: Any) -> None:
    shared = Settings.for_tests(store=redis_url, redis_prefix=f"t{secrets.token_hex(4)}:")
    with app_and_url(shared) as (first, _), app_and_url(shared) as (_, second_url):
        listener = Listener(client_of(second_url, rho))
        listener.wait_for(named("hello"))
        live.ping(first, "alice", message="from the other process")
        assert listener.wait_for(named("ping"))[-1].data["message"] == "from the other process"
        listener.close()
