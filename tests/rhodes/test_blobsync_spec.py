"""rhoconnect-client ``spec/rhoconnect_spec/app/spec/blobsync_spec.rb``, ported to rhom.

Run twice, as the spec runner runs it: ``:schema_model => true`` (BlobTest_s) and then
``false`` (BlobTest), both ``property :image_uri, :blob, :overwrite``. The server side is
``spec/server/sources/blob_test.rb`` (an image bucket, see ``ImageSource``). The app's two
pictures (``app/BlobTest/test.png``, ``test2.png``) are written by the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rhom
from rhom import blobs

from .conftest import ERR_NONE, SpecApp, copy_file, spec_app

#: the spec app's pictures: two different files of a few kilobytes
PICTURES = {
    "test.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 12,
    "test2.png": b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 20,
}


def sync_notify(notification: object) -> None:
    """ "/app/Settings/sync_notify"."""


class BlobSyncSpec:
    """``describe "BlobSync_test"``."""

    schema_model: bool

    @pytest.fixture(scope="class")
    @classmethod
    def app(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpecApp]:
        """``before(:all)``."""
        root = tmp_path_factory.mktemp("blobsync")
        with spec_app(root, schema_model=cls.schema_model) as app:
            for folder in ("BlobTest", "BlobTest_s"):  # Rho::RhoApplication::get_model_path('app', ...)
                (root / "app" / folder).mkdir(parents=True)
                for name, data in PICTURES.items():
                    (root / "app" / folder / name).write_bytes(data)
            rhom.database_full_reset_and_logout()
            yield app

    @pytest.fixture(autouse=True)
    def before_each(self, app: SpecApp) -> None:
        """``before(:each)``."""
        res = app.client.login("login_name", "")
        assert res.error_code == ERR_NONE

        assert app.client.is_logged_in() is True
        app.client.bulksync_state = 1

    def test_should_create_new_blobtest(self, app: SpecApp) -> None:
        """it "should create new BlobTest" """
        blob_test = app.model("BlobTest")
        file_name = app.root / "app" / app.name("BlobTest") / "test.png"
        copy_file(file_name, blobs.blob_dir())
        file_name = blobs.blob_dir() / "test.png"
        file_size = file_name.stat().st_size
        file_content = file_name.read_bytes()

        item = blob_test()
        item.name = "BlobTestItem"
        item.image_uri = str(file_name)
        item.save()
        blob_test.sync(sync_notify)
        # sleep(2) "wait till sync server update data": rhom.server has, once it answered

        res = blob_test.sync(sync_notify)
        assert res.status == "ok"
        assert res.error_code == ERR_NONE

        items = blob_test.find("all")
        assert items is not None
        assert len(items) == 1

        assert blobs.path(items[0].image_uri) != file_name
        new_file_name = blobs.path(items[0].image_uri)
        assert new_file_name.stat().st_size == file_size
        content_new = new_file_name.read_bytes()
        assert content_new == file_content

    def test_should_modify_blobtest(self, app: SpecApp) -> None:
        """it "should modify BlobTest" """
        blob_test = app.model("BlobTest")
        item = blob_test.find("first")
        assert item is not None
        saved_obj = item.object

        file_name = app.root / "app" / app.name("BlobTest") / "test2.png"
        copy_file(file_name, blobs.blob_dir())
        file_name = blobs.blob_dir() / "test2.png"

        old_file = blobs.path(item.image_uri)
        item.image_uri = str(file_name)
        item.save()
        assert old_file.exists() is False

        blob_test.sync(sync_notify)
        # sleep(2)

        res = blob_test.sync(sync_notify)
        assert res.status == "ok"
        assert res.error_code == ERR_NONE

        item2 = blob_test.find(saved_obj)
        assert item2 is not None

        assert blobs.path(item2.image_uri) == file_name


class TestSchemaModel(BlobSyncSpec):
    """``$spec_settings = {:schema_model => true}``: BlobTest_s."""

    schema_model = True


class TestPropertyBag(BlobSyncSpec):
    """``$spec_settings = {:schema_model => false}``: BlobTest."""

    schema_model = False
