"""Recovery from "Unknown client": a client reset that keeps unpushed local changes.

The documented reaction (protocol.md §3.6) is ``database_client_reset`` and a new sync,
which deletes every local change not yet pushed. rhom keeps them: the objects with queued
changes, and the queued rows themselves, are put back after the reset, so the next push
(under the new client id) still sends them.
"""

from __future__ import annotations

from typing import Any

from .. import _runtime, maintenance
from ..changelog import no_changelog
from .source import SyncSource


def _snapshot() -> list[tuple[SyncSource, dict[str, dict[str, str]], list[tuple[Any, ...]]]]:
    kept = []
    for model in _runtime.current().models:
        if not model._rhom.is_sync:
            continue
        source = SyncSource(model)
        rows = source.db.connection().execute(
            "SELECT source_id, attrib, object, value, attrib_type, update_type FROM changed_values "
            "WHERE source_id = ? AND sent <= 1 ORDER BY id", (source.id,)).fetchall()  # fmt: skip
        live = {r[2] for r in rows if r[5] in ("create", "update")}
        kept.append((source, source.read_objects(live), rows))
    return kept


def reset_keeping_local_changes() -> None:
    kept = _snapshot()
    maintenance.database_client_reset(reset_local_models=False)
    for source, objects, rows in kept:
        with no_changelog(source.db):
            source.upsert(objects)
            source.db.connection().executemany(
                "INSERT INTO changed_values (source_id, attrib, object, value, attrib_type, update_type, sent) "
                "VALUES (?, ?, ?, ?, ?, ?, 0)", rows)  # fmt: skip
