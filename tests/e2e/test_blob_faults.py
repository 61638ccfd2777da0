"""A blob the server cannot serve (protocol.md §8.2 step 4).

A file gone for good (404) is skipped: the rest of the page is applied with its token and
the source ends with the error, so one lost file cannot stop a source at one page on
every run. A transient failure (5xx, dropped connection) fails the page instead, which
the next run gets again: see test_wire_faults and test_kill9.
"""

from __future__ import annotations

import rhom
from rhom.sync.errors import ErrorCode

from .conftest import World, sync, values


def test_a_blob_gone_from_the_server_is_skipped_and_the_source_goes_on(world: World) -> None:
    world.products.replace(
        {
            "1": {"name": "Phone", "photo": "0000-gone.png"},  # a blob name the server does not hold
            "2": {"name": "Pad"},
            "3": {"name": "Watch"},
            "4": {"name": "Kite"},
        }
    )
    client = world.logged_in(page_size=2)
    result = sync(client)
    assert result.status == "complete"
    (end,) = [n for n in result.notifications if n.source_name == "Product" and n.status != "in_progress"]
    assert (end.status, end.error_code) == ("error", ErrorCode.REMOTE_SERVER)
    assert values(world.Product) == {
        "1": {"name": "Phone"},
        "2": {"name": "Pad"},
        "3": {"name": "Watch"},
        "4": {"name": "Kite"},
    }
    assert not [p for p in (world.tmp_path / "device" / "blobs").iterdir() if p.is_file()]
    result = sync(client)
    assert result.status == "complete"
    assert [n.status for n in result.notifications if n.source_name == "Product"] == ["ok"]
    assert not rhom.have_local_changes()
