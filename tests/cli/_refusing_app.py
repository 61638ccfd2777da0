"""The shop with a login that refuses everyone: ``rhom serve tests.cli._refusing_app:app``."""

from __future__ import annotations

import os

from rhom.demo.shop import Backend, CustomerAdapter, ProductAdapter
from rhom.server import LoginError, create_app


def refuse(login: str, password: str) -> bool:
    raise LoginError(f"wrong password for {login!r}")


backend = Backend(os.environ["STORE_BACKEND"])
app = create_app([ProductAdapter(backend), CustomerAdapter(backend)], authenticate=refuse)
