"""``rhom serve``: what the server's log says, what it refuses to serve, how it stops.

The apps run as ``rhom serve`` runs them (conftest.serving: a subprocess, its output in
``serve.log``); clients are ``rhom sync`` or plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from rhom.server.testing import free_port

from .conftest import REPO, _wait_for_port, assert_user_error, rhom, serving
from .test_unanswered import table

PHOTO_APP = "tests.cli._photo_app:app"
PHOTO_MODELS = "tests.cli._photo_models"
TOKEN = "rhom-development-api-token"


def photo_sync(url: str, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return rhom("sync", "--server", url, "--data", str(data), "--models", PHOTO_MODELS, *args)


def make_crash(data: Path) -> None:
    """A create that makes the photo app's adapter raise KeyError."""
    subprocess.run(
        [sys.executable, "-c", "import sys, rhom\nfrom tests.cli._photo_models import Product\n"
         "rhom.setup(sys.argv[1], models=[Product])\nProduct.create(name='crash')\nrhom.shutdown()", str(data)],
        cwd=REPO, check=True,
    )  # fmt: skip


def crash_once(tmp_path: Path, *args: str) -> tuple[str, str, str]:
    """Serve the photo app, sync a create its adapter crashes on; return the log, the
    object id and the client id."""
    data = tmp_path / "data"
    with serving(PHOTO_APP, tmp_path / "server", args=args) as url:
        assert photo_sync(url, data, "--login", "alice", "--password", "x").returncode == 0
        make_crash(data)
        result = photo_sync(url, data)
        assert result.returncode == 1
        assert "create-error" in result.stdout
    ((_, oid, kind, message, _),) = table(rhom("errors", "--data", str(data)).stdout)
    assert (kind, message) == ("create-error", "'no_such_key'")
    client_id = re.search(r"client id: (\w+)", rhom("status", "--data", str(data)).stdout)
    assert client_id is not None
    return (tmp_path / "server" / "serve.log").read_text(), oid, client_id[1]


def test_an_adapter_crash_is_logged_with_who_and_the_traceback(tmp_path: Path) -> None:
    log, oid, client_id = crash_once(tmp_path)
    line = f"WARNING:  Product create of {oid} failed (user 'alice', client {client_id}): KeyError: 'no_such_key'"
    assert line in log.splitlines()
    after = log.split(line, 1)[1]
    assert after.lstrip("\n").startswith("Traceback (most recent call last):")
    assert "_photo_app.py" in after and 'return {"name": "x"}["no_such_key"]' in after


def test_log_format_json_is_one_object_per_line(tmp_path: Path) -> None:
    log, oid, client_id = crash_once(tmp_path, "--log-format", "json")
    records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line parses
    (crash,) = [r for r in records if r.get("operation") == "create"]
    assert {k: crash[k] for k in ("level", "logger", "source", "object", "user", "client", "error")} == {
        "level": "WARNING", "logger": "rhom.server", "source": "Product", "object": oid, "user": "alice",
        "client": client_id, "error": "KeyError: 'no_such_key'",
    }  # fmt: skip
    assert "_photo_app.py" in crash["traceback"]
    access = [(r["method"], r["path"], r["status"]) for r in records if r["logger"] == "uvicorn.access"]
    assert ("POST", "/app/v1/Product", 200) in access


def test_development_defaults_are_said_at_start(tmp_path: Path) -> None:
    with serving(PHOTO_APP, tmp_path / "server", args=["--console"]) as url:
        log = (tmp_path / "server" / "serve.log").read_text()
        login = httpx.post(f"{url}/console/login", data={"password": TOKEN})
    assert "RHOM_SERVER_SESSION_SECRET and RHOM_SERVER_API_TOKEN are the built-in development values" in log
    assert f"API token (X-RhoConnect-API-TOKEN, console login): {TOKEN}" in log
    assert f"console at {url}/console/ (log in with the API token above)" in log
    assert login.status_code == 303  # the token it printed opens the console


def test_a_set_token_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "a-token-of-our-own-" + "x" * 20
    monkeypatch.setenv("RHOM_SERVER_API_TOKEN", secret)
    with serving(PHOTO_APP, tmp_path / "server", args=["--console"]):
        log = (tmp_path / "server" / "serve.log").read_text()
    assert secret not in log and TOKEN not in log
    assert "log in with the API token (RHOM_SERVER_API_TOKEN)" in log


