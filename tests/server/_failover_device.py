"""One device of the failover test: a real rhom.SyncClient that makes, changes and
deletes products and syncs, its requests spread over the server processes in turn.

Usage::

    python -m tests.server._failover_device PORTS DATA_DIR NAME COUNT SECONDS SEED   # the workload
    python -m tests.server._failover_device PORTS DATA_DIR NAME --report             # the final look

PORTS lists the server processes' ports (``9001,9002``): each request goes to the next,
as behind a round-robin load balancer. The workload is benchmarks/_kill_client.py's
(batches of ten changes, a sync after each until every change is pushed and settled).
Prints one JSON line: the workload's ``expected`` (name -> last price, ``null`` when
deleted) or, with ``--report``, the device's products (``local``); and ``statuses``, the
count of each HTTP status the servers answered, with the bodies of the 500s.
"""

from __future__ import annotations

import collections
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import rhom
from benchmarks._kill_client import Product, local_products, sync_once, workload


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next server port and counts the answers."""

    def __init__(self, ports: list[int]) -> None:
        self.inner = httpx.HTTPTransport()
        self.ports = ports
        self.turn = 0
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []  # the bodies of 500s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = self.ports[self.turn % len(self.ports)]
        self.turn += 1
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        response = self.inner.handle_request(request)
        self.statuses[response.status_code] += 1
        if response.status_code == 500:
            self.errors.append(response.read().decode(errors="replace")[:80])
        return response


def main() -> None:
    ports = [int(p) for p in sys.argv[1].split(",")]
    folder, name = Path(sys.argv[2]), sys.argv[3]
    rhom.setup(folder, models=[Product])
    transport = RoundRobin(ports)
    client = rhom.SyncClient(f"http://127.0.0.1:{ports[0]}", threaded_mode=False, timeout=10, transport=transport)
    final = sys.argv[4] == "--report"
    deadline = time.monotonic() + (60 if final else float(sys.argv[5]))
    while client.login(name, "x").error_code and time.monotonic() < deadline:
        time.sleep(0.2)
    out: dict[str, Any]
    if final:
        errors: list[str] = []
        for _ in range(10):
            if sync_once(client, errors) and not rhom.any_model_changed():
                break
        out = {"local": local_products(), "errors": errors, "settled": not rhom.any_model_changed()}
    else:
        out = workload(client, name, int(sys.argv[4]), deadline, random.Random(int(sys.argv[6])))
    client.close()
    out["statuses"] = {str(code): n for code, n in sorted(transport.statuses.items())}
    out["server_errors"] = transport.errors
    print(json.dumps(out))


if __name__ == "__main__":
    main()
