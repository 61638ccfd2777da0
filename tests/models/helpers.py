"""Helpers of the model-layer tests: reading the changelog as a test asserts on it."""

from __future__ import annotations

from typing import Any

import rhom


def log(model: Any, obj: Any = None) -> list[rhom.ChangeLogEntry]:
    """The changelog rows of *model* (of one object, when given)."""
    object_id = None if obj is None else (obj if isinstance(obj, str) else obj.object)
    return rhom.changelog.entries(model._rhom.database, source_id=model.get_source_id(), object_id=object_id)


def kinds(model: Any, obj: Any = None) -> list[tuple[str, str | None]]:
    """``(update_type, attrib)`` of each changelog row of *model*, oldest first."""
    return [(e.update_type, e.attrib) for e in log(model, obj)]


def mark_sent(model: Any, obj: Any = None) -> None:
    """Drop the queued rows as a successful push and confirmation would: the object is now
    known to the server, so later edits queue ``update``/``delete`` rows."""
    db = model._rhom.database
    sql = "DELETE FROM changed_values WHERE source_id = ?"
    params: list[Any] = [model.get_source_id()]
    if obj is not None:
        sql += " AND object = ?"
        params.append(obj.object)
    db.execute_sql(sql, params)
