"""What a sync run needs from whoever runs it: the engine's side of its one dependency.

The sync engine (:mod:`rhom.sync.engine`) and its phase modules (``_bulk``, ``_search``)
receive a :class:`SyncHost` and never import the client: :class:`rhom.SyncClient` is the
host that owns threads, callbacks and public state, and satisfies this protocol
structurally (mypy checks it where the client starts a run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .engine import SourceStats, SyncRun
    from .notify import SyncNotification
    from .source import SyncSource
    from .transport import Transport

__all__ = ["SyncHost"]


class SyncHost(Protocol):
    """The settings, sinks and hooks a sync run uses (all kept by the host)."""

    page_size: int
    bulksync_timeout: float
    bulksync_max_wait: float
    recover_unknown_client: bool
    _transport: Transport
    #: notifications of the current blocking call, or None outside one
    _collected: list[SyncNotification] | None
    _callbacks: dict[str, tuple[Callable[[SyncNotification], Any], Any]]
    _last_counts: dict[str, int]
    _last_stats: dict[str, SourceStats]

    def _notify(self, note: SyncNotification, *, final: bool = False) -> None:
        """Deliver a notification (callbacks, signals, the blocking call's result)."""

    def _object_notify(self, source: SyncSource, applied: Any) -> None:
        """Report the objects a committed page created, changed or deleted."""

    def _client_info(self) -> dict[str, Any]:
        """The stored client id and session, when they belong to the host's server."""

    def _session_expired(self) -> None:
        """The server refused the session: forget it."""

    def _run_bulk_if_needed(self, sync_run: SyncRun) -> None:
        """Run the bulk phase before the sources when the client's state asks for it."""

    def _recover_unknown_client(self) -> None:
        """The server lost the client id: reset it, keeping local changes."""
