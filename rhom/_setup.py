"""rhom.setup(): open the partition databases and register every model as a source."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _ids, _registry, _runtime, _sql, blobs, changelog
from .database import PARTITIONS, Database, partition_proxy
from .exceptions import ConfigurationError

__all__ = ["setup", "shutdown"]

log = logging.getLogger("rhom")

#: First source id of each partition's range (rhom-api §1.5).
RANGE_BASE = {"user": 1, "app": 20001, "local": 40001}
_RANGE_END = {"user": 20000, "app": 40000, "local": 1 << 62}


def setup(
    data_dir: str | Path, *, models: Iterable[type] | None = None, max_blob_size: int | None = None
) -> _runtime.Runtime:
    """Open (or create) rhom's databases under *data_dir* and register *models*.

    One SQLite file per partition (``user.sqlite``, ``app.sqlite``, ``local.sqlite``) and the
    blob folder ``blobs/``. Every model becomes a source (a row of ``sources`` in its
    partition, keeping its id across restarts), its table and indexes are created and its
    changelog triggers rebuilt. Calling it again on the same folder keeps all data.

    :param models: the model classes; by default every model class declared so far.
    :param max_blob_size: the largest file a blob attribute accepts, in bytes, where its
        field sets no ``max_size`` (default: no limit).
    :raises ConfigurationError: a model is declared twice or refers to an unknown owner,
        or *max_blob_size* is not a number of bytes.
    """
    if max_blob_size is not None and (
        isinstance(max_blob_size, bool) or not isinstance(max_blob_size, int) or max_blob_size < 0
    ):
        raise ConfigurationError(f"rhom.setup: max_blob_size must be a number of bytes, got {max_blob_size!r}")
    shutdown()
    root = Path(data_dir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "blobs").mkdir(exist_ok=True)
    chosen = list(_registry.all_models() if models is None else models)
    _check_models(chosen)
    databases = {p: Database(root / f"{p}.sqlite", p) for p in PARTITIONS}
    runtime = _runtime.Runtime(root, root / "blobs", databases, chosen, max_blob_size=max_blob_size)
    _runtime.install(runtime)
    _ids.generator.attach(root / ".rhom-ids")
    for partition, db in databases.items():
        partition_proxy(partition).initialize(db.peewee)
        db.execute_script(changelog.SYSTEM_DDL)
        prepare_partition(db, [m for m in chosen if m._rhom.partition == partition], chosen)
        blobs.sweep(db)
    return runtime


def shutdown() -> None:
    """Close this thread's connections of the current setup and forget it."""
    runtime = _runtime.active()
    if runtime is None:
        return
    for db in runtime.databases.values():
        db.close()
    # a model left out of the next setup must not write with this setup's source id (its
    # triggers would be gone: the write would bypass the changelog)
    for model in runtime.models:
        model._rhom.source_id = None
    _ids.generator.detach()
    _runtime.install(None)


def _check_models(models: Sequence[Any]) -> None:
    seen: dict[str, Any] = {}
    for model in models:
        opts = getattr(model, "_rhom", None)
        if opts is None:
            raise ConfigurationError(f"{model!r} is not a rhom model")
        other = seen.get(opts.source_name)
        if other is not None and other is not model:
            raise ConfigurationError(f"two models use the source name {opts.source_name!r}")
        seen[opts.source_name] = model


def prepare_partition(db: Database, models: Sequence[Any], all_models: Sequence[Any]) -> None:
    """Register *models* in *db*'s ``sources``, create their tables, rebuild triggers."""
    runtime = _runtime.current()
    queries: list[tuple[str, tuple[Any, ...]]] = []
    with db.atomic():
        # explicit source ids first, so the ids handed out next go above them (rhom-api §1.5)
        # instead of taking one of them
        for model in sorted(models, key=lambda m: (m._rhom.explicit_source_id is None, m._rhom.source_name)):
            opts = model._rhom
            # read the stored schema_version before registering the source overwrites it
            stored = db.execute_sql("SELECT schema_version FROM sources WHERE name = ?", (opts.source_name,))
            opts.source_id = _register_source(db, model, all_models)
            # a start takes the declared sync type again, as the sources row just written
            # says (set_sync_type holds until then; Rhodes' init_db_sources does the same)
            opts.run_sync_type = opts.sync_type
            # only this source's triggers: another process may use models this one lacks
            changelog.drop_triggers(db, opts.source_id)
            if opts.fixed_schema:
                _create_table(db, model, stored)
            queries.extend(_blob_queries(model))
            for ddl in _triggers(model):
                db.execute_sql(ddl)
    runtime.blob_queries[db.partition] = queries


