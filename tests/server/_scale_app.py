"""The app of the scale-out test: one backend shared by several server processes.

``python -m rhom.server tests.server._scale_app:app`` with ``RHOM_SERVER_STORE`` naming a
shared Redis and ``RHOM_SCALE_BACKEND`` a SQLite file that plays the application's
database, so that every process sees the same backend data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from rhom.server import Settings, SourceAdapter, create_app


class Note(SourceAdapter):
    """Notes in a SQLite table; ids are the table's row ids."""

    poll_interval = 0

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY, attrs TEXT)")

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=10)) as db:
            with db:
                yield db

    def query(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        with self._db() as db:
            return {str(i): json.loads(a) for i, a in db.execute("SELECT id, attrs FROM note")}

    def create(self, attrs: Mapping[str, str]) -> str | None:
        with self._db() as db:
            cursor = db.execute("INSERT INTO note (attrs) VALUES (?)", (json.dumps(dict(attrs)),))
            return str(cursor.lastrowid)

    def update(self, attrs: Mapping[str, str]) -> None:
        with self._db() as db:
            row = db.execute("SELECT attrs FROM note WHERE id = ?", (attrs["id"],)).fetchone()
            if row is None:
                return
            merged = {**json.loads(row[0]), **{k: v for k, v in attrs.items() if k != "id"}}
            db.execute("UPDATE note SET attrs = ? WHERE id = ?", (json.dumps(merged), attrs["id"]))

    def delete(self, attrs: Mapping[str, str]) -> None:
        with self._db() as db:
            db.execute("DELETE FROM note WHERE id = ?", (attrs["id"],))


def make_app() -> Any:
    return create_app([Note(os.environ["RHOM_SCALE_BACKEND"])], settings=Settings.from_env())
