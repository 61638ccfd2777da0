"""The inventory's sync server: ``rhom serve examples.sql_inventory.app:app``.

``INVENTORY_DB`` names the SQLite file of the inventory (default ``inventory.sqlite``);
the server's own state goes where ``RHOM_SERVER_STORE`` says.
"""

from __future__ import annotations

import os

from .inventory import make_app

app = make_app(os.environ.get("INVENTORY_DB", "inventory.sqlite"))
