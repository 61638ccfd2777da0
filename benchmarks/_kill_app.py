"""The server of benchmarks/kill_campaign.py: the shop's adapters over a durable backend.

``BENCH_BACKEND`` is the shop's SQLite file, ``RHOM_SERVER_STORE`` the server's store.
With ``BENCH_PLAIN=1`` the adapters ignore the idempotency key, as a backend that does
not store it would: a create retried after a kill then makes a second record.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from starlette.applications import Starlette

from rhom.demo.shop import Backend, CustomerAdapter, ProductAdapter
from rhom.server import Settings, create_app


class PlainProduct(ProductAdapter):
    def create(self, attrs: Mapping[str, str]) -> str:
        self.validate(attrs)
        return self.backend.insert(self.table, self.columns, attrs)  # no idempotency key


def make_app() -> Starlette:
    backend = Backend(os.environ["BENCH_BACKEND"])
    product = PlainProduct(backend) if os.environ.get("BENCH_PLAIN") == "1" else ProductAdapter(backend)
    return create_app([product, CustomerAdapter(backend)], settings=Settings.from_env())
