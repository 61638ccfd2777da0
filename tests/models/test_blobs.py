"""Blob attributes: files copied into ``<data_dir>/blobs``, deleted only after the commit that
replaced or deleted them (rhom-api §1.7, §11.6, §12 item 15)."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import rhom

from .helpers import log, mark_sent
from .models import ALL_MODELS


def blob_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "blobs").iterdir()}


def test_bytes_are_copied_into_the_blob_folder(product: Any, data_dir: Path) -> None:
    obj = product.create(name="x", photo=b"\x89PNG bytes")
    value = product.find(obj.object).photo
    assert isinstance(value, str) and "/" not in value
    assert obj.photo == value
    path = product.find(obj.object).blob_path("photo")
    assert path == (data_dir / "blobs" / value).resolve()
    assert path.read_bytes() == b"\x89PNG bytes"
    assert blob_files(data_dir) == {value}


@pytest.mark.parametrize("kind", ["str", "path", "file-object"])
def test_a_file_outside_is_copied_and_left_in_place(product: Any, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "picture.jpg"
    source.write_bytes(b"jpeg data")
    given: Any = {"str": str(source), "path": source, "file-object": io.BytesIO(b"jpeg data")}[kind]
    obj = product.create(name="x", photo=given)
    stored = product.find(obj.object)
    assert stored.blob_path("photo").read_bytes() == b"jpeg data"
    assert stored.blob_path("photo").parent == (tmp_path / "data" / "blobs").resolve()
    assert source.read_bytes() == b"jpeg data"
    if kind != "file-object":
        assert stored.photo.endswith(".jpg")


def test_blobs_store_returns_a_value_to_assign(product: Any) -> None:
    value = rhom.blobs.store(b"data", extension=".txt")
    obj = product.create(name="x", photo=value)
    assert product.find(obj.object).photo == value
    assert product.find(obj.object).blob_path("photo").read_bytes() == b"data"


def test_an_empty_blob_has_no_path(product: Any) -> None:
    obj = product.create(name="x")
    assert obj.blob_path("photo") is None
    with pytest.raises(rhom.ValidationError):
        obj.blob_path("name")


def test_replacing_a_blob_deletes_the_old_file_after_commit(product: Any, data_dir: Path) -> None:
    obj = product.create(name="x", photo=b"old")
    old = obj.blob_path("photo")
    db = product._rhom.database
    with db.atomic():
        obj.update_attributes(photo=b"new")
        assert old.exists()  # not before the commit
    assert not old.exists()
    stored = product.find(obj.object)
    assert stored.blob_path("photo").read_bytes() == b"new"
    assert blob_files(data_dir) == {stored.photo}


def test_save_with_a_new_blob_deletes_the_old_file(product: Any) -> None:
    obj = product.create(name="x", photo=b"old")
    old = obj.blob_path("photo")
    obj.photo = b"new"
    obj.save()
    assert not old.exists()
    assert product.find(obj.object).blob_path("photo").read_bytes() == b"new"


def test_clearing_a_blob_deletes_its_file(product: Any, data_dir: Path) -> None:
    obj = product.create(name="x", photo=b"old")
    obj.update_attributes(photo=None)
    assert blob_files(data_dir) == set()
    assert product.find(obj.object).photo is None


def test_destroy_deletes_the_file(product: Any, data_dir: Path) -> None:
    obj = product.create(name="x", photo=b"data")
    keep = product.create(name="y", photo=b"other")
    obj.destroy()
    assert blob_files(data_dir) == {keep.photo}


def test_delete_all_deletes_the_files_of_deleted_objects_only(product: Any, data_dir: Path) -> None:
    product.create(name="x", photo=b"1")
    product.create(name="x", photo=b"2")
    keep = product.create(name="y", photo=b"3")
    assert product.delete_all(conditions={"name": "x"}) == 2
    assert blob_files(data_dir) == {keep.photo}


def test_peewee_writes_delete_replaced_and_deleted_files(fixed_product: Any, data_dir: Path) -> None:
    a = fixed_product.create(object="a", name="x", photo=b"1")
    b = fixed_product.create(object="b", name="y", photo=b"2")
    c = fixed_product.create(object="c", name="z", photo=b"3")
    new = rhom.blobs.store(b"new")
    fixed_product.update(photo=new).where(fixed_product.object == "a").execute()
    fixed_product.delete().where(fixed_product.object == "b").execute()
    fixed_product.replace(object="c", name="z").execute()
    assert blob_files(data_dir) == {new}
    assert {a.photo, b.photo, c.photo}.isdisjoint(blob_files(data_dir))


def test_peewee_writes_in_a_transaction_delete_files_after_commit(fixed_product: Any) -> None:
    obj = fixed_product.create(object="a", name="x", photo=b"1")
    path = obj.blob_path("photo")
    with fixed_product._rhom.database.atomic():
        fixed_product.delete().execute()
        assert path.exists()
    assert not path.exists()


def test_a_rolled_back_replace_keeps_the_old_file(product: Any) -> None:
    obj = product.create(name="x", photo=b"old")
    old_value, old = obj.photo, obj.blob_path("photo")
    db = product._rhom.database
    with pytest.raises(RuntimeError), db.atomic():
        obj.update_attributes(photo=b"new")
        raise RuntimeError("boom")
    assert old.read_bytes() == b"old"
    assert product.find(obj.object).photo == old_value
    product.find(obj.object).update_attributes(name="later commit")  # a later commit sweeps nothing of it
    assert old.read_bytes() == b"old"


def test_a_rolled_back_destroy_keeps_the_file(product: Any) -> None:
    obj = product.create(name="x", photo=b"old")
    path = obj.blob_path("photo")
    db = product._rhom.database
    with pytest.raises(RuntimeError), db.atomic():
        obj.destroy()
        raise RuntimeError("boom")
    product.create(name="other")  # a later commit on the same database
    assert path.read_bytes() == b"old"
    assert product.find(obj.object).blob_path("photo") == path


def test_a_file_still_used_by_another_object_is_kept(product: Any) -> None:
    a = product.create(name="a", photo=b"shared")
    b = product.create(name="b", photo=a.photo)
    assert b.photo == a.photo
    a.destroy()
    assert product.find(b.object).blob_path("photo").read_bytes() == b"shared"


def test_a_missing_source_file_raises_blob_error_and_writes_nothing(product: Any, tmp_path: Path) -> None:
    with pytest.raises(rhom.BlobError, match="no such file"):
        product.create(name="x", photo=tmp_path / "missing.png")
    assert product.count() == 0
    assert log(product) == []


def test_a_value_that_is_not_a_file_raises_blob_error(product: Any) -> None:
    with pytest.raises(rhom.BlobError):
        product.create(name="x", photo=42)
    assert product.count() == 0


def test_a_url_is_stored_as_is(product: Any) -> None:
    obj = product.create(name="x", photo="http://example.com/a.png")
    assert product.find(obj.object).photo == "http://example.com/a.png"
    obj.destroy()  # never treated as a local file


def test_a_value_outside_the_blob_folder_has_no_blob_path(bag_product: Any) -> None:
    db = bag_product._rhom.database
    with rhom.no_changelog(db):
        db.execute_sql(
            "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?, 'photo', 'evil', ?)",
            (bag_product.get_source_id(), "../user.sqlite"),
        )
    with pytest.raises(rhom.BlobError):
        bag_product.find("evil").blob_path("photo")
    bag_product.find("evil").destroy()
    assert (Path(db.path)).exists()  # the sweep never deletes outside the blob folder


def test_blob_changes_are_tagged_blob_file_in_the_changelog(sync_product: Any) -> None:
    obj = sync_product.create(name="x", photo=b"old")
    mark_sent(sync_product)
    obj.update_attributes(photo=b"new", name="y")
    rows = {e.attrib: e for e in log(sync_product, obj)}
    assert rows["photo"].attrib_type == "blob.file"
    assert rows["photo"].value == obj.photo
    assert rows["name"].attrib_type is None
    mark_sent(sync_product)
    obj.destroy()
    deletes = {e.attrib: e.attrib_type for e in log(sync_product, obj)}
    if sync_product._rhom.fixed_schema:  # every column is queued, NULL ones too
        assert deletes == {name: "blob.file" if name == "photo" else None for name in sync_product._rhom.fields}
    else:
        assert deletes == {"name": None, "photo": "blob.file"}


def test_a_file_left_by_an_interrupted_delete_is_removed_at_the_next_setup(product: Any, data_dir: Path) -> None:
    """Another connection (or a crash after the commit) deleted the record but never swept."""
    obj = product.create(name="x", photo=b"data")
    path = obj.blob_path("photo")
    db_path = product._rhom.database.path
    rhom.shutdown()
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        if product._rhom.fixed_schema:
            conn.execute(f'DELETE FROM "{product._meta.table_name}"')
        else:
            conn.execute("DELETE FROM object_values")
        conn.commit()
    assert path.exists()
    rhom.setup(data_dir, models=ALL_MODELS)
    assert not path.exists()


def test_assigning_the_same_stored_value_keeps_the_file(product: Any) -> None:
    obj = product.create(name="x", photo=b"data")
    value, path = obj.photo, obj.blob_path("photo")
    obj.update_attributes(photo=obj.photo, name="y")
    obj.update_attributes(photo=str(path))  # the absolute path of its own file
    obj.update_attributes(photo=path)
    stored = product.find(obj.object)
    assert stored.photo == value  # still relative to the blob folder
    assert path.read_bytes() == b"data"


def test_a_rolled_back_savepoint_keeps_the_file_when_the_outer_transaction_commits(product: Any) -> None:
    obj = product.create(name="x", photo=b"old")
    path = obj.blob_path("photo")
    db = product._rhom.database
    with db.atomic():
        product.create(name="committed")
        with pytest.raises(RuntimeError), db.atomic():
            product.find(obj.object).update_attributes(photo=b"new")
            raise RuntimeError("inner failure")
    assert product.count() == 2
    assert product.find(obj.object).blob_path("photo") == path
    assert path.read_bytes() == b"old"


def test_server_writes_inside_no_changelog_also_delete_replaced_files(sync_product: Any) -> None:
    obj = sync_product.create(name="x", photo=b"old")
    mark_sent(sync_product)
    old = obj.blob_path("photo")
    with rhom.no_changelog(sync_product._rhom.database):
        obj.update_attributes(photo=b"from the server")
        assert old.exists()
    assert not old.exists()
    assert log(sync_product) == []


def test_a_blob_over_the_setup_limit_is_refused_and_nothing_is_written(product: Any, data_dir: Path) -> None:
    rhom.setup(data_dir, models=ALL_MODELS, max_blob_size=1000)
    with pytest.raises(rhom.ValidationError, match=rf"{product.__name__}.photo: a file of 1001 bytes is over"):
        product.create(name="big", photo=b"x" * 1001)
    assert product.count() == 0 and blob_files(data_dir) == set() and log(product) == []
    ok = product.create(name="small", photo=b"x" * 1000)
    with pytest.raises(rhom.ValidationError):
        ok.update_attributes(photo=io.BytesIO(b"y" * 5000))
    assert product.find(ok.object).blob_path("photo").read_bytes() == b"x" * 1000, "the old file stays"


def test_a_field_limit_overrides_the_setup(tmp_path: Path) -> None:
    class Scan(rhom.PropertyBagModel, sync=True):
        page = rhom.BlobField(max_size=10)

    rhom.setup(tmp_path / "scans", models=[Scan], max_blob_size=10_000)
    try:
        with pytest.raises(rhom.ValidationError, match="Scan.page: a file of 11 bytes"):
            Scan.create(page=b"0123456789X")
        assert Scan.create(page=b"0123456789").blob_path("page").read_bytes() == b"0123456789"
    finally:
        rhom.shutdown()


@pytest.mark.parametrize("bad", [-1, "10", True])
def test_bad_limits_are_configuration_errors(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(rhom.ConfigurationError, match="max_blob_size"):
        rhom.setup(tmp_path / "x", models=[], max_blob_size=bad)
    with pytest.raises(rhom.ValidationError, match="max_size"):
        rhom.BlobField(max_size=bad)
