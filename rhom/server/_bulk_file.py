"""The bulk data SQLite file in the client database schema (protocol.md §7.6, §10.1)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rhom.server._state import Doc, JsonObject
from rhom.server.adapters import SourceAdapter

__all__ = ["SYNCDB_SCHEMA", "write_bulk_file"]

SYNCDB_SCHEMA = """
CREATE TABLE client_info (
  client_id VARCHAR(255), session VARCHAR(255), token VARCHAR(255),
  token_sent BIGINT DEFAULT 0, reset BIGINT DEFAULT 0, port VARCHAR(10),
  last_sync_success VARCHAR(100));
CREATE TABLE object_values (
  source_id BIGINT, attrib varchar(255), object varchar(255), value varchar);
CREATE TABLE changed_values (
  source_id BIGINT, attrib varchar(255), object varchar(255), value varchar,
  attrib_type varchar(255), update_type varchar(255), sent BIGINT DEFAULT 0);
CREATE TABLE sources (
  source_id BIGINT PRIMARY KEY, name VARCHAR(255), token BIGINT, sync_priority BIGINT,
  partition VARCHAR(255), sync_type VARCHAR(255), metadata varchar,
  last_updated BIGINT DEFAULT 0, last_inserted_size BIGINT DEFAULT 0,
  last_deleted_size BIGINT DEFAULT 0, last_sync_duration BIGINT DEFAULT 0,
  last_sync_success BIGINT DEFAULT 0, backend_refresh_time BIGINT DEFAULT 0,
  source_attribs varchar, schema varchar, schema_version varchar,
  associations varchar, blob_attribs varchar);
"""

SYNCDB_INDEXES = """
CREATE INDEX by_src_id ON object_values (source_id);
CREATE UNIQUE INDEX by_src_object ON object_values (object, attrib, source_id);
CREATE INDEX by_src_value ON object_values (attrib, source_id, value);
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_attribs(doc: Doc) -> str:
    counts = Counter(attr for obj in doc.values() for attr in obj)
    return ",".join(f"{attr},{counts[attr]}" for attr in sorted(counts))


def _blob_attribs(schema: Mapping[str, Any]) -> str:
    pairs = []
    for prop, kind in sorted(dict(schema.get("property", {})).items()):
        types = [t.strip() for t in str(kind).split(",")]
        if "blob" in types:
            pairs.append(f"{prop},{1 if 'overwrite' in types else 0}")
    return ",".join(pairs)


def _schema_table(conn: sqlite3.Connection, adapter: SourceAdapter, doc: Doc | None) -> None:
    schema = adapter.schema or {}
    props = list(dict(schema.get("property", {})))
    columns = ", ".join(["object varchar(255) PRIMARY KEY"] + [f"{_ident(p)} varchar" for p in props])
    conn.execute(f"CREATE TABLE {_ident(adapter.name)} ({columns})")
    for unique, key in ((False, "index"), (True, "unique_index")):
        for index, cols in dict(schema.get(key, {})).items():
            names = ", ".join(_ident(c.strip()) for c in str(cols).split(","))
            kind = "UNIQUE INDEX" if unique else "INDEX"
            conn.execute(f"CREATE {kind} {_ident(index)} ON {_ident(adapter.name)} ({names})")
    if doc:
        marks = ", ".join("?" * (len(props) + 1))
        rows: list[list[str | None]] = [[oid, *(obj.get(p) for p in props)] for oid, obj in doc.items()]
        conn.executemany(f"INSERT INTO {_ident(adapter.name)} VALUES ({marks})", rows)


def _fill(
    conn: sqlite3.Connection,
    sources: Sequence[SourceAdapter],
    docs: Mapping[str, Doc],
    metas: Mapping[str, JsonObject],
) -> None:
    for source_id, adapter in enumerate(sources, start=1):
        doc = docs.get(adapter.name)
        meta = metas.get(adapter.name, {})
        schema = adapter.schema
        if schema:
            _schema_table(conn, adapter, doc)
        elif doc:
            conn.executemany(
                "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?,?,?,?)",
                [(source_id, a, oid, v) for oid, obj in doc.items() for a, v in obj.items()],
            )
        refresh = int(float(meta.get("refreshed", 0)) + max(adapter.poll_interval, 0))
        conn.execute(
            "INSERT INTO sources (source_id, name, token, sync_priority, partition, sync_type,"
            " metadata, last_inserted_size, backend_refresh_time, source_attribs, schema,"
            " schema_version, blob_attribs) VALUES (?,?,0,?,?,?,?,?,?,?,?,?,?)",
            (
                source_id,
                adapter.name,
                adapter.priority,
                adapter.partition,
                adapter.sync_type if doc is not None else "none",
                meta.get("metadata") if doc is not None else None,
                len(doc) if doc is not None else 0,
                refresh if doc is not None else 0,
                _source_attribs(doc) if doc is not None and not schema else "",
                json.dumps(schema) if schema else None,
                str(schema.get("version", "")) if schema else None,
                _blob_attribs(schema) if schema else "",
            ),
        )


def write_bulk_file(
    sources: Sequence[SourceAdapter], docs: Mapping[str, Doc], metas: Mapping[str, JsonObject]
) -> bytes:
    """The bytes of a bulk SQLite file for a partition's ``sources``.

    :param sources: every source of the partition, in priority order.
    :param docs: master documents of the requested sources (others get no rows).
    :param metas: master states of the requested sources (metadata, refresh time).
    """
    handle, path = tempfile.mkstemp(prefix="rhom-bulk-", suffix=".data")
    os.close(handle)
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(SYNCDB_SCHEMA)
            with conn:
                _fill(conn, sources, docs, metas)
            conn.executescript(SYNCDB_INDEXES)
            conn.execute("VACUUM")
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)
