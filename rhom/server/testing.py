"""Helpers for tests and demos: rhom.server in a thread, a private redis-server.

::

    app = create_app([MemoryAdapter("Product")], settings=Settings.for_tests())
    with run_in_thread(app) as url:
        httpx.post(url + "/rc/v1/app/login", json={"login": "alice", "password": ""})
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["free_port", "redis_server", "run_in_thread"]


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
