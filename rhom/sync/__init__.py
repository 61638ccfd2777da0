"""rhom.sync: the RhoConnect sync engine (push the changelog, pull server pages)."""

from __future__ import annotations

from .client import PushRegistration, SyncClient
from .errors import ErrorCode, RhoError, UnknownClientError
from .notify import ObjRef, SyncNotification, SyncResult
from .source import SyncSource

__all__ = [
    "ErrorCode",
    "ObjRef",
    "PushRegistration",
    "RhoError",
    "SyncClient",
    "SyncNotification",
    "SyncResult",
    "SyncSource",
    "UnknownClientError",
]
