"""The application's answers to server errors (rhom-api §2.4, protocol.md §5.8).

``objects`` is what Rhodes takes: the error's entry of ``server_errors`` (a mapping keyed
by object id; its ``-error`` keys are skipped), a list of ids, or one id. ``retry`` needs
the entry itself, whose ``attributes`` it queues again. Each answer also settles the
errors kept for those objects (rhom.sync._unanswered), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..changelog import BLOB_ATTRIB_TYPE, no_changelog
from ..exceptions import ValidationError
from . import _unanswered
from .source import SyncSource, write_transaction


def _ids(objects: Any) -> list[str]:
    if isinstance(objects, str):
        return [objects]
    if isinstance(objects, Mapping):
        return [str(k) for k in objects if not str(k).endswith("-error")]
    if isinstance(objects, Iterable):
        return [str(o) for o in objects]
    raise ValidationError(f"expected object ids or a server_errors entry, got {objects!r}")


def _attributes(objects: Any) -> dict[str, dict[str, str]]:
    """``{object: {attr: value}}`` from a ``server_errors`` entry (or a raw wire entry)."""
    if not isinstance(objects, Mapping):
        raise ValidationError(f"expected the server_errors entry of the error, got {objects!r}")
    out = {}
    for oid, entry in objects.items():
        if str(oid).endswith("-error"):
            continue
        attrs = entry.get("attributes", entry) if isinstance(entry, Mapping) else {}
        out[str(oid)] = {str(k): "" if v is None else str(v) for k, v in attrs.items() if k != "message"}
    return out


def _check(action: str, allowed: tuple[str, ...], where: str) -> str:
    text = str(action).lstrip(":").lower() if isinstance(action, str) else None
    if text not in allowed:
        raise ValidationError(f"{where}: action must be one of {', '.join(allowed)}, got {action!r}")
    return text


def on_create_error(model: Any, objects: Any, action: str) -> None:
    """``"delete"``: forget the objects and their rows; ``"recreate"``: queue a fresh create."""
    act = _check(action, ("delete", "recreate"), f"{model.__name__}.on_sync_create_error")
    if not model._rhom.is_sync:
        return
    source = SyncSource(model)
    ids = _ids(objects)
    with write_transaction(source.db), no_changelog(source.db):
        conn = source.db.connection()
        _unanswered.forget(conn, source.id, ids, kinds=("create-error",))
        for oid in ids:
            deleted = conn.execute(
                "SELECT 1 FROM changed_values WHERE source_id = ? AND object = ? AND update_type = 'delete' LIMIT 1",
                (source.id, oid),
            ).fetchone()
            conn.execute("DELETE FROM changed_values WHERE source_id = ? AND object = ?", (source.id, oid))
            if act == "delete" or deleted:
                source.delete_objects([oid])
            else:
                conn.execute(
                    "INSERT INTO changed_values (source_id, attrib, object, update_type, sent) "
                    "VALUES (?, 'object', ?, 'create', 0)",
                    (source.id, oid),
                )


def _queue(model: Any, objects: Any, update_type: str) -> None:
    source = SyncSource(model)
    rows = []
    attributes = _attributes(objects)
    with write_transaction(source.db):
        conn = source.db.connection()
        _unanswered.forget(conn, source.id, attributes, kinds=(f"{update_type}-error",))
        for oid, attrs in attributes.items():
            for attrib, value in attrs.items():
                pending = conn.execute(
                    "SELECT 1 FROM changed_values WHERE source_id = ? AND object = ? AND attrib = ? AND sent = 0",
                    (source.id, oid, attrib),
                ).fetchone()
                if not pending:
                    typ = BLOB_ATTRIB_TYPE if attrib in source.blob_attribs else None
                    rows.append((source.id, attrib, oid, value, typ, update_type))
        conn.executemany(
            "INSERT INTO changed_values (source_id, attrib, object, value, attrib_type, update_type, sent) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            rows,
        )


def on_update_error(model: Any, objects: Any, action: str, rollback_objects: Any = None) -> None:
    """``"retry"``: queue the refused values again; ``"rollback"``: take the server's values."""
    where = f"{model.__name__}.on_sync_update_error"
    act = _check(action, ("retry", "rollback"), where)
    if not model._rhom.is_sync:
        return
    if act == "retry":
        _queue(model, objects, "update")
        return
    if rollback_objects is None:
        raise ValidationError(f"{where}: 'rollback' needs rollback_objects (server_errors['update-rollback'])")
    source = SyncSource(model)
    with write_transaction(source.db), no_changelog(source.db):
        values = {oid: {a: v for a, v in attrs.items() if source.accepts(a)}
                  for oid, attrs in _attributes(rollback_objects).items()}  # fmt: skip
        _unanswered.forget(source.db.connection(), source.id, [*_ids(objects), *values], kinds=("update-error",))
        source.write_values(values)


def on_delete_error(model: Any, objects: Any, action: str) -> None:
    """``"retry"``: queue the refused deletes again."""
    _check(action, ("retry",), f"{model.__name__}.on_sync_delete_error")
    if model._rhom.is_sync:
        _queue(model, objects, "delete")
