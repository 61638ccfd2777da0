"""The app of the failover test: the shop's Product adapter over one backend file that
every server process shares, its state on the cluster ``RHOM_SERVER_STORE`` names.

``python -m rhom.server tests.server._failover_app:make_app --factory`` with
``RHOM_FAILOVER_BACKEND`` the shop's SQLite file. The shop keeps each create's
idempotency key with its record (docs/server.md "Exactly-once creates").
"""

from __future__ import annotations

import os
from typing import Any

from rhom.demo.shop import Backend, ProductAdapter
from rhom.server import Settings, create_app


def make_app() -> Any:
    return create_app([ProductAdapter(Backend(os.environ["RHOM_FAILOVER_BACKEND"]))], settings=Settings.from_env())
