"""The fault tier: random network faults between a real client and a real server.

Each round the user edits (creates, updates, deletes), one request of the next sync is
hit by a fault (a lost reply after the server acted, a timeout before or after, a reply
cut in the middle, a refused connection, a 500, a gateway's 502, truncated or malformed
JSON), and the sync runs. After the rounds, clean syncs settle everything, and the
invariants are checked: nothing the user did is lost, nothing is on the server twice,
local data equals the server's, and SQLite's integrity check passes.

Faults are injected with rhom.testing.FaultyTransport (docs/sync.md); the server is the
real rhom.server over HTTP. The seed is printed on failure, so a failing run replays.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import rhom
from rhom.testing import FaultyTransport

from .conftest import World, sync, values

ROUNDS = 40
PATHS = [("POST", "/app/v1/Product"), ("GET", "/app/v1/Product"), ("POST", "/rc/v1/clients")]


def inject(rng: random.Random, faults: FaultyTransport) -> str:
    method, path = rng.choice(PATHS)
    kind = rng.choice(["lose", "lose-timeout", "truncate", "refuse", "refuse-timeout", "500", "502", "cut", "html"])
    if kind == "lose":
        faults.lose_reply(method, path)
    elif kind == "lose-timeout":
        faults.lose_reply(method, path, timeout=True)
    elif kind == "truncate":
        faults.truncate_reply(method, path)
    elif kind == "refuse":
        faults.refuse(method, path)
    elif kind == "refuse-timeout":
        faults.refuse(method, path, timeout=True)
    elif kind == "cut":
        faults.answer(method, path, 200, b'[{"version":3},{"token":"9')
    elif kind == "html":
        faults.answer(method, path, 200, b"<html><body>captive portal</body></html>")
    else:
        faults.answer(method, path, int(kind), b"Internal Server Error")
    return f"{kind} {method} {path}"


def edit(rng: random.Random, world: World, expected: dict[str, dict[str, str]], serial: list[int]) -> None:
    """Random user edits, recorded in ``expected`` (name -> attributes the server must end with)."""
    for _ in range(rng.randint(1, 3)):
        serial[0] += 1
        name = f"item {serial[0]}"
        world.Product.create(name=name, price=str(serial[0]))
        expected[name] = {"name": name, "price": str(serial[0])}
    mine = world.Product.find("all")
    if mine and rng.random() < 0.6:
        victim = rng.choice(mine)
        price = str(rng.randint(1000, 9999))
        victim.update_attributes(price=price)
        expected[victim.name]["price"] = price
    mine = world.Product.find("all")
    if mine and rng.random() < 0.3:
        victim = rng.choice(mine)
        del expected[victim.name]
        victim.destroy()


@pytest.mark.parametrize("seed", [20261203, 7, 1998, 42])
def test_random_faults_lose_nothing_and_make_nothing_twice(world: World, seed: int) -> None:
    rng = random.Random(seed)
    faults = FaultyTransport()
    client = world.logged_in(transport=faults)
    assert sync(client).ok
    expected: dict[str, dict[str, str]] = {}
    serial = [0]
    injected = []
    for _ in range(ROUNDS):
        edit(rng, world, expected, serial)
        injected.append(inject(rng, faults))
        sync(client)
    settled = [sync(client).ok for _ in range(4)]
    context = f"seed {seed}, faults {injected}"
    assert settled[-1] and not rhom.have_local_changes(), f"clean syncs settle everything ({context})"
    on_server = Counter(o.get("name") for o in world.products.data.values())
    assert [n for n, count in on_server.items() if count > 1] == [], f"nothing twice ({context})"
    assert {o["name"]: o for o in world.products.data.values()} == expected, f"nothing lost ({context})"
    assert values(world.Product) == world.products.data, f"local equals server ({context})"
    check = rhom.get_database("user").execute_sql("PRAGMA integrity_check")
    assert _first(check) == "ok"


def _first(rows: Any) -> Any:
    row = rows[0]
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
