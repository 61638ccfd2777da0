"""The client's persisted state: the ``client_info`` row and rhom's settings."""

from __future__ import annotations

from typing import Any

from .. import _runtime
from ..maintenance import _client_info, _logout, get_config, set_config

__all__ = ["client_info", "get_config", "set_client_info", "set_config"]


def client_info() -> dict[str, Any]:
    """The ``client_info`` row of the user partition ({} when there is none)."""
    rows = _runtime.current().database("user").execute_sql("SELECT * FROM client_info LIMIT 1")
    return rows[0] if rows else {}


def set_client_info(**values: Any) -> None:
    """Update (or create) the ``client_info`` row."""
    _client_info(values)


def end_session() -> None:
    """Drop the session; the rest of ``client_info`` stays (no row is made)."""
    _logout()


def drop_client_info() -> None:
    """Forget client id, session and push token (a new sync server)."""
    _runtime.current().database("user").execute_sql("DELETE FROM client_info")
