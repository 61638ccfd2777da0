"""Awkward ids and values survive the round trip (protocol.md §1.9: every value a string)."""

from __future__ import annotations

import rhom

from .conftest import World, sync, values

ODD = {
    "a/b c": {"name": "slash and space", "price": ""},
    "ü-ß-日本": {"name": "ünïcødé 日本語 \u2603", "price": "1"},
    "x?y=1&z#": {"name": "quotes \" ' and \\ backslash", "price": "2"},
    "n1": {"name": "line\nbreak\ttab", "price": "3"},
}


def test_odd_ids_and_values_round_trip(world: World) -> None:
    world.products.replace(ODD)
    client = world.logged_in()
    assert sync(client).status == "complete"
    assert values(world.Product) == ODD
    for oid in ODD:
        world.Product.find(oid).update_attributes(name=ODD[oid]["name"] + " ✓")
    big = "€" * 20_000
    world.Product.create(name=big, price="")
    assert sync(client).status == "complete"
    for oid, attrs in ODD.items():
        assert world.products.data[oid]["name"] == attrs["name"] + " ✓"
    assert [o for o in world.products.data.values() if o["name"] == big]
    assert values(world.Product) == world.products.data
    assert not rhom.have_local_changes()