def _register_source(db: Database, model: Any, all_models: Sequence[Any]) -> int:
    opts = model._rhom
    row = db.execute_sql("SELECT source_id FROM sources WHERE name = ?", (opts.source_name,))
    if row:
        source_id = int(row[0]["source_id"])
    elif opts.explicit_source_id is not None:
        source_id = opts.explicit_source_id
    else:
        base, end = RANGE_BASE[db.partition], _RANGE_END[db.partition]
        top = db.execute_sql(
            "SELECT MAX(source_id) AS m FROM sources WHERE source_id > ? AND source_id <= ?",
            (base, end),
        )[0]["m"]
        source_id = int(top) + 1 if top is not None else base + 2
    values = {
        "name": opts.source_name,
        "sync_priority": opts.sync_priority,
        "partition": opts.partition,
        "sync_type": opts.sync_type,
        "associations": _associations(model, all_models) or None,
        "blob_attribs": ",".join(f"{n},{int(o)}" for n, o in opts.blob_attribs.items()) or None,
    }
    if opts.fixed_schema:
        values["schema"] = _schema_json(model)
        values["schema_version"] = opts.schema_version or "1.0"
    if row:
        db.update_into_table("sources", values, {"source_id": source_id})
    else:
        db.insert_into_table("sources", {"source_id": source_id, "token": 0, **values})
    return source_id


def _associations(owner: Any, all_models: Sequence[Any]) -> str:
    """``Dependent,attr`` pairs of the models whose belongs_to names *owner*."""
    pairs = []
    for model in all_models:
        for attr, owners in model._rhom.belongs_to.items():
            if owner._rhom.source_name in owners:
                pairs.append(f"{model._rhom.source_name},{attr}")
    return ",".join(pairs)


def _schema_json(model: Any) -> str:
    import json

    props = {}
    for name, field in model._rhom.fields.items():
        kind = {"INTEGER": "integer", "FLOAT": "float"}.get(str(field.field_type), "string")
        if type(field).__name__ in ("DateField", "TimeField"):
            kind = "integer"
        if field.is_blob:
            kind = "blob,overwrite" if getattr(field, "overwrite", False) else "blob"
        props[name] = kind
    return json.dumps(
        {
            "version": model._rhom.schema_version or "1.0",
            "property": props,
            "index": model._rhom.indexes,
            "unique_index": model._rhom.unique_indexes,
        }
    )


def _create_table(db: Database, model: Any, stored: list[dict[str, Any]]) -> None:
    opts = model._rhom
    table = model._meta.table_name
    if db.table_exist(table):
        _migrate_if_needed(db, model, stored)
    model._schema.create_table(safe=True)
    existing = {r["name"] for r in db.execute_sql(f"PRAGMA table_info({_sql.quote(table)})")}
    for field in model._meta.sorted_fields:
        if field.column_name not in existing:  # a field added to the model: add its column
            column = f"{_sql.quote(field.column_name)} {field.field_type}"
            db.execute_sql(f"ALTER TABLE {_sql.quote(table)} ADD COLUMN {column}")
    for unique, indexes in ((False, opts.indexes), (True, opts.unique_indexes)):
        for name, columns in indexes.items():
            cols = ", ".join(_sql.quote(c) for c in columns)
            db.execute_sql(
                f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {_sql.quote(name)} "
                f"ON {_sql.quote(table)} ({cols})"
            )
    for name in opts.blob_attribs:  # sweeps look blob values up before deleting a file
        db.execute_sql(
            f"CREATE INDEX IF NOT EXISTS {_sql.quote(f'rhom_blob_{table}_{name}')} "
            f"ON {_sql.quote(table)} ({_sql.quote(name)})"
        )


def _migrate_if_needed(db: Database, model: Any, stored: list[dict[str, Any]]) -> None:
    """Run the app's migration hook when the declared schema_version changed."""
    from . import signals

    opts = model._rhom
    old = stored[0]["schema_version"] if stored else None
    new = opts.schema_version or "1.0"
    if old is None or old == new:
        return
    new_source = {"name": opts.source_name, "schema_version": new, "schema": _schema_json(model)}
    handled = bool(opts.migrate and opts.migrate(old, new_source))
    if not handled:
        results = signals.migrate_source.send(model, old_version=old, new_source=new_source)
        handled = any(r for _, r in results)
    if not handled:
        log.warning("%s: schema_version %s -> %s, recreating its table", opts.source_name, old, new)
        with changelog.no_changelog(db):
            db.delete_table(model._meta.table_name)


def _triggers(model: Any) -> list[str]:
    opts = model._rhom
    sid = opts.source_id
    blob_names = list(opts.blob_attribs)
    if opts.fixed_schema:
        table = model._meta.table_name
        ddl = changelog.fixed_schema_blob_triggers(table, sid, blob_names)
        if opts.is_sync:
            columns = [
                (f.column_name, bool(getattr(f, "is_blob", False)))
                for f in model._meta.sorted_fields
                if f is not model._meta.primary_key
            ]
            ddl += changelog.fixed_schema_triggers(table, sid, columns)
        return ddl
    ddl = changelog.property_bag_blob_triggers(sid, blob_names)
    if opts.is_sync:
        ddl += changelog.property_bag_triggers(sid, blob_names)
    return ddl


def _blob_queries(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
    opts = model._rhom
    if opts.fixed_schema:
        table = _sql.quote(model._meta.table_name)
        return [(f"SELECT 1 FROM {table} WHERE {_sql.quote(n)} = ? LIMIT 1", ()) for n in opts.blob_attribs]
    return [("SELECT 1 FROM object_values WHERE attrib = ? AND source_id = ? AND value = ? LIMIT 1",
             (n, opts.source_id)) for n in opts.blob_attribs]  # fmt: skip
