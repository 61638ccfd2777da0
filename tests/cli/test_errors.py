"""User errors: one line on stderr, the documented exit code, never a traceback.

Exit codes (``rhom.cli``'s docstring): 1 finished with errors, 2 bad usage, 3 login
refused or session expired, 4 server unreachable.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from rhom.server.testing import run_in_thread

from .conftest import MODELS, REPO, assert_user_error, rhom, serving


def test_server_down_at_login_exits_4(tmp_path: Path, down_url: str) -> None:
    result = rhom("sync", "--server", down_url, "--data", str(tmp_path / "data"), "--models", MODELS,
                  "--login", "alice", "--password", "x")  # fmt: skip
    assert_user_error(result, 4, "login failed (error 1)", "Connection refused")


def test_server_down_after_login_exits_4(tmp_path: Path) -> None:
    """A logged-in folder whose server has gone away: every source fails to connect."""
    data = tmp_path / "data"
    with serving("examples.store.server:app", tmp_path / "server") as url:
        result = rhom("sync", "--server", url, "--data", str(data), "--models", MODELS, "--login", "alice",
                      "--password", "x")  # fmt: skip
        assert result.returncode == 0, result.stderr
    result = rhom("sync", "--server", url, "--data", str(data), "--models", MODELS)
    assert_user_error(result, 4, f"could not reach {url}")
    assert "no reply from the server" in result.stdout  # per source, in the summary


def test_refused_login_exits_3(tmp_path: Path, refusing_url: str) -> None:
    result = rhom("sync", "--server", refusing_url, "--data", str(tmp_path / "data"), "--models", MODELS,
                  "--login", "mallory", "--password", "guess")  # fmt: skip
    assert_user_error(result, 3, "login failed (error", "wrong password for 'mallory'")
    assert "guess" not in result.stderr + result.stdout


def test_sync_without_a_session_exits_3(tmp_path: Path, server_url: str) -> None:
    result = rhom("sync", "--server", server_url, "--data", str(tmp_path / "data"), "--models", MODELS)
    assert_user_error(result, 3, "not logged in: pass --login USER")


def test_expired_session_exits_3(synced: Path, server_url: str) -> None:
    with sqlite3.connect(synced / "user.sqlite") as conn:  # a session the server did not sign
        conn.execute("UPDATE client_info SET session = 'forged'")
    conn.close()
    result = rhom("sync", "--server", server_url, "--data", str(synced), "--models", MODELS)
    assert_user_error(result, 3, "sync failed (error 9)", "401")


def test_malformed_server_url_exits_2(tmp_path: Path) -> None:
    result = rhom("sync", "--server", "localhost:9292", "--data", str(tmp_path / "data"), "--models", MODELS,
                  "--login", "alice", "--password", "x")  # fmt: skip
    assert_user_error(result, 2, "'localhost:9292'", "http(s)://")


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("no_such_models", "cannot import model module 'no_such_models'"),
        ("rhom.no_such_models", "cannot import model module 'rhom.no_such_models'"),
        ("json", "model module 'json' declares no rhom models"),
    ],
)
def test_bad_model_module_exits_2(tmp_path: Path, server_url: str, module: str, message: str) -> None:
    result = rhom("sync", "--server", server_url, "--data", str(tmp_path / "data"), "--models", module,
                  "--login", "alice", "--password", "x")  # fmt: skip
    assert_user_error(result, 2, message)
    assert not (tmp_path / "data").exists()  # nothing written before the models are known


def test_broken_model_module_exits_2(tmp_path: Path, server_url: str) -> None:
    (tmp_path / "broken_models.py").write_text("raise RuntimeError('half-written file')\n")
    result = rhom("sync", "--server", server_url, "--data", str(tmp_path / "data"), "--models", "broken_models",
                  "--login", "alice", "--password", "x", cwd=tmp_path)  # fmt: skip
    assert_user_error(result, 2, "'broken_models' failed to import: RuntimeError: half-written file")


@pytest.mark.parametrize(
    "command",
    [["status"], ["outbox"], ["export"], ["reset", "--models", MODELS, "--yes"]],
    ids=["status", "outbox", "export", "reset"],
)
def test_not_a_data_folder_exits_2(tmp_path: Path, command: list[str]) -> None:
    result = rhom(*command, "--data", str(tmp_path))
    assert_user_error(result, 2, f"{tmp_path} is not a rhom data folder")
    assert list(tmp_path.iterdir()) == []  # and it stays that way


def test_missing_folder_with_brackets_in_its_name_is_printed_verbatim(tmp_path: Path) -> None:
    """rich markup in a path ([/]) is text, not a MarkupError."""
    folder = tmp_path / "odd[/]name[bold]"
    result = rhom("status", "--data", str(folder))
    assert_user_error(result, 2, f"{folder} is not a rhom data folder")


def test_data_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = rhom("status", "--data", str(tmp_path / "notes.txt"))
    assert result.returncode == 2
    assert "is a file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["status", "outbox"])
def test_unreadable_database_exits_2(tmp_path: Path, command: str) -> None:
    (tmp_path / "user.sqlite").write_text("not a database")
    result = rhom(command, "--data", str(tmp_path))
    assert_user_error(result, 2, f"{tmp_path / 'user'}.sqlite is damaged", "not a database")


def test_import_of_a_file_that_is_not_an_export_exits_1(tmp_path: Path) -> None:
    (tmp_path / "backup.zip").write_text("not a zip")
    result = rhom("import", str(tmp_path / "backup.zip"), "--data", str(tmp_path / "data"), "--models", MODELS)
    assert_user_error(result, 1, "backup.zip", "not a zip file")


def test_export_into_a_missing_folder_exits_2(synced: Path, tmp_path: Path) -> None:
    result = rhom("export", "--data", str(synced), "--out", str(tmp_path / "missing" / "user.zip"))
    assert_user_error(result, 2, "export failed", "missing")


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("examples.store.server", "APP must look like module:attribute, got 'examples.store.server'"),
        ("no_such_module:app", "cannot import app module 'no_such_module'"),
        ("examples.no_such_module:app", "cannot import app module 'examples.no_such_module'"),
        ("examples.store.server:no_such_app", "app module 'examples.store.server' has no attribute 'no_such_app'"),
    ],
)
def test_serve_with_a_bad_app_exits_2(tmp_path: Path, app: str, message: str) -> None:
    result = rhom("serve", app, "--port", "1", "--store", f"sqlite:///{tmp_path / 'server.db'}",
                  env={"STORE_BACKEND": str(tmp_path / "backend.sqlite")})  # fmt: skip
    assert_user_error(result, 2, message)


def test_serve_on_a_port_in_use_exits_1(tmp_path: Path, server_url: str) -> None:
    """uvicorn exits 3 when it cannot bind; 3 is rhom's code for a refused login."""
    port = server_url.rsplit(":", 1)[1]
    result = rhom("serve", "examples.store.server:app", "--port", port, "--store", f"sqlite:///{tmp_path / 's.db'}",
                  env={"STORE_BACKEND": str(tmp_path / "backend.sqlite")})  # fmt: skip
    assert result.returncode == 1
    assert "address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_reset_of_an_unknown_source_exits_2(synced: Path) -> None:
    result = rhom("reset", "--data", str(synced), "--models", MODELS, "--source", "Nope", "--yes")
    assert_user_error(result, 2, "unknown model 'Nope'")


