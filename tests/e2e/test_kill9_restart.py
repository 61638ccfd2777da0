"""After a device process is killed (SIGKILL) mid-sync, a *new process* finishes the job.

test_kill9 re-syncs in the test process; here the "app restart" is a second device process
on the same data folder (_crash_child.py, no crash point), as it would be on a phone. The
parent then opens the folder and checks: no local change lost, every object once on the
server (MemoryAdapter.data), every page applied once (local data equals the server's,
no changelog left).
"""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import World, values
from .test_kill9 import assert_converged, killed, restart, run_child, seed

#: Kill points across one whole run: push (before, during, after the server), each page
#: (received, mid-commit, a link mid-commit, committed), the end of the source's pull.
POINTS = [
    ("push-prepared", 1),
    ("push-before-send", 1),
    ("push-after-server", 1),
    ("page-received", 1),
    ("page-received", 3),
    ("page-mid-commit", 1),
    ("page-mid-commit", 3),
    ("link-mid-commit", 1),
    ("page-after-commit", 1),
    ("page-after-commit", 3),
    ("source-finished", 1),
]


@pytest.mark.parametrize(("point", "count"), POINTS, ids=[f"{p}-{c}" for p, c in POINTS])
def test_a_new_process_finishes_what_a_killed_one_started(world: World, point: str, count: int) -> None:
    seed(world, 9)
    assert run_child(world, "--sync", "1", "--page-size", "4").returncode == 0  # the device has the 9
    crash = ["--crash-at", point, "--crash-count", str(count)]
    killed(run_child(world, "--create", "3", "--rename", "--sync", "1", "--page-size", "4", *crash))
    done = run_child(world, "--sync", "2", "--page-size", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["synced complete 0", "synced complete 0"], done.stdout
    restart(world)
    # every local edit (renames of the 9, the 3 creates renamed too) is there; nothing twice
    expected = [f"server-{i}!" for i in range(1, 10)] + ["new-0!", "new-1!", "new-2!"]
    assert Counter(o.get("name") for o in world.products.data.values()) == Counter(expected)
    assert len(values(world.Product)) == 12
    assert_converged(world)
