"""The inventory's database and the rhom.server app over it (:func:`make_app`).

The database belongs to another program (here a SQLite file; on PostgreSQL give a
``postgresql://`` URL to SqlAdapter instead). rhom adds nothing to its tables:
``install_triggers`` adds the triggers and the ``rhom_changes`` table that let each
sync read only what changed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from rhom.server import create_app
from rhom.server.sql import SqlAdapter

#: What the other program created long ago (the example makes it when it is missing).
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    price REAL,
    checked_on DATE
)"""


def make_app(database: str | Path, **options: Any) -> Any:
    """The server over the ``items`` table of the SQLite file ``database`` (``options`` go
    to ``create_app``)."""
    with sqlite3.connect(database) as conn:
        conn.execute(SCHEMA)
    conn.close()
    items = SqlAdapter("Item", f"sqlite:///{database}", table="items", partition_by="owner")
    items.install_triggers()  # idempotent: safe at every start
    return create_app([items], **options)
