"""The server side of benchmarks/sql_capture.py: two sources over one table.

``BENCH_SQL_URL`` names the database (its ``items`` table is filled by the benchmark).
``Captured`` reads it through the triggers' change table; ``Requeried`` is the same
adapter answering ``changes`` with ``None``, so each refresh reads the user's whole
partition, as an adapter over a table without triggers does. Both refresh only when told
(``poll_interval`` an hour; the benchmark asks for one refresh before each sync).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from rhom.server import Settings, create_app
from rhom.server.sql import SqlAdapter


class Requeried(SqlAdapter):
    def changes(self, cursor: str | None) -> tuple[Mapping[str, Mapping[str, Any] | None], str] | None:
        return None


def make_app() -> Any:
    url = os.environ["BENCH_SQL_URL"]
    options: dict[str, Any] = {"table": "items", "partition_by": "owner", "poll_interval": 3600}
    sources = [SqlAdapter("Captured", url, **options), Requeried("Requeried", url, **options)]
    store = f"sqlite:///{tempfile.mkdtemp(prefix='rhom-bench-')}/server.db"
    return create_app(sources, settings=Settings(store=store, api_token="bench", session_secret="bench"))
