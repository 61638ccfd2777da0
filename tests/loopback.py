"""rhom.server on a fixed 127.0.0.1 port in a thread, restartable with its state.

Shared by the end-to-end tests (tests/e2e) and the port of Rhodes' specs (tests/rhodes):
both stop a server and start it again on the same port (a server that is down, then back).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from rhom.server import Settings, create_app

API_TOKEN = "test-api-token"

#: servers stopped without waiting: ``(thread, socket)``, joined at the end of the session
_stopping: list[tuple[threading.Thread, socket.socket]] = []


def join_stopped_servers() -> Iterator[None]:
    """A session fixture's body: at the end, wait for the servers stopped without waiting."""
    yield
    while _stopping:
        thread, sock = _stopping.pop()
        thread.join(30)
        sock.close()


class LoopbackServer:
    """rhom.server in a thread on a fixed 127.0.0.1 port, restartable with its state.

    A variant of ``rhom.server.testing.run_in_thread``, which binds a new port each time:
    a client bound to one URL needs the same port after a restart (a new URL is a new sync
    server, which drops the client id). It also sets ``TCP_NODELAY``, which saves ~40 ms
    per request.
    """

    def __init__(self, adapters: list[Any], *, store: str, **app_options: Any) -> None:
        self.adapters = adapters
        self.store = store
        self.app_options = app_options
        self.settings = Settings.for_tests(store=store)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, **settings_changes: Any) -> str:
        assert self._server is None, "already running"
        settings = Settings.for_tests(store=self.store, **settings_changes)
        app = create_app(self.adapters, settings=settings, **self.app_options)
        self.app = app  # its ``state.rhom`` lets a test switch a source off and on
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit it: without it each keep-alive reply waits ~40 ms for
        # a delayed ACK (uvicorn writes headers and body separately)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        # live channel streams stay open: close them 1 s into a stop
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", server_header=False, timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        for _ in range(1000):  # up to 10 s, then fail instead of hanging
            if server.started or not thread.is_alive():
                break
            time.sleep(0.01)
        assert server.started, "rhom.server did not start"
        self._server, self._thread, self._sock = server, thread, sock
        return self.url

    def stop(self, *, wait: bool = True) -> None:
        """Stop serving; without *wait*, let uvicorn finish (~0.1 s) while the next test
        runs (the thread is joined at the end of the session)."""
        if self._server is None:
            return
        self._server.should_exit = True
        assert self._thread is not None
        if wait:
            self._thread.join(30)
            self._sock.close()
        else:
            _stopping.append((self._thread, self._sock))
        self._server = self._thread = None

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the admin API (``X-RhoConnect-API-TOKEN``)."""
        headers = {"X-RhoConnect-API-TOKEN": API_TOKEN}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
