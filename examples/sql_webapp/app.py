"""The task list and its sync server: ``rhom serve examples.sql_webapp.app:app``.

``TASKS_DB`` names the SQLite file (default ``tasks.sqlite``); the server's own state
goes where ``RHOM_SERVER_STORE`` says.
"""

from __future__ import annotations

import os

from .web import make_app

app = make_app(os.environ.get("TASKS_DB", "tasks.sqlite"))
