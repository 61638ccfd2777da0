"""rhom's blinker signals (a :class:`blinker.Namespace` of its own).

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

__all__ = ["migrate_source", "sync_user_changed"]
