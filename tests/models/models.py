"""The models of the model-layer tests, declared once at import time as apps declare them.

Four layouts of the same product model, so that every behaviour runs against fixed schema
and property bag, synced and local (rhom-api §12: "every spec runs in both modes"), plus a
few models for partition, freezing and ownership cases.
"""

from __future__ import annotations

from typing import Any

import rhom


class FixedSyncProduct(rhom.Model):
    name = rhom.CharField()
    industry = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()
    available_on = rhom.DateField()
    updated_at = rhom.TimeField()
    photo = rhom.BlobField()

    class Meta:
        sync = True


class FixedLocalProduct(rhom.Model):
    name = rhom.CharField()
    industry = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()
    available_on = rhom.DateField()
    updated_at = rhom.TimeField()
    photo = rhom.BlobField()

    class Meta:
        sync = False


class BagSyncProduct(rhom.PropertyBagModel):
    price = rhom.FloatField()
    quantity = rhom.IntegerField()
    available_on = rhom.DateField()
    updated_at = rhom.TimeField()
    photo = rhom.BlobField()

    class Meta:
        sync = True


class BagLocalProduct(rhom.PropertyBagModel):
    price = rhom.FloatField()
    quantity = rhom.IntegerField()
    available_on = rhom.DateField()
    updated_at = rhom.TimeField()
    photo = rhom.BlobField()

    class Meta:
        sync = False


class FrozenBagProduct(rhom.PropertyBagModel):
    """A frozen property bag: only the declared attributes are accepted."""

    name = rhom.CharField()
    price = rhom.FloatField()

    class Meta:
        sync = True
        freezed = True


class AppCatalog(rhom.PropertyBagModel):
    """A synced model of the ``app`` partition (data shared by every user)."""

    class Meta:
        sync = True
        partition = "app"


class AppFixedCatalog(rhom.Model):
    title = rhom.CharField()

    class Meta:
        sync = True
        partition = "app"


PRODUCTS: list[Any] = [FixedSyncProduct, FixedLocalProduct, BagSyncProduct, BagLocalProduct]
SYNC_PRODUCTS: list[Any] = [FixedSyncProduct, BagSyncProduct]
LOCAL_PRODUCTS: list[Any] = [FixedLocalProduct, BagLocalProduct]
FIXED_PRODUCTS: list[Any] = [FixedSyncProduct, FixedLocalProduct]
BAG_PRODUCTS: list[Any] = [BagSyncProduct, BagLocalProduct]
ALL_MODELS: list[Any] = [*PRODUCTS, FrozenBagProduct, AppCatalog, AppFixedCatalog]


def model_id(model: Any) -> str:
    """A readable test id: ``fixed-sync``, ``bag-local``..."""
    layout = "fixed" if model._rhom.fixed_schema else "bag"
    return f"{layout}-{'sync' if model._rhom.is_sync else 'local'}"
