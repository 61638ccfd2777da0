"""Can one client slow everyone? A client whose server state holds many errors pushes 20,000
creates while another user keeps querying; the same again with a small state, as baseline.

    .venv/bin/python -m benchmarks.one_client_stall [--creates 20000] [--errors 1000]

rhom.server on the embedded SQLite store (one CPU slot, the default) in this process,
clients over HTTP on 127.0.0.1. The heavy client first pushes ``--errors`` updates of
objects the backend does not hold, each with a 3 KB attribute: every one comes back as an
update-error, kept in its server state until its next page (about 3 MB). Printed: the
push's seconds and the other user's slowest query, heavy against light (the ratio).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server.testing import run_in_thread


class _Client:
    def __init__(self, url: str, user: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=300)
        self.http.post("/rc/v1/app/login", json={"login": user, "password": "x"})
        self.client_id = self.http.post("/rc/v1/clients").json()["client"]["client_id"]

    def push(self, body: dict[str, Any]) -> float:
        start = time.perf_counter()
        reply = self.http.post("/app/v1/Product", json={"source_name": "Product", "client_id": self.client_id, **body},
                               headers={"X-RhoConnect-CLIENT-ID": self.client_id})  # fmt: skip
        assert reply.status_code == 200, reply.text
        return time.perf_counter() - start

    def query(self) -> float:
        start = time.perf_counter()
        reply = self.http.get("/app/v1/Product", params={"p_size": 50, "version": 3},
                              headers={"X-RhoConnect-CLIENT-ID": self.client_id})  # fmt: skip
        assert reply.status_code == 200, reply.text
        return time.perf_counter() - start


def run(creates: int, errors: int) -> tuple[float, float, float]:
    """``(push seconds, other user's slowest query, its median)``."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app([MemoryAdapter("Product")], settings=Settings.for_tests(store=f"sqlite:///{Path(tmp)}/s.db"))
        with run_in_thread(app) as url:
            heavy, other = _Client(url, "heavy"), _Client(url, "other")
            if errors:
                heavy.push({"update": {f"missing-{i}": {"note": "x" * 3000} for i in range(errors)}})
            waits: list[float] = []
            done = threading.Event()

            def keep_querying() -> None:
                while not done.is_set():
                    waits.append(other.query())
                    time.sleep(0.02)

            thread = threading.Thread(target=keep_querying)
            thread.start()
            try:
                took = heavy.push(
                    {"create": {str(10**15 + i): {"name": f"p{i}", "price": "1"} for i in range(creates)}}
                )
            finally:
                done.set()
                thread.join()
            return took, max(waits), statistics.median(waits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=20_000)
    parser.add_argument("--errors", type=int, default=1000)
    args = parser.parse_args()
    print(f"one client's state: {args.errors} update-errors of 3 KB; {args.creates} creates pushed; "
          f"SQLite store, {os.cpu_count()} cores", flush=True)  # fmt: skip
    light = run(args.creates, 0)
    heavy = run(args.creates, args.errors)
    for label, (took, worst, median) in (("small state (baseline)", light), ("large state", heavy)):
        print(f"{label:24} push {took:6.2f} s   other user's queries: slowest {worst * 1000:7.0f} ms, "
              f"median {median * 1000:5.0f} ms", flush=True)  # fmt: skip
    print(f"ratio large/small: push {heavy[0] / light[0]:.2f}x, slowest query {heavy[1] / light[1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
