"""Live channel benchmark: N clients hold a stream open; one backend change reaches them all.

    .venv/bin/python benchmarks/live_fanout.py [--clients 1000] [--stores sqlite redis2]
        [--baseline REV] [--repeat N]

Each simulated client logs in as its own user, creates a client id, pulls the (empty)
app-partition source ``Shared`` once, then keeps ``GET /rc/v1/app/live`` open. The run
measures the server's CPU while the N streams sit idle, then pushes one object into
``Shared`` over the REST API (``push_objects``) and times, per client, from the push to
the moment the object is in the client's local data: the ``changed`` event arrived, the
client queried the page holding the object and acknowledged it. Goals at 1,000 clients:
idle CPU flat (a few percent of a core), p99 of that latency under 2 s.

With ``--baseline REV`` every row is also run against that git revision (a temporary
worktree, same machine, same Python environment), and the ratio of the p99s is printed:
absolute figures move with the machine, a ratio measured in one run does much less.

The server runs in its own process (``python -m rhom.server``); the clients are asyncio
tasks with raw HTTP connections (benchmarks/_server_http.py), one stream and one request
connection each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._server_http import LightClient  # noqa: E402
from benchmarks.server_load import checkout, cpu_seconds, server_process  # noqa: E402
from rhom.server.testing import redis_server  # noqa: E402

API_TOKEN = "bench-api-token"
IDLE_SECONDS = 5.0


class Device:
    """One simulated client: a request connection, a stream, and its local data."""

    def __init__(self, host: str, port: int, user: str) -> None:
        self.http = LightClient(host, port)
        self.user = user
        self.headers: dict[str, str] = {}
        self.local: dict[str, dict[str, str]] = {}
        self.token: str | None = None
        self.connected = asyncio.Event()
        self.arrived: float | None = None
        self.stream: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        await self.http.request("POST", "/rc/v1/app/login", json_body={"login": self.user, "password": "x"})
        created = await self.http.request("POST", "/rc/v1/clients")
        self.headers = {"X-RhoConnect-CLIENT-ID": created.json()["client"]["client_id"]}
        await self.pull()
        reader, writer = await asyncio.open_connection(self.http.host, self.http.port)
        head = [
            "GET /rc/v1/app/live HTTP/1.1",
            f"Host: {self.http.host}:{self.http.port}",
            f"Cookie: {self.http.cookie}",
            f"X-RhoConnect-CLIENT-ID: {self.headers['X-RhoConnect-CLIENT-ID']}",
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await reader.readuntil(b"\r\n\r\n")
        self.stream, self._writer = reader, writer
        await self.http.close()  # idle for longer than the server's keep-alive: reconnect later

    async def pull(self) -> None:
        for _ in range(100):
            params: dict[str, Any] = {"p_size": 200, "version": 3}
            if self.token:
                params["token"] = self.token
            reply = await self.http.request("GET", "/app/v1/Shared", params=params, headers=self.headers)
            page = reply.json()
            for oid, attrs in page[5].get("insert", {}).items():
                self.local.setdefault(oid, {}).update(attrs)
            self.token = page[1]["token"] or None
            if not self.token:
                return

    async def listen(self, wanted: str, pushed_at: list[float]) -> None:
        """Read the stream (chunked encoding is skipped over: lines are what matter)."""
        assert self.stream is not None
        while True:
            line = (await self.stream.readline()).decode().strip()
            if line == "event: hello":
                self.connected.set()
            elif line == "event: changed":
                await self.pull()
                if wanted in self.local:
                    self.arrived = time.perf_counter() - pushed_at[0]
                    return

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        await self.http.close()


async def fan_out(url: str, pid: int, clients: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    devices = [Device(host, int(port), f"user{i}") for i in range(clients)]
    for start in range(0, clients, 50):  # 50 at a time: a login storm is another benchmark
        await asyncio.gather(*(d.start() for d in devices[start : start + 50]))
    pushed_at = [0.0]
    listeners = [asyncio.create_task(d.listen("pushed", pushed_at)) for d in devices]
    await asyncio.wait_for(asyncio.gather(*(d.connected.wait() for d in devices)), 60)
    await asyncio.sleep(1.0)
    cpu_before = cpu_seconds(pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = (cpu_seconds(pid) - cpu_before) / IDLE_SECONDS
    admin = LightClient(host, int(port))
    own_before, server_before = time.process_time(), cpu_seconds(pid)
    pushed_at[0] = time.perf_counter()
    body = {"objects": {"pushed": {"name": "new price list"}}}
    reply = await admin.request(
        "POST", "/app/v1/Shared/push_objects", json_body=body, headers={"X-RhoConnect-API-TOKEN": API_TOKEN}
    )
    assert reply.status_code == 200, reply.text
    await asyncio.wait_for(asyncio.gather(*listeners), 120)
    wall = time.perf_counter() - pushed_at[0]
    own, server = time.process_time() - own_before, cpu_seconds(pid) - server_before
    latencies = sorted(d.arrived or float("inf") for d in devices)
    await admin.close()
    for device in devices:
        await device.close()
    return {
        "clients": clients,
        "idle_cpu_pct": idle_cpu * 100,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "server_cpu": server / wall,
        "client_cpu": own / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--stores", nargs="+", default=["sqlite", "redis2"], help="sqlite, redis, redis2")
    parser.add_argument("--baseline", metavar="REV", help="also serve from this git revision, row by row")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the row shows the median p99 run")
    args = parser.parse_args()
    need = max(args.clients) * 3 + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    os.environ["RHOM_SERVER_API_TOKEN"] = API_TOKEN
    print(f"rhom.server live channel: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'store':14} {'clients':>7} {'idle CPU %':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  busy cores")
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        redis_url = stack.enter_context(redis_server())
        trees = [("", ROOT)]
        if args.baseline:
            trees.append((f"@{args.baseline}", stack.enter_context(checkout(args.baseline))))
        run_no = 0
        for name in args.stores:
            for clients in args.clients:
                p99s: list[float] = []
                for label, root in trees:
                    rows = []
                    for _ in range(args.repeat):
                        run_no += 1
                        store = f"sqlite:///{folder}/{name}-{run_no}.db" if name == "sqlite" else redis_url
                        workers = 2 if name == "redis2" else 1
                        os.environ["RHOM_SERVER_REDIS_PREFIX"] = f"live-{run_no}:"
                        app = "benchmarks._live_app:make_app"
                        with server_process(store, root=root, workers=workers, app=app) as (url, pid):
                            rows.append(asyncio.run(fan_out(url, pid, clients)))
                    rows.sort(key=lambda r: r["p99_ms"])
                    row = rows[len(rows) // 2]
                    p99s.append(row["p99_ms"])
                    print(
                        f"{name + label:14} {row['clients']:>7} {row['idle_cpu_pct']:>10.1f} "
                        f"{row['p50_ms']:>8.0f} {row['p99_ms']:>8.0f} {row['max_ms']:>8.0f}"
                        f"  server {row['server_cpu']:.2f}, clients {row['client_cpu']:.2f}"
                        + (f"  (p99 of each run: {[round(r['p99_ms']) for r in rows]})" if args.repeat > 1 else ""),
                        flush=True,
                    )
                if len(p99s) == 2:
                    print(f"{'':14} {clients:>7} p99 ratio this tree / @{args.baseline}: {p99s[0] / p99s[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
