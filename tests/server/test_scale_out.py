"""Two server processes share one Redis, or one Redis Cluster; two clients converge
(scale out on Redis; issue 22: across machines on a cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rhom.server.testing import free_port

from .conftest import RhoClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("cluster", marks=pytest.mark.redis_cluster)]
)
def shared_store(request: pytest.FixtureRequest) -> str:
    """The URL of the private Redis, or of the private Redis Cluster, of the session."""
    url: str = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    return url


@pytest.fixture
def two_servers(shared_store: str, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "RHOM_SERVER_STORE": shared_store,
        "RHOM_SERVER_REDIS_PREFIX": "scale:",
        "RHOM_SERVER_SESSION_SECRET": "shared-secret",
        "RHOM_SCALE_BACKEND": str(tmp_path / "backend.db"),
        "PYTHONPATH": str(ROOT),
    }
    urls, processes = [], []
    try:
        for _ in range(2):
            port = free_port()
            command = [sys.executable, "-m", "rhom.server", "tests.server._scale_app:make_app"]
            command += ["--factory", "--port", str(port), "--log-level", "warning"]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            _wait_until_up(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def _wait_until_up(url: str) -> None:
    for _ in range(500):
        try:
            httpx.get(url + "/nothing", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise AssertionError(f"python -m rhom.server did not come up at {url}")


class RoundRobin(RhoClient):
    """A client whose every request goes to the next server, as behind a load balancer."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__(urls[0])
        self.urls = urls
        self.turn = 0
        self.served_by: set[str] = set()
        self.http.event_hooks["request"] = [self._next_server]
        self.http.event_hooks["response"] = [self._note_server]

    def _note_server(self, response: httpx.Response) -> None:
        self.served_by.add(f"http://127.0.0.1:{response.request.url.port}")

    def _next_server(self, request: httpx.Request) -> None:
        target = httpx.URL(self.urls[self.turn % len(self.urls)])
        request.url = request.url.copy_with(host=target.host, port=target.port)
        request.headers["host"] = f"{target.host}:{target.port}"
        self.turn += 1


def test_two_processes_on_one_redis_converge(two_servers: list[str]) -> None:
    alice, bob = RoundRobin(two_servers), RoundRobin(list(reversed(two_servers)))
    try:
        for client, name in ((alice, "alice"), (bob, "bob")):
            assert client.login(name).status_code == 200, "protocol.md §2 on either process"
            client.create_client()
        alice.push("Note", {"create": {"t1": {"text": "from alice"}}})
        alice.sync("Note")
        assert alice.local["Note"] == {"1": {"text": "from alice"}}, "protocol.md §5.7 link"
        bob.sync("Note")
        assert bob.local["Note"] == {"1": {"text": "from alice"}}, "bob sees alice's note"
        bob.push("Note", {"update": {"1": {"text": "edited by bob"}}})
        bob.push("Note", {"create": {"t2": {"text": "from bob"}}})
        bob.sync("Note")
        alice.sync("Note")
        expected = {"1": {"text": "edited by bob"}, "2": {"text": "from bob"}}
        assert alice.local["Note"] == expected == bob.local["Note"], "both clients converge"
        assert alice.served_by == set(two_servers) == bob.served_by, "both processes served"
    finally:
        alice.close()
        bob.close()
