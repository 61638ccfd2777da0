"""SqlAdapter with change capture beside re-query, on the same table, in the same run.

Run: ``bash scripts/bench.sh sql_capture`` (``--rows N``, default 100,000; ``--rounds``,
default 5; ``--databases sqlite,postgresql``: PostgreSQL runs on a private cluster,
``rhom.server.sql.testing.postgres_server``, when its binaries are there).

The server runs in its own process (``benchmarks/sql_capture_app.py``) with two sources
over one ``items`` table of N rows of one user: ``Captured`` (triggers installed, reads
``rhom_changes``) and ``Requeried`` (the same adapter without ``changes``: each refresh
reads the whole partition). Each source syncs into its own device. Before every measured
sync the admin API asks for one refresh of the source (both poll only when told), so a
sync is one refresh plus its pages. Reported per database and source:

* the device's initial pull of N rows: seconds end to end, server CPU;
* a sync after 100 rows changed by plain SQL: server CPU per sync (median of the rounds),
  and the same with nothing changed.

Server CPU is the server process's user + system time across the sync, from ``/proc``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import rhom
from rhom.server.sql import install_triggers
from rhom.server.sql.testing import find_postgres, postgres_server

ROOT = Path(__file__).resolve().parent.parent
USER = "bench"
FILL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
        INSERT INTO items (id, owner, name, price, quantity, note)
        SELECT i, :user, 'Item ' || i, i % 1000, i % 7, 'note ' || i FROM n""",
    "postgresql": """
        INSERT INTO items (id, owner, name, price, quantity, note)
        SELECT i, :user, 'Item ' || i, i % 1000, i % 7, 'note ' || i FROM generate_series(1, :rows) AS i""",
}
TABLE = """CREATE TABLE items (id INTEGER PRIMARY KEY, owner VARCHAR(40) NOT NULL, name VARCHAR(80) NOT NULL,
    price REAL, quantity INTEGER, note VARCHAR(200))"""


def model(name: str) -> Any:
    class Item(rhom.Model, sync=True, source_name=name):
        name = rhom.CharField()
        price = rhom.FloatField()
        quantity = rhom.IntegerField()
        note = rhom.CharField()

    return Item


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/items.sqlite"
        return
    with postgres_server() as url:
        yield url


@contextlib.contextmanager
def server(url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhom.server", "benchmarks.sql_capture_app:make_app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "BENCH_SQL_URL": url}, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError("the benchmark server exited") from None
                time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Device:
    """One device syncing one source, opened when it syncs (one rhom setup at a time)."""

    def __init__(self, folder: Path, url: str, source: str) -> None:
        self.folder, self.url, self.source = folder / source, url, source

    def sync(self, proc: subprocess.Popen[bytes]) -> tuple[float, float]:
        """One sync after one refresh: (seconds, server CPU seconds)."""
        rhom.setup(self.folder, models=[model(self.source)])
        try:
            with rhom.SyncClient(self.url, threaded_mode=False, poll_interval=0) as client:
                if not client.is_logged_in():
                    client.login(USER, "")
                path = f"/rc/v1/readstate/users/{USER}/sources/{self.source}"
                headers = {"X-RhoConnect-API-TOKEN": "bench"}
                httpx.put(self.url + path, data={"refresh_time": "0"}, headers=headers).raise_for_status()
                cpu, start = cpu_seconds(proc.pid), time.perf_counter()
                result = client.do_sync()
                seconds, used = time.perf_counter() - start, cpu_seconds(proc.pid) - cpu
                assert result.status == "complete", result
        finally:
            rhom.shutdown()
        return seconds, used


def run(kind: str, rows: int, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="rhom-bench-sql-"))
    try:
        with database(kind, folder) as url:
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text(TABLE))
                conn.execute(sa.text(FILL[kind]), {"rows": rows, "user": USER})
            install_triggers(engine, "items", partition_by="owner")
            with server(url) as (base, proc):
                devices = {name: Device(folder, base, name) for name in ("Captured", "Requeried")}
                for name, device in devices.items():
                    seconds, used = device.sync(proc)
                    print(f"{kind:<10} {name:<9}  initial pull of {rows:,} rows: {seconds:6.2f} s, "
                          f"server CPU {used:6.2f} s", flush=True)  # fmt: skip
                changed: dict[str, list[float]] = {name: [] for name in devices}
                idle: dict[str, list[float]] = {name: [] for name in devices}
                for r in range(rounds):
                    with engine.begin() as conn:  # 100 rows, plain SQL, another connection
                        conn.execute(
                            sa.text("UPDATE items SET price = price + 1, note = :note WHERE id % :step = :r"),
                            {"note": f"round {r}", "step": rows // 100, "r": r},
                        )
                    for name, device in devices.items():
                        changed[name].append(device.sync(proc)[1])
                    for name, device in devices.items():
                        idle[name].append(device.sync(proc)[1])
                base_ms = statistics.median(changed["Requeried"]) * 1000
                for name in devices:
                    ms, idle_ms = statistics.median(changed[name]) * 1000, statistics.median(idle[name]) * 1000
                    print(f"{kind:<10} {name:<9}  sync after 100 rows changed: server CPU {ms:8.1f} ms "
                          f"({ms / base_ms:.3f} of re-query); nothing changed: {idle_ms:8.1f} ms",
                          flush=True)  # fmt: skip
            engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    for kind in args.databases.split(","):
        if kind == "postgresql" and find_postgres() is None:
            print("postgresql: skipped, no initdb/postgres (scripts/ensure-postgresql.sh installs them)")
            continue
        run(kind, args.rows, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
