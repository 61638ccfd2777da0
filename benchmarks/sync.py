"""Sync benchmarks: a real pull and push between rhom.server and a client over loopback.

Run: ``bash scripts/bench.sh sync`` (``--quick`` for small sizes). The server runs in its
own process (``python -m rhom.server``); the client runs here. Reported:

* initial pull of N objects x 10 attributes: objects/s end to end, and the client-side
  apply rate (time inside page application) against raw sqlite3 ``executemany`` of the
  same rows into the same kind of table, measured in this run;
* peak RSS growth of the client during a large pull;
* push of 10k local changes (creates), end to end.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import rhom
from rhom.database import PRAGMAS
from rhom.sync import _pull

ATTRS = [f"attr{a}" for a in range(10)]


class BenchFixed(rhom.Model, sync=True):
    attr0 = rhom.CharField()
    attr1 = rhom.CharField()
    attr2 = rhom.CharField()
    attr3 = rhom.CharField()
    attr4 = rhom.CharField()
    attr5 = rhom.CharField()
    attr6 = rhom.CharField()
    attr7 = rhom.CharField()
    attr8 = rhom.CharField()
    attr9 = rhom.CharField()


class BenchBag(rhom.PropertyBagModel, sync=True):
    pass


class BenchPush(rhom.PropertyBagModel, sync=True):
    pass


@contextmanager
def server(objects: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BENCH_OBJECTS": str(objects)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhom.server", "benchmarks._sync_app:make_app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        env=env, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def timed_apply() -> Iterator[list[float]]:
    """Measure time spent applying pages (the client-side work), by wrapping apply_page."""
    spent = [0.0]
    original = _pull.apply_page

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    _pull.apply_page = wrapper  # type: ignore[assignment]
    try:
        yield spent
    finally:
        _pull.apply_page = original  # type: ignore[assignment]


def raw_executemany(tmp: Path, n: int, bag: bool) -> float:
    """The baseline: the same rows with sqlite3 executemany, in one transaction."""
    path = tmp / f"raw-{'bag' if bag else 'fixed'}.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for key, value in PRAGMAS:
        conn.execute(f"PRAGMA {key} = {value}")
    if bag:
        conn.execute("CREATE TABLE object_values (source_id BIGINT, attrib VARCHAR, object VARCHAR, value VARCHAR)")
        conn.execute("CREATE UNIQUE INDEX by_src_object ON object_values (object, attrib, source_id)")
        conn.execute("CREATE INDEX by_src_id ON object_values (source_id)")
        conn.execute("CREATE INDEX by_src_value ON object_values (attrib, source_id, value)")
        rows: list[tuple[object, ...]] = [
            (3, a, str(i), f"value {i} {j}") for i in range(1, n + 1) for j, a in enumerate(ATTRS)
        ]
        sql = "INSERT INTO object_values VALUES (?, ?, ?, ?)"
    else:
        cols = ", ".join(ATTRS)
        conn.execute(f"CREATE TABLE t (object VARCHAR PRIMARY KEY, {cols})")
        rows = [(str(i), *(f"value {i} {j}" for j in range(10))) for i in range(1, n + 1)]
        sql = f"INSERT INTO t VALUES ({', '.join('?' * 11)})"
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def rss_mb() -> float:
    """Peak resident memory of this process in MB.

    VmHWM belongs to the process image, unlike ru_maxrss, which Linux carries over from
    the parent through fork and exec (the child would report the parent's peak).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pull(url: str, data: Path, model: type, page_size: int) -> tuple[float, float, int]:
    rhom.setup(data, models=[model])
    try:
        client = rhom.SyncClient(url, threaded_mode=False, poll_interval=0, page_size=page_size)
        client.login("bench", "x")
        with timed_apply() as spent:
            start = time.perf_counter()
            result = client.do_sync_source(model)
            total = time.perf_counter() - start
        assert result.status == "ok", result.notification
        count = model.count()
        client.close()
        return total, spent[0], count
    finally:
        rhom.shutdown()


def bench_push(url: str, data: Path, n: int) -> float:
    rhom.setup(data, models=[BenchPush])
    try:
        client = rhom.SyncClient(url, threaded_mode=False, poll_interval=0)
        client.login("pusher", "x")
        with rhom.get_database("user").atomic():
            for i in range(n):
                BenchPush.create(name=f"new {i}", price=str(i))
        start = time.perf_counter()
        result = client.do_sync_source(BenchPush)  # the push, and the pull that brings the links
        elapsed = time.perf_counter() - start
        assert result.status == "ok" and not rhom.have_local_changes(), result.notification
        client.close()
        return elapsed
    finally:
        rhom.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--rss-objects", type=int, default=1_000_000, help="objects for the RSS run")
    parser.add_argument("--push", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-child", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        url, folder = args.rss_child
        rhom.setup(Path(folder), models=[BenchBag])
        rhom.shutdown()
        before = rss_mb()
        total, _apply, count = pull(url, Path(folder), BenchBag, 2000)
        print(rss_mb() - before, count, total)
        return
    if args.quick:
        args.objects, args.rss_objects, args.push = 5_000, 20_000, 1_000
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with server(args.objects) as (url, _proc):
            for model, bag in ((BenchFixed, False), (BenchBag, True)):
                total, apply, count = pull(url, tmp / f"pull-{model.__name__}", model, 2000)
                raw = raw_executemany(tmp, count, bag)
                layout = "property bag" if bag else "fixed schema"
                goal = 0.3 if bag else 0.6
                ratio = raw / apply
                print(f"pull {count} objects ({layout}): {count / total:9.0f} objects/s end to end; "
                      f"apply {count / apply:9.0f} objects/s vs sqlite3 executemany {count / raw:9.0f} "
                      f"-> {ratio:4.2f}x (goal >= {goal}x: {'met' if ratio >= goal else 'MISSED'})")  # fmt: skip
            elapsed = bench_push(url, tmp / "push", args.push)
            print(f"push {args.push} creates (and pull their links): {elapsed:6.2f} s, "
                  f"{args.push / elapsed:8.0f} changes/s end to end")  # fmt: skip
        with server(args.rss_objects) as (url, _proc):
            # a fresh process, so that the peak RSS is this pull's alone
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.sync", "--rss-child", url, str(tmp / "rss")],
                check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
            ).stdout  # fmt: skip
            growth, count, total = (float(x) for x in out.split())
            verdict = "met" if growth <= 64 else "MISSED"
            print(f"pull {count:.0f} objects (property bag): peak RSS growth {growth:6.1f} MB "
                  f"(goal <= 64 MB: {verdict}), {count / total:8.0f} objects/s")  # fmt: skip


if __name__ == "__main__":
    main()
