"""Randomised runs: whatever the backend and the clients do, a full sync converges.

Small pages and many rounds drive every storage path: document deltas and their
compaction, the "nothing moved" shortcut, resends, pushes that create, update and delete,
objects changed behind the server's back (protocol.md §4.5, §5.4).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from rhom.server import MemoryAdapter

from .conftest import RhoClient, Serve


@pytest.mark.parametrize("seed", [1, 2])
def test_random_changes_converge(serve: Serve, rho: Callable[[str], RhoClient], seed: int) -> None:
    rng = random.Random(seed)
    backend = MemoryAdapter("Item", {str(i): {"v": str(i), "w": "x"} for i in range(1, 41)})
    with serve([backend]) as url:
        clients = [rho(url) for _ in range(3)]
        for number, client in enumerate(clients):
            client.login("shared" if number < 2 else "other")
            client.create_client()
        for _ in range(25):
            _backend_change(rng, backend)
            client = rng.choice(clients)
            _client_change(rng, client, backend)
            if rng.random() < 0.2:  # a lost reply: ask again without acknowledging
                client.query("Item", p_size=3)
            client.sync("Item", p_size=rng.choice([1, 3, 7, 50]))
            assert client.local.get("Item", {}) == backend.data, "protocol.md §4.5: converged"
        for client in clients:
            client.sync("Item", p_size=5)
            assert client.local["Item"] == backend.data, "protocol.md §4.5: all converge"


def _backend_change(rng: random.Random, backend: MemoryAdapter) -> None:
    ids = sorted(backend.data)
    action = rng.random()
    if action < 0.3 and ids:
        backend.data[rng.choice(ids)]["v"] = str(rng.random())
    elif action < 0.45 and ids:
        backend.data.pop(rng.choice(ids))
    elif action < 0.6:
        new_id = f"b{rng.randrange(10_000)}"
        backend.data[new_id] = {"v": new_id}
    elif action < 0.7 and ids:
        backend.data[rng.choice(ids)].pop("w", None)


def _client_change(rng: random.Random, client: RhoClient, backend: MemoryAdapter) -> None:
    held = sorted(client.local.get("Item", {}))
    body: dict[str, dict[str, dict[str, str]]] = {}
    if rng.random() < 0.5:
        body["create"] = {f"t{rng.randrange(10**9)}": {"v": "new", "w": "y"}}
    existing = [oid for oid in held if oid in backend.data]
    if existing and rng.random() < 0.5:
        body["update"] = {rng.choice(existing): {"v": "upd"}}
    if existing and rng.random() < 0.3:
        victim = rng.choice(existing)
        if victim not in body.get("update", {}):
            body["delete"] = {victim: dict(client.local["Item"][victim])}
    if body:
        assert client.push("Item", body).status_code == 200, "protocol.md §5.1"
