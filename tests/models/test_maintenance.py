"""Database-wide calls: resets, export and import (rhom-api §3, §12 item 15)."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom.maintenance import get_config

from .helpers import kinds, log
from .models import (
    PRODUCTS,
    AppCatalog,
    BagLocalProduct,
    BagSyncProduct,
    FixedLocalProduct,
    FixedSyncProduct,
)


def client_info() -> dict[str, Any]:
    rows = rhom.get_database("user").execute_sql("SELECT * FROM client_info")
    assert len(rows) <= 1
    return rows[0] if rows else {}


@pytest.fixture
def filled(rhom_setup: Path) -> dict[str, Any]:
    """Logged-in state with data in every partition, queued changes and blob files."""
    rhom.get_database("user").insert_into_table(
        "client_info", {"client_id": "c-1", "session": "rho_session=abc", "token": "pin", "token_sent": 1}
    )
    rhom.maintenance.set_config("bulksync_state", "1")
    objs = {m.__name__: m.create(name=f"{m.__name__} item", photo=b"bytes of " + m.__name__.encode()) for m in PRODUCTS}
    objs["AppCatalog"] = AppCatalog.create(title="shared")
    for db in ("user", "app"):
        rhom.get_database(db).execute_sql("UPDATE sources SET token = 12345")
    return objs


def counts() -> dict[str, int]:
    return {m.__name__: m.count() for m in (*PRODUCTS, AppCatalog)}


def source_ids() -> dict[str, int]:
    return {m.__name__: m.get_source_id() for m in (*PRODUCTS, AppCatalog)}


def blob_count(data_dir: Path) -> int:
    return len(list((data_dir / "blobs").iterdir()))


def test_filled_state_is_what_the_resets_start_from(filled: dict[str, Any], data_dir: Path) -> None:
    assert rhom.client_id() == "c-1"
    assert set(counts().values()) == {1}
    assert rhom.have_local_changes() is True
    assert blob_count(data_dir) == 4


# -- client reset ---------------------------------------------------------------------------


def test_client_reset_forgets_client_id_and_data_but_keeps_the_session(filled: dict[str, Any], data_dir: Path) -> None:
    ids = source_ids()
    rhom.database_client_reset()
    info = client_info()
    assert (info["client_id"], info["token"], info["token_sent"]) == (None, None, 0)
    assert info["session"] == "rho_session=abc"
    assert rhom.client_id() is None
    assert get_config("bulksync_state") == "0"
    assert set(counts().values()) == {0}
    assert rhom.any_model_changed() is False
    assert blob_count(data_dir) == 0
    assert source_ids() == ids
    for partition in ("user", "app", "local"):
        tokens = {r["token"] for r in rhom.get_database(partition).execute_sql("SELECT token FROM sources")}
        assert tokens == {0}


def test_client_reset_can_keep_local_models(filled: dict[str, Any], data_dir: Path) -> None:
    rhom.database_client_reset(reset_local_models=False)
    assert counts() == {
        "FixedSyncProduct": 0,
        "FixedLocalProduct": 1,
        "BagSyncProduct": 0,
        "BagLocalProduct": 1,
        "AppCatalog": 0,
    }
    assert blob_count(data_dir) == 2
    assert filled["FixedLocalProduct"].blob_path("photo").exists()


@pytest.mark.parametrize(
    "reset",
    [rhom.database_client_reset, rhom.database_full_reset, rhom.database_local_reset],
    ids=["client", "full", "local"],
)
def test_models_keep_working_after_a_reset(filled: dict[str, Any], reset: Any) -> None:
    reset()
    for model in PRODUCTS:
        obj = model.create(name="after reset", photo=b"new")
        assert model.find(obj.object).name == "after reset"
        assert obj.blob_path("photo").read_bytes() == b"new"
        if model._rhom.is_sync:
            assert ("create", "object") in kinds(model, obj)


# -- full reset -----------------------------------------------------------------------------


def test_full_reset_asks_the_server_to_reset_and_deletes_all_data(filled: dict[str, Any], data_dir: Path) -> None:
    ids = source_ids()
    rhom.database_full_reset()
    info = client_info()
    assert info["reset"] == 1
    assert (info["client_id"], info["session"]) == ("c-1", "rho_session=abc")  # kept
    assert get_config("bulksync_state") == "0"
    assert set(counts().values()) == {0}
    assert rhom.any_model_changed() is False
    assert blob_count(data_dir) == 0
    assert source_ids() == ids


def test_full_reset_with_reset_client_info_forgets_the_client(filled: dict[str, Any]) -> None:
    rhom.database_full_reset(reset_client_info=True)
    assert rhom.client_id() is None
    assert client_info().get("session") is None
    assert set(counts().values()) == {0}


def test_full_reset_can_keep_local_models(filled: dict[str, Any]) -> None:
    rhom.database_full_reset(reset_local_models=False)
    assert FixedLocalProduct.count() == BagLocalProduct.count() == 1
    assert FixedSyncProduct.count() == BagSyncProduct.count() == AppCatalog.count() == 0


def test_full_reset_and_logout_drops_the_session(filled: dict[str, Any]) -> None:
    rhom.database_full_reset_and_logout()
    assert client_info()["session"] is None
    assert rhom.client_id() == "c-1"
    assert set(counts().values()) == {0}


def test_fullclient_reset_and_logout_forgets_client_and_session(filled: dict[str, Any]) -> None:
    rhom.database_fullclient_reset_and_logout()
    assert rhom.client_id() is None
    # the reset empties client_info, and logout updates it without creating a row
    # (CSyncEngine::logout_int, commit eca0561): no client, no session
    assert client_info() == {}


@pytest.mark.parametrize("by", ["class", "name"])
def test_full_reset_of_some_models_deletes_only_their_data(filled: dict[str, Any], data_dir: Path, by: str) -> None:
    chosen = [FixedSyncProduct, BagLocalProduct]
    rhom.database_full_reset(models=chosen if by == "class" else [m.__name__ for m in chosen])
    assert counts() == {
        "FixedSyncProduct": 0,
        "FixedLocalProduct": 1,
        "BagSyncProduct": 1,
        "BagLocalProduct": 0,
        "AppCatalog": 1,
    }
    assert log(FixedSyncProduct) == []
    assert kinds(BagSyncProduct) == [("create", "object")]  # other models keep their changes
    assert client_info()["reset"] == 1
    assert get_config("reset_models") == "FixedSyncProduct"  # synced models only
    assert not filled["FixedSyncProduct"].blob_path("photo").exists()
    assert filled["BagSyncProduct"].blob_path("photo").exists()
    tokens = dict(
        (r["name"], r["token"]) for r in rhom.get_database("user").execute_sql("SELECT name, token FROM sources")
    )
    assert (tokens["FixedSyncProduct"], tokens["BagSyncProduct"]) == (0, 12345)


def test_a_full_reset_after_a_reset_of_some_models_resets_them_all(filled: dict[str, Any]) -> None:
    """A full reset deletes every model's data, so the server must be asked to reset every
    source, not only the ones a reset of some models named before the next sync."""
    rhom.database_full_reset(models=[FixedSyncProduct])
    assert get_config("reset_models") == "FixedSyncProduct"
    rhom.database_full_reset()
    assert get_config("reset_models") is None, "the next sync resets all sources on the server"
    assert client_info()["reset"] == 1
    assert set(counts().values()) == {0}


def test_full_reset_of_models_can_keep_local_ones(filled: dict[str, Any]) -> None:
    rhom.database_full_reset(models=[BagLocalProduct, BagSyncProduct], reset_local_models=False)
    assert (BagLocalProduct.count(), BagSyncProduct.count()) == (1, 0)


def test_full_reset_of_models_refuses_reset_client_info(filled: dict[str, Any]) -> None:
    with pytest.raises(rhom.ValidationError):
        rhom.database_full_reset(models=[FixedSyncProduct], reset_client_info=True)
    assert set(counts().values()) == {1}
    assert rhom.client_id() == "c-1"


def test_full_reset_of_an_unknown_model_raises(filled: dict[str, Any]) -> None:
    with pytest.raises(rhom.ConfigurationError, match="Nope"):
        rhom.database_full_reset(models=["Nope"])
    assert set(counts().values()) == {1}


# -- local reset ----------------------------------------------------------------------------


def test_local_reset_deletes_only_local_model_data(filled: dict[str, Any], data_dir: Path) -> None:
    rhom.database_local_reset()
    assert counts() == {
        "FixedSyncProduct": 1,
        "FixedLocalProduct": 0,
        "BagSyncProduct": 1,
        "BagLocalProduct": 0,
        "AppCatalog": 1,
    }
    assert rhom.client_id() == "c-1"
    assert client_info()["reset"] in (0, None)
    assert rhom.have_local_changes() is True
    assert blob_count(data_dir) == 2
    assert get_config("bulksync_state") == "1"


# -- export and import ----------------------------------------------------------------------


def test_export_writes_a_zip_of_the_database_and_its_blobs(filled: dict[str, Any]) -> None:
    path = rhom.database_export("user")
    assert path.is_file() and path.stat().st_size > 0
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert "user.sqlite" in names
        photo = filled["FixedSyncProduct"].photo
        assert zf.read(f"blobs/{photo}") == b"bytes of FixedSyncProduct"
        assert f"blobs/{filled['BagSyncProduct'].photo}" in names
        assert f"blobs/{filled['FixedLocalProduct'].photo}" not in names  # another partition


def test_import_after_a_full_reset_restores_data_changes_and_blobs(product: Any, data_dir: Path) -> None:
    partition = product._rhom.partition
    obj = product.create(name="exported", price=4.5, photo=b"picture")
    before = kinds(product)
    zip_path = rhom.database_export(partition)
    rhom.database_full_reset()
    assert product.find(obj.object) is None
    assert not (data_dir / "blobs" / obj.photo).exists()
    assert rhom.database_import(partition, zip_path) is True
    stored = product.find(obj.object)
    assert (stored.name, stored.price) == ("exported", 4.5)
    assert stored.blob_path("photo").read_bytes() == b"picture"
    assert kinds(product) == before
    stored.update_attributes(name="edited after import")  # triggers rebuilt
    assert product.find(obj.object).name == "edited after import"


def test_import_survives_a_restart(product: Any, data_dir: Path) -> None:
    partition = product._rhom.partition
    obj = product.create(name="exported")
    zip_path = rhom.database_export(partition)
    rhom.database_full_reset()
    rhom.database_import(partition, zip_path)
    rhom.shutdown()
    rhom.setup(data_dir, models=[*PRODUCTS])
    assert product.find(obj.object).name == "exported"


def _bad_zip(tmp_path: Path, kind: str, good: Path) -> Path:
    path = tmp_path / f"{kind}.zip"
    if kind == "not-a-zip":
        path.write_bytes(b"PK\x03\x04 this is not really a zip file")
        return path
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return path
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as zf:
        database = src.read("user.sqlite")
        if kind == "traversal":
            zf.writestr("user.sqlite", database)
            zf.writestr("blobs/../../evil.txt", b"evil")
        elif kind == "absolute":
            zf.writestr("user.sqlite", database)
            zf.writestr("/tmp/evil.txt", b"evil")
        elif kind == "nested":
            zf.writestr("user.sqlite", database)
            zf.writestr("blobs/sub/evil.txt", b"evil")
        elif kind == "no-database":
            zf.writestr("blobs/a.bin", b"x")
        elif kind == "garbage-database":
            zf.writestr("user.sqlite", b"SQLite format 3\x00" + b"\xff" * 5000)
        elif kind == "foreign-database":
            other = tmp_path / "foreign.sqlite"
            with sqlite3.connect(other) as conn:
                conn.execute("CREATE TABLE t (x)")
            zf.write(other, "user.sqlite")
    return path


BAD_ZIPS = [
    "not-a-zip",
    "truncated",
    "traversal",
    "absolute",
    "nested",
    "no-database",
    "garbage-database",
    "foreign-database",
]


@pytest.mark.parametrize("kind", BAD_ZIPS)
def test_importing_a_bad_archive_raises_and_keeps_the_original(
    filled: dict[str, Any], tmp_path: Path, data_dir: Path, kind: str
) -> None:
    good = rhom.database_export("user")
    bad = _bad_zip(tmp_path, kind, good)
    FixedSyncProduct.create(object="after-export", name="not in the archive")
    before = (counts(), kinds(FixedSyncProduct), sorted(p.name for p in (data_dir / "blobs").iterdir()))
    with pytest.raises(rhom.DatabaseImportError):
        rhom.database_import("user", bad)
    after = (counts(), kinds(FixedSyncProduct), sorted(p.name for p in (data_dir / "blobs").iterdir()))
    assert after == before
    assert FixedSyncProduct.find("after-export").name == "not in the archive"
    assert not (tmp_path / "evil.txt").exists()
    assert not (data_dir / "evil.txt").exists()
    assert not Path("/tmp/evil.txt").exists()
    FixedSyncProduct.create(name="still writable")
    assert FixedSyncProduct.count() == 3


def test_importing_a_missing_file_raises(filled: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(rhom.DatabaseImportError):
        rhom.database_import("user", tmp_path / "missing.zip")
    assert FixedSyncProduct.count() == 1


@pytest.mark.parametrize(
    ("reset", "stops_sync"),
    [
        (rhom.database_client_reset, True),
        (rhom.database_full_reset, True),
        (lambda: rhom.database_full_reset(models=[FixedSyncProduct]), True),
        (rhom.database_local_reset, False),
    ],
    ids=["client", "full", "full-models", "local"],
)
def test_client_and_full_resets_stop_syncing_first(filled: dict[str, Any], reset: Any, stops_sync: bool) -> None:
    """The sync client registers "stop syncing" in ``before_reset``; it runs before any data goes."""
    seen: list[int] = []

    def stop_sync() -> None:
        seen.append(FixedSyncProduct.count())

    rhom.maintenance.before_reset.append(stop_sync)
    try:
        reset()
    finally:
        rhom.maintenance.before_reset.remove(stop_sync)
    assert seen == ([1] if stops_sync else [])


def test_import_into_a_device_whose_source_ids_differ(tmp_path: Path) -> None:
    """Source ids depend on the order models were first registered; an archive from another
    device brings its own ids, and the models follow them."""
    device_a, device_b = tmp_path / "a", tmp_path / "b"
    rhom.setup(device_a, models=[FixedSyncProduct])
    rhom.setup(device_a, models=[FixedSyncProduct, BagSyncProduct])
    ids_a = (FixedSyncProduct.get_source_id(), BagSyncProduct.get_source_id())
    fixed = FixedSyncProduct.create(name="fixed from a")
    bag = BagSyncProduct.create(name="bag from a", photo=b"a photo")
    archive = rhom.database_export("user")
    rhom.setup(device_b, models=[BagSyncProduct, FixedSyncProduct])
    try:
        assert (FixedSyncProduct.get_source_id(), BagSyncProduct.get_source_id()) != ids_a
        BagSyncProduct.create(name="bag from b")
        rhom.database_import("user", archive)
        assert (FixedSyncProduct.get_source_id(), BagSyncProduct.get_source_id()) == ids_a
        assert [o.name for o in BagSyncProduct.find_all()] == ["bag from a"]
        assert BagSyncProduct.find(bag.object).blob_path("photo").read_bytes() == b"a photo"
        assert FixedSyncProduct.find(fixed.object).name == "fixed from a"
        assert kinds(BagSyncProduct) == [("create", "object")]
        BagSyncProduct.find(bag.object).update_attributes(name="edited on b")  # triggers follow the ids
        assert kinds(BagSyncProduct) == [("create", "object")]
        assert BagSyncProduct.find(bag.object).name == "edited on b"
    finally:
        rhom.shutdown()
