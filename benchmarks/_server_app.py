"""The app ``server_load.py`` benchmarks: one source of 1 000 objects per user.

Run by ``python -m rhom.server benchmarks._server_app:make_app --factory`` with
``RHOM_SERVER_STORE`` naming the store under test and ``BENCH_POLL_INTERVAL`` the
adapter's poll interval (default 300: each user's data is queried once; 0: at every
query).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from rhom.server import MemoryAdapter, Settings, create_app

OBJECTS = 1000


def seed() -> dict[str, dict[str, str]]:
    return {
        str(i): {"name": f"Product {i}", "price": f"{i}.99", "brand": "Acme", "sku": f"S{i:05d}"}
        for i in range(1, OBJECTS + 1)
    }


def make_app() -> Starlette:
    poll_interval = int(os.environ.get("BENCH_POLL_INTERVAL", "300"))
    source = MemoryAdapter("Product", seed(), poll_interval=poll_interval)
    return create_app([source], settings=Settings.from_env())
