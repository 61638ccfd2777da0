"""rhom.server killed with SIGKILL while devices push changes (benchmarks/kill_campaign.py).

Real processes throughout: the server (SQLite store on disk, the shop's SQLite backend)
and each device, which makes products, changes and deletes some of them, and syncs. Most
kills land in a push, right after the backend committed a change. With the shop's
adapters, which keep each create's idempotency key with its record, nothing is lost, made
twice or brought back, and every device ends equal to the backend. With adapters that
ignore the key, a create killed between the backend's commit and the link's record is
made twice (at most once per kill), and nothing is lost either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rhom
from benchmarks.kill_campaign import campaign, start_server
from rhom.server.testing import free_port


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True], ids=["idempotent-backend", "plain-backend"])
def test_server_killed_during_pushes_loses_nothing_and_doubles_nothing(plain: bool) -> None:
    row = campaign(clients=2, kills=4, ops=150, plain=plain, seed=7, seconds=90)
    assert row["kills"] == 4, f"the devices were still pushing at every kill: {row}"
    assert row["mid_push"] >= 1, row
    assert row["lost"] == 0 and row["divergent"] == 0 and row["unsettled"] == 0, row
    assert row["refused"] == 0, f"no change refused on its retry: {row}"
    if plain:
        assert row["duplicates"] <= row["kills"] and row["resurrected"] <= row["kills"], row
    else:
        assert row["duplicates"] == 0 and row["resurrected"] == 0, row


class Product(rhom.Model, sync=True):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Path]:
    rhom.setup(tmp_path / "device", models=[Product])
    yield tmp_path
    rhom.shutdown()


def backend_names(tmp: Path) -> list[str]:
    with sqlite3.connect(tmp / "backend.sqlite") as conn:
        return sorted(row[0] for row in conn.execute("SELECT name FROM product WHERE brand = 'kill'"))


@pytest.mark.parametrize("plain", [False, True], ids=["idempotent-backend", "plain-backend"])
def test_a_delete_made_while_its_create_is_in_doubt_ends_deleted_on_the_server(device: Path, plain: bool) -> None:
    """The server makes a push's two creates and is killed (SIGKILL) right after the
    backend committed the second: the first create's link is recorded, the second's is
    not, and no reply comes. While the server is down the app deletes both objects. Once
    the server is back, the creates' fates are resolved and both deletes reach it: the
    backend ends with neither record, and so does the device. A backend that ignores the
    idempotency key cannot tell the second create sent again from a new one: that record
    is made twice, and the one the killed server made stays (on the device too)."""
    port = free_port()
    server = start_server(port, device, plain)
    try:
        client: Any = rhom.SyncClient(f"http://127.0.0.1:{port}", threaded_mode=False, poll_interval=0, timeout=3)
        assert client.login("alice", "x").error_code == 0
        first = Product.create(name="first", brand="kill", price=1.0, quantity=1)
        second = Product.create(name="second", brand="kill", price=2.0, quantity=2)
        (device / "kill-next-write").write_text("1")  # in the server: the create of "second"
        assert client.do_sync().failed_sources == ["Product"]  # no reply: in doubt
        assert server.wait(10) == -9
        first.destroy()
        second.destroy()
        server = start_server(port, device, plain)
        for _ in range(4):
            assert client.do_sync().ok
        client.close()
        if plain:
            assert backend_names(device) == ["second"]
            assert [p.name for p in Product.find("all", conditions={"brand": "kill"})] == ["second"]
        else:
            assert backend_names(device) == []
            assert Product.find("all", conditions={"brand": "kill"}) == []
        assert not rhom.any_model_changed()
    finally:
        server.kill()
        server.wait(30)


class _Server:
    """The shop's server process on one port, started again after each kill."""

    def __init__(self, device: Path) -> None:
        self.device, self.port = device, free_port()
        self.process = start_server(self.port, device, False)

    def start(self) -> None:
        self.process = start_server(self.port, self.device, False)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)


@pytest.fixture
def in_doubt(device: Path) -> Iterator[tuple[_Server, Any, Any]]:
    """A create the server made and was killed before answering (the server is down):
    the server, the logged-in client and the object."""
    server = _Server(device)
    try:
        client: Any = rhom.SyncClient(
            f"http://127.0.0.1:{server.port}", threaded_mode=False, poll_interval=0, timeout=3
        )
        assert client.login("alice", "x").error_code == 0
        doomed = Product.create(name="doomed", brand="kill", price=1.0, quantity=1)
        (device / "kill-next-write").write_text("0")
        assert client.do_sync().failed_sources == ["Product"]  # killed after the backend made it
        assert server.process.wait(10) == -9
        yield server, client, doomed
        client.close()
    finally:
        server.kill()


def assert_gone(server: _Server) -> None:
    """The record is gone from the backend and the device, with nothing left queued."""
    assert backend_names(server.device) == []
    assert Product.find("all", conditions={"brand": "kill"}) == []
    assert not rhom.any_model_changed()


def test_a_failed_resend_of_an_in_doubt_create_keeps_its_delete(in_doubt: tuple[_Server, Any, Any]) -> None:
    """As above, with the create sent again once the server is back: that push fails too
    (the server is down again). The create may have been made by the first push, so it is
    still sent again, and its delete held, until the server answers."""
    server, client, doomed = in_doubt
    doomed.destroy()
    server.start()
    assert client.do_sync().ok  # the pull brings the record, without a link: sent again next
    server.kill()
    assert client.do_sync().failed_sources == ["Product"]  # that push is refused
    server.start()
    for _ in range(3):
        assert client.do_sync().ok
    assert_gone(server)


def test_an_object_deleted_after_its_in_doubt_create_was_queued_again_ends_deleted(
    in_doubt: tuple[_Server, Any, Any],
) -> None:
    """The create is in doubt, the object still here: a complete pull without its link
    queues it again, sent until the server answers. The app deletes the object before
    that push: the delete must not fold into the create as into a first attempt (that
    would drop both, and the record the first push made would stay)."""
    server, client, doomed = in_doubt
    server.start()
    assert client.do_sync().ok  # a complete pull, no link: the create goes again next
    Product.find(doomed.object).destroy()
    for _ in range(3):
        assert client.do_sync().ok
    assert_gone(server)
