"""``rhom export`` and ``rhom import``: a partition out to a zip and back."""

from __future__ import annotations

import zipfile
from pathlib import Path

from .conftest import MODELS, rhom, write
from .test_sync import status_rows


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


def test_round_trip_into_a_new_folder(synced: Path, tmp_path: Path) -> None:
    write(synced, """
        Product.find_first(conditions={"name": "iPhone"}).update_attributes(quantity=3)
        Product.create(name="Fairphone", brand="Fairphone", price=579.0, quantity=2)
    """)  # fmt: skip
    archive = tmp_path / "backup" / "user.zip"
    archive.parent.mkdir()
    result = rhom("export", "--data", str(synced), "--out", str(archive))
    assert (result.returncode, result.stdout.strip()) == (0, f"exported user to {archive}"), result.stderr
    assert "user.sqlite" in names(archive)
    assert not (synced / "user-export.zip").exists()  # moved, not copied

    copy = tmp_path / "restored"
    result = rhom("import", str(archive), "--data", str(copy), "--models", MODELS)
    assert (result.returncode, result.stdout.strip()) == (0, f"imported {archive} into user"), result.stderr

    assert status_rows(copy) == status_rows(synced)
    assert rhom("outbox", "--data", str(copy)).stdout == rhom("outbox", "--data", str(synced)).stdout
    assert "1 create, 1 update" in status_rows(copy)["Product"][6]


def test_import_replaces_the_partition(synced: Path, tmp_path: Path) -> None:
    archive = tmp_path / "user.zip"
    assert rhom("export", "--data", str(synced), "--out", str(archive)).returncode == 0
    write(synced, 'Product.find_first(conditions={"name": "iPhone"}).destroy()')
    assert status_rows(synced)["Product"][5] == "4"

    result = rhom("import", str(archive), "--data", str(synced), "--models", MODELS)
    assert result.returncode == 0, result.stderr
    assert status_rows(synced)["Product"][5:7] == ["5", "-"]  # the delete is gone with the rest


def test_export_without_out_writes_into_the_data_folder(synced: Path) -> None:
    result = rhom("export", "--data", str(synced), "--partition", "local")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exported local to {synced / 'local-export.zip'}"
    assert "local.sqlite" in names(synced / "local-export.zip")
