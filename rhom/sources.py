"""rhom.RhomSource: the ``sources`` rows, read as objects (rhom-api §1.8)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any

from . import _runtime
from .database import PARTITIONS, Database

__all__ = ["RhomSource", "get_database"]


def get_database(partition_or_model: Any = "user") -> Database:
    """The :class:`rhom.Database` of a partition name or of a model's partition."""
    if isinstance(partition_or_model, str):
        return _runtime.current().database(partition_or_model)
    return partition_or_model._rhom.database  # type: ignore[no-any-return]


def _time(value: Any) -> _dt.datetime | None:
    return _dt.datetime.fromtimestamp(int(value), _dt.timezone.utc) if value else None


@dataclasses.dataclass(frozen=True)
class RhomSource:
    """A source's registration and its last sync statistics."""

    source_id: int
    name: str
    partition: str
    sync_type: str
    sync_priority: int
    schema: str | None
    schema_version: str | None
    token: Any
    last_updated: _dt.datetime | None
    last_inserted_size: int
    last_deleted_size: int
    last_sync_duration: _dt.timedelta
    last_sync_success: bool
    backend_refresh_time: _dt.datetime | None
    metadata: Any
    distinct_objects: int

    @classmethod
    def _from_row(cls, db: Database, row: dict[str, Any]) -> RhomSource:
        sid = row["source_id"]
        count = _object_count(db, row["name"], sid)
        return cls(
            source_id=sid, name=row["name"], partition=row["partition"], sync_type=row["sync_type"],
            sync_priority=row["sync_priority"], schema=row["schema"], schema_version=row["schema_version"],
            token=row["token"], last_updated=_time(row["last_updated"]),
            last_inserted_size=row["last_inserted_size"] or 0,
            last_deleted_size=row["last_deleted_size"] or 0,
            last_sync_duration=_dt.timedelta(milliseconds=row["last_sync_duration"] or 0),
            last_sync_success=bool(row["last_sync_success"]),
            backend_refresh_time=_time(row["backend_refresh_time"]),
            metadata=json.loads(row["metadata"]) if row["metadata"] else None,
            distinct_objects=count,
        )  # fmt: skip

    @classmethod
    def all(cls) -> list[RhomSource]:
        """Every registered source, by partition then source id."""
        out = []
        for partition in PARTITIONS:
            db = _runtime.current().database(partition)
            for row in db.execute_sql("SELECT * FROM sources ORDER BY source_id"):
                out.append(cls._from_row(db, row))
        return out

    @classmethod
    def first(cls) -> RhomSource | None:
        sources = cls.all()
        return sources[0] if sources else None

    @classmethod
    def get(cls, name_or_id: str | int) -> RhomSource | None:
        """The source with this name or id, or None."""
        for source in cls.all():
            if source.name == name_or_id or source.source_id == name_or_id:
                return source
        return None

    def get_lastsync_objectcount(self) -> int:
        return self.last_inserted_size + self.last_deleted_size


def _object_count(db: Database, name: str, source_id: int) -> int:
    from . import _registry

    model = _registry.get(name)
    if model is not None and model._rhom.fixed_schema and db.table_exist(model._meta.table_name):
        return int(model.select().count())
    rows = db.execute_sql("SELECT COUNT(DISTINCT object) AS n FROM object_values WHERE source_id = ?", (source_id,))
    return int(rows[0]["n"])
