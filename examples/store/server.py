"""The shop's sync server: ``python -m rhom.server examples.store.server:app``.

``STORE_BACKEND`` names the backend database file (default ``store-backend.sqlite``); the
server's own state goes where ``RHOM_SERVER_STORE`` says (default: the embedded SQLite
store).
"""

from __future__ import annotations

import os

from .backend import make_app

app = make_app(os.environ.get("STORE_BACKEND", "store-backend.sqlite"))
