"""Helpers for tests and demos: rhom.server in a thread, a private redis-server or Redis
Cluster, and the Store contract kit (check your own store with :func:`check_store`).

::

    app = create_app([MemoryAdapter("Product")], settings=Settings.for_tests())
    with run_in_thread(app) as url:
        httpx.post(url + "/rc/v1/app/login", json={"login": "alice", "password": ""})
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from rhom.server._contract import ReferenceLog, check_key_value, check_log, check_store

__all__ = [
    "RedisClusterNodes",
    "ReferenceLog",
    "check_key_value",
    "check_log",
    "check_store",
    "free_port",
    "redis_cluster",
    "redis_server",
    "run_in_thread",
]


@contextlib.contextmanager
def run_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on ``host``, port 0.

    Yields the base URL (``http://127.0.0.1:<port>``); stops the server, and with it the
    app's lifespan (which closes its store), on exit. uvicorn leaves the logging
    configuration alone, so its records reach the application's handlers, and proxy
    headers to the app, which believes them only from its ``trusted_proxies``.
    """
    sock = socket.socket()
    # accepted sockets inherit it: without it each keep-alive reply waits ~40 ms for a
    # delayed ACK (uvicorn writes the headers and the body separately)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=None,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=1,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):  # up to 10 s, then fail instead of hanging
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("rhom.server did not start")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(executable: str = "redis-server") -> Iterator[str]:
    """Start a private redis-server on 127.0.0.1 (free port, temp dir, no persistence).

    Yields its URL ``redis://127.0.0.1:<port>/0``; stops the server and removes the
    directory on exit.

    :raises FileNotFoundError: no ``redis-server`` binary.
    """
    binary = shutil.which(executable)
    if binary is None:
        raise FileNotFoundError(f"{executable} not found (scripts/ensure-redis.sh installs it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rhom-redis-") as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
        args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(500):
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise RuntimeError("redis-server did not start within 5 s")


@dataclass
class RedisClusterNodes:
    """A private Redis Cluster that :func:`redis_cluster` started.

    :param url: the store URL, ``redis+cluster://127.0.0.1:<port>,...`` (every node a seed).
    :param processes: the ``redis-server`` process of each node, by port.
    """

    url: str
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def masters(self) -> list[int]:
        """The ports of the masters that are up and serve slots, as the cluster sees it now."""
        import redis

        for port, process in self.processes.items():
            if process.poll() is not None:
                continue
            with contextlib.suppress(redis.RedisError):
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as node:
                    return _serving_masters(_cluster_command(node, "CLUSTER", "NODES"))
        return []

    def kill(self, port: int) -> None:
        """Kill the node on ``port`` with SIGKILL (no shutdown, no final write)."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every node still running reports ``cluster_state:ok`` and every slot
        is served by a master that is up.

        :raises RuntimeError: not so within ``timeout`` seconds.
        """
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [port for port, process in self.processes.items() if process.poll() is None]
            with contextlib.suppress(redis.RedisError):
                if all(_cluster_ok(port, live) for port in live):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"Redis Cluster not healthy within {timeout} s")


@contextlib.contextmanager
def redis_cluster(
    *, masters: int = 3, replicas: int = 1, node_timeout: int = 1000, executable: str = "redis-server"
) -> Iterator[RedisClusterNodes]:
    """Start a private Redis Cluster on 127.0.0.1: ``masters`` masters sharing the 16,384
    slots, each with ``replicas`` replicas, on free ports, in a temp dir, with AOF on.

    Nodes consider a peer failed after ``node_timeout`` milliseconds (the
    ``cluster-node-timeout``), so a master killed with :meth:`RedisClusterNodes.kill` is
    replaced by its replica a second or two later (the default of a real deployment is
    15 s). ``cluster-require-full-coverage no`` lets the other masters serve their slots
    meanwhile. Yields :class:`RedisClusterNodes`; stops every node and removes the
    directory on exit.

    .. versionadded:: 0.2

    :raises FileNotFoundError: no ``redis-server`` binary.
    :raises RuntimeError: the cluster did not form within 30 s.
    """
    binary = shutil.which(executable)
    if binary is None:
        raise FileNotFoundError(f"{executable} not found (scripts/ensure-redis.sh installs it)")
    count = masters * (1 + replicas)
    ports = _free_ports(count)
    with tempfile.TemporaryDirectory(prefix="rhom-redis-cluster-") as workdir:
        nodes = RedisClusterNodes("redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports))
        try:
            for port in ports:
                folder = os.path.join(workdir, str(port))
                os.mkdir(folder)
                args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
                args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
                args += ["--cluster-node-timeout", str(node_timeout), "--cluster-require-full-coverage", "no"]
                args += [
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                    "--protected-mode",
                    "yes",
                    "--repl-diskless-sync-delay",
                    "0",
                ]
                nodes.processes[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for port in ports:
                _wait_for_port(port, nodes.processes[port])
            _form_cluster(ports, masters)
            nodes.wait_healthy()
            yield nodes
        finally:
            for process in nodes.processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in nodes.processes.values():
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago, each with its cluster bus
    port (``port + 10000``) free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 > 65535 or port in ports or port + 10000 in ports or port - 10000 in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _form_cluster(ports: list[int], masters: int) -> None:
    """Give the first ``masters`` nodes the slots, introduce every node to the first, and
    make each other node a replica of a master in turn."""
    import redis

    clients = [redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) for port in ports]
    try:
        ids = [_cluster_command(client, "CLUSTER", "MYID").decode() for client in clients]
        share = 16384 // masters
        for i in range(masters):
            last = 16383 if i == masters - 1 else (i + 1) * share - 1
            for start in range(i * share, last + 1, 1000):  # ADDSLOTS: any version (ADDSLOTSRANGE: 7.0)
                _cluster_command(clients[i], "CLUSTER", "ADDSLOTS", *range(start, min(start + 1000, last + 1)))
        for client in clients[1:]:
            _cluster_command(client, "CLUSTER", "MEET", "127.0.0.1", ports[0])
        deadline = time.monotonic() + 30
        while not all(len(_cluster_command(c, "CLUSTER", "NODES").splitlines()) == len(ports) for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("Redis Cluster nodes did not meet within 30 s")
            time.sleep(0.05)
        for k, client in enumerate(clients[masters:]):
            _cluster_command(client, "CLUSTER", "REPLICATE", ids[k % masters])
    finally:
        for client in clients:
            client.close()


def _cluster_ok(port: int, live: list[int]) -> bool:
    """Whether the node on ``port`` says the cluster is ok with every slot on a live master."""
    import redis

    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as node:
        info = _cluster_command(node, "CLUSTER", "INFO").decode()
        if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
            return False
        serving = _serving_masters(_cluster_command(node, "CLUSTER", "NODES"))
        if not serving or not set(serving) <= set(live):
            return False
        replication = node.info("replication")
        return bool(replication.get("role") == "master" or replication.get("master_link_status") == "up")


def _cluster_command(client: Any, *args: Any) -> Any:
    """``client.execute_command(*args)`` (redis-py leaves it untyped)."""
    return client.execute_command(*args)


def _serving_masters(nodes: bytes) -> list[int]:
    """The ports of the masters that serve slots and are not marked failed, from the
    text of ``CLUSTER NODES``."""
    found = []
    for line in nodes.decode().splitlines():
        parts = line.split()
        flags = parts[2].split(",")
        if "master" in flags and "fail" not in flags and "fail?" not in flags and len(parts) > 8:
            found.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
    return sorted(found)
