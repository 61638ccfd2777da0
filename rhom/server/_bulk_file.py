"""The bulk data SQLite file in the client database schema (protocol.md §7.6, §10.1)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from rhom.server._state import JsonObject
from rhom.server.adapters import SourceAdapter

__all__ = ["SYNCDB_SCHEMA", "Version", "build_bulk_file"]

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


#: One version of an object as the change log holds it: its id and its attributes as
#: canonical JSON, or ``None`` once deleted.
Version = tuple[str, "str | None"]
_BATCH = 5000  # objects in memory at once while the file is written


def _blob_attribs(schema: Mapping[str, Any]) -> str:
    pairs = []
    for prop, kind in sorted(dict(schema.get("property", {})).items()):
        types = [t.strip() for t in str(kind).split(",")]
        if "blob" in types:
            pairs.append(f"{prop},{1 if 'overwrite' in types else 0}")
    return ",".join(pairs)


def _schema_table(conn: sqlite3.Connection, adapter: SourceAdapter) -> list[str]:
    """Create the fixed-schema table of ``adapter``; return its property columns."""
    schema = adapter.schema or {}
    props = list(dict(schema.get("property", {})))
    columns = ", ".join(["object varchar(255) PRIMARY KEY"] + [f"{_ident(p)} varchar" for p in props])
    conn.execute(f"CREATE TABLE {_ident(adapter.name)} ({columns})")
    for unique, key in ((False, "index"), (True, "unique_index")):
        for index, cols in dict(schema.get(key, {})).items():
            names = ", ".join(_ident(c.strip()) for c in str(cols).split(","))
            kind = "UNIQUE INDEX" if unique else "INDEX"
            conn.execute(f"CREATE {kind} {_ident(index)} ON {_ident(adapter.name)} ({names})")
    return props


def _replay(conn: sqlite3.Connection, chunks: Iterable[Sequence[Version]]) -> None:
    """Play a log's versions, in order, into the table ``temp.replay``: its live objects."""
    conn.execute("DELETE FROM temp.replay")
    for chunk in chunks:
        pending: list[Version] = []
        for oid, value in chunk:
            if value is not None:
                pending.append((oid, value))
                continue
            conn.executemany("INSERT OR REPLACE INTO temp.replay VALUES (?, ?)", pending)
            pending = []
            conn.execute("DELETE FROM temp.replay WHERE oid = ?", (oid,))
        conn.executemany("INSERT OR REPLACE INTO temp.replay VALUES (?, ?)", pending)


def _objects(conn: sqlite3.Connection) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """The replayed objects, a batch at a time."""
    cursor = conn.execute("SELECT oid, v FROM temp.replay")
    while batch := cursor.fetchmany(_BATCH):
        yield [(oid, orjson.loads(value)) for oid, value in batch]


def _write_source(conn: sqlite3.Connection, source_id: int, adapter: SourceAdapter) -> tuple[int, str]:
    """Copy the replayed objects into the source's rows; return their count and, for a
    property bag, its ``source_attribs`` (each attribute with how many objects have it)."""
    props = _schema_table(conn, adapter) if adapter.schema else None
    count, names = 0, Counter[str]()
    for batch in _objects(conn):
        count += len(batch)
        if props is not None:
            marks = ", ".join("?" * (len(props) + 1))
            rows: list[list[str | None]] = [[oid, *(obj.get(p) for p in props)] for oid, obj in batch]
            conn.executemany(f"INSERT INTO {_ident(adapter.name)} VALUES ({marks})", rows)
        else:
            conn.executemany(
                "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?,?,?,?)",
                [(source_id, a, oid, v) for oid, obj in batch for a, v in obj.items()],
            )
            names.update(attr for _, obj in batch for attr in obj)
    return count, ",".join(f"{attr},{names[attr]}" for attr in sorted(names))


def _fill(
    conn: sqlite3.Connection,
    sources: Sequence[SourceAdapter],
    versions: Mapping[str, Iterable[Sequence[Version]]],
    metas: Mapping[str, JsonObject],
) -> None:
    conn.execute("CREATE TEMP TABLE replay (oid TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")
    for source_id, adapter in enumerate(sources, start=1):
        chunks = versions.get(adapter.name)
        meta = metas.get(adapter.name, {})
        schema = adapter.schema
        count, attribs = 0, ""
        if chunks is not None:
            _replay(conn, chunks)
            count, attribs = _write_source(conn, source_id, adapter)
        elif schema:
            _schema_table(conn, adapter)
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
                adapter.sync_type if chunks is not None else "none",
                meta.get("metadata") if chunks is not None else None,
                count,
                refresh if chunks is not None else 0,
                attribs if chunks is not None and not schema else "",
                json.dumps(schema) if schema else None,
                str(schema.get("version", "")) if schema else None,
                _blob_attribs(schema) if schema else "",
            ),
        )
    conn.execute("DROP TABLE temp.replay")


def build_bulk_file(
    path: str,
    sources: Sequence[SourceAdapter],
    versions: Mapping[str, Iterable[Sequence[Version]]],
    metas: Mapping[str, JsonObject],
) -> None:
    """Write the bulk SQLite file for a partition's ``sources`` at ``path``.

    Objects pass through a temporary table a batch at a time, so memory stays flat
    whatever the size of the partition.

    :param sources: every source of the partition, in priority order.
    :param versions: for each requested source (others get no rows), its change log's
        versions in order, in chunks: a later version of an object replaces an earlier one.
    :param metas: master states of the requested sources (metadata, refresh time).
    """
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(SYNCDB_SCHEMA)
        with conn:
            _fill(conn, sources, versions, metas)
        conn.executescript(SYNCDB_INDEXES)
        conn.execute("VACUUM")
