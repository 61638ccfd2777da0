"""Reading a source document for the console, a page at a time.

The objects are read from the change log in log order (the order of their last change),
so a page costs what it shows plus the superseded entries it skips, never the whole
source. A search scans at most :data:`SCAN_LIMIT` entries per request and offers to go
on from where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from rhom.server.store import Store

__all__ = ["SCAN_LIMIT", "Found", "error_text", "objects_page"]

SCAN_LIMIT = 20_000  # log entries one request reads at most
_CHUNK = 1_000


@dataclass
class Found:
    """One page of objects, and the sequence number to go on after (``None``: the end)."""

    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    next_after: int | None = None


def _matches(oid: str, attrs: dict[str, str], wanted: str) -> bool:
    return wanted in oid.lower() or any(wanted in str(v).lower() for v in attrs.values())


def objects_page(store: Store, log: str, after: int, size: int, search: str = "") -> Found:
    """Up to ``size`` live objects whose entries come after sequence number ``after``;
    with ``search``, only those whose id or a value contains it (case-insensitive)."""
    wanted = search.lower()
    found = Found()
    scanned = 0
    while scanned < SCAN_LIMIT:
        entries = store.log_read(log, after, _CHUNK)
        if not entries:
            return found  # the end: no next page
        live = [e for e in entries if e.value is not None]
        current = store.log_current(log, [e.oid for e in live])
        for entry in entries:
            scanned += 1
            after = entry.seq
            latest = current.get(entry.oid)
            if entry.value is None or latest is None or latest.seq != entry.seq:
                continue  # deleted, or superseded by a later entry
            attrs: dict[str, str] = orjson.loads(entry.value)
            if wanted and not _matches(entry.oid, attrs, wanted):
                continue
            found.objects[entry.oid] = attrs
            if len(found.objects) >= size:
                found.next_after = after
                return found
    found.next_after = after  # scan budget spent: more may follow
    return found


def error_text(error: Any) -> str:
    """A source's stored adapter error as one line (``""`` when none)."""
    if not isinstance(error, dict) or not error:
        return ""
    parts = []
    for kind, detail in error.items():
        message = detail.get("message") if isinstance(detail, dict) else detail
        parts.append(f"{kind}: {message}")
    return "; ".join(parts)
