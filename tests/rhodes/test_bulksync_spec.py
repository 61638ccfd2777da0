"""rhoconnect-client ``spec/rhoconnect_spec/app/spec/bulksync_spec.rb``, ported to rhom.

Run once, on the property bag models Product and Customer. The spec waits 15 s before
each bulk sync, longer than its server's ``bulk_sync_poll_interval`` of 10 s, so that the
server builds a new file; this server's interval is 0, so the next request builds one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rhom

from .conftest import ERR_NONE, SpecApp, spec_app


class TestBulkSync:
    """``describe "BulkSync_test"``."""

    @pytest.fixture(scope="class")
    @classmethod
    def app(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpecApp]:
        """``before(:all)`` and ``after(:all)``."""
        with spec_app(tmp_path_factory.mktemp("bulksync"), bulk_sync_poll_interval=0) as app:
            rhom.database_full_reset_and_logout()
            app.client.bulksync_state = 0
            app.use_sync_types(Product="incremental")
            yield app
            app.client.bulksync_state = 1

    @pytest.fixture(autouse=True)
    def before_each(self, app: SpecApp) -> None:
        """``before(:each)``."""
        rhom.database_full_reset_and_logout()
        res = app.client.login("te st", "test")
        assert res.error_code == ERR_NONE

        assert app.client.is_logged_in() is True

    @staticmethod
    def do_bulk_sync(app: SpecApp) -> None:
        app.client.bulksync_state = 0
        res = app.client.do_sync()
        assert res.status == "complete"
        assert res.error_code == ERR_NONE
        assert app.client.bulksync_state == 1

    def test_should_bulk_sync(self, app: SpecApp) -> None:
        """it "should bulk sync" """
        self.do_bulk_sync(app)

        items = app.models.Product.find("all")
        assert items is not None
        assert len(items) != 0

    def test_should_bulk_sync_with_create(self, app: SpecApp) -> None:
        """it "should bulk sync with create" """
        product = app.models.Product
        app.client.bulksync_state = 1
        res = app.client.do_sync()
        assert res.status == "complete"
        assert res.error_code == ERR_NONE

        item1 = product.create({"name": "PhoneSpec", "sku": 22})

        self.do_bulk_sync(app)

        items = product.find("all")
        assert items is not None
        assert len(items) != 0

        item2 = product.find(item1.object)
        assert item2 is None

        items2 = product.find("all", conditions={"name": "PhoneSpec"})
        assert items2 is not None
        assert len(items2) != 0

        found22 = False
        for item in items2:
            if not found22:
                found22 = item.sku == "22"
            item.sku = "44"
            item.save()
        assert found22 is True

        self.do_bulk_sync(app)

        items2 = product.find("all", conditions={"name": "PhoneSpec"})
        assert items2 is not None
        assert len(items2) != 0

        for item in items2:
            assert item.sku == "44"
            item.destroy()

        self.do_bulk_sync(app)

        items2 = product.find("all", conditions={"name": "PhoneSpec"})
        assert items2 is not None
        assert len(items2) == 0

    @staticmethod
    def is_source_present(app: SpecApp, src: str) -> bool:
        result = app.db.select_from_table("sources", "name", {"name": src})
        return result is not None and len(result) > 0

    def test_should_do_selective_bulk_sync(self, app: SpecApp) -> None:
        """it "should do selective bulk sync" """
        app.models.Customer.set_sync_type("incremental")
        app.models.Product.set_sync_type("incremental")

        self.do_bulk_sync(app)

        assert self.is_source_present(app, "Product") is True
        assert self.is_source_present(app, "Customer") is True

        products = app.models.Product.find("all")
        assert products is not None
        assert len(products) != 0

        customers = app.models.Customer.find("all")
        assert customers is not None
        assert len(customers) != 0

        app.models.Product.set_sync_type("none")

        self.do_bulk_sync(app)

        assert self.is_source_present(app, "Product") is True
        assert self.is_source_present(app, "Customer") is True

        products = app.models.Product.find("all")
        assert len(products) == 0

        customers = app.models.Customer.find("all")
        assert customers is not None
        assert len(customers) != 0
