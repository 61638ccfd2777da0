"""Sync benchmarks: real pulls and a push between rhom.server and a client over loopback.

Run: ``bash scripts/bench.sh sync`` (about two minutes; ``--large`` adds the 1M-object
pull and bulk file, about five more, ``--quick`` uses small sizes). The server runs in its own process
(``python -m rhom.server``) on its embedded SQLite store, fed through
``rhom.server.backend`` at start-up; the client runs here. Reported, each line as soon as
it is measured:

* initial pull of N objects x 10 attributes (fixed schema) at each size: objects/s end
  to end and its ratio to the smallest size (flat = a page costs what it sends), server
  CPU per page and the server's peak RSS, read from ``/proc``;
* the client-side apply rate against raw sqlite3 ``executemany`` of the same rows into
  the same kind of table, measured in this run (fixed schema and property bag);
* a push of 10k local changes (creates), end to end;
* the client's peak RSS growth during the largest pull (a fresh process);
* storage of an app-partition source with 1 and with 1,000 clients;
* a bulk data file of N objects at each size: time to build and to download it, and
  the server's peak RSS after loading the objects and after the bulk file (flat = the
  server never holds the source).
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
def server(objects: int, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """rhom.server in its own process with ``objects`` generated objects per source."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    full_env = {**os.environ, "BENCH_OBJECTS": str(objects), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhom.server", "benchmarks._sync_app:make_app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        env=full_env, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(36000):  # loading 1M objects takes a while
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError("the benchmark server exited") from None
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


PAGE = 2000


def bench_sizes(tmp: Path, sizes: list[int]) -> None:
    print(f"initial pull, fixed schema, 10 attributes, p_size {PAGE}, end to end over loopback:", flush=True)
    print(f"{'objects':>9} {'objects/s':>10} {'vs smallest':>11} {'server CPU/page':>16} "
          f"{'server peak RSS':>16} {'start + load':>20}", flush=True)  # fmt: skip
    first = 0.0
    for n in sizes:
        started = time.perf_counter()
        with server(n, BENCH_BAG="0") as (url, proc):
            loaded = time.perf_counter() - started
            cpu = cpu_seconds(proc.pid)
            total, _apply, count = pull(url, tmp / f"size-{n}", BenchFixed, PAGE)
            cpu = cpu_seconds(proc.pid) - cpu
            rss = peak_rss_mb(proc.pid)
        assert count == n, (count, n)
        rate = n / total
        first = first or rate
        pages = n // PAGE + 1
        print(f"{n:>9} {rate:>10.0f} {rate / first:>10.2f}x {cpu / pages * 1000:>13.1f} ms "
              f"{rss:>13.0f} MB {n / loaded:>13.0f} obj/s", flush=True)  # fmt: skip


def bulk_file(url: str, dest: Path) -> tuple[float, float]:
    """Log in as the benchmark user, ask for a bulk file of BenchFixed and download it;
    return the seconds until the file was ready and those of the download."""
    with httpx.Client(base_url=url, timeout=600) as http:
        http.post("/rc/v1/app/login", json={"login": "bench", "password": "x"}).raise_for_status()
        client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
        body = {"partition": "user", "sources": ["BenchFixed"], "client_id": client_id}
        started = time.perf_counter()
        while (result := http.post("/rc/v1/app/bulk_data", json=body).json()) == {"result": "wait"}:
            time.sleep(0.05)
        built = time.perf_counter() - started
        with http.stream("GET", result["url"]) as reply, dest.open("wb") as out:
            reply.raise_for_status()
            for piece in reply.iter_bytes():
                out.write(piece)
        return built, time.perf_counter() - started - built


def bench_bulk(tmp: Path, sizes: list[int]) -> None:
    print("bulk data file of BenchFixed (property bag, 10 attributes), built and downloaded:", flush=True)
    print(f"{'objects':>9} {'build':>8} {'download':>9} {'file':>9} {'server RSS after load':>22} "
          f"{'peak after bulk':>16}", flush=True)  # fmt: skip
    for n in sizes:
        with server(n, BENCH_BAG="0") as (url, proc):
            loaded = peak_rss_mb(proc.pid)
            dest = tmp / f"bulk-{n}.data"
            built, fetched = bulk_file(url, dest)
            peak = peak_rss_mb(proc.pid)
        print(f"{n:>9} {built:>7.1f}s {fetched:>8.1f}s {dest.stat().st_size / 1e6:>6.0f} MB "
              f"{loaded:>19.0f} MB {peak:>13.0f} MB", flush=True)  # fmt: skip
        dest.unlink()