async def bad_gateway(scope: Scope, receive: Receive, send: Send) -> None:
    """A proxy whose upstream is down: 502 and an HTML page for every request."""
    if scope["type"] != "http":
        return
    body = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n"
    await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": body})


def test_a_proxy_error_page_at_login_is_one_line_and_exits_1(tmp_path: Path) -> None:
    """Not a refused login (3): the server answered 502, with a page of HTML."""
    with run_in_thread(bad_gateway) as url:
        result = rhom("sync", "--server", url, "--data", str(tmp_path / "data"), "--models", MODELS,
                      "--login", "alice", "--password", "x")  # fmt: skip
    assert_user_error(result, 1, "login failed (error 2): <html> <head><title>502 Bad Gateway</title>")


def test_ctrl_c_during_a_sync_exits_130_and_says_nothing_was_lost(tmp_path: Path) -> None:
    """Mock server: the login succeeds, then the next request never gets a reply."""
    in_flight = threading.Event()

    async def stall(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].endswith("/login"):
            cookie = (b"set-cookie", b"rhoconnect_session=s; path=/")
            await send({"type": "http.response.start", "status": 200, "headers": [cookie]})
            await send({"type": "http.response.body", "body": b""})
            return
        in_flight.set()
        while (await receive())["type"] != "http.disconnect":  # until the client hangs up
            pass

    data = tmp_path / "data"
    with run_in_thread(stall) as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rhom.cli", "sync", "--server", url, "--data", str(data), "--models", MODELS,
             "--login", "alice", "--password", "x"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert in_flight.wait(30), "the sync never reached the server"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130  # interrupted, not "finished with errors" (1)
    assert " ".join(err.split()).endswith(
        "interrupted: nothing was lost. Changes not pushed yet stay in the outbox, and the next rhom sync goes on "
        "from the last page applied."
    )
    assert "Traceback" not in err and "Aborted" not in err
    status = rhom("status", "--data", str(data))  # the folder is still a readable data folder
    assert status.returncode == 0, status.stderr
    assert "logged in: yes" in status.stdout


