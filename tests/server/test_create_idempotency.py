"""A create pushed twice makes one backend record (rhom.server's own guarantee).

A client that died, or lost the reply, after its push reached the server cannot know
whether its creates were made. rhom.server remembers the temporary ids it created per
client and source, so the same create pushed again repeats its link instead of creating
a second record (docs/protocol-decisions.md).
"""

from __future__ import annotations

from rhom.server import MemoryAdapter

from .conftest import RhoClient


def test_same_create_pushed_twice_makes_one_record(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    logged_in.push("Product", {"create": {"1700000000001": attrs}})  # the reply was lost: again
    page = logged_in.page("Product")
    assert page["commands"] == {"links": {"1700000000001": {"l": "6"}}}
    assert sorted(products.data) == ["1", "2", "3", "4", "5", "6"], "one backend record"


def test_repeated_create_after_its_link_was_delivered_repeats_the_link(
    logged_in: RhoClient, products: MemoryAdapter
) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    first = logged_in.page("Product")
    logged_in.page("Product", token=first["token"])  # link delivered and acknowledged
    logged_in.push("Product", {"create": {"1700000000001": attrs}})
    again = logged_in.page("Product")
    assert again["commands"] == {"links": {"1700000000001": {"l": "6"}}}
    assert len(products.data) == 6


def test_different_temporary_ids_are_different_records(logged_in: RhoClient, products: MemoryAdapter) -> None:
    logged_in.sync("Product")
    attrs = {"name": "Nexus", "brand": "Google", "price": "349.00"}
    logged_in.push("Product", {"create": {"1700000000001": attrs, "1700000000002": attrs}})
    page = logged_in.page("Product")
    assert page["commands"] == {"links": {"1700000000001": {"l": "6"}, "1700000000002": {"l": "7"}}}
    assert len(products.data) == 7
