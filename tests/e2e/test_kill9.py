"""Data safety when the device process is killed with SIGKILL (kill -9) in the middle of work.

A child process (``_crash_child.py``) owns the rhom data folder and syncs against the
rhom.server of the test; it is killed either at an exact point of the sync engine (it
sends itself SIGKILL there, see the child's doc) or from outside at a chosen moment. The
test then "restarts the app" -- ``rhom.setup`` on the same folder -- and checks that:

* the SQLite files are intact, and every committed local write still has its changelog;
* nothing the user wrote is lost: after syncing, the server holds every local change;
* nothing is applied twice: the server holds each created object once, and every page
  the server sent lands exactly once (protocol.md §4.6, §5.6).

Every test runs on both layouts, with the child's client threaded and blocking.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import rhom

from .conftest import World, rows, sync, values

CHILD = Path(__file__).with_name("_crash_child.py")
KILLED = -signal.SIGKILL


def child_command(world: World, *args: str) -> list[str]:
    cmd = [sys.executable, str(CHILD), "--data", str(world.tmp_path / "device"), "--url", world.url,
           "--layout", world.models.layout]  # fmt: skip
    if world.threaded:
        cmd.append("--threaded")
    return cmd + list(args)


def run_child(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the device process to its end (or its self-inflicted SIGKILL)."""
    world.close_clients()
    rhom.shutdown()  # the child owns the data folder now (as after an app restart)
    return subprocess.run(child_command(world, *args), capture_output=True, text=True, timeout=120)