def test_a_url_that_is_no_rhoconnect_server_is_named(tmp_path: Path, server_url: str) -> None:
    wrong = f"{server_url}/sync"  # the server is right, the path is not
    result = rhom("sync", "--server", wrong, "--data", str(tmp_path / "data"), "--models", MODELS,
                  "--login", "alice", "--password", "x")  # fmt: skip
    assert_user_error(result, 1, f"login failed: POST {wrong}/rc/v1/app/login answered HTTP 404",
                      f"the server at {wrong} is not a RhoConnect server")  # fmt: skip
    assert "<h1>" not in result.stderr


def test_status_explains_a_token_left_by_a_failed_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving("examples.store.server:app", tmp_path / "server") as url:
        assert rhom("sync", "--server", url, "--data", str(data), "--models", MODELS, "--login", "alice",
                    "--password", "x").returncode == 0  # fmt: skip
    assert rhom("sync", "--server", url, "--data", str(data), "--models", MODELS).returncode == 4
    status = rhom("status", "--data", str(data))
    assert re.search(r"│ Product +│ user +│ incremental +│ [\d: -]+ \(failed\) +│ 1 ", status.stdout)
    assert (
        "token other than 0: the pull of Product, Customer is under way or stopped part way (1: before its "
        "first page); the next sync goes on from there" in " ".join(status.stdout.split())
    )


def test_status_does_not_count_a_confirmed_create_as_awaiting(synced: Path) -> None:
    """A run stopped after the page that linked a create, before the pull's end purged
    its rows: the outbox shows them confirmed, and nothing awaits the server."""
    with sqlite3.connect(synced / "user.sqlite") as conn:
        conn.execute(
            "INSERT INTO changed_values (source_id, attrib, object, value, update_type, sent) "
            "SELECT source_id, 'name', '6', 'Fairphone', 'create', 3 FROM sources WHERE name = 'Product'"
        )
    conn.close()
    outbox = rhom("outbox", "--data", str(synced))
    assert re.search(r"│ Product +│ 6 +│ create +│ name +│ Fairphone +│ confirmed +│", outbox.stdout)
    status = rhom("status", "--data", str(synced))
    assert re.search(r"│ Product +│ user .*│ - +│ - +│ - +│", status.stdout), status.stdout  # pending, awaiting, errors


def test_outbox_of_an_unknown_source_is_a_user_error(synced: Path) -> None:
    result = rhom("outbox", "--data", str(synced), "--source", "Nope")
    assert_user_error(result, 2, "unknown source 'Nope'")
