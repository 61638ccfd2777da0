"""Kill campaign: rhom.server killed with kill -9 while devices push changes.

    .venv/bin/python -m benchmarks.kill_campaign [--clients 4] [--kills 25] [--ops 400]

Each device process (its own data folder and user) makes products in batches of ten
changes, among which it also changes the price of, and deletes, products it made before,
and syncs until every change is pushed and settled (benchmarks/_kill_client.py).
Meanwhile the server process (SQLite store on disk, the shop's SQLite backend) is killed
with SIGKILL and started again on the same port: most kills are placed right after the
backend committed a change of a push, before the server could record it or answer; the
others land at random moments. Then every device syncs once more, and the backend and
the devices are compared: every product a device kept is in the backend once, with its
last price; none it deleted is; every device holds exactly the backend's products. Run
twice: with the shop's adapters, which store each create's idempotency key with the
record, and with adapters that ignore it (``plain``): a create whose server was killed
between the backend's commit and the link's record is then made twice, and a delete of
the first record, made while the create was in doubt, cannot reach it.
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
from pathlib import Path
from typing import Any

import httpx

from rhom.server.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


def start_server(port: int, tmp: Path, plain: bool) -> subprocess.Popen[bytes]:
    """The campaign's server on ``port``, its store and backend in ``tmp``; a file
    ``tmp/kill-next-write`` kills it right after the backend commits the next Product
    create, update or delete (after ``n`` more if it holds the number ``n``)."""
    env = {
        **os.environ,
        "BENCH_BACKEND": str(tmp / "backend.sqlite"),
        "BENCH_PLAIN": "1" if plain else "0",
        "BENCH_KILL_FLAG": str(tmp / "kill-next-write"),
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


def _kill(server: subprocess.Popen[bytes], tmp: Path, rng: random.Random) -> bool:
    """Kill the server once; whether the kill landed in a push.

    Most kills are placed (the file ``kill-next-write`` read by benchmarks/_kill_app.py):
    the server kills itself right after the backend committed a create, an update or a
    delete of a push, before it could record the outcome or answer. The others land at a
    random moment. A placed kill that no push reaches in 5 s is made at once.
    """
    if rng.random() < 0.8:
        flag = tmp / "kill-next-write"
        flag.write_text(str(rng.randint(0, 4)))
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            flag.unlink(missing_ok=True)
        else:
            return True
    server.send_signal(signal.SIGKILL)
    server.wait()
    return False


def _reports(commands: list[list[str]]) -> list[dict[str, Any]]:
    """Each device syncs until it has nothing left to push and reports its products; two
    rounds, one device after the other, so that each also sees what the others pushed
    in the first."""
    reports: list[dict[str, Any]] = []
    for _ in range(2):
        reports = [_summary(subprocess.run([*c, "--report"], cwd=ROOT, capture_output=True, timeout=120).stdout)
                   for c in commands]  # fmt: skip
    return reports


def campaign(clients: int, kills: int, ops: int, plain: bool, seed: int, seconds: float = 300) -> dict[str, Any]:
    """Kill the server ``kills`` times while ``clients`` devices each make ``ops``
    products and change and delete some of them; then let every device sync, and compare.

    Returns the counts: ``kills`` (``mid_push``: those that landed in a push),
    ``duplicates`` (backend records beyond one per product), ``lost`` (a product a
    device made and kept, missing from the backend, or missing its last price),
    ``resurrected`` (a product a device deleted, still in the backend), ``divergent``
    (devices whose products differ from the backend's), ``unsettled`` (devices left
    with changes not pushed) and ``refused`` (creates the server refused, then retried).
    """
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, tmp, plain)
        done = mid_push = 0
        try:
            commands = [[sys.executable, "-m", "benchmarks._kill_client", url, str(tmp / f"device{i}"), f"user{i}",
                         str(ops), str(seconds), str(seed + i)] for i in range(clients)]  # fmt: skip
            procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE) for c in commands]
            try:
                while done < kills and any(p.poll() is None for p in procs):
                    time.sleep(rng.uniform(0.1, 0.5))
                    mid_push += _kill(server, tmp, rng)
                    done += 1
                    server = start_server(port, tmp, plain)
                outputs = [_summary(p.communicate(timeout=seconds + 60)[0]) for p in procs]
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(30)
            # after all of them are done, every device syncs again: each sees the others' changes
            reports = _reports([c[:6] for c in commands])
        finally:  # never leave a process behind, whatever failed
            if server.poll() is None:
                server.kill()
            server.wait(30)
        conn = sqlite3.connect(tmp / "backend.sqlite")
        backend: dict[str, list[float]] = {}
        for product, price in conn.execute("SELECT name, price FROM product WHERE brand = 'kill'"):
            backend.setdefault(product, []).append(float(price))
        conn.close()
    backend = {n: sorted(p) for n, p in sorted(backend.items())}
    expected = {n: price for o in outputs for n, price in o.get("expected", {}).items()}
    kept = {n: price for n, price in expected.items() if price is not None}
    return {
        "ops": clients * ops,
        "kills": done,
        "mid_push": mid_push,
        "duplicates": sum(len(prices) - 1 for prices in backend.values()),
        "lost": sum(1 for n, price in kept.items() if price not in backend.get(n, [])),
        "resurrected": sum(1 for n, price in expected.items() if price is None and n in backend),
        "resurrected_names": sorted(n for n, price in expected.items() if price is None and n in backend)[:20],
        "divergent": sum(1 for r in reports if r.get("local") != backend),
        "unsettled": sum(1 for o in [*outputs, *reports] if not o.get("settled")),
        "refused": sum(len(o.get("errors", [])) for o in [*outputs, *reports]),
        "messages": sorted({m for o in [*outputs, *reports] for m in o.get("errors", [])})[:3],
    }


def _summary(out: bytes) -> dict[str, Any]:
    """A device's last line of output (its JSON summary), or an empty one if it died."""
    lines = out.decode().strip().splitlines()
    found: dict[str, Any] = json.loads(lines[-1]) if lines else {"errors": ["no summary"], "settled": False}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--ops", type=int, default=400, help="products each device makes (it also changes some)")
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    print(f"kill campaign: {args.clients} devices x {args.ops} products made, changed and deleted, {args.kills} "
          f"SIGKILLs of the server, {os.cpu_count()} cores", flush=True)  # fmt: skip
    failed = False
    for plain in (False, True):
        row = campaign(args.clients, args.kills, args.ops, plain, args.seed)
        label = "plain backend (keys ignored)" if plain else "idempotent backend (shop)"
        print(f"{label:30} kills {row['kills']} ({row['mid_push']} in a push): duplicates {row['duplicates']}, "
              f"lost {row['lost']}, resurrected {row['resurrected']}, divergent devices {row['divergent']}, "
              f"unsettled {row['unsettled']}, refused then retried {row['refused']}", flush=True)  # fmt: skip
        bad = row["lost"] + row["divergent"] + row["unsettled"] + row["refused"]
        if not plain:
            bad += row["duplicates"] + row["resurrected"]
        failed |= bad > 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
