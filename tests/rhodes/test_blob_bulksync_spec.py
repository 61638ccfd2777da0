"""rhoconnect-client ``spec/rhoconnect_spec/app/spec/blob_bulksync_spec.rb``, ported to rhom.

Run once, on both BlobBulkTest (property bag) and BlobBulkTest_s (fixed schema), both
``property :image_uri, :blob, :overwrite``. The server side is
``spec/server/sources/blob_bulk_test.rb``: one image bucket behind both names, whose
objects are named after the uploaded file (see ``ImageSource``), which is how
``checkBlob`` finds them. The blocks share the sizes and contents of the two pictures
through the spec's local variables (here ``pictures``). The spec's block between ``#``
comment lines ("should export database after blob bulk sync") is not run there and is not
ported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import rhom
from rhom import blobs

from .conftest import ERR_NONE, SpecApp, copy_file, spec_app

#: the spec app's pictures, one per model folder
PICTURES = {
    ("BlobBulkTest", "blob_bulk_test.png"): b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 9,
    ("BlobBulkTest_s", "blob_bulk_test_s.png"): b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 7,
}


def sync_notify(notification: object) -> None:
    """ "/app/Settings/sync_notify"."""


class TestBlobBulkSync:
    """``describe "BlobBulkSync_test"``."""

    #: the spec's ``propBagSize``, ``propBagContent``, ``fixedSchemaSize``, ``fixedSchemaContent``
    pictures: dict[str, tuple[int, bytes]]

    @pytest.fixture(scope="class")
    @classmethod
    def app(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpecApp]:
        """``before(:all)``."""
        cls.pictures = {}
        root = tmp_path_factory.mktemp("blob_bulksync")
        with spec_app(root) as app:
            for (folder, name), data in PICTURES.items():  # Rho::RhoApplication::get_model_path('app', ...)
                (root / "app" / folder).mkdir(parents=True)
                (root / "app" / folder / name).write_bytes(data)
            yield app

    @pytest.fixture(autouse=True)
    def before_each(self, app: SpecApp) -> None:
        """``before(:each)``."""
        rhom.database_full_reset_and_logout()
        res = app.client.login("login_name", "")
        assert res.error_code == ERR_NONE

        assert app.client.is_logged_in() is True
        app.client.bulksync_state = 1

    def create_blob(self, app: SpecApp, model: Any, folder: str, filename: str) -> tuple[int, bytes]:
        """``createBlob``."""
        file_name = app.root / "app" / folder / filename
        copy_file(file_name, blobs.blob_dir())
        file_name = blobs.blob_dir() / filename
        assert file_name.exists() is True
        file_size = file_name.stat().st_size
        file_content = file_name.read_bytes()

        item = model()
        item.name = "BlobTestItem"
        item.image_uri = str(file_name)
        item.save()

        assert file_name.exists() is True

        res = model.sync(sync_notify)
        assert res.status == "ok"
        assert res.error_code == ERR_NONE

        if file_name.exists():
            file_name.unlink()
        assert file_name.exists() is False

        return file_size, file_content

    def test_should_create_property_bag_blob(self, app: SpecApp) -> None:
        """it "should create property bag blob" """
        self.pictures["prop_bag"] = self.create_blob(app, app.models.BlobBulkTest, "BlobBulkTest",
                                                     "blob_bulk_test.png")  # fmt: skip

    def test_should_create_fixed_schema_blob(self, app: SpecApp) -> None:
        """it "should create fixed schema blob" """
        self.pictures["fixed_schema"] = self.create_blob(app, app.models.BlobBulkTest_s, "BlobBulkTest_s",
                                                         "blob_bulk_test_s.png")  # fmt: skip

    @staticmethod
    def check_blob(model: Any, size: int, content: bytes, old_filename: str) -> None:
        """``checkBlob``."""
        items = model.find("all", conditions={"name": old_filename})
        assert items is not None
        assert len(items) == 1

        assert items[0].image_uri != old_filename
        new_file_name = blobs.path(items[0].image_uri)
        assert new_file_name.exists() is True
        assert new_file_name.stat().st_size == size
        content_new = new_file_name.read_bytes()
        assert content_new == content

    def test_should_bulk_sync_blobs(self, app: SpecApp) -> None:
        """it "should bulk sync blobs" """
        app.client.bulksync_state = 0
        res = app.client.do_sync()

        assert res.status == "complete"
        assert res.error_code == ERR_NONE

        self.check_blob(app.models.BlobBulkTest, *self.pictures["prop_bag"], "blob_bulk_test.png")
        self.check_blob(app.models.BlobBulkTest_s, *self.pictures["fixed_schema"], "blob_bulk_test_s.png")

    def test_should_create_objects_after_bulk_sync(self, app: SpecApp) -> None:
        """it "should create objects after bulk sync" """
        prop_bag_item = app.models.BlobBulkTest()
        prop_bag_item.name = "test"
        assert prop_bag_item is not None

        schema_item = app.models.BlobBulkTest_s()
        schema_item.name = "test"
        assert schema_item is not None
