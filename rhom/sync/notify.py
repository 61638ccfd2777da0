"""Sync notifications: the :class:`SyncNotification` record and rhom's blinker signals.

Every signal is sent after the local transaction it reports on has committed, so a
receiver that raises can never leave a page half-applied. In threaded mode signals are
sent on the sync thread. Receivers defined inside a function are held weakly by blinker:
connect them with ``weak=False``, or use ``signal.connected_to(receiver)`` in tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from blinker import Namespace

from .errors import ErrorCode

__all__ = [
    "ObjRef",
    "SyncNotification",
    "SyncResult",
    "bulk_progress",
    "login_finished",
    "objects_changed",
    "ping",
    "push_sent",
    "schema_changed",
    "search_finished",
    "source_notification",
    "sync_finished",
    "sync_started",
]

_signals = Namespace()

sync_started = _signals.signal(
    "sync-started",
    doc="""\
Sent by a :class:`~rhom.SyncClient` when a run starts. Keyword arguments: ``sources``
(the source names in sync order) and ``kind`` (``"all"``, ``"source"`` or ``"search"``).""",
)

source_notification = _signals.signal(
    "source-notification",
    doc="""\
Sent for every per-source notification (``in_progress``, ``ok``, ``error``,
``schema_changed``). Sender: the model class. Keyword argument: ``notification``
(a :class:`SyncNotification`).""",
)

sync_finished = _signals.signal(
    "sync-finished",
    doc="""\
Sent by the client when a run ends. Keyword argument: ``notification``, the run's final
notification (``complete``, or ``error`` when the run could not start or was stopped).""",
)

bulk_progress = _signals.signal(
    "bulk-progress",
    doc="""\
Sent by the client at each bulk sync phase. Keyword arguments: ``notification``,
``bulk_status`` (``start``, ``download``, ``change_db``, ``blobs``, ``ok``, ``complete``;
``error`` when a blob download failed, ``""`` when a partition failed) and ``partition``.""",
)

objects_changed = _signals.signal(
    "objects-changed",
    doc="""\
Sent by the client after a page that touched tracked objects committed (see
``SyncClient.add_object_notify``). Keyword arguments: ``created``, ``updated`` and
``deleted``, lists of :class:`ObjRef` (created objects are reported under their temporary
id).""",
)

login_finished = _signals.signal(
    "login-finished",
    doc="""\
Sent by the client when a login ends. Keyword arguments: ``error_code`` (an
:class:`~rhom.ErrorCode`) and ``error_message`` (``""`` on success).""",
)

search_finished = _signals.signal(
    "search-finished",
    doc="""\
Sent by the client when a search ends. Keyword argument: ``notification`` (status
``complete`` or ``error``, with ``search_params``).""",
)

schema_changed = _signals.signal(
    "schema-changed",
    doc="""\
Sent by the client when the server reported a schema change, which stops the run.
Keyword argument: ``sources`` (the source names concerned).""",
)

ping = _signals.signal(
    "ping",
    doc="""\
Sent when the server pings this user over the live channel (``SyncClient(live=True)``),
before the sync it asks for. Sender: the sync client. Keyword arguments: ``sources`` (the
source names to sync, ``None`` for all), ``message``, ``badge``, ``sound`` and
``vibrate`` (strings, ``None`` when the ping carries none). Runs on the live channel's
thread.""",
)

push_sent = _signals.signal(
    "push-sent",
    doc="""\
Sent after a push request of a source was answered, before its changelog bookkeeping
commits (a seam for tests that edit data "during" a sync). Sender: the model class.
Keyword arguments: ``body`` (the JSON body sent) and ``ok`` (whether the server took it).""",
)


@dataclasses.dataclass(frozen=True)
class ObjRef:
    """An object named in an object notification."""

    source_id: int
    source_name: str
    object: str


@dataclasses.dataclass(frozen=True)
class SyncNotification:
    """One notification of a sync run, login or search (rhom-api §7).

    ``processed_count`` is the number of objects in the page just applied and
    ``cumulative_count`` the number processed so far for the source in this run (the
    documented meanings; see docs/protocol-decisions.md).
    """

    status: str
    sync_type: str = "incremental"
    source_id: int | None = None
    source_name: str | None = None
    total_count: int | None = None
    processed_count: int | None = None
    cumulative_count: int | None = None
    bulk_status: str | None = None
    partition: str | None = None
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str = ""
    http_status: int | None = None
    server_errors: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    search_params: Mapping[str, Any] | None = None
    callback_data: Any = None

    @property
    def is_unknown_client(self) -> bool:
        """True for the server's ``Unknown client`` error (error 2)."""
        return self.error_code == ErrorCode.REMOTE_SERVER and self.error_message.strip().lower() == "unknown client"

    def to_params(self) -> dict[str, Any]:
        """The Rhodes callback ``@params`` shape: string values, nested ``server_errors``."""
        out: dict[str, Any] = {"sync_type": self.sync_type, "status": self.status}
        for key in ("source_id", "source_name", "total_count", "processed_count",
                    "cumulative_count", "bulk_status", "partition"):  # fmt: skip
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        if self.status == "error":
            out["error_code"] = str(int(self.error_code))
            out["error_message"] = self.error_message
        if self.server_errors:
            out["server_errors"] = dict(self.server_errors)
        if self.search_params is not None:
            out["search_params"] = dict(self.search_params)
        return out

    def with_data(self, callback_data: Any) -> SyncNotification:
        return dataclasses.replace(self, callback_data=callback_data)


@dataclasses.dataclass
class SyncResult:
    """What a sync, login or search call returns in non-threaded mode (or its Future holds).

    Attribute access reads the final notification: ``result.status``,
    ``result.error_code``, ``result.server_errors``.
    """

    notification: SyncNotification
    notifications: list[SyncNotification] = dataclasses.field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.notification, name)

    @property
    def sources(self) -> dict[str, SyncNotification]:
        """Each source's outcome in this run: its last ``ok``, ``error`` or
        ``schema_changed`` notification, by source name (sources the run did not reach
        are absent)."""
        outcomes: dict[str, SyncNotification] = {}
        for note in self.notifications:
            if note.source_name and note.status in ("ok", "error", "schema_changed"):
                outcomes[note.source_name] = note
        return outcomes

    @property
    def failed_sources(self) -> list[str]:
        """Names of the sources whose sync failed in this run (network, server, protocol)."""
        return [name for name, note in self.sources.items() if note.status == "error"]

    @property
    def ok(self) -> bool:
        """True when the call ended without error and no source failed.

        A run whose sources failed still ends with the protocol's ``complete``
        notification (``status == "complete"``); ``ok`` and :attr:`failed_sources` say
        what happened.
        """
        final = self.notification
        return final.error_code == ErrorCode.NONE and final.status != "error" and not self.failed_sources
