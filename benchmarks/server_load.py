"""Load benchmark of rhom.server: N concurrent simulated clients, SQLite, Redis and Redis
Cluster stores.

    .venv/bin/python benchmarks/server_load.py [--clients 10 100] [--stores sqlite redis cluster]
    .venv/bin/python benchmarks/server_load.py --failover [--clients 20]

Each simulated client logs in as its own user, creates a client id, pages the 1 000
objects of ``Product`` with ``p_size=200`` acknowledging every page, pushes one create,
and queries until the page with its create-link (then acknowledges it). The run checks
that every client received every object and its link. The server runs in its own process
(``python -m rhom.server``), so its CPU time is read from ``/proc`` and divided by the
number of requests. Goals at 100 clients: at most 3 ms of server CPU per request,
p99 latency under 500 ms, no errors.

The clients poll back to back, without pause. The adapter's ``poll_interval`` is 300 s
by default, so each user's data is queried once, at its first query; with
``--poll-interval 0`` every query runs the adapter's query again (a ``--baseline``
revision from before that option always serves 300).

``redis`` is one private redis-server, ``cluster`` a private Redis Cluster of 3 masters and
3 replicas on this machine (rhom.server.testing.redis_cluster; each write waits for its
replica); ``redis2`` and ``cluster2`` run two server processes (``--workers 2``). The
Redis CPU per request adds up every redis-server of the store (``INFO cpu``), replicas
included.

``--failover`` measures a Redis Cluster master's death instead: two server processes on a
cluster (``cluster-node-timeout`` 1 s), clients querying back to back, the master of the
first client's change log killed with SIGKILL; it reports the time from the kill to that
client's first successful query, and the requests answered 503 or 504 meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._server_app import OBJECTS, seed  # noqa: E402
from benchmarks._server_http import LightClient  # noqa: E402
from rhom.server.testing import free_port, redis_cluster, redis_server  # noqa: E402

PAGE_SIZE = 200
POLL_INTERVAL = 300  # the adapter's (--poll-interval): 300, each user's data is queried once


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def call(self, http: LightClient, method: str, path: str, *, label: str = "", **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            reply = await http.request(method, path, **kw)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.errors.append(f"{method} {path}: {exc!r}")
            return None
        finally:
            self.latencies.append(time.perf_counter() - started)
            self.kinds.append(label or f"{method} {path}")
        if reply.status_code != 200:
            self.errors.append(f"{method} {path}: {reply.status_code} {reply.text[:80]}")
            return None
        return reply


async def simulate(url: str, user: str, stats: Stats, expected: dict[str, dict[str, str]]) -> None:
    address = httpx.URL(url)
    http = LightClient(address.host, address.port or 80)
    try:
        await _simulate(http, user, stats, expected)
    finally:
        await http.close()


async def _simulate(http: LightClient, user: str, stats: Stats, expected: dict[str, dict[str, str]]) -> None:
    if True:
        login = {"login": user, "password": "x", "remember_me": 1}
        if await stats.call(http, "POST", "/rc/v1/app/login", json_body=login) is None:
            return
        created = await stats.call(http, "POST", "/rc/v1/clients")
        if created is None:
            return
        headers = {"X-RhoConnect-CLIENT-ID": created.json()["client"]["client_id"]}
        received: dict[str, dict[str, str]] = {}
        links = await pull(http, stats, headers, received)
        temp_id = f"t-{user}"
        body = {"source_name": "Product", "create": {temp_id: {"name": f"new by {user}"}}}
        await stats.call(http, "POST", "/app/v1/Product", json_body=body, headers=headers)
        links.update(await pull(http, stats, headers, received))
        missing = [oid for oid, obj in expected.items() if received.get(oid) != obj]
        if missing:
            stats.errors.append(f"{user}: {len(missing)} objects missing or wrong")
        if temp_id not in links:
            stats.errors.append(f"{user}: no create-link for {temp_id}")


async def pull(
    http: LightClient,
    stats: Stats,
    headers: dict[str, str],
    received: dict[str, dict[str, str]],
) -> dict[str, str]:
    links: dict[str, str] = {}
    params: dict[str, Any] = {"p_size": PAGE_SIZE, "version": 3}
    for _ in range(100):
        label = "query without token" if "token" not in params else "query acknowledging a page"
        reply = await stats.call(http, "GET", "/app/v1/Product", params=dict(params), headers=headers, label=label)
        if reply is None:
            return links
        page = reply.json()
        commands = page[5]
        for oid, attrs in commands.get("insert", {}).items():
            received.setdefault(oid, {}).update(attrs)
        links.update({temp: link["l"] for temp, link in commands.get("links", {}).items()})
        token = page[1]["token"]
        if not token:
            return links
        params["token"] = token
    stats.errors.append("paging did not end")
    return links


def cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` and of its live children (``--workers`` processes)."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def redis_cpu_seconds(store: str) -> float:
    """CPU time of every redis-server a store URL names (0 for other stores)."""
    import redis

    if store.startswith("redis+cluster://"):
        nodes = [hp.rsplit(":", 1) for hp in store.split("://", 1)[1].split("/", 1)[0].split(",")]
    elif store.startswith("redis://"):
        nodes = [store.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)]
    else:
        return 0.0
    total = 0.0
    for host, port in nodes:
        with contextlib.suppress(redis.RedisError), redis.Redis(host=host, port=int(port)) as node:
            cpu = node.info("cpu")
            total += float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


@contextlib.contextmanager
def server_process(
    store: str, *, root: Path = ROOT, workers: int = 1, app: str = "benchmarks._server_app:make_app"
) -> Iterator[tuple[str, int]]:
    """``python -m rhom.server`` serving the benchmark ``app`` factory from the checkout ``root``."""
    port = free_port()
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "RHOM_SERVER_STORE": store, "PYTHONPATH": path, "BENCH_POLL_INTERVAL": str(POLL_INTERVAL)}
    command = [sys.executable, "-m", "rhom.server", app]
    command += ["--factory", "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=root, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(500):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url + "/", timeout=1)
                break
            time.sleep(0.02)
        time.sleep(0.5 if workers > 1 else 0)  # every worker up, not just the first
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def run(store_name: str, store: str, clients: int, *, root: Path = ROOT, workers: int = 1) -> dict[str, Any]:
    expected = seed()
    with server_process(store, root=root, workers=workers) as (url, pid):
        stats = Stats()
        cpu_before = cpu_seconds(pid)
        redis_before = redis_cpu_seconds(store)
        own_before = time.process_time()
        started = time.perf_counter()

        async def main() -> None:
            users = [f"bench-{store_name}-{clients}-{i}" for i in range(clients)]
            await asyncio.gather(*(simulate(url, u, stats, expected) for u in users))

        asyncio.run(main())
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        redis_cpu = redis_cpu_seconds(store) - redis_before
        own = time.process_time() - own_before
    requests = len(stats.latencies)
    ordered = sorted(stats.latencies)
    return {
        "store": store_name if workers == 1 else f"{store_name}x{workers}",
        "clients": clients,
        "requests": requests,
        "req_per_s": requests / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": len(stats.errors),
        "cpu_ms_per_req": cpu / requests * 1000,
        "redis_cpu_ms_per_req": redis_cpu / requests * 1000,
        "first_error": stats.errors[0] if stats.errors else "",
        "slowest": _slowest_kinds(stats),
        "client_cpu_ms_per_req": own / requests * 1000,
        "load": os.getloadavg()[0],
    }


def _slowest_kinds(stats: Stats) -> str:
    """Which requests make up the slowest 1 %: "GET /app/v1/Product 8, ..."."""
    ranked = sorted(zip(stats.latencies, stats.kinds, strict=True), reverse=True)
    top = ranked[: max(1, len(ranked) // 100)]
    counts: dict[str, int] = {}
    for _, kind in top:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def report(rows: list[dict[str, Any]]) -> None:
    print(f"\nrhom.server load: {OBJECTS} objects, p_size {PAGE_SIZE}, one create per client, "
          f"adapter poll_interval {POLL_INTERVAL}")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; rows marked @REV serve that revision")
    head = f"{'store':16} {'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(head + f" {'errors':>6} {'CPU ms/req':>10} {'Redis ms/req':>12}")
    for r in rows:
        print(
            f"{r['store']:16} {r['clients']:>7} {r['requests']:>8} {r['req_per_s']:>8.1f}"
            f" {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>6} {r['cpu_ms_per_req']:>10.2f}"
            f" {r.get('redis_cpu_ms_per_req', 0.0):>12.2f}"
        )
        print(
            f"        slowest 1%: {r['slowest']}; load average {r['load']:.1f};"
            f" load generator CPU {r['client_cpu_ms_per_req']:.2f} ms/request"
        )
        if len(r.get("runs", [])) > 1:
            print(f"        p99 of each run (ms): {r['runs']}; errors counted over all runs")
        if r["first_error"]:
            print(f"        first error: {r['first_error']}")
    for r in rows:
        if r["clients"] >= 100 and "@" not in r["store"]:
            ok = r["cpu_ms_per_req"] <= 3 and r["p99_ms"] < 500 and r["errors"] == 0
            verdict = "meets" if ok else "MISSES"
            print(
                f"{r['store']} at {r['clients']} clients {verdict} the goals "
                "(<= 3 ms CPU/request, p99 < 500 ms, no errors)"
            )


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """A temporary git worktree of ``rev``, to serve a baseline from the same run."""
    folder = Path(tempfile.mkdtemp(prefix="rhom-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def main() -> int:
    global POLL_INTERVAL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 100])
    parser.add_argument(
        "--stores", nargs="+", default=["sqlite", "redis", "redis2"],
        help="sqlite, redis (one process), redis2 (two processes on one Redis), cluster, cluster2 (on a Redis Cluster)",
    )  # fmt: skip
    parser.add_argument("--failover", action="store_true", help="time a Redis Cluster master's death instead")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the row shows the median run")
    parser.add_argument("--baseline", metavar="REV", help="also serve from this git revision, row by row")
    parser.add_argument(
        "--poll-interval", type=int, default=POLL_INTERVAL,
        help="the adapter's poll interval: 300 queries each user's data once, 0 at every query",
    )  # fmt: skip
    args = parser.parse_args()
    POLL_INTERVAL = args.poll_interval
    if args.failover:
        return failover(args.clients[0])
    rows = []
    with contextlib.ExitStack() as stack:
        trees = [("", ROOT)]
        if args.baseline:
            trees.append((f"@{args.baseline}", stack.enter_context(checkout(args.baseline))))
        for name in args.stores:
            workers = 2 if name.endswith("2") else 1
            kind = name.rstrip("2")
            for clients in args.clients:
                for label, root in trees:
                    if label and kind == "cluster" and not (root / "rhom/server/_redis_cluster_store.py").exists():
                        continue  # a revision before the cluster store
                    runs = []
                    for _ in range(args.repeat):  # a fresh store and server process per run
                        if kind == "sqlite":
                            folder = stack.enter_context(tempfile.TemporaryDirectory())
                            store = f"sqlite:///{folder}/bench.db"
                        elif kind == "cluster":
                            store = stack.enter_context(redis_cluster()).url
                        else:
                            store = stack.enter_context(redis_server())
                        runs.append(run(kind, store, clients, root=root, workers=workers))
                    runs.sort(key=lambda r: r["p99_ms"])
                    median = dict(runs[len(runs) // 2])
                    median["store"] += label
                    median["errors"] = sum(r["errors"] for r in runs)
                    median["runs"] = [round(r["p99_ms"]) for r in runs]
                    rows.append(median)
    report(rows)
    return 1 if any(r["errors"] for r in rows) else 0


def failover(clients: int) -> int:
    """Kill the master of the first client's change log while ``clients`` clients query
    two server processes on a cluster; print how long until that client is served again."""
    from redis.crc import key_slot

    from rhom.server._redis_cluster_store import RedisClusterStore

    seed()
    with redis_cluster() as nodes, server_process(nodes.url, workers=2) as (url, _):
        users = [f"failover-{i}" for i in range(clients)]
        probe = RedisClusterStore(nodes.url)
        slot = key_slot(probe._log_keys(f"u/{users[0]}:Product")[0].encode())
        master = probe._cluster().nodes_manager.slots_cache[slot][0].port
        probe.close()
        outcome: dict[str, Any] = {"statuses": {}}

        async def client(user: str, first: bool, killed: asyncio.Event) -> None:
            address = httpx.URL(url)
            http = LightClient(address.host, address.port or 80)
            try:
                login = {"login": user, "password": "x", "remember_me": 1}
                await http.request("POST", "/rc/v1/app/login", json_body=login)
                made = (await http.request("POST", "/rc/v1/clients")).json()
                headers = {"X-RhoConnect-CLIENT-ID": made["client"]["client_id"]}
                params = {"p_size": PAGE_SIZE, "version": 3}
                while "served" not in outcome:
                    reply = await http.request("GET", "/app/v1/Product", params=dict(params), headers=headers)
                    if killed.is_set():
                        code = str(reply.status_code)
                        outcome["statuses"][code] = outcome["statuses"].get(code, 0) + 1
                        if first and reply.status_code == 200:
                            outcome["served"] = time.perf_counter() - outcome["killed"]
                    token = reply.json()[1]["token"] if reply.status_code == 200 else ""
                    params = {"p_size": PAGE_SIZE, "version": 3, **({"token": token} if token else {})}
            finally:
                await http.close()

        async def main() -> None:
            killed = asyncio.Event()
            tasks = [asyncio.create_task(client(u, i == 0, killed)) for i, u in enumerate(users)]
            await asyncio.sleep(3)  # every client paging
            outcome["killed"] = time.perf_counter()
            nodes.kill(int(master))
            killed.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 120)

        asyncio.run(main())
    print(f"\nRedis Cluster failover: {clients} clients on 2 server processes, cluster-node-timeout 1 s, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"kill -9 of a master to the first successful query of a client whose log it held: "
          f"{outcome['served']:.2f} s; answers meanwhile by status: {outcome['statuses']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
