"""Bulk sync against rhom.server: a partition's data swapped in at once (protocol.md §7)."""

from __future__ import annotations

import rhom

from .conftest import CUSTOMER_FIELDS, CUSTOMERS, PRODUCT_FIELDS, PRODUCTS, World, bulk_notes, expected, values


def test_bulk_sync_fills_models_and_sets_state_back_to_1(world: World) -> None:
    client = world.client()
    ids = (world.Product.get_source_id(), world.Customer.get_source_id())
    client.bulksync_state = 0
    result = client.do_sync()
    assert result.status == "complete", result
    print(bulk_notes(result))
    assert values(world.Product) == expected(PRODUCTS, world.models.layout, PRODUCT_FIELDS)
    assert values(world.Customer) == expected(CUSTOMERS, world.models.layout, CUSTOMER_FIELDS)
    assert client.bulksync_state == 1
    assert (world.Product.get_source_id(), world.Customer.get_source_id()) == ids
    assert not rhom.have_local_changes()
