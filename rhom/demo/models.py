"""The shop's client models: what the app on the device declares."""

from __future__ import annotations

import rhom


class Product(rhom.Model):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()

    class Meta:
        sync = True
        sync_priority = 1


class Customer(rhom.PropertyBagModel):
    class Meta:
        sync = True
        sync_priority = 2


class Note(rhom.Model):  # local only: never synced
    text = rhom.TextField()
