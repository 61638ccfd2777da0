"""Kill campaign: rhom.server killed with kill -9 while clients push creates.

    .venv/bin/python -m benchmarks.kill_campaign [--clients 4] [--kills 10] [--creates 500]

Each client process (its own device and user) creates products in batches of ten and
syncs until every create is linked. Meanwhile the server process (SQLite store on disk,
the shop's SQLite backend) is killed with SIGKILL at random moments and started again on
the same port. At the end the backend is counted: every product a client made must be
there once. Run twice: with the shop's adapters, which store each create's idempotency
key with the record, and with adapters that ignore it (``plain``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from rhom.server.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


def start_server(port: int, tmp: Path, plain: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BENCH_BACKEND": str(tmp / "backend.sqlite"),
        "BENCH_PLAIN": "1" if plain else "0",
        "RHOM_SERVER_STORE": f"sqlite:///{tmp / 'server.db'}",
    }
    command = [sys.executable, "-m", "rhom.server", "benchmarks._kill_app:make_app", "--factory",
               "--port", str(port), "--log-level", "critical"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc


def campaign(clients: int, kills: int, creates: int, plain: bool, seed: int, seconds: float = 300) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, tmp, plain)
        devices: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(clients):
                command = [sys.executable, "-m", "benchmarks._kill_client", url, str(tmp / f"device{i}"),
                           f"user{i}", str(creates), str(seconds)]  # fmt: skip
                devices.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE))
            done = 0
            while done < kills and any(d.poll() is None for d in devices):
                time.sleep(rng.uniform(0.2, 0.8))
                server.send_signal(signal.SIGKILL)
                server.wait()
                done += 1
                server = start_server(port, tmp, plain)
            outputs = [_summary(d.communicate(timeout=seconds + 60)[0]) for d in devices]
        finally:  # never leave a process behind, whatever failed
            for proc in [*devices, server]:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(30)
                if proc.stdout is not None:
                    proc.stdout.close()
        conn = sqlite3.connect(tmp / "backend.sqlite")
        names = Counter(row[0] for row in conn.execute("SELECT name FROM product WHERE brand = 'kill'"))
        conn.close()
    expected = {f"user{i} {n}" for i in range(clients) for n in range(1, creates + 1)}
    return {
        "creates": clients * creates,
        "kills": done,
        "duplicates": sum(count - 1 for count in names.values() if count > 1),
        "lost": len(expected - set(names)),
        "unlinked": sum(creates - len(o["linked"]) for o in outputs),
        "refused": sum(len(o["errors"]) for o in outputs),
        "messages": sorted({m for o in outputs for m in o["errors"]})[:3],
    }


def _summary(out: bytes) -> dict[str, Any]:
    """A device's last line of output (its JSON summary), or an empty one if it died."""
    lines = out.decode().strip().splitlines()
    found: dict[str, Any] = json.loads(lines[-1]) if lines else {"made": 0, "linked": {}, "errors": ["no summary"]}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--creates", type=int, default=500, help="per client")
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    print(f"kill campaign: {args.clients} clients x {args.creates} creates, {args.kills} SIGKILLs of the server, "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip
    failed = False
    for plain in (False, True):
        row = campaign(args.clients, args.kills, args.creates, plain, args.seed)
        label = "plain backend (keys ignored)" if plain else "idempotent backend (shop)"
        print(f"{label:30} creates {row['creates']}, kills {row['kills']}: duplicates {row['duplicates']}, "
              f"lost {row['lost']}, unlinked {row['unlinked']}, refused then retried {row['refused']}",
              flush=True)  # fmt: skip
        limit = row["kills"] if plain else 0
        failed |= row["lost"] > 0 or row["unlinked"] > 0 or row["refused"] > 0 or row["duplicates"] > limit
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
