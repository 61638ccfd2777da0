"""Read-only views of a data folder, for tools (``rhom status``, ``outbox``, ``errors``).

The partition files are opened read-only with plain sqlite3: inspecting a folder never
changes it, never needs the app's models, and is safe while the app runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .database import PARTITIONS
from .exceptions import ConfigurationError
from .sync import _unanswered

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
    awaiting: int  # objects whose create awaits the server's confirmation (sent 2, 4, 5, 6)
    server_errors: dict[str, int]  # kind -> objects (1 for a source error), kept until answered


@dataclasses.dataclass(frozen=True)
class UnansweredError:
    """A server error kept in the folder until the app answers it (``rhom errors``)."""

    source: str
    partition: str
    kind: str
    object: str | None
    message: str
    attributes: dict[str, str]
    rollback: dict[str, str] | None
    since: _dt.datetime


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
    for partition, path in partition_files(data_dir).items():
        with _open(path) as conn:
            kept: dict[int, dict[str, int]] = {}
            for error in _unanswered.rows(conn):
                kinds = kept.setdefault(error.source_id, {})
                kinds[error.kind] = kinds.get(error.kind, 0) + 1
            conn.row_factory = sqlite3.Row
            pending: dict[int, dict[str, int]] = {}
            # objects, not rows: the changelog has a row per attribute (a deleted product is 4 rows)
            for row in conn.execute(
                "SELECT source_id, update_type, COUNT(DISTINCT object) AS n FROM changed_values WHERE sent <= 1"
                " GROUP BY 1, 2"
            ):
                pending.setdefault(row["source_id"], {})[row["update_type"]] = row["n"]
            # creates the server has not confirmed: awaiting their link, in doubt, sent again
            # (a confirmed row, sent 3, waits only for the purge at the end of the pull)
            awaiting = dict(conn.execute(
                "SELECT source_id, COUNT(DISTINCT object) FROM changed_values WHERE update_type = 'create'"
                " AND sent IN (2, 4, 5, 6) GROUP BY 1").fetchall())  # fmt: skip
            for src in conn.execute("SELECT * FROM sources ORDER BY sync_priority, name"):
                updated = src["last_updated"]
                out.append(SourceStatus(
                    name=src["name"], partition=partition, sync_type=src["sync_type"] or "none",
                    token=int(src["token"] or 0),
                    last_updated=_dt.datetime.fromtimestamp(updated, _dt.timezone.utc) if updated else None,
                    last_sync_success=bool(src["last_sync_success"]),
                    objects=_objects(conn, src["name"], src["source_id"]),
                    pending=pending.get(src["source_id"], {}), awaiting=awaiting.get(src["source_id"], 0),
                    server_errors=kept.get(src["source_id"], {}),
                ))  # fmt: skip
    return out


def _objects(conn: sqlite3.Connection, name: str, source_id: int) -> int:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone():
        return int(conn.execute(f'SELECT COUNT(*) FROM "{name.replace(chr(34), "")}"').fetchone()[0])
    row = conn.execute("SELECT COUNT(DISTINCT object) FROM object_values WHERE source_id = ?", (source_id,))
    return int(row.fetchone()[0])


def damaged(data_dir: Path) -> dict[str, str]:
    """The partition files of *data_dir* that SQLite cannot read, with its reason
    (``{"user": "file is not a database"}``). A locked or busy file is not damaged."""
    found = {}
    for partition, path in partition_files(data_dir).items():
        try:
            with _open(path) as conn:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            continue  # locked, busy, unreadable for now: not the file's fault
        except sqlite3.DatabaseError as exc:
            found[partition] = str(exc)
    return found


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
    """Every changelog row, oldest first, with its source name and state; a create the
    server refused is in state ``create-error`` until answered."""
    rows = []
    for path in partition_files(data_dir).values():
        with _open(path) as conn:
            refused = {(e.source_id, e.object) for e in _unanswered.rows(conn) if e.kind == "create-error"}
            conn.row_factory = sqlite3.Row
            names = dict(conn.execute("SELECT source_id, name FROM sources").fetchall())
            for row in conn.execute("SELECT * FROM changed_values ORDER BY id"):
                state = SENT_STATES.get(row["sent"], str(row["sent"]))
                if row["update_type"] == "create" and (row["source_id"], row["object"]) in refused:
                    state = "create-error"
                rows.append({
                    "source": names.get(row["source_id"], str(row["source_id"])), "object": row["object"],
                    "update_type": row["update_type"], "attrib": row["attrib"], "value": row["value"],
                    "state": state,
                })  # fmt: skip
    return rows


def unanswered(data_dir: Path) -> list[UnansweredError]:
    """Every server error kept in the folder until answered, oldest first."""
    found = []
    for partition, path in partition_files(data_dir).items():
        with _open(path) as conn:
            names = dict(conn.execute("SELECT source_id, name FROM sources").fetchall())
            for e in _unanswered.rows(conn):
                found.append(UnansweredError(
                    source=names.get(e.source_id, str(e.source_id)), partition=partition, kind=e.kind,
                    object=e.object, message=e.message, attributes=e.attributes, rollback=e.rollback, since=e.since,
                ))  # fmt: skip
    return sorted(found, key=lambda e: e.since)
