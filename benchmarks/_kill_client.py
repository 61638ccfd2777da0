"""One device of benchmarks/kill_campaign.py: creates products and syncs until all are linked.

Usage: python -m benchmarks._kill_client URL DATA_DIR NAME COUNT [SECONDS]. Prints one
JSON line: the names it created, the server ids they ended with, and the messages of
creates the server refused (retried with on_sync_create_error "recreate").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import rhom


class Product(rhom.Model, sync=True):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()


def main() -> None:
    url, folder, name, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rhom.setup(folder, models=[Product])
    client = rhom.SyncClient(url, threaded_mode=False, poll_interval=0, timeout=3)
    deadline = time.monotonic() + (float(sys.argv[5]) if len(sys.argv) > 5 else 300)
    while client.login(name, "x").error_code and time.monotonic() < deadline:
        time.sleep(0.2)
    made = 0
    errors: list[str] = []
    while time.monotonic() < deadline:
        if made < count:
            with rhom.get_database("user").atomic():
                for _ in range(min(10, count - made)):
                    made += 1
                    Product.create(name=f"{name} {made}", brand="kill", price=1.0, quantity=made)
        result = client.do_sync()
        for note in result.notifications:  # a create the server refused: retry it, as an app would
            refused = (note.server_errors or {}).get("create-error") or {}
            if refused:  # {object id: {"message": ..., ...}} (rhom-api 7.7)
                errors.extend(str(entry.get("message")) for entry in refused.values())
                Product.on_sync_create_error(list(refused), "recreate")
        mine = {p.name: p.object for p in Product.find("all") if p.name.startswith(name + " ")}
        if made == count and not rhom.any_model_changed():  # every create linked and settled
            break
        time.sleep(0.05)
    client.close()
    print(json.dumps({"made": made, "linked": {n: o for n, o in mine.items()}, "errors": errors}))


if __name__ == "__main__":
    main()