def start_child(world: World, *args: str) -> subprocess.Popen[str]:
    world.close_clients()
    rhom.shutdown()
    proc = subprocess.Popen(child_command(world, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.strip() == "ready", f"child failed to start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the child (if it still runs) and reap it."""
    proc.kill()  # SIGKILL, to this one process we started
    proc.communicate(timeout=30)


def killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == KILLED, f"expected SIGKILL, got {result.returncode}:\n{result.stderr}"


def restart(world: World) -> None:
    """The app starts again on the same data folder."""
    rhom.setup(world.tmp_path / "device", models=world.models.all)
    for db in rhom.get_database("user"), rhom.get_database("app"), rhom.get_database("local"):
        assert db.execute_sql("PRAGMA integrity_check")[0]["integrity_check"] == "ok"


def server_names(world: World) -> Counter[str]:
    return Counter(obj.get("name", "") for obj in world.products.data.values())


def sync_until_settled(world: World, client: Any, limit: int = 3) -> None:
    """Sync until no local change waits (in-doubt creates may need a second run)."""
    for _ in range(limit):
        result = sync(client)
        assert result.status == "complete", result
        if not rhom.have_local_changes():
            return
    raise AssertionError(f"local changes still queued after {limit} syncs: {rows(world.Product)}")


def assert_converged(world: World) -> None:
    """Local data equals the server's, objects are not doubled, the changelog is empty."""
    local = values(world.Product)
    remote = {oid: {a: v for a, v in obj.items() if a != "photo"} for oid, obj in world.products.data.items()}
    assert {oid: {a: v for a, v in attrs.items() if a != "photo"} for oid, attrs in local.items()} == remote
    doubled = {name: n for name, n in server_names(world).items() if n > 1}
    assert not doubled, f"objects created twice on the server: {doubled}"
    customers = values(world.Customer)
    assert customers.keys() == world.customers.data.keys()
    for oid, attrs in customers.items():
        assert attrs.get("product") in local, f"customer {oid} points at a missing product {attrs}"
        assert world.customers.data[oid].get("product") == attrs.get("product")
    assert rows(world.Product) == [] and rows(world.Customer) == []


def seed(world: World, count: int) -> None:
    world.products.replace({str(i): {"name": f"server-{i}", "price": str(i), "quantity": "5"}
                            for i in range(1, count + 1)})  # fmt: skip


# -- a push interrupted --------------------------------------------------------------------


def test_killed_before_the_push_left_the_device(world: World) -> None:
    killed(run_child(world, "--create", "3", "--sync", "1", "--crash-at", "push-before-send"))
    assert "create" not in world.products.calls  # the request never went out
    restart(world)
    assert len(values(world.Product)) == 3 and len(values(world.Customer)) == 3
    assert {r[3] for r in rows(world.Product)} == {1}  # in flight when the process died
    client = world.client()
    assert client.is_logged_in()  # the session the child stored survives
    sync_until_settled(world, client)
    assert sorted(server_names(world)) == ["new-0", "new-1", "new-2"]
    assert world.products.calls.count("create") == 3
    assert_converged(world)


def test_killed_after_the_server_ran_the_push(world: World) -> None:
    killed(run_child(world, "--create", "3", "--sync", "1", "--crash-at", "push-after-server"))
    assert sorted(server_names(world)) == ["new-0", "new-1", "new-2"]  # the server has them
    restart(world)
    temp_ids = set(values(world.Product))
    client = world.client()
    sync_until_settled(world, client)
    # the links of the lost reply arrive with the next page: no second create
    assert world.products.calls.count("create") == 3
    assert sorted(server_names(world)) == ["new-0", "new-1", "new-2"]
    assert not temp_ids & set(values(world.Product))  # every object got its server id
    assert_converged(world)


@pytest.mark.parametrize("point", ["push-before-send", "push-after-server"])
def test_killed_with_updates_in_flight(world: World, point: str) -> None:
    seed(world, 3)
    assert run_child(world, "--sync", "1").returncode == 0
    killed(run_child(world, "--rename", "--sync", "1", "--crash-at", point))
    restart(world)
    assert {(r[1], r[2]) for r in rows(world.Product)} == {("name", "update")}
    sync_until_settled(world, world.client())
    assert sorted(server_names(world)) == ["server-1!", "server-2!", "server-3!"]
    assert_converged(world)


# -- a pull interrupted --------------------------------------------------------------------


@pytest.mark.parametrize("point", ["page-mid-commit", "page-after-commit"])
def test_killed_while_paging(world: World, point: str) -> None:
    seed(world, 20)
    killed(run_child(world, "--sync", "1", "--page-size", "5", "--crash-at", point, "--crash-count", "2"))
    restart(world)
    local = values(world.Product)
    # all of page 1 and (mid-commit) nothing of page 2, or (after commit) all of page 2
    assert len(local) == (5 if point == "page-mid-commit" else 10)
    for attrs in local.values():
        assert set(attrs) == {"name", "price", "quantity"}  # no half-written object
    assert rows(world.Product) == []  # server data is never logged as a local change
    client = world.client(page_size=5)
    assert sync(client).status == "complete"
    assert len(values(world.Product)) == 20
    assert_converged(world)


def test_killed_while_downloading_a_blob(world: World) -> None:
    world.switch_device("seed")  # another device pushes a product with a photo
    seeder = world.logged_in("alice")
    world.Product.create(name="pictured", photo=b"\x89PNG picture bytes")
    assert sync(seeder).status == "complete"
    world.switch_device("device")
    killed(run_child(world, "--sync", "1", "--crash-at", "blob-downloaded"))
    restart(world)
    assert values(world.Product) == {}  # the page did not commit
    client = world.client()
    assert sync(client).status == "complete"
    (obj,) = world.Product.find("all")
    assert obj.name == "pictured"
    assert obj.blob_path("photo").read_bytes() == b"\x89PNG picture bytes"
    assert_converged(world)


# -- killed from outside at any moment -------------------------------------------------------


def test_killed_while_writing_locally(world: World) -> None:
    proc = start_child(world, "--create-loop")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "created 25":
            break
    kill(proc)
    restart(world)
    products, customers = values(world.Product), values(world.Customer)
    assert len(products) >= 25
    assert len(customers) == len(products)  # each transaction whole, or not at all
    assert all(attrs["quantity"] == "2" for attrs in products.values())
    # one create row per object, edits folded into it, nothing else
    assert sorted(rows(world.Product)) == sorted((oid, "object", "create", 0) for oid in products)
    assert sorted(rows(world.Customer)) == sorted((oid, "object", "create", 0) for oid in customers)
    assert all(attrs["product"] in products for attrs in customers.values())
    client = world.logged_in()
    sync_until_settled(world, client)
    assert len(world.products.data) == len(products)
    assert_converged(world)


@pytest.mark.slow
def test_killed_at_random_moments_of_syncs_converges(world: World) -> None:
    seed(world, 30)
    for round_, delay in enumerate((0.0, 0.03, 0.08, 0.15, 0.3, 0.6)):
        proc = start_child(world, "--create", "4", "--tag", f"r{round_}", "--rename", "--sync", "2",
                           "--page-size", "4")  # fmt: skip
        time.sleep(delay)
        kill(proc)
        restart(world)  # checks the files; the next child then takes over
    names = Counter(str(attrs.get("name")) for attrs in values(world.Product).values())
    client = world.client(page_size=4)
    sync_until_settled(world, client)
    # every object the device holds reached the server once, with its latest name
    remote = server_names(world)
    assert {name: remote[name] for name in names} == dict.fromkeys(names, 1)
    assert_converged(world)
