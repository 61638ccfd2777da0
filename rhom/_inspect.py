"""Read-only views of a data folder, for tools (``rhom status``, ``rhom outbox``).

The partition files are opened read-only with plain sqlite3: inspecting a folder never
changes it, never needs the app's models, and is safe while the app runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .database import PARTITIONS
from .exceptions import ConfigurationError

SENT_STATES = {0: "queued", 1: "in flight", 2: "awaiting link", 3: "confirmed", 4: "conflict", 5: "in doubt",
               6: "sent again"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SourceStatus:
    name: str
    partition: str
    sync_type: str
    token: int
    last_updated: _dt.datetime | None
    last_sync_success: bool
    objects: int
    pending: dict[str, int]  # update_type -> objects with changes waiting to be pushed (sent <= 1)
    awaiting: int  # objects whose create awaits the server's confirmation (sent >= 2)
    server_errors: dict[str, Any]


@contextlib.contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def partition_files(data_dir: Path) -> dict[str, Path]:
    """The partition databases of *data_dir*; raises if it is not a rhom data folder."""
    files = {p: data_dir / f"{p}.sqlite" for p in PARTITIONS if (data_dir / f"{p}.sqlite").is_file()}
    if not files:
        raise ConfigurationError(f"{data_dir} is not a rhom data folder (no user/app/local .sqlite files)")
    return files


def sources(data_dir: Path) -> list[SourceStatus]:
    """Every registered source with its sync state and pending changes."""
    out = []
    errors = config(data_dir)
    for partition, path in partition_files(data_dir).items():
        with _open(path) as conn:
            conn.row_factory = sqlite3.Row
            pending: dict[int, dict[str, int]] = {}
            awaiting: dict[int, int] = {}
            # objects, not rows: the changelog has a row per attribute (a deleted product is 4 rows)
            for row in conn.execute(
                "SELECT source_id, update_type, sent > 1 AS sent, COUNT(DISTINCT object) AS n"
                " FROM changed_values GROUP BY 1, 2, 3"
            ):
                if not row["sent"]:
                    pending.setdefault(row["source_id"], {})[row["update_type"]] = row["n"]
                else:
                    awaiting[row["source_id"]] = awaiting.get(row["source_id"], 0) + row["n"]
            for src in conn.execute("SELECT * FROM sources ORDER BY sync_priority, name"):
                updated = src["last_updated"]
                out.append(SourceStatus(
                    name=src["name"], partition=partition, sync_type=src["sync_type"] or "none",
                    token=int(src["token"] or 0),
                    last_updated=_dt.datetime.fromtimestamp(updated, _dt.timezone.utc) if updated else None,
                    last_sync_success=bool(src["last_sync_success"]),
                    objects=_objects(conn, src["name"], src["source_id"]),
                    pending=pending.get(src["source_id"], {}), awaiting=awaiting.get(src["source_id"], 0),
                    server_errors=json.loads(errors.get(f"server_errors:{src['name']}") or "{}"),
                ))  # fmt: skip
    return out


def _objects(conn: sqlite3.Connection, name: str, source_id: int) -> int:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone():
        return int(conn.execute(f'SELECT COUNT(*) FROM "{name.replace(chr(34), "")}"').fetchone()[0])
    row = conn.execute("SELECT COUNT(DISTINCT object) FROM object_values WHERE source_id = ?", (source_id,))
    return int(row.fetchone()[0])


def config(data_dir: Path) -> dict[str, str]:
    """rhom's persisted settings (user partition)."""
    path = data_dir / "user.sqlite"
    if not path.is_file():
        return {}
    with _open(path) as conn:
        try:
            return dict(conn.execute("SELECT key, value FROM _rhom_config").fetchall())
        except sqlite3.OperationalError:
            return {}


def client(data_dir: Path) -> dict[str, Any]:
    """Client id, whether a session is stored (never the session itself), reset flag."""
    path = data_dir / "user.sqlite"
    if not path.is_file():
        return {}
    with _open(path) as conn:
        row = conn.execute("SELECT client_id, session IS NOT NULL AND session <> '', reset FROM client_info").fetchone()
    if row is None:
        return {"client_id": None, "logged_in": False, "reset": False}
    return {"client_id": row[0], "logged_in": bool(row[1]), "reset": bool(row[2])}


def outbox(data_dir: Path) -> list[dict[str, Any]]:
    """Every changelog row, oldest first, with its source name and state."""
    rows = []
    for path in partition_files(data_dir).values():
        with _open(path) as conn:
            conn.row_factory = sqlite3.Row
            names = dict(conn.execute("SELECT source_id, name FROM sources").fetchall())
            for row in conn.execute("SELECT * FROM changed_values ORDER BY id"):
                rows.append({
                    "source": names.get(row["source_id"], str(row["source_id"])), "object": row["object"],
                    "update_type": row["update_type"], "attrib": row["attrib"], "value": row["value"],
                    "state": SENT_STATES.get(row["sent"], str(row["sent"])),
                })  # fmt: skip
    return rows
