"""The shop's sync server: ``rhom serve examples.store.server:app`` (or ``python -m rhom.server ...``).

The adapters live in :mod:`rhom.demo.shop` (shipped with rhom so that ``rhom demo`` works
from an installed wheel). ``STORE_BACKEND`` names the backend database file (default
``store-backend.sqlite``, kept across restarts); the server's own state goes where
``RHOM_SERVER_STORE`` says (default: the embedded SQLite store ``rhom-server.db``).
"""

from __future__ import annotations

import os

from rhom.demo.shop import make_app

app = make_app(os.environ.get("STORE_BACKEND", "store-backend.sqlite"))
