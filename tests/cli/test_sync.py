"""``rhom sync``, ``rhom status`` and ``rhom outbox`` against ``rhom serve examples.store.server:app``."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from .conftest import MODELS, REPO, assert_user_error, rhom, write


def sync(url: str, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return rhom("sync", "--server", url, "--data", str(data), "--models", MODELS, *args)


def status_rows(data: Path) -> dict[str, list[str]]:
    """``rhom status``'s table as {source: cells}; a cell wrapped over lines is joined again."""
    result = rhom("status", "--data", str(data))
    assert result.returncode == 0, result.stderr
    rows: dict[str, list[str]] = {}
    current: list[str] = []
    for line in result.stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            current = rows[cells[0]] = cells
        else:  # the same row, wrapped
            current[:] = [f"{a} {b}".strip() for a, b in zip(current, cells, strict=True)]
    return rows


def test_sync_logs_in_and_prints_progress_and_summary(tmp_path: Path, server_url: str) -> None:
    result = sync(server_url, tmp_path / "data", "--login", "alice", "--password", "x")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert re.search(r"Product ✓ +━+ 5/5", out)
    assert re.search(r"Customer ✓ +━+ 3/3", out)
    assert "sync summary" in out
    for column in ("source", "inserted", "updated", "deleted", "errors", "time"):
        assert column in out
    assert re.search(r"│ Product +│ +5 │ +0 │ +0 │ +0 │", out)
    assert re.search(r"│ Customer +│ +3 │ +0 │ +0 │ +0 │", out)
    assert "Note" not in out  # a local model is not synced


def test_second_sync_reuses_the_session(synced: Path, server_url: str) -> None:
    result = sync(server_url, synced)
    assert result.returncode == 0, result.stderr
    assert re.search(r"│ Product +│ +0 │ +0 │ +0 │ +0 │", result.stdout)


