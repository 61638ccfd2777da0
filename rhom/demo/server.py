"""The shop's sync server, importable from an installed rhom: ``rhom serve rhom.demo.server:app``.

``STORE_BACKEND`` names the backend database file (default ``store-backend.sqlite`` in the
current folder, made at the first request and kept across restarts; importing this module
writes nothing); the server's own state goes where ``RHOM_SERVER_STORE`` says (default:
the embedded SQLite store ``rhom-server.db``).
"""

from __future__ import annotations

import os

from rhom.demo.shop import make_app

app = make_app(os.environ.get("STORE_BACKEND", "store-backend.sqlite"))
