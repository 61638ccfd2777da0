"""A Redis Cluster master killed while two server processes serve syncing devices.

Three real rhom.SyncClient devices (tests/server/_failover_device.py, each its own
process, user and database) make, change and delete products and sync, every request
going to the next of two ``python -m rhom.server`` processes that share a 3+3 Redis
Cluster and the shop's backend. Mid-run, the master holding the first device's change
log is killed with SIGKILL; its replica takes over a couple of seconds later
(``cluster-node-timeout`` 1 s). Then every device syncs again, and:

* every product a device kept is in the backend once, with its last price, and none it
  deleted is (no change lost, no create made twice);
* every device holds exactly the backend's products;
* no request was answered 500 but the protocol's ``Unknown client`` (a client that must
  start over), and neither server logged a failure;
* both server processes ran throughout: neither was restarted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from rhom.server._redis_cluster_store import RedisClusterStore
from rhom.server.testing import free_port, redis_cluster

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 3
PRODUCTS = 40  # made by each device, which also changes and deletes some


def _start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rhom.server", "tests.server._failover_app:make_app", "--factory"]
    command += ["--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_until_up(url: str) -> None:
    for _ in range(500):
        try:
            httpx.get(url + "/nothing", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise AssertionError(f"python -m rhom.server did not come up at {url}")


def _summary(out: bytes) -> dict[str, Any]:
    lines = out.decode().strip().splitlines()
    found: dict[str, Any] = json.loads(lines[-1]) if lines else {"settled": False, "statuses": {}}
    return found


def _backend_products(path: Path) -> dict[str, list[float]]:
    conn = sqlite3.connect(path)
    found: dict[str, list[float]] = {}
    for name, price in conn.execute("SELECT name, price FROM product WHERE brand = 'kill'"):
        found.setdefault(name, []).append(float(price))
    conn.close()
    return {name: sorted(prices) for name, prices in sorted(found.items())}


@pytest.mark.redis_cluster
@pytest.mark.slow
def test_devices_converge_with_the_backend_when_a_master_dies_under_two_servers(tmp_path: Path) -> None:
    with redis_cluster() as nodes:
        env = {
            **os.environ,
            "RHOM_SERVER_STORE": nodes.url,
            "RHOM_SERVER_SESSION_SECRET": "shared-secret",
            "RHOM_FAILOVER_BACKEND": str(tmp_path / "backend.sqlite"),
            "PYTHONPATH": str(ROOT),
        }
        ports = [free_port(), free_port()]
        servers = [_start_server(port, env, tmp_path / f"server{k}.log") for k, port in enumerate(ports)]
        try:
            for port in ports:
                _wait_until_up(f"http://127.0.0.1:{port}")
            pids = [server.pid for server in servers]
            device = [sys.executable, "-m", "tests.server._failover_device", ",".join(map(str, ports))]
            commands = [[*device, str(tmp_path / f"device{i}"), f"dev{i}"] for i in range(DEVICES)]
            workloads = [
                subprocess.Popen([*c, str(PRODUCTS), "120", str(i)], cwd=ROOT, env=env, stdout=subprocess.PIPE)
                for i, c in enumerate(commands)
            ]
            try:
                _kill_a_master_mid_run(nodes, tmp_path / "backend.sqlite")
                outputs = [_summary(p.communicate(timeout=180)[0]) for p in workloads]
            finally:
                for proc in workloads:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(30)
            reports: list[dict[str, Any]] = []
            for _ in range(2):  # one after the other, twice: each sees what the others pushed
                reports = [
                    _summary(
                        subprocess.run([*c, "--report"], cwd=ROOT, env=env, capture_output=True, timeout=120).stdout
                    )
                    for c in commands
                ]
            assert [server.poll() for server in servers] == [None, None], "no server process died"
            assert [server.pid for server in servers] == pids, "none restarted"
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    backend = _backend_products(tmp_path / "backend.sqlite")
    expected = {name: price for out in outputs for name, price in out.get("expected", {}).items()}
    assert expected and all(out.get("settled") for out in outputs + reports), outputs
    assert {n: len(p) for n, p in backend.items() if len(p) > 1} == {}, "a create made twice"
    kept = {name: price for name, price in expected.items() if price is not None}
    assert {n: p for n, p in kept.items() if p not in backend.get(n, [])} == {}, "a change lost"
    assert sorted(n for n, p in expected.items() if p is None and n in backend) == [], "a delete lost"
    unlike = {i: _differences(r["local"], backend) for i, r in enumerate(reports) if r["local"] != backend}
    assert unlike == {}, "devices unlike the backend: name -> (device's prices, backend's)"
    errors = [e for out in outputs + reports for e in out.get("server_errors", []) if "Unknown client" not in e]
    assert errors == [], f"500s other than the protocol's Unknown client; statuses {[o['statuses'] for o in outputs]}"
    for k in range(2):
        log = (tmp_path / f"server{k}.log").read_text()
        assert "Traceback" not in log and " failed" not in log, log[-2000:]


def _differences(local: dict[str, Any], backend: dict[str, Any]) -> dict[str, Any]:
    return {n: (local.get(n), backend.get(n)) for n in {*local, *backend} if local.get(n) != backend.get(n)}


def _kill_a_master_mid_run(nodes: Any, backend: Path) -> None:
    """Once the devices have pushed a few products, SIGKILL the master that holds the
    first device's change log; return when its replica serves its slots."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if backend.exists() and sum(len(p) for p in _backend_products(backend).values()) >= 10:
            break
        time.sleep(0.1)
    probe = RedisClusterStore(nodes.url)
    try:
        slot = key_slot(probe._log_keys("u/dev0:Product")[0].encode())
        master = probe._cluster().nodes_manager.slots_cache[slot][0].port
    finally:
        probe.close()
    nodes.kill(int(master))
    nodes.wait_healthy()
    assert int(master) not in nodes.masters(), "the replica took over"
