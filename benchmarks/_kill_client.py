"""One device of benchmarks/kill_campaign.py: creates, updates and deletes products, syncing.

Usage::

    python -m benchmarks._kill_client URL DATA_DIR NAME COUNT SECONDS SEED   # the workload
    python -m benchmarks._kill_client URL DATA_DIR NAME --report             # the final look

The workload makes COUNT products named ``NAME <n>`` in batches of ten changes, among
which it also changes the price of, or deletes, products it made before; it syncs after
each batch until every change is pushed and linked. It prints one JSON line: what it
meant the backend to hold of its products (``expected``: name -> price, or ``null`` for
a deleted one) and the messages of creates the server refused (retried with
``on_sync_create_error("recreate")``, as an app would). ``--report`` syncs until nothing
is left to push and prints the device's products (name -> list of prices).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import rhom


class Product(rhom.Model, sync=True):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()


def local_products() -> dict[str, list[float]]:
    """The device's campaign products: name -> prices (more than one: a duplicate)."""
    found: dict[str, list[float]] = {}
    for product in Product.find("all", conditions={"brand": "kill"}):
        found.setdefault(product.name, []).append(float(product.price))
    return {name: sorted(prices) for name, prices in sorted(found.items())}


def sync_once(client: Any, errors: list[str]) -> bool:
    """One sync; a refused create is answered "recreate". Whether the run was ok."""
    result = client.do_sync()
    for note in result.notifications:
        refused = (note.server_errors or {}).get("create-error") or {}
        if refused:  # {object id: {"message": ..., ...}} (rhom-api 7.7)
            errors.extend(str(entry.get("message")) for entry in refused.values())
            Product.on_sync_create_error(list(refused), "recreate")
    return bool(result.ok)


def change(rng: random.Random, name: str, made: int, expected: dict[str, float | None]) -> int:
    """One change: a create, or an update or delete of a product made before."""
    alive = [n for n, price in expected.items() if price is not None]
    roll = rng.random()
    if roll < 0.6 or not alive:
        made += 1
        product = f"{name} {made}"
        Product.create(name=product, brand="kill", price=float(made), quantity=made)
        expected[product] = float(made)
        return made
    product = rng.choice(alive)
    mine = Product.find("all", conditions={"name": product})  # one; two after a duplicate
    if roll < 0.85:
        price = float(rng.randint(1000, 9999))
        for obj in mine:
            obj.update_attributes(price=price)
        expected[product] = price
    else:
        for obj in mine:
            obj.destroy()
        expected[product] = None
    return made


def workload(client: Any, name: str, count: int, deadline: float, rng: random.Random) -> dict[str, Any]:
    made = 0
    expected: dict[str, float | None] = {}
    errors: list[str] = []
    while time.monotonic() < deadline:
        if made < count:
            with rhom.get_database("user").atomic():
                for _ in range(10):
                    made = change(rng, name, made, expected)
                    if made >= count:
                        break
        ok = sync_once(client, errors)
        if made >= count and ok and not rhom.any_model_changed():  # every change pushed and settled
            break
        time.sleep(0.05)
    return {"made": made, "expected": expected, "errors": errors, "settled": not rhom.any_model_changed()}


def report(client: Any) -> dict[str, Any]:
    errors: list[str] = []
    for _ in range(10):
        if sync_once(client, errors) and not rhom.any_model_changed():
            break
    return {"local": local_products(), "errors": errors, "settled": not rhom.any_model_changed()}


def main() -> None:
    url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    rhom.setup(folder, models=[Product])
    client = rhom.SyncClient(url, threaded_mode=False, poll_interval=0, timeout=3)
    final = sys.argv[4] == "--report"
    deadline = time.monotonic() + (60 if final else float(sys.argv[5]))
    while client.login(name, "x").error_code and time.monotonic() < deadline:
        time.sleep(0.2)
    if final:
        out = report(client)
    else:
        out = workload(client, name, int(sys.argv[4]), deadline, random.Random(int(sys.argv[6])))
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
