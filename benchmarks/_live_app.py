"""The app ``live_fanout.py`` benchmarks: one app-partition source fed by the backend.

Run by ``python -m rhom.server benchmarks._live_app:make_app --factory``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from rhom.server import MemoryAdapter, Settings, create_app


def make_app() -> Starlette:
    source = MemoryAdapter("Shared", poll_interval=-1, partition="app")
    return create_app([source], settings=Settings.from_env())
