"""A data folder whose database file is damaged: one error line from every command, and
``reset`` and ``import`` make the folder usable again (the damaged file is kept aside)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import MODELS, assert_user_error, rhom
from .test_sync import status_rows, sync


def damage(data: Path, partition: str = "user") -> None:
    """Overwrite the first 16 bytes (SQLite's header): "file is not a database"."""
    path = data / f"{partition}.sqlite"
    raw = bytearray(path.read_bytes())
    raw[:16] = b"\x00" * 16
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["outbox"],
        ["errors"],
        ["export"],
        ["sync", "--server", "http://127.0.0.1:9", "--models", MODELS],
        ["reset", "--models", MODELS, "--kind", "local", "--yes"],
        ["reset", "--models", MODELS, "--source", "Product", "--yes"],
        ["import", "ARCHIVE", "--models", MODELS, "--partition", "app"],
    ],
    ids=["status", "outbox", "errors", "export", "sync", "reset-local", "reset-source", "import-app"],
)
def test_a_damaged_database_is_one_line(synced: Path, tmp_path: Path, command: list[str]) -> None:
    archive = tmp_path / "app.zip"
    assert rhom("export", "--data", str(synced), "--partition", "app", "--out", str(archive)).returncode == 0
    damage(synced)
    command = [str(archive) if part == "ARCHIVE" else part for part in command]
    result = rhom(*command, "--data", str(synced))
    assert_user_error(result, 2, f"{synced / 'user'}.sqlite is damaged (file is not a database)")
    assert "rhom import" in result.stderr and "rhom reset --yes" in result.stderr
    assert not (synced / "user.sqlite.damaged").exists()  # nothing was moved


def test_reset_starts_a_damaged_folder_afresh(synced: Path, server_url: str) -> None:
    damage(synced)
    result = rhom("reset", "--data", str(synced), "--models", MODELS, "--yes")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{synced / 'user'}.sqlite was damaged (file is not a database): moved to user.sqlite.damaged" in (
        " ".join(result.stderr.split())
    )
    assert result.stdout.strip() == "full reset done"
    assert (synced / "user.sqlite.damaged").is_file()
    assert status_rows(synced)["Product"][5] == "0"
    again = sync(server_url, synced, "--login", "alice", "--password", "x")  # the session went with the file
    assert again.returncode == 0, again.stderr
    assert status_rows(synced)["Product"][5] == "5"


def test_import_replaces_a_damaged_partition(synced: Path, tmp_path: Path) -> None:
    archive = tmp_path / "user.zip"
    assert rhom("export", "--data", str(synced), "--out", str(archive)).returncode == 0
    damage(synced)
    result = rhom("import", str(archive), "--data", str(synced), "--models", MODELS)
    assert result.returncode == 0, result.stderr
    assert "moved to user.sqlite.damaged" in result.stderr
    assert result.stdout.strip() == f"imported {archive} into user"
    rows = status_rows(synced)
    assert (rows["Product"][5], rows["Customer"][5]) == ("5", "3")
    assert "logged in: yes" in rhom("status", "--data", str(synced)).stdout
