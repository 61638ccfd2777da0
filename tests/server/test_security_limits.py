"""Limits on every door (issue 24, items 5 and 6): live streams per user and client, the
HTTP server's limits in ``python -m rhom.server``, weak production settings, stats names
of made-up sources, blobs of failed pushes and the blob quota.

Each test runs a real rhom.server on 127.0.0.1 over HTTP: in a thread (both stores), or
as ``python -m rhom.server`` in its own process where the HTTP server's limits are what
is tested.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from rhom.server import MemoryAdapter, Settings, Store
from rhom.server.testing import free_port

from .conftest import RhoClient, Serve, client_of
from .test_live import Listener, app_and_url, named

ADMIN = {"X-RhoConnect-API-TOKEN": "test-api-token"}
ROOT = Path(__file__).resolve().parents[2]
Rho = Callable[[str], RhoClient]


# -- item 5: live streams per user and per client ---------------------------------------------


def open_stream(client: RhoClient) -> httpx.Response:
    """Open a live stream and read its head only (the caller closes it)."""
    request = client.http.build_request("GET", "/rc/v1/app/live", headers=client.headers)
    return client.http.send(request, stream=True)


def test_live_streams_are_capped_per_client_and_per_user(settings: Settings, rho: Rho) -> None:
    capped = dataclasses.replace(settings, live_streams_per_client=2, live_streams_per_user=3)
    with app_and_url(capped) as (_, url), ExitStack() as streams:
        phone, laptop, tablet = (client_of(url, rho, "alice") for _ in range(3))
        for _ in range(2):
            assert streams.enter_context(Listener(phone)).wait_for(named("hello"))
        refused = open_stream(phone)
        streams.callback(refused.close)
        assert (refused.status_code, refused.read()) == (429, b"Too many live streams open for this client")
        assert refused.headers["retry-after"] == "15"
        assert streams.enter_context(Listener(laptop)).wait_for(named("hello")), "another client of the user"
        full = open_stream(tablet)
        streams.callback(full.close)
        assert (full.status_code, full.read()) == (429, b"Too many live streams open for this user")
        bob = Listener(client_of(url, rho, "bob"))
        streams.enter_context(bob)
        assert bob.wait_for(named("hello")), "other users are not affected"


def test_a_closed_stream_gives_its_place_back(settings: Settings, rho: Rho) -> None:
    with app_and_url(dataclasses.replace(settings, live_streams_per_client=1)) as (_, url):
        client = client_of(url, rho, "alice")
        first = open_stream(client)
        assert first.status_code == 200
        for line in first.iter_lines():
            if line == "event: hello":
                break
        first.close()  # hang up, from the thread that reads (so that the socket really closes)
        for _ in range(200):  # the server notices the disconnect at once, but on its own time
            reply = open_stream(client)
            status = reply.status_code
            reply.close()
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200, "the first stream's place was given back when it closed"


# -- item 5: the HTTP server's limits (python -m rhom.server) -------------------------------------


@contextmanager
def server_process(tmp_path: Path, **env: str) -> Iterator[int]:
    """``python -m rhom.server tests.server._plain_app:app`` on a free port, with ``env``."""
    port = free_port()
    variables = {**os.environ, "RHOM_SERVER_STORE": "sqlite://", "RHOM_SERVER_PORT": str(port), **env}
    variables["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "rhom.server", "tests.server._plain_app:app", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=tmp_path, env=variables)
    try:
        for _ in range(1000):  # up to 20 s, then fail instead of hanging
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "python -m rhom.server exited"
                time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    if data:
        sock.sendall(data)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (at most 20 s)."""
    chunks = []
    with sock:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_half_sent_requests_and_silent_connections_are_closed(tmp_path: Path) -> None:
    with server_process(tmp_path, RHOM_SERVER_HEADER_TIMEOUT="1") as port:
        half = raw(port, b"GET /rc/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        silent = raw(port, b"")
        assert read_all(half).startswith(b"HTTP/1.1 408 "), "a head not sent within header_timeout"
        assert read_all(silent) == b"", "a connection that never sends a request is closed"
        kept = raw(port, b"GET /rc/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert read_all(kept).startswith(b"HTTP/1.1 422 "), "whole requests are answered as before"


def test_an_oversized_request_head_is_refused(tmp_path: Path) -> None:
    with server_process(tmp_path, RHOM_SERVER_MAX_HEADER_SIZE="8192") as port:
        big = b"GET /rc/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        sock = raw(port, b"")
        try:
            sock.sendall(big)
        except OSError:  # the server closed the connection while we were still sending
            pass
        assert read_all(sock).startswith(b"HTTP/1.1 431 "), "max_header_size"
        small = (
            b"GET /rc/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fine: " + b"a" * 4000 + b"\r\nConnection: close\r\n\r\n"
        )
        assert read_all(raw(port, small)).startswith(b"HTTP/1.1 422 ")


def test_connections_beyond_max_connections_get_503(tmp_path: Path) -> None:
    with server_process(tmp_path, RHOM_SERVER_MAX_CONNECTIONS="5") as port, ExitStack() as held:
        # five requests whose bodies never come: each holds a connection and a task
        for _ in range(5):
            head = b"POST /rc/v1/app/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
            held.enter_context(raw(port, head))
        for _ in range(200):  # until the server has read all five heads
            answer = read_all(raw(port, b"GET /rc/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
            if answer.startswith(b"HTTP/1.1 503 "):
                break
            time.sleep(0.05)
        assert answer.startswith(b"HTTP/1.1 503 "), f"max_connections: {answer[:60]!r}"


def test_a_production_start_refuses_weak_settings_naming_them(tmp_path: Path) -> None:
    strong = "s" * 40
    cases = {
        "RHOM_SERVER_SESSION_SECRET": {"RHOM_SERVER_SESSION_SECRET": "x", "RHOM_SERVER_API_TOKEN": strong},
        "RHOM_SERVER_API_TOKEN": {"RHOM_SERVER_SESSION_SECRET": strong, "RHOM_SERVER_API_TOKEN": "y" * 8},
        "to differ": {"RHOM_SERVER_SESSION_SECRET": strong, "RHOM_SERVER_API_TOKEN": strong},
        "RHOM_SERVER_ADMIN_PASSWORD": {
            "RHOM_SERVER_SESSION_SECRET": strong,
            "RHOM_SERVER_API_TOKEN": "t" * 40,
            "RHOM_SERVER_ADMIN_PASSWORD": "admin",
        },
    }
    for named_in_message, env in cases.items():
        variables = {**os.environ, "RHOM_SERVER_STORE": "sqlite://", "RHOM_SERVER_PRODUCTION": "1", **env}
        variables["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "rhom.server", "tests.server._plain_app:app"]
        done = subprocess.run(command, cwd=tmp_path, env=variables, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert named_in_message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_rhom_serve_refuses_weak_production_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rhom.cli import main

    monkeypatch.chdir(ROOT)
    env = {"RHOM_SERVER_PRODUCTION": "1", "RHOM_SERVER_SESSION_SECRET": "short", "RHOM_SERVER_STORE": "sqlite://"}
    result = CliRunner().invoke(main, ["serve", "tests.server._plain_app:app"], env=env)
    assert result.exit_code == 2 and "RHOM_SERVER_SESSION_SECRET" in result.output, result.output


# -- item 6: stats names, blobs -------------------------------------------------------------------------


def test_requests_for_made_up_sources_leave_no_stats_names(
    serve: Serve, settings: Settings, products: MemoryAdapter, rho: Rho
) -> None:
    with serve([products], settings=dataclasses.replace(settings, stats=True)) as url:
        for n in range(20):
            assert httpx.get(f"{url}/app/v1/Made{n}").status_code == 401
        client = client_of(url, rho)
        assert client.query("Invented").status_code == 200
        assert client.query("Product").status_code == 200
        names = httpx.get(url + "/rc/v1/system/stats", params={"names": "*"}, headers=ADMIN).json()
        assert not [n for n in names if "Made" in n or "Invented" in n], names
        assert "http:GET:/app/v1/Product" in names and "http:GET:/app/v1/{source}" in names


def push_photo(client: RhoClient, temporary_id: str, data: bytes) -> httpx.Response:
    cud = f'{{"create":{{"{temporary_id}":{{"title":"t"}}}},"blob_fields":["image_uri"]}}'
    files = {f"image_uri-{temporary_id}": ("p.jpg", data, "application/octet-stream")}
    return client.http.post("/app/v1/Photo", data={"cud": cud}, files=files, headers=client.headers)


def test_a_failed_push_keeps_none_of_its_blobs(serve: Serve, store: Store, rho: Rho) -> None:
    photos = MemoryAdapter("Photo", blob_fields=("image_uri",))
    with serve([photos]) as url:
        client = client_of(url, rho)
        photos.fail("create", "backend down")
        assert push_photo(client, "t1", b"JPEG" * 100).status_code == 200
        errors = client.page("Photo")["commands"]["create-error"]
        assert errors["t1-error"] == {"message": "backend down"}
        assert store.keys("blob:") == [], "the file of the failed create was deleted again"
        photos.heal()
        assert push_photo(client, "t2", b"JPEG").status_code == 200
        assert len(store.keys("blob:")) == 1


def test_the_blob_quota_refuses_files_past_it(serve: Serve, settings: Settings, store: Store, rho: Rho) -> None:
    photos = MemoryAdapter("Photo", blob_fields=("image_uri",))
    with serve([photos], settings=dataclasses.replace(settings, blob_quota=1000)) as url:
        client = client_of(url, rho)
        assert push_photo(client, "t1", b"a" * 600).status_code == 200
        assert push_photo(client, "t2", b"b" * 600).status_code == 200
        commands = client.page("Photo")["commands"]
        assert list(commands["links"]) == ["t1"]
        message = commands["create-error"]["t2-error"]["message"]
        assert message == "blob quota exceeded: 1000 bytes of files per user"
        assert len(store.keys("blob:")) == 1
        other = client_of(url, rho, "bob")
        assert push_photo(other, "t1", b"c" * 600).status_code == 200, "each user has a quota of their own"
        assert list(other.page("Photo")["commands"]["links"]) == ["t1"]
        assert httpx.delete(url + "/rc/v1/users/alice", headers=ADMIN).status_code == 200
        again = client_of(url, rho, "alice")
        assert push_photo(again, "t3", b"d" * 600).status_code == 200
        assert list(again.page("Photo")["commands"]["links"]) == ["t3"], "deleting the user gave its bytes back"
