"""rhom.server killed with SIGKILL while devices push creates (benchmarks/kill_campaign.py).

Real processes throughout: the server (SQLite store on disk, the shop's SQLite backend)
and each device. With the shop's adapters, which keep each create's idempotency key with
its record, no create is made twice; with adapters that ignore the key, at most one per
kill. Nothing is lost and every create ends linked either way.
"""

from __future__ import annotations

import pytest

from benchmarks.kill_campaign import campaign


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True], ids=["idempotent-backend", "plain-backend"])
def test_server_killed_during_pushes_loses_nothing_and_doubles_nothing(plain: bool) -> None:
    row = campaign(clients=2, kills=3, creates=150, plain=plain, seed=7, seconds=60)
    assert row["kills"] == 3, f"the devices were still pushing at every kill: {row}"
    assert row["lost"] == 0 and row["unlinked"] == 0, row
    assert row["refused"] == 0, f"no create refused on its retry: {row}"
    assert row["duplicates"] <= (row["kills"] if plain else 0), row
