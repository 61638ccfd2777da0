"""The server of benchmarks/kill_campaign.py: the shop's adapters over a durable backend.

``BENCH_BACKEND`` is the shop's SQLite file, ``RHOM_SERVER_STORE`` the server's store.
With ``BENCH_PLAIN=1`` the adapters ignore the idempotency key, as a backend that does
not store it would: a create retried after a kill then makes a second record.

``BENCH_KILL_FLAG`` names a file: while it exists, the next Product create, update or
delete the backend commits kills this process (SIGKILL) before the server can record it
(a create's link) or answer, and removes the file -- the worst moment, placed exactly. A
number ``n`` in the file lets ``n`` writes through first.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from starlette.applications import Starlette

from rhom.demo.shop import Backend, CustomerAdapter, ProductAdapter
from rhom.server import Settings, create_app


def _killed_if_flagged() -> None:
    """Kill this process if the flag file exists; a number in it lets that many more
    creates through first (counting down)."""
    flag = os.environ.get("BENCH_KILL_FLAG")
    if not flag or not os.path.exists(flag):
        return
    with open(flag) as file:
        spare = int(file.read().strip() or 0)
    if spare > 0:
        with open(flag, "w") as file:
            file.write(str(spare - 1))
        return
    os.unlink(flag)
    os.kill(os.getpid(), signal.SIGKILL)


class KillableProduct(ProductAdapter):
    def create(self, attrs: Mapping[str, str]) -> str:
        made = super().create(attrs)
        _killed_if_flagged()
        return made

    def update(self, attrs: Mapping[str, str]) -> None:
        super().update(attrs)
        _killed_if_flagged()

    def delete(self, attrs: Mapping[str, str]) -> None:
        super().delete(attrs)
        _killed_if_flagged()


class PlainProduct(KillableProduct):
    def create(self, attrs: Mapping[str, str]) -> str:
        self.validate(attrs)
        made = self.backend.insert(self.table, self.columns, attrs)  # no idempotency key
        _killed_if_flagged()
        return made


def make_app() -> Starlette:
    backend = Backend(os.environ["BENCH_BACKEND"])
    product = PlainProduct(backend) if os.environ.get("BENCH_PLAIN") == "1" else KillableProduct(backend)
    return create_app([product, CustomerAdapter(backend)], settings=Settings.from_env())
