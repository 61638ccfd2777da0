"""rhom's blinker signals, every one an application subscribes to, in one place.

The model signals are defined here; the sync engine's (``sync_started``,
``source_notification``, ``sync_finished``, ``bulk_progress``, ``objects_changed``,
``login_finished``, ``search_finished``, ``schema_changed``, ``ping``, ``push_sent``) are defined
in :mod:`rhom.sync.notify` and re-exported here: ``rhom.signals.sync_finished`` is the
same signal as ``rhom.sync.notify.sync_finished``.

Connect with ``@rhom.signals.migrate_source.connect`` or, in tests,
``with rhom.signals.migrate_source.connected_to(receiver):``. Payloads are keyword arguments
with the stable names listed in each signal's doc.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

migrate_source = _signals.signal(
    "migrate-source",
    doc="""\
Sent by :func:`rhom.setup` when a fixed-schema model's declared ``schema_version`` differs
from the stored one. Sender: the model class. Keyword arguments: ``old_version`` (str) and
``new_source`` (dict with ``name``, ``schema_version`` and ``schema``). A receiver that
migrated the table by hand returns True; if none does, rhom drops and recreates the table.""",
)

sync_user_changed = _signals.signal(
    "sync-user-changed",
    doc="""\
Sent when a login uses a different user name than the previous one. Sender: the sync
client. Keyword arguments: ``old_user``, ``new_user``. Unless a receiver returns False, the
client then calls :func:`rhom.database_full_reset`.""",
)

# the sync engine's signals, after the two above (rhom.sync imports this module)
from rhom.sync.notify import (  # noqa: E402
    bulk_progress,
    login_finished,
    objects_changed,
    ping,
    push_sent,
    schema_changed,
    search_finished,
    source_notification,
    sync_finished,
    sync_started,
)

__all__ = [
    "bulk_progress",
    "login_finished",
    "migrate_source",
    "objects_changed",
    "ping",
    "push_sent",
    "schema_changed",
    "search_finished",
    "source_notification",
    "sync_finished",
    "sync_started",
    "sync_user_changed",
]
