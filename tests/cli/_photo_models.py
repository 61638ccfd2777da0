"""The client model of ``tests.cli._photo_app``: ``rhom sync --models tests.cli._photo_models``."""

from __future__ import annotations

import rhom


class Product(rhom.Model):
    name = rhom.CharField()
    photo = rhom.BlobField()

    class Meta:
        sync = True