def test_password_from_the_environment(tmp_path: Path, server_url: str) -> None:
    result = rhom("sync", "--server", server_url, "--data", str(tmp_path / "data"), "--models", MODELS,
                  "--login", "alice", env={"RHOM_PASSWORD": "x"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout  # not asked


def sync_at_a_terminal(url: str, data: Path, answer: bytes) -> tuple[int, str, str]:
    """``rhom sync --login alice`` with a terminal on stdin: wait for the password prompt, type *answer*.

    The command runs in a session of its own, without a controlling terminal, so getpass
    reads the pty on stdin (echo off) and writes its prompt on stderr.
    """
    environ = {k: v for k, v in os.environ.items() if k != "RHOM_PASSWORD"}
    command = [sys.executable, "-m", "rhom.cli", "sync", "--server", url, "--data", str(data),
               "--models", MODELS, "--login", "alice"]  # fmt: skip
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(command, cwd=REPO, env=environ, stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
        os.close(slave)
        assert proc.stderr is not None
        err = b""
        deadline = time.monotonic() + 30
        while b"): " not in err:  # the prompt ends "...accepts any): "
            assert proc.poll() is None and time.monotonic() < deadline, f"no password prompt: {err!r}"
            if select.select([proc.stderr], [], [], 0.1)[0]:
                err += os.read(proc.stderr.fileno(), 4096)
        os.write(master, answer)  # only now: turning echo off flushes what was typed before
        out, rest = proc.communicate(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, out.decode(), (err + rest).decode()


def test_prompt_says_what_it_asks_and_accepts_an_empty_password(tmp_path: Path, server_url: str) -> None:
    code, out, err = sync_at_a_terminal(server_url, tmp_path / "data", b"\n")
    assert code == 0, err
    prompt = err.splitlines()[0]
    assert f"password for alice at {server_url}" in prompt
    assert "Enter for none" in prompt and "demo server accepts any" in prompt
    assert "Aborted" not in err and err.count("password for") == 1  # asked once
    assert re.search(r"│ Product +│ +5 │ +0 │ +0 │ +0 │", out)  # the server took the empty password
    assert "password" not in out


def test_end_of_input_at_the_password_prompt_aborts(tmp_path: Path, server_url: str) -> None:
    code, out, err = sync_at_a_terminal(server_url, tmp_path / "data", b"\x04")  # Ctrl-D
    assert code == 1
    assert "Aborted!" in err
    assert "Traceback" not in err + out


def test_sync_one_source(tmp_path: Path, server_url: str) -> None:
    result = sync(server_url, tmp_path / "data", "--login", "alice", "--password", "x", "--source", "Customer")
    assert result.returncode == 0, result.stderr
    assert re.search(r"│ Customer +│ +3 │", result.stdout)
    assert "Product" not in result.stdout
    rows = status_rows(tmp_path / "data")
    assert rows["Customer"][5] == "3"
    assert (rows["Product"][3], rows["Product"][5]) == ("never", "0")


def test_sync_unknown_source_is_a_usage_error(synced: Path, server_url: str) -> None:
    result = sync(server_url, synced, "--source", "Nope")
    assert_user_error(result, 2, "unknown source 'Nope'", "Customer, Product")


def test_status_of_a_synced_folder(synced: Path) -> None:
    result = rhom("status", "--data", str(synced))
    assert result.returncode == 0, result.stderr
    assert re.search(r"client id: [0-9a-f]{32} +logged in: yes", result.stdout)
    for column in ("source", "partition", "sync", "last sync", "token", "objects", "pending", "awaiting", "errors"):
        assert column in result.stdout
    rows = status_rows(synced)
    assert set(rows) == {"Product", "Customer", "Note"}
    for name, objects in (("Product", "5"), ("Customer", "3")):
        source, partition, kind, last_sync, token, count, pending, awaiting, errors = rows[name]
        assert (partition, kind, count, pending, awaiting, errors) == ("user", "incremental", objects, "-", "-", "-")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", last_sync)
        assert token.isdigit()
    assert rows["Note"][1:4] == ["local", "none", "never"]


def test_status_and_outbox_show_pending_changes_by_kind(synced: Path) -> None:
    write(synced, """
        Product.create(name="Fairphone", brand="Fairphone", price=579.0, quantity=2)
        Product.find_first(conditions={"name": "iPhone"}).update_attributes(quantity=3)
        Product.find_first(conditions={"name": "Lumia"}).destroy()
        Note.create(text="local only")
    """)  # fmt: skip
    rows = status_rows(synced)
    assert rows["Product"][5] == "5"  # 5 - Lumia + Fairphone
    assert rows["Product"][6] == "1 create, 1 delete, 1 update"  # objects, not changelog rows
    assert rows["Customer"][6] == "-"
    assert (rows["Note"][5], rows["Note"][6]) == ("1", "-")  # local: counted, never pending

    result = rhom("outbox", "--data", str(synced))
    assert result.returncode == 0, result.stderr
    for column in ("source", "object", "change", "attribute", "value", "state"):
        assert column in result.stdout
    assert re.search(r"│ Product +│ +\d+ +│ create +│ object +│ +│ queued +│", result.stdout)
    assert re.search(r"│ Product +│ +\d+ +│ update +│ quantity +│ 3 +│ queued +│", result.stdout)
    assert re.search(r"│ Product +│ +\d+ +│ delete +│ name +│ Lumia +│ queued +│", result.stdout)
    assert "local only" not in result.stdout

    only = rhom("outbox", "--data", str(synced), "--source", "Customer")
    assert (only.returncode, only.stdout.strip()) == (0, "outbox is empty")


def test_outbox_of_a_synced_folder_is_empty(synced: Path) -> None:
    result = rhom("outbox", "--data", str(synced))
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "outbox is empty", "")


def test_outbox_prints_values_verbatim(synced: Path) -> None:
    """rich markup in data ([bold], [/]) is text, not a style or a MarkupError."""
    write(synced, 'Product.find_first(conditions={"name": "iPhone"}).update_attributes(brand="[/][bold]x")')
    result = rhom("outbox", "--data", str(synced))
    assert result.returncode == 0, result.stderr
    assert "[/][bold]x" in result.stdout


def test_refused_create_exits_1_and_status_shows_the_create_error(fresh: Path, server_url: str) -> None:
    synced = fresh
    write(synced, 'Product.create(name="Broken", brand="Acme", price=-1.0)')
    result = sync(server_url, synced)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"│ Product +│ .* create-error │", result.stdout)

    rows = status_rows(synced)
    assert rows["Product"][8] == "create-error (1)"
    assert "(failed)" not in rows["Product"][3]  # the sync ran; the backend refused one create
    assert (rows["Product"][6], rows["Product"][7]) == ("-", "1")  # the create awaits the server's word
    assert rows["Customer"][8] == "-"

    outbox = rhom("outbox", "--data", str(synced))
    assert re.search(r"│ Product +│ +\d+ +│ create +│ price +│ -1.0 +│ create-error │", outbox.stdout)


def test_full_reset_deletes_local_data_and_asks_the_server_for_a_reset(synced: Path) -> None:
    write(synced, 'Product.find_first(conditions={"name": "iPhone"}).update_attributes(quantity=1)')
    result = rhom("reset", "--data", str(synced), "--models", MODELS, "--yes")
    assert (result.returncode, result.stdout.strip()) == (0, "full reset done"), result.stderr
    rows = status_rows(synced)
    assert [rows[name][5:7] for name in ("Product", "Customer")] == [["0", "-"], ["0", "-"]]
    assert "reset requested" in rhom("status", "--data", str(synced)).stdout  # at the next sync


def test_reset_asks_first_and_keeps_the_data_when_refused(synced: Path) -> None:
    result = rhom("reset", "--data", str(synced), "--models", MODELS, input="n\n")
    assert result.returncode == 1
    assert "This deletes local data. Continue?" in result.stdout
    assert "Traceback" not in result.stderr
    assert status_rows(synced)["Product"][5] == "5"


def test_local_reset_keeps_synced_data(synced: Path) -> None:
    write(synced, 'Note.create(text="scratch")')
    result = rhom("reset", "--data", str(synced), "--models", MODELS, "--kind", "local", "--yes")
    assert (result.returncode, result.stdout.strip()) == (0, "local reset done"), result.stderr
    rows = status_rows(synced)
    assert (rows["Note"][5], rows["Product"][5]) == ("0", "5")


def test_a_sync_after_a_client_reset_shows_its_bulk_sync(synced: Path, server_url: str) -> None:
    reset = rhom("reset", "--data", str(synced), "--models", MODELS, "--kind", "client", "--yes")
    assert reset.returncode == 0, reset.stderr
    result = sync(server_url, synced)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"bulk user ✓ +━+ 1/1", out)
    assert re.search(r"sync summary \([\d.]+ s, bulk sync\)", out)
    assert re.search(r"┃ source +┃ bulk ┃ inserted ┃", out)
    assert re.search(r"│ Product +│ +5 │ +0 │ +0 │ +0 │ +0 │", out)  # 5 from the bulk file, none after
    assert re.search(r"│ Customer +│ +3 │ +0 │", out)
    assert status_rows(synced)["Product"][5] == "5"
