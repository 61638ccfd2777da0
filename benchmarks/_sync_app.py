"""The server side of benchmarks/sync.py: N generated objects of 10 attributes per source.

``BENCH_OBJECTS`` sets N; ``BENCH_STORE`` the server store URL (default in-memory SQLite).
"""

from __future__ import annotations

import os

from rhom.server import MemoryAdapter, Settings, create_app


def _objects(n: int) -> dict[str, dict[str, str]]:
    return {str(i): {f"attr{a}": f"value {i} {a}" for a in range(10)} for i in range(1, n + 1)}


def make_app():  # type: ignore[no-untyped-def]
    n = int(os.environ.get("BENCH_OBJECTS", "100000"))
    data = _objects(n)
    adapters = [MemoryAdapter(name, data, poll_interval=3600) for name in ("BenchFixed", "BenchBag")]
    adapters.append(MemoryAdapter("BenchPush", {}, poll_interval=3600))  # empty: a push's cost alone
    settings = Settings(store=os.environ.get("BENCH_STORE", "sqlite://"), api_token="bench", session_secret="bench")
    return create_app(adapters, settings=settings)
