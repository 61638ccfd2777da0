"""``python -m rhom.server tests.server._plain_app:app``: an app object, not a factory."""

from __future__ import annotations

from rhom.server import MemoryAdapter, create_app

app = create_app([MemoryAdapter("Product", {"1": {"name": "Widget"}})])
