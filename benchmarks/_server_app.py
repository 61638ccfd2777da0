"""The app ``server_load.py`` benchmarks: one source of 1 000 objects per user.

Run by ``python -m rhom.server benchmarks._server_app:make_app --factory`` with
``RHOM_SERVER_STORE`` naming the store under test.
"""

from __future__ import annotations

from starlette.applications import Starlette

from rhom.server import MemoryAdapter, Settings, create_app

OBJECTS = 1000


def seed() -> dict[str, dict[str, str]]:
    return {
        str(i): {"name": f"Product {i}", "price": f"{i}.99", "brand": "Acme", "sku": f"S{i:05d}"}
        for i in range(1, OBJECTS + 1)
    }


def make_app() -> Starlette:
    source = MemoryAdapter("Product", seed(), poll_interval=300)
    return create_app([source], settings=Settings.from_env())
