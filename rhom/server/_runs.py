"""How the built-in stores keep a write of many new objects: as runs.

A new partition's first refresh writes every object of the source at once, each new to
the log. Instead of an entry (a row, or three hash fields and a set member) per object,
the stores keep such a write as a few *runs* of consecutive entries, one row or hash
field per :data:`RUN_SIZE` objects. The first later change to one of those objects turns
its run back into entries, so that a run only ever holds latest entries and compaction
needs no change. These limits are read at each call (``_runs.RUN_MIN``), so that tests
can shrink them for every store at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from rhom.server.store import LogChange

#: A write of at least this many objects, all new to the log, is kept as runs.
RUN_MIN = 32
#: Objects per run.
RUN_SIZE = 200
#: No run ever holds more objects: reads seek runs by it (never lower it, once a store
#: holds runs).
RUN_SPAN_MAX = 1000


def new_objects_only(changes: Sequence[LogChange]) -> bool:
    """Whether ``changes`` are at least :data:`RUN_MIN` distinct objects, none deleted: what a
    store may keep as runs when none of them is known to the log yet."""
    if len(changes) < RUN_MIN:
        return False
    return len({oid for oid, _, _ in changes}) == len(changes) and all(value is not None for _, _, value in changes)