def test_push_objects_into_a_queried_source_warns_once(tmp_path: Path) -> None:
    headers = {"X-RhoConnect-API-TOKEN": TOKEN}
    body = {"user_id": "alice", "objects": {"9": {"name": "Pushed"}}}
    with serving(PHOTO_APP, tmp_path / "server") as url:
        for _ in range(2):
            reply = httpx.post(f"{url}/app/v1/Product/push_objects", json=body, headers=headers)
            assert (reply.status_code, reply.text) == (200, "done")  # taken, as RhoConnect does
        result = photo_sync(url, tmp_path / "data", "--login", "alice", "--password", "x")
        assert result.returncode == 0, result.stderr
    log = (tmp_path / "server" / "serve.log").read_text()
    warnings = [line for line in log.splitlines() if line.startswith("WARNING:") and "push_objects" in line]
    assert len(warnings) == 1, log
    assert "into Product" in warnings[0] and "poll_interval = 0" in warnings[0]
    assert "poll_interval = -1" in warnings[0]
    assert "Pushed" not in result.stdout and re.search(r"│ Product +│ +0 │", result.stdout)  # gone, as said


@pytest.mark.parametrize(
    ("app", "args", "message"),
    [
        (
            "tests.cli._photo_app:Product",
            [],
            "tests.cli._photo_app:Product is the class tests.cli._photo_app.Product (a "
            "rhom.server.adapters.SourceAdapter subclass), not a rhom.server app",
        ),
        (
            "tests.cli._photo_app:make_app",
            [],
            "tests.cli._photo_app:make_app is the function tests.cli._photo_app.make_app, not a rhom.server app: pass "
            "the app rhom.server.create_app returned (or --factory, if this function returns one)",
        ),
        ("tests.cli._photo_app:DATA", [], "is a pathlib.PosixPath object, not a rhom.server app"),
        ("tests.cli._photo_app:Product", ["--factory"], "--factory needs a function that returns a rhom.server app"),
    ],
    ids=["adapter-class", "function", "object", "factory-class"],
)
def test_serve_refuses_what_is_not_an_app(tmp_path: Path, app: str, args: list[str], message: str) -> None:
    result = rhom("serve", app, *args, "--port", str(free_port()), "--store", f"sqlite:///{tmp_path / 's.db'}",
                  env={"STORE_BACKEND": str(tmp_path / "data.json")})  # fmt: skip
    assert_user_error(result, 2, message)
    assert "factory detected" not in result.stderr


@pytest.mark.parametrize(
    ("app", "args"), [("tests.cli._photo_app:make_app", ["--factory"]), ("tests.cli._photo_app:wrapped", [])],
    ids=["factory", "middleware"],
)  # fmt: skip
def test_serve_takes_a_factory_or_an_app_in_middleware(tmp_path: Path, app: str, args: list[str]) -> None:
    with serving(app, tmp_path / "server", args=args) as url:
        assert httpx.post(f"{url}/rc/v1/app/login", json={"login": "alice", "password": "x"}).status_code == 200


def test_ctrl_c_stops_serve_at_once_with_a_live_client(tmp_path: Path) -> None:
    """SIGINT with a live channel stream open: the stream ends, the server stops without
    waiting out its grace period and without a traceback."""
    port = free_port()
    env = {**os.environ, "STORE_BACKEND": str(tmp_path / "data.json")}
    command = [sys.executable, "-m", "rhom.cli", "serve", PHOTO_APP, "--port", str(port),
               "--store", f"sqlite:///{tmp_path / 's.db'}"]  # fmt: skip
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    stack = contextlib.ExitStack()
    try:
        _wait_for_port(port, proc, log_path)
        http = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
        assert http.post("/rc/v1/app/login", json={"login": "alice", "password": "x"}).status_code == 200
        client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
        opened, ended = threading.Event(), threading.Event()

        def listen() -> None:
            with http.stream("GET", "/rc/v1/app/live", headers={"X-RhoConnect-Client-Id": client_id}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("event: hello"):
                        opened.set()
            ended.set()

        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(30), "the live stream did not open"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert ended.wait(30), "the live stream was not ended"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stack.close()
    log_text = log_path.read_text()
    assert "Traceback" not in log_text and "CancelledError" not in log_text, log_text
    assert "timeout graceful shutdown exceeded" not in log_text  # the stream did not hold the stop
    assert "Finished server process" in log_text


def test_adapter_errors_of_a_query_are_logged_too(tmp_path: Path) -> None:
    """A query that raises: the client sees query-error, the log has the traceback."""
    with serving(PHOTO_APP, tmp_path / "server") as url:
        (tmp_path / "server" / "backend.sqlite").write_text("{not json")  # what the adapter reads
        result = photo_sync(url, tmp_path / "data", "--login", "alice", "--password", "x")
    assert result.returncode == 1 and "query-error" in result.stdout
    log = (tmp_path / "server" / "serve.log").read_text()
    assert re.search(r"WARNING: +Product query failed \(user 'alice', client \w{32}\): JSONDecodeError", log), log
