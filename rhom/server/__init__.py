"""rhom.server: a RhoConnect-protocol sync server with Python source adapters.

::

    from rhom.server import MemoryAdapter, create_app

    app = create_app([MemoryAdapter("Product", {"1": {"name": "Widget"}})])

Run it with ``python -m rhom.server module:app`` (127.0.0.1:9292 by default). See
docs/server.md for adapters, settings and running several processes on Redis.
"""

from __future__ import annotations

from rhom.server import backend
from rhom.server.adapters import LoginError, MemoryAdapter, SourceAdapter, Upload
from rhom.server.app import create_app
from rhom.server.settings import Settings
from rhom.server.store import LogEntry, LogInfo, Store, open_store

__all__ = [
    "LogEntry",
    "LogInfo",
    "LoginError",
    "MemoryAdapter",
    "Settings",
    "SourceAdapter",
    "Store",
    "Upload",
    "backend",
    "create_app",
    "open_store",
]