def bench_apply(tmp: Path, n: int) -> None:
    print(f"client apply vs sqlite3 executemany of the same rows ({n} objects):", flush=True)
    with server(n) as (url, _proc):
        for model, bag in ((BenchFixed, False), (BenchBag, True)):
            total, apply, count = pull(url, tmp / f"pull-{model.__name__}", model, PAGE)
            raw = raw_executemany(tmp, count, bag)
            layout = "property bag" if bag else "fixed schema"
            goal = 0.3 if bag else 0.6
            ratio = raw / apply
            print(f"  {layout}: {count / total:9.0f} objects/s end to end; apply {count / apply:9.0f} "
                  f"objects/s vs executemany {count / raw:9.0f} -> {ratio:4.2f}x "
                  f"(goal >= {goal}x: {'met' if ratio >= goal else 'MISSED'})", flush=True)  # fmt: skip


def bench_push_line(tmp: Path, n: int) -> None:
    with server(0, BENCH_BAG="0") as (url, _proc):
        elapsed = bench_push(url, tmp / "push", n)
    print(f"push {n} creates (and pull their links): {elapsed:6.2f} s, "
          f"{n / elapsed:8.0f} changes/s end to end", flush=True)  # fmt: skip


def bench_client_rss(tmp: Path, n: int) -> None:
    with server(n) as (url, _proc):
        # a fresh process, so that the peak RSS is this pull's alone
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.sync", "--rss-child", url, str(tmp / "rss")],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
        ).stdout  # fmt: skip
    growth, count, total = (float(x) for x in out.split())
    verdict = "met" if growth <= 64 else "MISSED"
    print(f"client pull of {count:.0f} objects (property bag): peak RSS growth {growth:6.1f} MB "
          f"(goal <= 64 MB: {verdict}), {count / total:8.0f} objects/s", flush=True)  # fmt: skip


def store_bytes(path: Path) -> int:
    """The SQLite store's size once its WAL is checkpointed into the file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


def bench_shared_storage(tmp: Path, n: int, clients: int) -> None:
    db = tmp / "shared" / "server.db"
    db.parent.mkdir()
    env = {"BENCH_BAG": "0", "BENCH_SHARED": str(n), "BENCH_STORE": f"sqlite:///{db}"}
    with server(0, **env) as (url, _proc):
        sizes = []
        for count in (1, clients):
            while len(sizes) < count:
                with httpx.Client(base_url=url, timeout=60) as http:
                    http.post("/rc/v1/app/login", json={"login": f"user{len(sizes)}", "password": "x"})
                    cid = http.post("/rc/v1/clients").json()["client"]["client_id"]
                    headers = {"X-RhoConnect-CLIENT-ID": cid}
                    p_size = n if not sizes else 100  # the first client pulls everything
                    page = http.get("/app/v1/BenchShared", params={"p_size": p_size}, headers=headers).json()
                    http.get("/app/v1/BenchShared", params={"p_size": 1, "token": page[1]["token"]}, headers=headers)
                sizes.append(store_bytes(db))
        one, many = sizes[0], sizes[-1]
    verdict = "met" if many <= 2 * one else "MISSED"
    print(f"app-partition source of {n} objects: store {one / 1e6:.1f} MB with 1 client, "
          f"{many / 1e6:.1f} MB with {clients} -> {many / one:.2f}x (goal <= 2x: {verdict}); "
          "each client keeps a cursor and its outstanding page", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--large", action="store_true", help="add the 1,000,000-object pull")
    parser.add_argument("--push", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=1000, help="clients of the app-partition storage run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-child", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        url, folder = args.rss_child
        rhom.setup(Path(folder), models=[BenchBag])
        rhom.shutdown()
        before = rss_mb()
        total, _apply, count = pull(url, Path(folder), BenchBag, PAGE)
        print(rss_mb() - before, count, total)
        return
    if args.quick:
        args.sizes, args.push, args.clients = [2_000, 10_000], 1_000, 50
    if args.large:
        args.sizes = [*args.sizes, 1_000_000]
    print(f"rhom sync benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench_sizes(tmp, args.sizes)
        bench_apply(tmp, max(s for s in args.sizes if s <= 100_000))
        bench_push_line(tmp, args.push)
        bench_client_rss(tmp, max(args.sizes))
        bench_shared_storage(tmp, max(s for s in args.sizes if s <= 100_000), args.clients)
        bench_bulk(tmp, args.sizes)


if __name__ == "__main__":
    main()
