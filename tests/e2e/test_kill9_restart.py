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


@pytest.mark.parametrize("point", ["push-after-server", "push-before-send", "page-after-commit", "page-mid-commit"])
def test_a_new_process_finishes_what_a_killed_one_started(world: World, point: str) -> None:
    seed(world, 9)
    assert run_child(world, "--sync", "1", "--page-size", "4").returncode == 0  # the device has the 9
    killed(run_child(world, "--create", "3", "--rename", "--sync", "1", "--page-size", "4", "--crash-at", point))
    done = run_child(world, "--sync", "2", "--page-size", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["synced complete 0", "synced complete 0"], done.stdout
    restart(world)
    # every local edit (renames of the 9, the 3 creates renamed too) is there; nothing twice
    expected = [f"server-{i}!" for i in range(1, 10)] + ["new-0!", "new-1!", "new-2!"]
    assert Counter(o.get("name") for o in world.products.data.values()) == Counter(expected)
    assert len(values(world.Product)) == 12
    assert_converged(world)
