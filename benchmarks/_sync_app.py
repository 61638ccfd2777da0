"""The server side of benchmarks/sync.py: N generated objects of 10 attributes per source.

``BENCH_OBJECTS`` sets N (``BENCH_BAG`` for the property-bag source, default N);
``BENCH_SHARED`` the objects of the app-partition source; ``BENCH_STORE`` the store URL (default: a SQLite file in
a temporary folder, the embedded default). The objects are written at start-up through
``rhom.server.backend.push_objects`` from a generator, as a backend that knows its data
would feed the server, so the server process never holds the data set: its memory is
what serving pages costs. ``BenchPush`` starts empty (a push's cost alone); ``BenchShared``
is an app-partition copy for the storage measurement.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from rhom.server import MemoryAdapter, Settings, backend, create_app

USER = "bench"


def objects(n: int) -> Iterator[tuple[str, dict[str, str]]]:
    for i in range(1, n + 1):
        yield str(i), {f"attr{a}": f"value {i} {a}" for a in range(10)}


def make_app():  # type: ignore[no-untyped-def]
    n = int(os.environ.get("BENCH_OBJECTS", "100000"))
    store = os.environ.get("BENCH_STORE") or f"sqlite:///{tempfile.mkdtemp(prefix='rhom-bench-')}/server.db"
    adapters = [MemoryAdapter(name, poll_interval=-1) for name in ("BenchFixed", "BenchBag", "BenchPush")]
    adapters.append(MemoryAdapter("BenchShared", poll_interval=-1, partition="app"))
    settings = Settings(store=store, api_token="bench", session_secret="bench")
    app = create_app(adapters, settings=settings)
    backend.push_objects(app, "BenchFixed", objects(n), user=USER)
    backend.push_objects(app, "BenchBag", objects(int(os.environ.get("BENCH_BAG", n))), user=USER)
    if os.environ.get("BENCH_SHARED"):
        backend.push_objects(app, "BenchShared", objects(int(os.environ["BENCH_SHARED"])))
    return app
